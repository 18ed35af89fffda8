"""Suppressions named in SOCKLEAK_OPTIONS (suppressions=FILE, for programs
preloaded by hand) are recorded in each log header and applied by
`sockleak report`, like --suppressions."""
import json
import os
import subprocess

from conftest import LIB, TIMEOUT, TOOL, need_file, prog_path


def _leak_then_report(tmp_path, options):
    need_file(LIB, "make build/libsockleak.so")
    out = tmp_path / "out"
    env = dict(os.environ, LD_PRELOAD=str(LIB), SOCKLEAK_TEST_DEADLINE_MS="200",
               SOCKLEAK_OPTIONS=f"deadline_ms=200:output={out}" + options)
    r = subprocess.run([str(prog_path("pos_many_one_site")), "3"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    rep = subprocess.run([str(TOOL), "report", "--format", "json", "--error-exitcode", "23",
                          str(out)], capture_output=True, text=True, timeout=TIMEOUT)
    return rep.returncode, json.loads(rep.stdout), rep.stderr


def test_suppressions_from_sockleak_options_apply_in_report(tmp_path):
    # A relative path: the library makes it absolute at start-up, so the
    # report finds it from any directory.
    (tmp_path / "supp.txt").write_text("# the test program's own leak\nclose_wait:pos_many_one_site*\n")
    rc, data, err = _leak_then_report(tmp_path, ":suppressions=supp.txt")
    assert data["summary"]["leaks"] == 0, data
    assert data["summary"]["suppressed"] == 3, data
    assert [s["count"] for s in data["suppressed"]] == [3], data
    assert rc == 0, err


def test_without_suppressions_the_same_leaks_are_reported(tmp_path):
    rc, data, err = _leak_then_report(tmp_path, "")
    assert data["summary"]["leaks"] == 3, data
    assert rc == 23, err
