"""Logs read on another processor: the report symbolizes from the ELF files
the log names (libdw reads any ELF machine), so logs written by the aarch64
library are reported by the x86-64 `sockleak report` with the same
functions, files and lines as by the aarch64 one, and the other way round.

Run by `make check-arm64`: SOCKLEAK_BUILD is the aarch64 build (its programs
run under qemu-user), SOCKLEAK_OTHER_BUILD this machine's own build. Without
SOCKLEAK_OTHER_BUILD every test here is skipped, saying so."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, TIMEOUT, assert_leaks, expect_prog, prog_path, sockleak_run

OTHER = Path(os.environ["SOCKLEAK_OTHER_BUILD"]).resolve() \
    if os.environ.get("SOCKLEAK_OTHER_BUILD") else None

pytestmark = pytest.mark.skipif(OTHER is None, reason="SOCKLEAK_OTHER_BUILD is not set:"
                                " no second build to read the logs with (make check-arm64)")

# A program that reads end-of-stream in drain() and keeps the sockets: its
# finding names both its EOF-SITE and its OPEN-SITE line.
PROG = "pos_many_one_site"


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    return int.from_bytes(head[18:20], "little")


def report_json(tool, outdir):
    p = subprocess.run([str(tool), "report", "--format", "json", str(outdir)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.stdout.strip(), f"{tool} report printed nothing; stderr: {p.stderr[-2000:]}"
    return json.loads(p.stdout)


def frames(report):
    """Every finding's stacks as (kind, stack name, [(function, file, line)...])."""
    out = []
    for f in report["findings"]:
        for key, stack in sorted(f.items()):
            if key.endswith("_stack") and isinstance(stack, list):
                out.append((f["kind"], key, [(fr.get("function"), fr.get("file"),
                                              fr.get("line")) for fr in stack]))
    return sorted(out)


def leak_logs(tool_dir, tmp_path):
    """Runs PROG of the build in tool_dir under that build's sockleak;
    returns the run (its report read back by the same tool)."""
    import conftest
    saved = conftest.TOOL, conftest.PROGS
    conftest.TOOL, conftest.PROGS = tool_dir / "sockleak", tool_dir / "tests" / "progs"
    try:
        return sockleak_run([prog_path(PROG), 3], tmp_path / "out")
    finally:
        conftest.TOOL, conftest.PROGS = saved


@pytest.mark.parametrize("writer", ["build", "other"])
def test_logs_of_one_processor_reported_alike_by_the_other(writer, tmp_path):
    write_dir, read_dir = (BUILD, OTHER) if writer == "build" else (OTHER, BUILD)
    assert elf_machine(BUILD / "libsockleak.so") != elf_machine(OTHER / "libsockleak.so"), (
        f"{BUILD} and {OTHER} are builds for the same processor")
    run = leak_logs(write_dir, tmp_path)
    # The writer's own report: the leak at its marked lines.
    expected = expect_prog(PROG, "close_wait", 3, function_eof="drain", function_open="main")
    assert_leaks(run, expected)
    mine = report_json(write_dir / "sockleak", run.outdir)
    theirs = report_json(read_dir / "sockleak", run.outdir)
    assert frames(mine), f"no stacks in the report of {run.outdir}"
    assert frames(theirs) == frames(mine), (
        f"{read_dir}/sockleak reports the logs of {write_dir}'s library differently:\n"
        f"{json.dumps(frames(theirs), indent=1)}\nvs\n{json.dumps(frames(mine), indent=1)}")
    assert theirs["summary"]["leaks"] == mine["summary"]["leaks"] == 3
