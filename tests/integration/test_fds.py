"""The library's own descriptors: the fd numbers a program gets and how many
it can open are the same as without the library, at any fd limit; a full fd
table or a full disk loses no finding silently."""
import difflib
import json
import os
import re
import subprocess

import pytest

from conftest import (LIB, TIMEOUT, TOOL, assert_leaks, expect_prog, marker_line, proc_src,
                      prog_path, run_report, sockleak_run)


def run_numbers(tmp_path, limit, mode, preload):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
    env["SOCKLEAK_TEST_DEADLINE_MS"] = "100"
    if preload:
        env["LD_PRELOAD"] = str(LIB)
        env["SOCKLEAK_OPTIONS"] = f"output={tmp_path / 'out'}:deadline_ms=100"
    argv = [str(prog_path("fd_numbers")), str(limit), mode]
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    what = "with" if preload else "without"
    assert p.returncode == 0 and p.stdout.endswith("END\n"), (
        f"{argv} {what} the library: status {p.returncode}, stdout {p.stdout[-2000:]!r},"
        f" stderr {p.stderr[-2000:]!r}")
    return p.stdout


def diff(base, under):
    return "\n".join(difflib.unified_diff(base.splitlines(), under.splitlines(),
                                          "without the library", "with the library",
                                          lineterm="", n=1))


@pytest.mark.parametrize("limit", [16, 64, 256, 1024])
def test_fd_numbers_and_count_identical_below_a_higher_hard_limit(limit, lib, tmp_path):
    """Only the soft limit is lowered: the library's log sits just above it,
    where the program can never get a number, and changes nothing."""
    base = run_numbers(tmp_path, limit, "soft", preload=False)
    under = run_numbers(tmp_path, limit, "soft", preload=True)
    assert base == under, f"limit {limit} (soft):\n{diff(base, under)}"
    logs = list((tmp_path / "out").glob("*.jsonl"))
    assert logs and '"finding"' in logs[0].read_text(), "the leak must still be logged"


@pytest.mark.parametrize("limit", [16, 64, 256, 1024])
def test_fd_numbers_identical_when_hard_limit_equals_soft(limit, lib, tmp_path):
    """Soft and hard limit equal: the log and the sweep's netlink socket take
    the highest numbers below the limit once the program has a TCP socket.
    Every number the program gets is the same; it can open exactly two fds
    fewer (README, "What it cannot see").
    (The highest number it gets may differ: dup2 onto our number moved ours
    to the next free one below.)"""
    base = run_numbers(tmp_path, limit, "both", preload=False)
    under = run_numbers(tmp_path, limit, "both", preload=True)
    count = re.compile(r"^openable (\d+), highest (\d+), then (.*)$", re.M)
    b, u = count.search(base), count.search(under)
    assert b and u, f"no count line:\n{base}\n{under}"
    assert (int(u.group(1)), u.group(3)) == (int(b.group(1)) - 2, b.group(3)), (
        f"limit {limit} (soft = hard): the library may take exactly two fds, the top ones:"
        f"\n{diff(base, under)}")
    assert count.sub("", base) == count.sub("", under), f"limit {limit}:\n{diff(base, under)}"


def test_no_library_fd_without_tcp_or_end_of_stream(lib, tmp_path):
    """A program that made no TCP socket and never read end-of-stream sees
    no fd of ours, even after sockets were created and stacks captured
    (libunwind's validation pipe included)."""
    code = ("import os,socket\n"
            "a,b=socket.socketpair(); s=socket.socket(socket.AF_UNIX); s.close()\n"
            "print(sorted(int(x) for x in os.listdir('/proc/self/fd')))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
    base = subprocess.run(["python3", "-c", code], env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    env["LD_PRELOAD"] = str(LIB)
    env["SOCKLEAK_OPTIONS"] = f"output={tmp_path / 'out'}"
    under = subprocess.run(["python3", "-c", code], env=env, capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert under.stdout == base.stdout, (base.stdout, under.stdout, under.stderr)


def test_leaking_until_emfile_keeps_every_finding(tool, tmp_path):
    run = sockleak_run([prog_path("fd_exhaust"), "32"], tmp_path / "out")
    m = re.search(r"leaked (\d+) before EMFILE", run.stdout)
    assert m, f"the program did not reach EMFILE{run.describe()}"
    leaked = int(m.group(1))
    assert leaked >= 20, run.describe()
    # The EMFILE itself is an fd_exhaustion finding: the leaked connections,
    # in CLOSE_WAIT, are its largest holder, made at the accept.
    fdx = [f for f in run.findings if f["kind"] == "fd_exhaustion"]
    assert len(fdx) == 1 and fdx[0]["count"] == 1, run.describe()
    top = fdx[0]["holders"][0]
    assert (top["count"], top["states"]) == (leaked, {"CLOSE_WAIT": leaked}), run.describe()
    assert top["call_site"]["line"] == marker_line(proc_src("fd_exhaust"), "OPEN-SITE"), top
    run.report["findings"].remove(fdx[0])
    assert_leaks(run, expect_prog("fd_exhaust", "close_wait", leaked, function_eof="main",
                                  function_open="main"))


def mount_tmpfs(path, size):
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "mnt"
    mount_tmpfs(mnt, "256k")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], timeout=TIMEOUT)


def test_disk_full_mid_run_counts_are_a_lower_bound(tool, small_disk):
    out = small_disk / "out"
    run = sockleak_run([prog_path("fd_diskfull"), small_disk / "filler", "free"], out,
                       tool_args=("--format", "text"), read_report=False)
    assert "disk freed" in run.stdout, run.describe()
    rep = subprocess.run([str(TOOL), "report", "--format", "json", str(out)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    doc = json.loads(rep.stdout)
    assert doc["summary"].get("lost_records", 0) >= 1, (doc["summary"], rep.stderr)
    assert doc["summary"].get("lost_reason") == "No space left on device", doc["summary"]
    assert doc["summary"]["leaks"] >= 2, doc["summary"]
    text = subprocess.run([str(TOOL), "report", str(out)], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert re.search(r"counts are a lower bound: \d+ records? could not be written "
                     r"\(No space left on device\)", text.stdout + text.stderr), (
        text.stdout + text.stderr)
    assert "killed while writing" not in text.stdout + text.stderr


def test_disk_still_full_at_exit_is_said(tool, small_disk):
    out = small_disk / "out"
    run = sockleak_run([prog_path("fd_diskfull"), small_disk / "filler", "full"], out,
                       tool_args=("--format", "text"), read_report=False)
    assert "disk full" in run.stdout, run.describe()
    assert "killed while writing" not in run.stderr, run.stderr
    assert re.search(r"counts are a lower bound", run.stderr), run.stderr
    assert re.search(r"no space left|is full", run.stderr, re.I), run.stderr
