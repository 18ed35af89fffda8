"""The test programs themselves, without sockleak: each must end on its own,
succeed, and really leave (or not leave) sockets in CLOSE_WAIT, as the
kernel sees it. This keeps the other tests honest: a detector test can only
be as good as the scenario it runs."""
import os
import socket
import subprocess
import time

import pytest

from conftest import PROG_SRC, TIMEOUT, BannerServer, _read_port, drive, prog_path

TCP_CLOSE_WAIT = "08"
# A deadline hint a little longer than the detector tests' own: the scenarios
# must be visible to a sampler that a loaded machine schedules late.
HINT_MS = 300


def socket_inodes(pids):
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    return inodes


def family(pid):
    """pid and its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def close_wait_inodes(pid):
    """Inodes of the TCP sockets in CLOSE_WAIT that pid's family holds."""
    mine = socket_inodes(family(pid))
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in mine and cols[3] == TCP_CLOSE_WAIT:
                    found.add(cols[9])
    return found


def watch(proc, timeout=TIMEOUT):
    """Polls proc until it exits; returns how long (seconds) each socket it
    held stayed in CLOSE_WAIT. A correct program shows CLOSE_WAIT only for
    the instant between the peer's FIN and its own close."""
    first, last = {}, {}
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        now = time.monotonic()
        for ino in close_wait_inodes(proc.pid):
            first.setdefault(ino, now)
            last[ino] = now
        time.sleep(0.02)
    return {ino: last[ino] - first[ino] for ino in first}


HELD = 1.5 * HINT_MS / 1000  # seconds in CLOSE_WAIT that make a leak


def start(argv):
    env = dict(os.environ, SOCKLEAK_TEST_DEADLINE_MS=str(HINT_MS))
    env.pop("LD_PRELOAD", None)
    return subprocess.Popen([str(a) for a in argv], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not end within {TIMEOUT} s")
    assert proc.returncode == 0, f"{proc.args}: exit {proc.returncode}, stderr {err!r}"
    return out.decode()


# name -> (args, driver clients or None, sockets expected to stay in CLOSE_WAIT)
CASES = {
    "neg_udp_zero": ([], None, 0),
    "neg_zero_len_recv": ([], None, 0),
    "neg_fdopen_fclose": ([], None, 0),
    "neg_dup2": ([], None, 0),
    "neg_shut_rd": ([], None, 0),
    "neg_unix_dgram": ([], None, 0),
    "neg_syscall_close": ([], None, 0),
    "neg_correct_server": ([3], ("echo", "echo", "echo"), 0),
    "pos_fortify_read": ([2], ("send", "send"), 2),
    "pos_epoll_recvmsg": ([2], ("echo", "echo"), 2),
    "pos_fork_child": ([], None, 1),
    "pos_closed_late": ([], None, 1),
    "pos_many_one_site": ([4], None, 4),
    "pos_two_sites": ([], None, 3),
    "pos_shutdown_wr": ([], None, 0),  # CLOSE (7) after its own SHUT_WR, not CLOSE_WAIT
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_program_scenario_without_library(name):
    args, clients, want = CASES[name]
    proc = start([prog_path(name), *args])
    if clients:
        port, _ = _read_port(proc)
        drive(*clients)(port)
    held = watch(proc)
    finish(proc)
    # A loaded machine samples rarely: a leak may be seen only once, so
    # count leaked sockets as seen at all, and clean programs as never
    # holding one for long.
    if want:
        assert len(held) >= want, (f"{name}: {len(held)} sockets seen in CLOSE_WAIT,"
                                   f" expected {want}")
    else:
        long_held = sorted(t for t in held.values() if t >= HELD)
        assert not long_held, f"{name}: sockets held in CLOSE_WAIT for {long_held} s"


def test_half_open_program_streams_after_eof():
    proc = start([prog_path("neg_half_open")])
    port, _ = _read_port(proc)
    t0 = time.monotonic()
    answer = drive("half")(port)[0]
    took = time.monotonic() - t0
    finish(proc)
    assert answer.count(b"chunk ") == 15 and took >= 0.5, (answer, took)


def test_client_banner_program_leaks_its_side():
    srv = BannerServer()
    try:
        proc = start([prog_path("pos_client_banner"), srv.port])
        held = watch(proc)
        out = finish(proc)
    finally:
        srv.close()
    assert BannerServer.BANNER.decode() in out
    assert len(held) == 1, f"CLOSE_WAIT sockets seen: {held}"


def test_every_marker_is_on_a_call():
    """EOF-SITE and OPEN-SITE markers sit on lines that make the call."""
    calls = ("recv", "read", "recvmsg", "recvfrom", "accept", "accept4", "socket", "socketpair",
             "connect")
    for src in PROG_SRC.glob("*.c"):
        for no, line in enumerate(src.read_text().splitlines(), 1):
            if "EOF-SITE" in line or "OPEN-SITE" in line:
                assert any(f"{c}(" in line for c in calls), f"{src.name}:{no}: {line}"


def test_loopback_available():
    s = socket.create_server(("127.0.0.1", 0))
    s.close()
