"""Signal handlers that call hooked functions (socket, dup2, close, fork)
while the interrupted thread is inside the library's own locked sections:
the program must run to its end exactly as without the library, with
nothing to report (every socket is closed right after its end-of-stream).

A hang shows as the harness's timeout; the programs finish in about a second
without the library."""
import os
import re
import shutil
import signal
import subprocess

import pytest

import conftest
from conftest import assert_clean, prog_path, sockleak_run

# The handler's signal is re-armed only after it was handled and main made
# one more iteration (sg_handler.c), with a delay of up to MAX_DELAY_US: the
# rate follows the program's progress, so a slow machine or a slow handler
# (a fork, a stack capture) slows the run down without starving main.
DUP_ITERATIONS = 20000
FORK_ITERATIONS = 2000
MAX_DELAY_US = 40


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
    argv = [prog_path("sg_handler"), "dup", DUP_ITERATIONS, MAX_DELAY_US]
    alone = counts(run_alone(argv))
    assert alone and alone[0] == DUP_ITERATIONS
    run = sockleak_run(argv, tmp_path / "out")
    got = counts(run.stdout)
    assert got, f"sg_handler dup did not finish (hang or crash){run.describe()}"
    assert got[0] == DUP_ITERATIONS and got[1] >= 1000, f"too few signals: {got}{run.describe()}"
    assert_clean(run)


def test_fork_from_signal_handler_while_main_reads_eof(tool, tmp_path):
    """fork() and waitpid() in a SIGALRM handler, between and during main's
    end-of-stream reads: the fork's prepare handler must not wait for a lock
    its own thread holds (the old code hung at every rate tried)."""
    argv = [prog_path("sg_handler"), "fork", FORK_ITERATIONS, MAX_DELAY_US]
    alone = counts(run_alone(argv))
    assert alone and alone[0] == FORK_ITERATIONS
    # Every socket is closed right after its end-of-stream; a fork in the
    # handler delays that close by one fork and wait, far below this deadline.
    run = sockleak_run(argv, tmp_path / "out", deadline=2000)
    got = counts(run.stdout)
    assert got, f"sg_handler fork did not finish (hang or crash){run.describe()}"
    assert got[0] == FORK_ITERATIONS and got[1] >= 100, f"too few signals: {got}{run.describe()}"
    assert_clean(run)


def test_fork_from_a_handler_in_the_middle_of_a_fork_leaves_the_library_on(tool, tmp_path):
    """A single-threaded program forks and waits in a loop while a SIGALRM
    handler forks and waits too, often in the middle of main's fork (the
    rate follows main's progress: one signal per fork at most, at a delay
    up to about one fork). The handler's fork used to overwrite what main's
    fork prepare handler kept (the guard it set), and the guard then stayed
    set for good: the library ignored every later call, and the leak the
    program makes afterwards was never reported (0 findings, 4 runs out of
    4). The leak must be found, at its sites."""
    argv = [prog_path("sg_handler"), "forknest", 300, 1000]
    run = sockleak_run(argv, tmp_path / "out", deadline=300, driver=lambda port: None,
                       stop_signal=signal.SIGUSR2, stop_after_findings=1)
    m = re.search(r"^nested (\d+)$", run.stdout, re.M)
    assert m, f"sg_handler forknest did not finish its forks{run.describe()}"
    assert int(m.group(1)) >= 1, f"no fork of the handler's came during main's{run.describe()}"
    conftest.assert_leaks(run, conftest.expect_prog("sg_handler", "close_wait",
                                                    function_eof="leak_held",
                                                    function_open="leak_held"))


# ------------------------------------------- captures in a signal handler

def _masking_calls(tmp_path, where, preload):
    """rt_sigprocmask system calls of `sg_capture WHERE 200` under the
    library (strace -f -c), and the program's line."""
    strace = shutil.which("strace")
    if not strace:
        pytest.skip("strace is not installed (Debian: strace)")
    out = tmp_path / f"strace.{where}"
    env = dict(os.environ, LD_PRELOAD=preload,
               SOCKLEAK_OPTIONS=f"output={tmp_path / 'out'}:sweep=0")
    p = subprocess.run([strace, "-f", "-c", "-e", "trace=rt_sigprocmask", "-o", str(out),
                        str(prog_path("sg_capture")), where, str(CAPTURES)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=conftest.TIMEOUT)
    assert p.returncode == 0, f"sg_capture {where}: exit {p.returncode}, {p.stderr[-2000:]!r}"
    assert re.match(rf"^{where} {CAPTURES} \d+$", p.stdout), p.stdout
    calls = 0
    for line in out.read_text().splitlines():
        f = line.split()
        if f and f[-1] == "rt_sigprocmask":
            calls = int(f[3])
    return calls, out.read_text()


CAPTURES = 200


def test_capture_in_a_handler_that_interrupted_a_plt_stub_costs_no_signal_masking(lib, tmp_path):
    """A socket made in a signal handler that interrupted a PLT stub: its
    creation stack takes libunwind's slow path (the stub's unwind rule is a
    DWARF expression), which masked all signals around each of its locks, two
    system calls a lock and some 20 a capture: slower than a 25 kHz timer's
    period. The library is libunwind's only user, so no masking is needed
    (stack.h): fewer masking calls than captures, where there were 20 each."""
    calls, text = _masking_calls(tmp_path, "plt", str(lib))
    assert calls < CAPTURES, f"{calls} rt_sigprocmask calls for {CAPTURES} captures:\n{text}"


def test_a_program_that_loaded_libunwind_keeps_its_masking(lib, tmp_path):
    """When the program has libunwind loaded itself, one of its signal
    handlers may unwind while our capture holds libunwind's lock on the
    same thread: libunwind's own masking stays, and the slow path costs what
    it did."""
    unw = "libunwind.so.8"
    calls, text = _masking_calls(tmp_path, "plt", f"{unw} {lib}")
    assert calls >= 2 * CAPTURES, f"{calls} rt_sigprocmask calls for {CAPTURES} captures:\n{text}"


def test_leak_read_in_a_handler_that_interrupted_a_plt_stub(tool, tmp_path):
    """The stack of an end-of-stream read in such a handler is whole: the
    read's function and line, the handler, and the interrupted main."""
    run = sockleak_run([prog_path("sg_capture"), "plt", 10, "leak"], tmp_path / "out")
    conftest.assert_leaks(run, conftest.expect_prog("sg_capture", "close_wait",
                                                    function_eof="eof_kept"))
    names = [fr.get("function") for fr in run.findings[0]["eof_stack"]]
    assert "on_trap" in names and "main" in names[names.index("on_trap"):], (
        f"eof_stack does not run from on_trap on into main: {names}{run.describe()}")
