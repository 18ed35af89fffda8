"""Stress under the library: 32 threads of short loopback connections ended
every way (early closes, dup2 over sockets, dup, shutdown, syscall close),
forking threads, and exactly 7 deliberate leaks from one site; then forks
while other threads hold the library's locks or libunwind's; thread
cancellation inside a wrapped close. No crash, no deadlock, exact counts.
Also CPython's socket test suites with and without the library.

SOCKLEAK_STRESS_SCALE (default 1) multiplies the connection count and the
fork loop's duration; `make soak` runs these tests with a larger scale."""
import os
import re
import subprocess

import pytest

import conftest
from conftest import (assert_clean, assert_leaks, marker_line, marker_lines, proc_src,
                      prog_path, sockleak_run)

SCALE = max(1, int(os.environ.get("SOCKLEAK_STRESS_SCALE", "1") or 1))
THREADS = 32
PER_THREAD = 2000 * SCALE     # 64 000 connections at scale 1: about 7 s here
FORKLOCK_SECONDS = 4 * SCALE
LEAKS = 7                     # LEAKS in st_stress.c


@pytest.fixture(autouse=True)
def long_timeout(monkeypatch):
    """The shared harness allows 30 s per subprocess; the soak needs more."""
    monkeypatch.setattr(conftest, "TIMEOUT", max(conftest.TIMEOUT, 60 * SCALE))


def late_closes_only(run):
    """True when every finding besides the deliberate ones is a socket that
    was closed, only later than the deadline: a thread descheduled for
    longer than the deadline on a loaded machine, not a detector error."""
    extra = [f for f in run.findings
             if not any(fr.get("function") == "keep_after_eof" for fr in f["eof_stack"])]
    return bool(extra) and all(ex.get("closed") for f in extra for ex in f["examples"])


# Longer than the suite's 200 ms: 2 cores shared by 32 threads and forks can
# deschedule a correct close past a short deadline.
STRESS_DEADLINE_MS = 1000

FORK_DEADLOCK = (
    "the program's own threads unwind with libunwind (the same loaded object as"
    " the library's) while another forks: a child can inherit libunwind's cache"
    " lock or glibc's loader lock held, and its first stack capture then hangs."
    " The library's own unwinding is kept out of forks (sl_unwind_gate); the"
    " program's is not within its reach")


@pytest.mark.parametrize("forks", [0, 1])
def test_stress_connections_exactly_the_deliberate_leaks(forks, tool, tmp_path):
    src = proc_src("st_stress")
    argv = [prog_path("st_stress"), "conns", THREADS, PER_THREAD, 1, forks]
    run = sockleak_run(argv, tmp_path / "out", deadline=STRESS_DEADLINE_MS)
    if run.rc == conftest.ERROR_EXIT and late_closes_only(run):
        run = sockleak_run(argv, tmp_path / "again", deadline=STRESS_DEADLINE_MS)  # once, see late_closes_only
    m = re.search(r"^connections (\d+) leaked (\d+) forks (\d+)$", run.stdout, re.M)
    assert m, f"st_stress did not finish its work (crash or failure?){run.describe()}"
    conns, leaked, nforks = map(int, m.groups())
    assert conns == THREADS * PER_THREAD and leaked == LEAKS, run.describe()
    if forks:
        assert nforks >= 4 * (PER_THREAD // 40) - 4, f"too few forks: {nforks}{run.describe()}"
    # The leaked sockets come from the accept marked OPEN-SITE in conn_worker
    # (the only accept whose sockets are kept); nothing from anywhere else.
    assert_leaks(run, {"kind": "close_wait", "count": LEAKS,
                       "eof": (src, "keep_after_eof", marker_line(src, "EOF-SITE")),
                       "open": (src, "conn_worker", marker_line(src, "OPEN-SITE"))})
    f = run.findings[0]
    assert f["processes"] == 1, f"only the parent leaks, not the forked children{run.describe()}"
    assert f.get("tcp_state") == "CLOSE_WAIT", run.describe()
    summary = run.report["summary"]
    assert summary["sockets"] >= 2 * conns, f"not every socket was tracked{run.describe()}"
    assert summary["eof_seen"] >= conns // 2, f"end-of-stream reads missed{run.describe()}"


def test_fork_while_library_locks_are_taken(tool, tmp_path):
    run = sockleak_run([prog_path("st_stress"), "forklock", FORKLOCK_SECONDS], tmp_path / "out",
                       deadline=STRESS_DEADLINE_MS)
    assert "deadlocked" not in run.stderr, f"a forked child deadlocked{run.describe()}"
    m = re.search(r"^forks (\d+) children ok, (\d+) end-of-stream", run.stdout, re.M)
    assert m, f"st_stress forklock did not finish{run.describe()}"
    forks, eofs = map(int, m.groups())
    assert forks >= 20 and eofs >= 1000, f"too little work done: {m.group(0)}{run.describe()}"
    assert_clean(run)


def test_fork_while_findings_are_written(tool, tmp_path):
    """Sockets closed 60 ms after their end-of-stream, past a 20 ms deadline:
    the deadline thread writes findings (module map, log lock) and program
    threads write "closed" records while the main thread forks in a loop.
    Every fork returns, every child exits, and every finding is one of
    those late closes."""
    src = proc_src("st_stress")
    run = sockleak_run([prog_path("st_stress"), "forklock", FORKLOCK_SECONDS, 4, 60],
                       tmp_path / "out", deadline=20)
    assert "deadlocked" not in run.stderr, f"a forked child deadlocked{run.describe()}"
    m = re.search(r"^forks (\d+) children ok, (\d+) end-of-stream", run.stdout, re.M)
    assert m, f"st_stress forklock did not finish{run.describe()}"
    forks, eofs = map(int, m.groups())
    assert forks >= 20 and eofs >= 500, f"too little work done: {m.group(0)}{run.describe()}"
    assert run.findings, f"no finding was written while forking{run.describe()}"
    for f in run.findings:
        assert f["kind"] == "close_wait" and f["closed_late"] == f["count"], run.describe()
        assert f["eof_stack"][0]["function"] == "eof_worker", run.describe()
    assert sum(f["count"] for f in run.findings) >= eofs // 4, run.describe()


def test_forkunwind_program_alone(tmp_path):
    p = subprocess.run([str(prog_path("st_stress")), "forkunwind", "3"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=conftest.TIMEOUT)
    assert p.returncode == 0 and "children ok" in p.stdout, (
        f"exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr[-2000:]!r}")


@pytest.mark.xfail(strict=True, reason=FORK_DEADLOCK)
def test_fork_while_program_unwinds(tool, tmp_path):
    """A program that unwinds its own stacks with libunwind (profilers, crash
    reporters) forks children that make one socket call: without the library
    they exit at once; with it, the library's capture in the child needs
    libunwind's lock, which another thread may have held at fork time."""
    run = sockleak_run([prog_path("st_stress"), "forkunwind", 20], tmp_path / "out")
    assert "deadlocked" not in run.stderr, f"a forked child deadlocked{run.describe()}"
    assert re.search(r"^forks \d+ children ok$", run.stdout, re.M), run.describe()
    assert_clean(run)


def test_stress_program_alone_has_no_error(tmp_path):
    """Without the library the program itself works: a failure above is the
    library's."""
    p = subprocess.run([str(prog_path("st_stress")), "conns", "8", "200", "2"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=conftest.TIMEOUT,
                       env={**os.environ, "SOCKLEAK_TEST_DEADLINE_MS": "50"})
    assert p.returncode == 0 and "connections 1600 leaked 7" in p.stdout, (
        f"exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr[-2000:]!r}")
    assert len(marker_lines(proc_src("st_stress"), "OPEN-SITE")) == 1


def test_cpython_socket_suites_identical_with_library(lib, tmp_path):
    """CPython's test_socket, test_selectors and test_socketserver: the same
    per-test results with and without the library (tests/cpython_suite.sh,
    about 100 s here)."""
    probe = subprocess.run([conftest.PYTHON, "-c", "import test.test_socket"],
                           capture_output=True, timeout=conftest.TIMEOUT)
    if probe.returncode != 0:
        pytest.skip("CPython's test package is not installed (Debian: libpython3.11-testsuite)")
    script = conftest.REPO / "tests" / "cpython_suite.sh"
    try:
        p = subprocess.run(["sh", str(script), str(lib), str(tmp_path / "work")],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=900, env={**os.environ, "PYTHON": conftest.PYTHON})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script} did not finish within 900 s", pytrace=False)
    if p.returncode == 77:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0, (f"CPython's socket suites differ with the library"
                               f" (exit {p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}")


def test_cancelled_thread_program_alone(tmp_path):
    """st_cancel without the library: the thread is cancelled, the program ends."""
    p = subprocess.run([str(prog_path("st_cancel"))], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=conftest.TIMEOUT,
                       env={**os.environ, "SOCKLEAK_TEST_DEADLINE_MS": "200"})
    assert (p.returncode, p.stdout) == (0, "cancelled\ndone\n"), (
        f"exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr[-2000:]!r}")


def test_thread_cancelled_inside_close_leaves_no_lock_held(tool, tmp_path):
    """The cancel acts inside close() of a reported socket, where the library
    writes a "closed" record under its log lock: the process must go on and
    exit (a lock left held hangs it at the latest in the exit-time footer)."""
    src = proc_src("st_cancel")
    run = sockleak_run([prog_path("st_cancel")], tmp_path / "out")
    assert run.stdout == "cancelled\ndone\n", f"the program hung or died{run.describe()}"
    assert_leaks(run, {"kind": "close_wait", "count": 1,
                       "eof": (src, "main", marker_line(src, "EOF-SITE"))})
