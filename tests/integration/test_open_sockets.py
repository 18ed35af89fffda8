"""The open-socket census and --at-exit=all (issue 19, "growth you can
alert on"): progs/oe_census.c holds 5 connections made in connect_held
(a peer that keeps them: ESTABLISHED) and 2 made in connect_closing (a
peer that closes them: CLOSE_WAIT) until the test sends SIGUSR1.

The kernel's word is `ss -tanpH` on the program's pid, split by site
through the peer's port: while it runs, sockleak_open_sockets (report
--format openmetrics and sockleak serve) must give the same counts per
call site and state; once it exited, nothing. With --at-exit=all, the
open_at_exit findings must be what ss showed just before the exit."""
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest

from conftest import (ERROR_EXIT, TIMEOUT, TOOL, _kill_group, marker_line, proc_src, prog_path,
                      run_report, wait_until)
from test_prometheus import Serve, parse

SRC = proc_src("oe_census")
PROGRAM = "oe_census"
# ss's state names as the kernel's (and the log's).
SS_STATES = {"ESTAB": "ESTABLISHED", "CLOSE-WAIT": "CLOSE_WAIT", "SYN-SENT": "SYN_SENT",
             "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "LAST-ACK": "LAST_ACK",
             "CLOSING": "CLOSING", "LISTEN": "LISTEN", "CLOSE": "CLOSE"}


class Peer:
    """A loopback listener that keeps (or closes at once) what it accepts."""

    def __init__(self, close):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.close_all = close
        self.held = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.close_all:
                c.close()
            else:
                self.held.append(c)

    def stop(self):
        """Wakes the accept (shutdown of a listener) and closes everything."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(TIMEOUT)
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def peers():
    held, closing = Peer(False), Peer(True)
    yield held, closing
    held.stop()
    closing.stop()


def sites():
    return {"connect_held": marker_line(SRC, "HELD-SITE"),
            "connect_closing": marker_line(SRC, "CLOSING-SITE")}


def ss_counts(pid, peers):
    """{(function, state): n} of pid's TCP sockets as the kernel has them,
    the site told by the peer's port."""
    p = subprocess.run(["ss", "-tanpH"], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    by_port = {peers[0].port: "connect_held", peers[1].port: "connect_closing"}
    got = Counter()
    for line in p.stdout.splitlines():
        if f"pid={pid}," not in line:
            continue
        f = line.split()
        got[(by_port.get(int(f[4].rsplit(":", 1)[1]), "?"), SS_STATES.get(f[0], f[0]))] += 1
    return dict(got)


def start(tmp_path, peers, mode, *tool_args, deadline=1000):
    cmd = [str(TOOL), "run", "--deadline", str(deadline), "--output", str(tmp_path / "out"),
           "--format", "json", "--error-exitcode", str(ERROR_EXIT), *tool_args, "--",
           str(prog_path(PROGRAM)), str(peers[0].port), str(peers[1].port), mode]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    line = proc.stdout.readline().decode()
    m = re.match(r"ready (\d+)", line)
    if not m:
        _kill_group(proc)
        pytest.fail(f"{cmd}: no 'ready PID' line: {line!r} {proc.communicate()!r}",
                    pytrace=False)
    return proc, int(m.group(1))


def finish(proc, pid):
    os.kill(pid, signal.SIGUSR1)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    return proc.returncode, err.decode(errors="replace")


def open_gauge(text):
    """{(function, state): n} of oe_census's sockleak_open_sockets series,
    checking their file and line labels against the markers."""
    got = {}
    for (name, labels), value in parse(text).items():
        if name != "sockleak_open_sockets":
            continue
        lab = dict(labels)
        if lab["program"] != PROGRAM:
            continue
        assert lab["file"] == "oe_census.c" and int(lab["line"]) == sites().get(lab["function"]), \
            f"series named by its creation site (the markers): {lab}"
        got[(lab["function"], lab["state"])] = value
    return got


def metrics(outdir, fmt="openmetrics"):
    p = subprocess.run([str(TOOL), "report", "--format", fmt, str(outdir)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_census_gauge_is_the_kernels_count_while_running_and_gone_after_exit(tmp_path, peers):
    proc, pid = start(tmp_path, peers, "hold")
    serve = None
    try:
        want = {("connect_held", "ESTABLISHED"): 5, ("connect_closing", "CLOSE_WAIT"): 2}
        assert wait_until("ss: 5 ESTABLISHED and 2 CLOSE_WAIT", lambda: ss_counts(pid, peers)
                          if ss_counts(pid, peers) == want else None) == want
        # The census comes every 4 sweep periods (2 s at a 1 s deadline).
        got = wait_until("sockleak_open_sockets equal to ss's counts",
                         lambda: open_gauge(metrics(tmp_path / "out")) == want and want)
        assert got == want
        assert ss_counts(pid, peers) == want, "the program still holds what the gauge says"
        text = metrics(tmp_path / "out", "prometheus")
        assert open_gauge(text) == want, text
        limit = int(re.search(r"Max open files\s+(\d+)",
                              open(f"/proc/{pid}/limits").read()).group(1))
        samples = parse(text)
        assert samples[("sockleak_fd_limit", frozenset({("program", PROGRAM)}))] == limit
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        assert samples[("sockleak_open_fds", frozenset({("program", PROGRAM)}))] == fds
        serve = Serve(tmp_path / "out")
        status, _, body = serve.get()
        assert status == 200 and open_gauge(body) == want, body
    finally:
        rc, err = finish(proc, pid)
    # The CLOSE_WAIT sockets are findings once held past the 1 s deadline.
    assert rc in (0, ERROR_EXIT), err
    after = metrics(tmp_path / "out")
    assert open_gauge(after) == {}, f"an exited process contributes nothing:\n{after}"
    assert "sockleak_fd_limit{" not in after
    status, _, body = serve.get()
    serve.stop()
    assert status == 200 and open_gauge(body) == {}, body


def test_at_exit_all_lists_open_sockets_by_site_with_their_states(tmp_path, peers):
    # A long deadline: only the exit reports anything.
    proc, pid = start(tmp_path, peers, "hold", "--at-exit=all", deadline=60000)
    want = {("connect_held", "ESTABLISHED"): 5, ("connect_closing", "CLOSE_WAIT"): 2}
    try:
        before = wait_until("ss: 5 ESTABLISHED and 2 CLOSE_WAIT", lambda: ss_counts(pid, peers)
                            if ss_counts(pid, peers) == want else None)
    finally:
        rc, err = finish(proc, pid)
    assert rc == ERROR_EXIT, f"open sockets at exit fail the run (--error-exitcode):\n{err}"
    rrc, data, _, rerr = run_report(tmp_path / "out", "--error-exitcode", "7")
    assert rrc == 7, f"report's exit status counts them too: {rerr}"
    groups = [g for g in data["findings"] if g["kind"] == "open_at_exit"]
    got = {}
    for g in groups:
        site = g["call_site"]
        assert site["line"] == sites()[site["function"]], site
        assert sum(g["states"].values()) == g["count"], g
        for state, n in g["states"].items():
            got[(site["function"], state)] = n
        for e in g["examples"]:
            assert e["pid"] == pid and e["at_exit"] is True
            assert e["tcp_state"] in g["states"], e
            assert int(e["peer"].rsplit(":", 1)[1]) == (
                peers[0].port if site["function"] == "connect_held" else peers[1].port), e
    assert got == before, f"open_at_exit is what ss showed before the exit:\n{data}"
    assert data["summary"]["open_at_exit"] == 7
    text = subprocess.run([str(TOOL), "report", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=TIMEOUT).stdout
    assert "7 sockets open at exit in 2 call sites" in text, text
    assert "5 sockets still open when the process exited (5 ESTABLISHED)" in text, text
    # --follow: a line a finding, with its state.
    p = subprocess.Popen([str(TOOL), "report", "--follow", str(tmp_path / "out")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, _ = p.communicate(timeout=TIMEOUT)
    follow = re.findall(rf"open_at_exit pid {pid} {PROGRAM} fd \d+ \S+ <- \S+ (\S+): "
                        rf"(?:\.\.\. again, )?socket created at (\w+) ", out)
    assert Counter(follow) == Counter({("ESTABLISHED", "connect_held"): 5,
                                       ("CLOSE_WAIT", "connect_closing"): 2}), out
    # SARIF: a rule of its own; suppressions by kind.
    sarif = subprocess.run([str(TOOL), "report", "--format", "sarif", str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert sarif.count('"ruleId": "open_at_exit"') == 2 and "SocketOpenAtExit" in sarif, sarif
    (tmp_path / "supp").write_text("open_at_exit:connect_held\n")
    _, data, _, _ = run_report(tmp_path / "out", "--suppressions", str(tmp_path / "supp"))
    assert data["summary"]["open_at_exit"] == 2, data["summary"]


def test_at_exit_all_and_a_program_that_closes_everything(tmp_path, peers):
    proc, pid = start(tmp_path, peers, "close", "--at-exit=all", deadline=60000)
    rc, err = finish(proc, pid)
    assert rc == 0, err
    rrc, data, _, _ = run_report(tmp_path / "out", "--error-exitcode", "7")
    assert rrc == 0 and data["findings"] == [], data
    assert "open_at_exit" not in data["summary"], data["summary"]


def test_at_exit_alone_keeps_its_meaning(tmp_path, peers):
    proc, pid = start(tmp_path, peers, "hold", "--at-exit", deadline=60000)
    # The closing peer's FIN has arrived (ss), or the exit would find the
    # sockets still ESTABLISHED: a loaded machine takes its time.
    want = {("connect_held", "ESTABLISHED"): 5, ("connect_closing", "CLOSE_WAIT"): 2}
    assert wait_until("ss: 5 ESTABLISHED and 2 CLOSE_WAIT", lambda: ss_counts(pid, peers)
                      if ss_counts(pid, peers) == want else None) == want
    rc, err = finish(proc, pid)
    _, data, _, _ = run_report(tmp_path / "out")
    kinds = Counter(g["kind"] for g in data["findings"])
    assert kinds == {"close_wait_unread": 1}, data
    assert rc == ERROR_EXIT, err


def test_at_exit_all_in_sockleak_options(tmp_path, peers):
    """Without the tool: SOCKLEAK_OPTIONS=at_exit=all as the README gives it."""
    env = dict(os.environ, LD_PRELOAD=str(TOOL.parent / "libsockleak.so"),
               SOCKLEAK_OPTIONS=f"output={tmp_path / 'out'}:at_exit=all:deadline_ms=60000")
    proc = subprocess.Popen([str(prog_path(PROGRAM)), str(peers[0].port), str(peers[1].port),
                             "hold"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    pid = int(proc.stdout.readline().split()[1])
    rc, err = finish(proc, pid)
    assert rc == 0 and "bad value" not in err, err
    _, data, _, _ = run_report(tmp_path / "out")
    assert data["summary"]["open_at_exit"] == 7, data
