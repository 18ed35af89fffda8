"""Signal handlers that call hooked functions (socket, dup2, close, fork)
while the interrupted thread is inside the library's own locked sections:
the program must run to its end exactly as without the library, with
nothing to report (every socket is closed right after its end-of-stream).

A hang shows as the harness's timeout; the programs finish in about a second
without the library."""
import re
import subprocess

import conftest
from conftest import assert_clean, prog_path, sockleak_run

# 25 kHz. At 50 kHz the handler alone takes most of the 20 us between
# signals without the library (20,000 iterations take 8.6 s here), and with
# it a handler that interrupts a PLT stub unwinds through libunwind's slow
# path for longer than the interval, so the main thread starves: no lock is
# involved, and 40 us leaves both well clear of that.
DUP_INTERVAL_US = 40
DUP_ITERATIONS = 20000
FORK_SECONDS = 2
FORK_INTERVAL_US = 2000


def run_alone(argv):
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=conftest.TIMEOUT)
    assert p.returncode == 0, f"exit {p.returncode}, stderr {p.stderr[-2000:]!r}"
    return p.stdout


def counts(stdout):
    m = re.search(r"^iterations (\d+) signals (\d+)$", stdout, re.M)
    return tuple(map(int, m.groups())) if m else None


def test_handler_dup2_while_main_holds_a_stripe(tool, tmp_path):
    """The handler's dup2 lands on the fd-table stripe that main's dup2
    holds (fds 50 and 114): it must pass straight through, not wait."""
    argv = [prog_path("sg_handler"), "dup", DUP_ITERATIONS, DUP_INTERVAL_US]
    alone = counts(run_alone(argv))
    assert alone and alone[0] == DUP_ITERATIONS
    run = sockleak_run(argv, tmp_path / "out")
    got = counts(run.stdout)
    assert got, f"sg_handler dup did not finish (hang or crash){run.describe()}"
    assert got[0] == DUP_ITERATIONS and got[1] >= 1000, f"too few signals: {got}{run.describe()}"
    assert_clean(run)


def test_fork_from_signal_handler_while_main_reads_eof(tool, tmp_path):
    """fork() and waitpid() in a SIGALRM handler every 2 ms: the fork's
    prepare handler must not wait for a lock its own thread holds (the old
    code hung at every rate tried, 500 us to 2 ms; a fork and wait takes
    about 570 us with the library, so 2 ms leaves main time to work on a
    loaded machine too)."""
    argv = [prog_path("sg_handler"), "fork", FORK_SECONDS, FORK_INTERVAL_US]
    assert counts(run_alone(argv))
    # The counts only prove progress, and the deadline is long enough that
    # a close delayed by the handler is not late.
    run = sockleak_run(argv, tmp_path / "out", deadline=FORK_SECONDS * 1000 + 2000)
    got = counts(run.stdout)
    assert got, f"sg_handler fork did not finish (hang or crash){run.describe()}"
    assert got[0] >= 100 and got[1] >= 100, f"too little work: {got}{run.describe()}"
    assert_clean(run)
