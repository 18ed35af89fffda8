"""`make install` and `make uninstall` in a layout of their own: the installed
tool finds the installed library by the LIBDIR it was installed with, even
after a plain `make` built it for the default one."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import EXAMPLE_SRC, REPO, TIMEOUT, marker_line

MAKE_TIMEOUT = 900  # a full build on a loaded machine


def make(build, *args):
    cmd = ["make", "-j2", f"B={build}", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    p = subprocess.run(cmd, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=MAKE_TIMEOUT, env=env)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-3000:]}"
    return p


def installed_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A plain `make`, then `make install` into another PREFIX and LIBDIR;
    the build tree is removed so only the installed files can be used."""
    tmp = tmp_path_factory.mktemp("install")
    build, prefix = tmp / "build", tmp / "opt" / "sl"
    layout = [f"PREFIX={prefix}", f"LIBDIR={prefix}/lib64", "DESTDIR="]
    make(build, "all", "examples")
    make(build, "install", *layout)
    example = tmp / "leaky_client"
    shutil.copy(build / "examples" / "leaky_client", example)
    shutil.rmtree(build)
    return tmp, prefix, layout, example


def test_install_puts_everything_under_prefix_and_libdir(installed):
    tmp, prefix, _, _ = installed
    files = installed_files(prefix)
    for f in ["bin/sockleak", "lib64/libsockleak.so", "include/sockleak.h",
              "lib64/pkgconfig/sockleak.pc", "share/man/man1/sockleak.1",
              "share/man/man1/sockleak-run.1", "share/man/man1/sockleak-report.1",
              "share/man/man3/libsockleak.3"]:
        assert f in files, f"{f} not installed; installed: {files}"
    man3 = (prefix / "share/man/man3/libsockleak.3").read_text().replace("\\&", "")
    assert f"{prefix}/lib64/libsockleak.so" in man3, "libsockleak(3) names another LIBDIR"


def test_installed_tool_finds_its_library_and_a_leak(installed, banner_server):
    tmp, prefix, _, example = installed
    out = tmp / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("SOCKLEAK_LIBRARY", "LD_PRELOAD")}
    tool = prefix / "bin" / "sockleak"
    p = subprocess.run([str(tool), "run", "--deadline", "200", "--output", str(out),
                        "--error-exitcode", "23", "--", str(example), str(banner_server.port),
                        "--linger-ms", "600"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 23, f"installed sockleak run: exit {p.returncode}\n{p.stderr}"
    r = subprocess.run([str(tool), "report", "--format", "json", str(out)],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    findings = json.loads(r.stdout)["findings"]
    assert [f["kind"] for f in findings] == ["close_wait"], r.stdout
    src = EXAMPLE_SRC / "leaky_client.c"
    eof = findings[0]["eof_stack"]
    assert any(fr.get("function") == "read_banner" and fr.get("line") ==
               marker_line(src, "EOF-SITE") for fr in eof), f"EOF stack {eof}"


def test_uninstall_removes_every_file(installed):
    tmp, prefix, layout, _ = installed
    make(tmp / "build-uninstall", "uninstall", *layout)
    assert installed_files(prefix) == []
