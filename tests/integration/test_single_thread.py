"""A single-threaded program stays single-threaded, and is still watched.

A single-threaded event-loop server (st_idle: non-blocking sockets, its
waits the only place it blocks) leaks one socket that read end-of-stream
and one whose end-of-stream it never reads, then sits idle in one kind of
wait. Both findings must be written while it waits there, on time, by its
one thread: /proc/PID/status says Threads: 1 once they are in the log, and
the kernel (`ss`) shows the two sockets in CLOSE_WAIT.

The waits' transparency (same result, errno and time left) is checked by
tests/integration/progs/st_waits.c.
"""
import os
import re
import resource
import signal
import subprocess

import pytest

from conftest import (ERROR_EXIT, PROG_SRC, TIMEOUT, assert_leaks, finding_records,
                      marker_line, prog_path, sockleak_run, wait_until)
import socket

MODES = ["epoll", "poll", "ppoll", "select", "pselect", "nanosleep", "clock_nanosleep",
         "sleep", "pause", "sigsuspend", "sigtimedwait", "waitpid", "waitpid_restart"]


def _threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None


def _close_wait(port):
    p = subprocess.run(["ss", "-tanH", "state", "close-wait", f"( sport = :{port} )"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return p.stdout.splitlines()


def _hang_up_twice(port):
    """Two connections to st_idle, closed at once: the first is read to its
    end-of-stream and kept, the second kept unread."""
    a = socket.create_connection(("127.0.0.1", port))
    b = socket.create_connection(("127.0.0.1", port))
    a.close()
    b.close()


def _seen_while_idle(outdir, port, prog):
    """Once prog's close_wait and close_wait_unread findings are written
    (while it sits idle): its threads then, the CLOSE_WAIT sockets ss shows
    on its port, and which findings were written at exit. The log is the
    one with findings (a prefork worker's parent has one of its own)."""
    recs = wait_until("a close_wait and a close_wait_unread finding while the program waits",
                      lambda: (lambda r: r if {x["kind"] for x in r} >=
                               {"close_wait", "close_wait_unread"} else None)(
                                   finding_records(outdir)))
    logs = [p for p in sorted(outdir.glob(f"{prog}.*.jsonl"))
            if '"t":"finding"' in p.read_text().replace(" ", "")]
    assert len(logs) == 1, f"one log with findings expected, got {logs}"
    pid = int(re.match(rf"{prog}\.(\d+)", logs[0].name).group(1))
    return {"threads": _threads(pid),
            "close_wait": len(wait_until("two CLOSE_WAIT sockets in ss",
                                         lambda: (lambda l: l if len(l) == 2 else None)(
                                             _close_wait(port)))),
            "at_exit": [r.get("at_exit", False) for r in recs]}


def _run_idle(outdir, prog, mode):
    """prog MODE under `sockleak run`: the driver hangs up twice and looks
    while prog sits idle (_seen_while_idle), then SIGUSR2 ends it. Returns
    the run and what was seen."""
    seen = {}

    def driver(port):
        _hang_up_twice(port)
        seen.update(_seen_while_idle(outdir, port, prog))

    run = sockleak_run([prog_path(prog), mode], outdir, driver=driver,
                       stop_signal=signal.SIGUSR2, stop_after_findings=2)
    return run, seen


def _assert_idle_findings(run, seen, prog):
    """Both sockets in CLOSE_WAIT, both findings written while prog sat
    idle (not at exit), at their call sites."""
    assert seen["close_wait"] == 2
    assert not any(seen["at_exit"]), "findings written at exit, not while the program waited"
    _assert_st_idle_leaks(run, prog)


def _assert_st_idle_leaks(run, prog="st_idle"):
    src = PROG_SRC / f"{prog}.c"
    assert_leaks(run,
                 {"kind": "close_wait", "count": 1,
                  "eof": (src, "main", marker_line(src, "EOF-SITE"))},
                 {"kind": "close_wait_unread", "count": 1,
                  "open": (src, "main", marker_line(src, "OPEN-SITE"))})


@pytest.mark.parametrize("mode", MODES)
def test_idle_single_threaded_server_is_reported_on_time_by_its_own_thread(tmp_path, mode):
    run, seen = _run_idle(tmp_path, "st_idle", mode)
    if mode == "waitpid":
        # No timeout to cap and a handler that does not restart (a pidfd's
        # poll would end with EINTR where waitpid goes on): the library's
        # thread took over, on time.
        assert seen["threads"] == 2, f"threads: {seen['threads']}{run.describe()}"
    else:
        assert seen["threads"] == 1, (
            f"the program had {seen['threads']} threads while its findings were written: the"
            f" library started a thread of its own in a single-threaded program{run.describe()}")
    _assert_idle_findings(run, seen, "st_idle")


# The blocking call st_blocking sits in, and the threads it may have then:
# accept and reads are capped on its own thread; a send that waits, and
# stdio's reads (libc's own, no hook sees them), make the library's thread.
# A worker's accept on a listener it inherited through fork (prefork) is
# not capped either: the listener may be shared, and a process that lost
# the connection to another would wait in its accept uncapped.
BLOCKING_MODES = {"accept": 1, "recv": 1, "read": 1, "send": 2, "fdopen": 2, "prefork": 2}


@pytest.mark.parametrize("mode", sorted(BLOCKING_MODES))
def test_idle_blocking_server_is_reported_on_time(tmp_path, mode):
    """st_blocking, a single-threaded server whose sockets all block (a
    blocking connect, accepts and reads), leaks the same two sockets as
    st_idle and sits idle in one blocking call: both findings are written
    while it sits there, and a call the library can cap (accept, a read)
    leaves it one thread."""
    run, seen = _run_idle(tmp_path, "st_blocking", mode)
    assert seen["threads"] == BLOCKING_MODES[mode], (
        f"the program had {seen['threads']} threads while it blocked in {mode}, expected"
        f" {BLOCKING_MODES[mode]}{run.describe()}")
    _assert_idle_findings(run, seen, "st_blocking")


def test_work_due_while_the_program_computes_is_done_at_its_exit(tmp_path):
    """st_idle busy leaks the same two sockets, then computes for 2 s (ten
    deadlines) without a single wait, and exits: what fell due meanwhile is
    reported when it exits, as a finding of its deadline, not lost."""
    def driver(port):
        _hang_up_twice(port)

    run = sockleak_run([prog_path("st_idle"), "busy"], tmp_path, driver=driver)
    _assert_st_idle_leaks(run)
    assert not any(r.get("at_exit") for r in finding_records(tmp_path)), (
        f"reported as at_exit findings{run.describe()}")


@pytest.mark.parametrize("options", ["", "thread=1"])
@pytest.mark.parametrize("mode", ["main", "last", "cancel", "late", "clone", "fork"])
def test_the_process_ends_when_the_programs_last_thread_leaves(tmp_path, mode, options):
    """st_pexit leaks a socket, then its main thread leaves by pthread_exit
    (main), then also a thread of its own that outlived it (last, late;
    clone after a child process made by clone()), or main is cancelled by
    that thread (cancel), or a destructor of main's forks a child that
    leaves the same way (fork). glibc ends the process when the last
    thread it counts leaves, and the library's thread (thread=1, or made for
    the program's threads) is one it counts: the process must end as it does
    alone, atexit handler, status 0 and all, with the leak reported and its
    log complete. Without the library's care it never ends, and the signal
    that would kill it stays pending (the library's thread blocks them
    all)."""
    alone = subprocess.run([prog_path("st_pexit"), mode], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert alone.returncode == 0, alone
    run = sockleak_run([prog_path("st_pexit"), mode], tmp_path / "out",
                       env={"SOCKLEAK_OPTIONS": options})
    assert run.stdout == alone.stdout, f"the program's output changed{run.describe()}"
    assert run.rc == ERROR_EXIT, f"exit {run.rc}, not the leak's {ERROR_EXIT}{run.describe()}"
    assert run.report["summary"]["incomplete"] == 0, run.describe()
    src = PROG_SRC / "st_pexit.c"
    assert_leaks(run, {"kind": "close_wait", "count": 1,
                       "eof": (src, "main", marker_line(src, "EOF-SITE"))})


def _wait_calls(argv, env):
    """Each hooked wait's system calls made by argv, from strace -c."""
    p = subprocess.run(["strace", "-f", "-qq", "-c", "-e",
                        "trace=poll,ppoll,epoll_wait,epoll_pwait,pselect6,clock_nanosleep,"
                        "rt_sigtimedwait,pause,rt_sigsuspend,clone,clone3", *argv],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    calls = {}
    for line in p.stderr.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return p, calls


@pytest.mark.parametrize("options", ["", "thread=1"])
def test_threads_of_a_fork_child_never_do_the_due_work_together(tmp_path, lib, options):
    """st_duerace: a key destructor of the program's forks as a thread
    leaves; the child, whose one thread was counted out, makes threads that
    wait while work is due. Two threads at the work at once (the child's
    and the library's new one) shared the sweep's netlink socket: one took
    the other's reply and the other waited in recv for ever (under thread=1,
    8 children in 10 never ended). Each child must end as it does alone."""
    opts = f"output={tmp_path}:deadline_ms=300" + (f":{options}" if options else "")
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=opts)
    p = subprocess.run([str(prog_path("st_duerace")), "6"], capture_output=True, text=True,
                       timeout=TIMEOUT + 70, env=env)
    assert p.stdout == "hung 0 of 6\n" and p.returncode == 0, (
        f"status {p.returncode}\n{p.stdout}\n{p.stderr[-2000:]}")


def test_capped_waits_keep_results_errno_and_time(tmp_path, lib):
    """st_waits checks every hooked wait's result, errno and time (taken or
    left) with a sweep due every 50 ms: the waits are cut at each due time,
    the work done and the wait resumed, and the program sees none of it. The
    system call counts show the caps happened, on the program's one thread."""
    env = dict(os.environ)
    bare, bare_calls = _wait_calls([str(prog_path("st_waits"))], env)
    assert bare.returncode == 0, f"st_waits fails without the library:\n{bare.stdout}"
    env["LD_PRELOAD"] = str(lib)
    env["SOCKLEAK_OPTIONS"] = f"deadline_ms=100:output={tmp_path}"
    p, calls = _wait_calls([str(prog_path("st_waits"))], env)
    assert p.returncode == 0 and "0 failures" in p.stdout, (
        f"a wait behaved differently under the library:\n{p.stdout}\n{p.stderr[-2000:]}")
    assert sum(calls.values()) > 2 * sum(bare_calls.values()), (
        f"the waits were not capped (calls {calls}, without the library {bare_calls})")
    # Its two forks are clone calls with or without the library; a thread
    # (pthread_create) would be one more clone3.
    assert not calls.get("clone3") and calls.get("clone", 0) == bare_calls.get("clone", 0), (
        f"the library started a thread: {calls}, without the library {bare_calls}")


@pytest.mark.parametrize("fallback", ["rcvtimeo", "waitall", "send", "eintr", "sendsignal",
                                      "lowat", "lowatmax"])
def test_capped_blocking_socket_calls_keep_results_errno_and_time(tmp_path, lib, fallback):
    """st_blockio checks blocking reads, accept and connect with a sweep due
    every 50 ms: a read or accept that waits 300 ms for what a restarting
    handler does is cut at each due time (ppoll calls), returns what it
    would, errno untouched, and the process keeps one thread; then a call
    the library's thread must take (fallback) behaves as it would too."""
    argv = [str(prog_path("st_blockio")), fallback]
    bare = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    assert bare.returncode == 0, f"st_blockio fails without the library:\n{bare.stdout}"
    env = dict(os.environ, LD_PRELOAD=str(lib),
               SOCKLEAK_OPTIONS=f"deadline_ms=100:output={tmp_path}")
    p = subprocess.run(["strace", "-f", "-qq", "-c", "-e", "trace=ppoll", *argv],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "0 failures" in p.stdout, (
        f"a blocking call behaved differently under the library:\n{p.stdout}\n{p.stderr[-2000:]}")
    ppolls = [int(l.split()[3]) for l in p.stderr.splitlines()
              if l.split() and l.split()[-1] == "ppoll"]
    assert ppolls and ppolls[0] >= 10, f"the blocking calls were not capped:\n{p.stderr}"


def test_waitpid_ends_with_eintr_when_a_handler_stops_restarting(tmp_path, lib):
    """st_waitintr: the library first caps a waitpid (every handler restarts,
    so it polls a pidfd of the child), then the program turns SIGALRM's
    restarting off (siginterrupt), on again, and sets a SysV handler
    (sysv_signal): each waitpid ends with EINTR, or goes on, exactly as it
    does without the library."""
    bare = subprocess.run([str(prog_path("st_waitintr"))], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert bare.returncode == 0, f"st_waitintr fails without the library:\n{bare.stdout}"
    env = dict(os.environ, LD_PRELOAD=str(lib),
               SOCKLEAK_OPTIONS=f"deadline_ms=100:output={tmp_path}")
    p = subprocess.run([str(prog_path("st_waitintr"))], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "0 failures" in p.stdout, (
        f"a waitpid ended differently under the library:\n{p.stdout}\n{p.stderr[-2000:]}")


def test_signal_during_the_librarys_work_in_a_wait_still_ends_it(tmp_path, lib):
    """st_sigwork: SIGALRM comes while the library, inside the program's
    poll, is blocked writing a finding's line to a full stderr pipe. Without
    the library a signal during the poll ends it with EINTR; so it must with
    the library, not be handled in the library's work and then lost while
    the poll goes on to its 5 s."""
    env = dict(os.environ, LD_PRELOAD=str(lib),
               SOCKLEAK_OPTIONS=f"deadline_ms=100:verbosity=2:output={tmp_path}")
    p = subprocess.run([str(prog_path("st_sigwork"))], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and p.stdout.startswith("EINTR"), (
        f"the signal did not end the wait: {p.stdout.strip()}")


def _unwinder_opens(argv, env):
    """How many times argv's processes opened libunwind's file, from strace."""
    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat", *argv],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0, f"{argv} failed under strace:\n{p.stderr[-2000:]}"
    return sum("libunwind" in line for line in p.stderr.splitlines())


def test_forks_before_any_stack_do_not_look_for_the_unwinder_each_time(tmp_path, lib):
    """A process that forks before it ever captured a stack (a shell, make,
    a server before its first connection) asks at each fork whether the
    program has libunwind loaded itself (its lock must then be taken before
    the fork). Asked once while nothing new was loaded: st_forks forking 20
    times opens libunwind's file no more often than forking twice."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    few = _unwinder_opens([str(prog_path("st_forks")), "2"], env)
    many = _unwinder_opens([str(prog_path("st_forks")), "20"], env)
    assert many == few, (
        f"libunwind's file opened {many} times in 20 forks, {few} times in 2: once per fork")


def _strace_calls(summary):
    """The calls on the total line of strace -c's summary; 0 when it printed
    none (no call matched its filter)."""
    total = [ln.split() for ln in summary.splitlines() if ln.rstrip().endswith(" total")]
    return int(total[-1][3]) if total else 0


def _syscalls(argv, env):
    p = subprocess.run(["strace", "-f", "-c", "-o", "/dev/stderr", *argv],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "forked" in p.stdout, (
        f"{argv} failed under strace:\n{p.stdout}\n{p.stderr[-2000:]}")
    calls = _strace_calls(p.stderr)
    assert calls, f"no strace summary:\n{p.stderr[-2000:]}"
    return calls


def _syscalls_per_fork(argv, env):
    """System calls per fork+waitpid of `argv N sock` (st_forks), parent and
    child together: strace -c over 22 forks less 2, so that start-up and
    exit cancel out. Each the fewest of 3 runs: a sweep that falls due in
    a slow run (every 2.5 s at most) adds its own calls."""
    few = min(_syscalls([*argv, "2", "sock"], env) for _ in range(3))
    many = min(_syscalls([*argv, "22", "sock"], env) for _ in range(3))
    return (many - few) / 20


def test_fork_and_wait_of_a_single_thread_with_sockets_make_few_system_calls(tmp_path, lib):
    """st_forks, single-threaded and holding a TCP pair, forks and waits:
    the library caps the wait with a pidfd placed out of the program's
    numbering, moves its two fds low and back around the fork (12 calls:
    the limit read, every signal blocked, 2 copies and 2 closes, 2 dup3 and
    2 closes, the mask restored on both sides; the kernel then copies a
    small fd table, see below), and the child resets its state. At most 22
    system calls of the library's per fork+waitpid, parent and child
    together (12 before the move; 17 before that: the placement read the
    limit twice, the exited child was reaped only after the signals were
    masked and the due work looked at again, and the child asked for its
    pid and its thread id)."""
    argv = [str(prog_path("st_forks"))]
    bare = _syscalls_per_fork(argv, dict(os.environ))
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    with_lib = _syscalls_per_fork(argv, env)
    assert with_lib - bare <= 22, (
        f"{with_lib - bare:.1f} system calls added per fork+waitpid "
        f"({with_lib:.1f} with the library, {bare:.1f} without)")


def _child_faults(argv, env):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    m = re.search(r"child faults ([0-9.]+)", p.stdout)
    assert p.returncode == 0 and m, f"{argv} failed:\n{p.stdout}\n{p.stderr[-2000:]}"
    return float(m.group(1))


def test_a_fork_child_does_not_write_the_slots_of_the_sockets_it_inherits(tmp_path, lib):
    """Each page of the library's fd table that a fork child writes is a
    page fault and a copy. The child learns that its sockets are copies
    from an epoch it advances, not from a flag written into each socket's
    slot: st_forks holding 300 TCP pairs forks with as many page faults in
    each child as holding one (15 more before, a page per 40 sockets)."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    argv = [str(prog_path("st_forks")), "20", "sock"]
    one, many = _child_faults(argv + ["1"], env), _child_faults(argv + ["300"], env)
    assert many - one <= 2, (
        f"a fork child of a process with 600 sockets takes {many:.1f} page faults, "
        f"{one:.1f} with 2 sockets")


def test_a_fork_child_finds_the_librarys_symbol_table_mapped(tmp_path, lib):
    """A preloaded library is searched first in every symbol lookup, so a
    fork child's first lazy binding (_exit, execve) reads the library's
    DT_GNU_HASH table. Fork copies into the child the page table entries
    of a mapping only when it has private pages: a page of a read-only file
    mapping is a fault in each child (10 to 40 us on this machine's
    paravirtualised page tables). The table sits in the pages
    that relocation made private (preload/forked.ld). Ground truth is the
    child's own /proc/self/pagemap, read before it calls anything else:
    every page of the table is present (none was, before)."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    p = subprocess.run([str(prog_path("st_forklookup"))], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 0, f"st_forklookup failed:\n{p.stdout}\n{p.stderr[-2000:]}"
    m = re.search(r"pages (\d+) present (\d+)", p.stdout)
    assert m and int(m.group(1)) >= 1, f"the library's symbol table not found:\n{p.stdout}"
    assert m.group(2) == m.group(1), (
        f"pages of the library's symbol table a fork child must fault in:\n{p.stdout}")


@pytest.mark.parametrize("limit", [4096, 512])
def test_a_fork_cycle_writes_no_page_of_the_librarys_in_the_parent(tmp_path, lib, limit):
    """After a fork each page the parent writes is a page fault and a copy
    (20 us each on this machine's paravirtualised page tables, as much as
    a fork's own system calls). A single-threaded process holding a TCP
    pair forks and waits again and again from one place: the library
    captures the fork's stack, moves its fds low and back (at a limit of
    4096; at 512 they stay), caps the wait, and writes none of its pages
    in the parent meanwhile. Ground truth is the kernel's: st_forkpages
    keeps a child alive across the later cycles, and every page of the
    library's writable mappings the parent has not written since is still
    mapped twice (/proc/self/pagemap). Before, the parent wrote the page of
    fork state in each cycle: our fd numbers put back, the capture's fork
    gate, the capped wait's reaper lock."""
    def limit_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    for attempt in range(3):
        p = subprocess.run([str(prog_path("st_forkpages")), "10", "sock"], capture_output=True,
                           text=True, timeout=TIMEOUT, env=env, preexec_fn=limit_fds)
        assert p.returncode == 0, f"st_forkpages failed:\n{p.stdout}\n{p.stderr[-2000:]}"
        if "slow" not in p.stdout:  # a sweep may have come due: it writes by design
            break
    m = re.search(r"mappings (\d+) written (\d+)", p.stdout)
    assert m and int(m.group(1)) >= 2, f"the library's writable mappings not found:\n{p.stdout}"
    assert int(m.group(2)) == 0, f"pages of the library's written by the parent:\n{p.stdout}"


def _forkfds(env, *args):
    """lc_forkfds's output, run at a soft and hard fd limit of 4096 (the
    library's log and netlink socket at 4094 and 4095)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))

    p = subprocess.run([str(prog_path("lc_forkfds")), *args], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env, preexec_fn=limit)
    assert p.returncode == 0, f"lc_forkfds failed:\n{p.stdout}\n{p.stderr[-2000:]}"
    return p.stdout


def numbers(out):
    """lc_forkfds's lines but the child's table size (which the library
    leaves large where it does not move its fds)."""
    return [ln for ln in out.splitlines() if not ln.startswith("child fdsize")]


@pytest.mark.parametrize("mode", ["plain", "handler"])
def test_a_fork_copies_the_fd_table_the_program_has_without_the_library(tmp_path, lib, mode):
    """The kernel copies a forking process's fd table up to its highest open
    number, and the library's fds sit at the top of the program's range: each
    fork copied, and its child freed, a table of RLIMIT_NOFILE entries (0.1
    ms at 20,000; milliseconds at a container's 1,048,576). From a
    single-threaded process they wait at the lowest free numbers across the
    fork. Ground truth is the child's FDSize in /proc: the same as without
    the library (4096 before, where 256 without). The move is invisible:
    the child's and the parent's next open get the numbers they get without
    the library, the parent's fds are the same numbers after the fork, and
    the signal mask (SIGUSR1 blocked by the program; every signal blocked
    by the library during the move) is the program's again on both sides,
    with a SIGUSR2 handler set ("handler") and without."""
    bare = _forkfds(dict(os.environ), mode)
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    with_lib = _forkfds(env, mode)
    assert "parent fds same" in with_lib, with_lib
    assert with_lib == bare, f"without the library:\n{bare}\nwith it:\n{with_lib}"
    assert int(re.search(r"child fdsize (\d+)", with_lib).group(1)) < 4096, with_lib


@pytest.mark.parametrize("mode", ["full", "lower"])
def test_a_fork_keeps_the_librarys_fds_where_it_cannot_move_them(tmp_path, lib, mode):
    """The move is made only where it can be undone. "full": one number is
    free below the library's fds, not two: moved one by one, the second
    copy took the first's freed number and the move back wrote the log over
    the netlink socket (every later finding lost, EBADF); all copies are
    made before any close, and none is kept unless all were. "lower": the
    program lowered its limit (64) below the library's fds, which dup3
    cannot put back up there (they were placed at 62 and 63 for good, and
    the program had two fewer). Each number with its inode, before and
    after the fork, the same; for "lower" the next numbers too as without
    the library (for "full" the program has two numbers fewer with the
    library whether or not it forks: its table fills up to ours)."""
    bare = _forkfds(dict(os.environ), mode)
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    with_lib = _forkfds(env, mode)
    assert "parent fds same" in with_lib, with_lib
    if mode == "lower":
        assert numbers(with_lib) == numbers(bare), (
            f"without the library:\n{bare}\nwith it:\n{with_lib}")


def test_a_fork_child_with_a_c11_thread_is_not_taken_for_one_thread(tmp_path, lib):
    """A fork child that made a thread with thrd_create (which does not call
    pthread_create through the PLT) and waits for its own child: with two
    threads the library must not cap the wait with a pidfd at the program's
    numbers, where the other thread's next open would meet it (it did: the
    child's pidfd_open, fd 8). strace counts the pidfd_open calls: the
    program's own waitpid's only."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    out = tmp_path / "strace.txt"
    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=pidfd_open", "-o", str(out),
                        str(prog_path("lc_forkfds")), "thrd"],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "grandchild fdsize" in p.stdout, f"{p.stdout}\n{p.stderr[-2000:]}"
    calls = [ln for ln in out.read_text().splitlines() if "pidfd_open(" in ln]
    pids = {ln.split()[0] for ln in calls}
    assert len(pids) <= 1, f"pidfd_open in more than the program's first process:\n{calls}"


def test_a_fork_handler_registered_before_the_librarys_sees_the_programs_numbers(tmp_path, lib):
    """lc_forkfds links a library whose constructor runs before sockleak's
    and registers a fork child handler that opens a file. That handler runs
    before the library's in the child, while the library's fds would still
    be at the low numbers they take during a fork: the library keeps them
    where they are when any handler was registered before its own. The
    handler's open gets the number it gets without the library (6; 8 when
    the fds were moved regardless)."""
    bare = _forkfds(dict(os.environ, LC_FORKFDS_ATFORK="1"), "plain")
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}",
               LC_FORKFDS_ATFORK="1")
    with_lib = _forkfds(env, "plain")
    assert "atfork child fd" in bare, bare
    assert numbers(with_lib) == numbers(bare), (
        f"without the library:\n{bare}\nwith it:\n{with_lib}")


def test_waitpid_for_a_child_that_a_sigchld_handler_reaps_gets_its_status(tmp_path, lib):
    """st_childwait reap: a SIGCHLD handler reaping with waitpid(-1,
    WNOHANG), and the program's waitpid(pid) for the same child. Without
    the library the kernel hands the status to the blocked waitpid; a
    capped wait (a pidfd poll, then the reap) would let the handler run
    between the child's exit and the reap, and the program's waitpid fail
    with ECHILD (5 of 5 before). A handler for SIGCHLD takes the wait off
    the pidfd."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    p = subprocess.run([str(prog_path("st_childwait")), "reap"], capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert p.returncode == 0 and "wrong 0 of 5" in p.stdout, (
        f"waitpid lost its child to the SIGCHLD handler:\n{p.stdout}\n{p.stderr[-2000:]}")


def test_waitpid_for_a_traced_child_does_not_spin(tmp_path, lib):
    """st_childwait traced: the child has exited but a tracer holds its
    zombie for a second. Its pidfd is readable and WNOHANG finds nothing to
    reap: a capped wait that polled again would spin for that second (7685
    ppoll calls before); it must leave the wait to the program's own call.
    Counted with strace -c on the program alone (the tracer is a sibling)."""
    env = dict(os.environ, LD_PRELOAD=str(lib), SOCKLEAK_OPTIONS=f"output={tmp_path}")
    out = tmp_path / "strace.txt"
    p = subprocess.run(["strace", "-qq", "-c", "-e", "trace=ppoll", "-o", str(out),
                        str(prog_path("st_childwait")), "traced"],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env)
    if "no ptrace" in p.stdout:
        pytest.skip("PTRACE_SEIZE refused here")
    assert p.returncode == 0 and "traced ok" in p.stdout, f"{p.stdout}\n{p.stderr[-2000:]}"
    calls = _strace_calls(out.read_text())
    assert calls <= 10, f"{calls} ppoll calls during one waitpid for a traced child"
