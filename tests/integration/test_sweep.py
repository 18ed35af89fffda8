"""CLOSE_WAIT sockets that no read revealed, found by the kernel sweep:
idle connections whose FIN nobody read, copies inherited through fork,
connections left in a listener's accept queue, and what a short-lived
process leaves open at exit (at_exit=1).

Ground truth is the kernel's: while each program holds its sockets, the
test lists them with `ss -tanp state close-wait` and the report must name
exactly those, at the call sites marked in tests/integration/progs/
cw_shapes.c."""
import os
import re
import signal
import subprocess
import time

from conftest import (TIMEOUT, assert_site, finding_records, marker_line, proc_src, prog_path,
                      sockleak_run, wait_until, ERROR_EXIT)

SRC = proc_src("cw_shapes")


def ss_close_wait(port):
    """CLOSE_WAIT sockets with port as their local or peer port, as ss sees
    them: a list of (local, peer, set of pids holding it)."""
    p = subprocess.run(["ss", "-tanpH", "state", "close-wait"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p.stderr
    found = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        local, peer = parts[2], parts[3]
        if local.rsplit(":", 1)[-1] == str(port) or peer.rsplit(":", 1)[-1] == str(port):
            pids = {int(x) for x in re.findall(r"pid=(\d+)", line)}
            found.append((local, peer, pids))
    return found


def close_wait_seen(count, held=None):
    """A driver: waits (a condition, not a time) until ss shows count
    CLOSE_WAIT sockets on the port, counting only those held by a process
    (held=True) or by none (held=False) when told; returns all ss showed
    then (the test's ground truth), or what it showed last at the limit."""
    def run(port):
        end = time.monotonic() + TIMEOUT
        while True:
            found = ss_close_wait(port)
            seen = [t for t in found if held is None or bool(t[2]) == held]
            if len(seen) >= count or time.monotonic() > end:
                return found
            time.sleep(0.05)
    return run


def held_until_go(outdir, go, count, kind):
    """A driver for a program holding its leaks until the file go exists:
    waits until ss shows count sockets on the port in CLOSE_WAIT held by a
    process and outdir's logs hold count findings of kind; then makes go (at
    the limit too, so the program ends). Returns the held sockets ss showed."""
    def run(port):
        try:
            held = [t for t in close_wait_seen(count, held=True)(port) if t[2]]
            if len(held) >= count:
                wait_until(f"{count} {kind} findings in {outdir}'s logs", lambda: sum(
                    r["kind"] == kind for r in finding_records(outdir)) >= count)
            return held
        finally:
            go.touch()
    return run


# The programs below hold their sockets until released with SIGUSR2 (which
# `sockleak run` passes on): once ss showed them and their findings are in
# the logs, not after a fixed time a loaded machine may miss.
RELEASE = signal.SIGUSR2


def sweep_run(argv, outdir, driver, findings, **kw):
    """sockleak_run of a program that holds its sockets until released:
    released once the findings expected (records in the logs) are there."""
    return sockleak_run(argv, outdir, driver=driver, stop_signal=RELEASE,
                        stop_after_findings=findings, **kw)


def release_when_logged(outdir, findings, pids):
    """Waits until outdir's logs hold findings finding records, then
    releases pids (processes waiting for RELEASE); fails naming what it saw
    when the findings do not come."""
    end = time.monotonic() + TIMEOUT
    while len(finding_records(outdir)) < findings and time.monotonic() < end:
        time.sleep(0.05)
    got = len(finding_records(outdir))
    if got < findings:
        raise AssertionError(f"{got} finding record(s) in {outdir}'s logs within {TIMEOUT} s,"
                             f" expected {findings}")
    for pid in pids:
        os.kill(pid, RELEASE)


def seen_then_released(outdir, count=1, findings=1):
    """A driver for a program that holds its sockets until released with
    RELEASE, sent to the processes ss shows holding them (whoever started
    them): waits until ss shows count held CLOSE_WAIT sockets and the logs
    findings records, then releases the holders. Returns what ss showed."""
    def run(port):
        truth = close_wait_seen(count, held=True)(port)
        holders = {p for _, _, pids in truth for p in pids}
        if holders:  # none: nothing to release, the test's checks say why
            release_when_logged(outdir, findings, holders)
        return truth
    return run


def kinds(run):
    return sorted((f["kind"], f["count"]) for f in run.findings)


def test_fin_never_read_is_close_wait_unread(tool, tmp_path):
    run = sweep_run([prog_path("cw_shapes"), "unread", 3], tmp_path / "out",
                    close_wait_seen(3), findings=3)
    truth = run.driver_result
    assert len(truth) == 3, f"ss shows {truth}{run.describe()}"
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait_unread", 3)], run.describe()
    f = run.findings[0]
    reported = {(ex["local"], ex["peer"]) for ex in f["examples"]}
    assert reported <= {(loc, peer) for loc, peer, _ in truth}, run.describe()
    assert f.get("tcp_state") == "CLOSE_WAIT", run.describe()
    assert_site(run, f, "open_stack", SRC, "dial", marker_line(SRC, "OPEN-SITE"))
    assert_site(run, f, "last_read_stack", SRC, "read_response",
                marker_line(SRC, "LAST-READ-SITE"))
    assert f["eof_stack"] == [], run.describe()
    assert all(ex.get("unread_bytes") == 100 for ex in f["examples"]), run.describe()


def test_copy_kept_by_forked_worker_is_close_wait_inherited(tool, tmp_path):
    run = sweep_run([prog_path("cw_shapes"), "inherited"], tmp_path / "out",
                    close_wait_seen(1), findings=1)
    truth = run.driver_result
    assert len(truth) == 1, f"ss shows {truth}{run.describe()}"
    holders = truth[0][2]
    assert kinds(run) == [("close_wait_inherited", 1)], run.describe()
    f = run.findings[0]
    ex = f["examples"][0]
    assert {ex["pid"]} == holders, f"ss says {holders} holds it{run.describe()}"
    assert ex.get("from_pid") and ex["from_pid"] != ex["pid"], run.describe()
    assert_site(run, f, "open_stack", SRC, "inherited_mode",
                marker_line(SRC, "OPEN-SITE-INHERITED"))
    assert_site(run, f, "fork_stack", SRC, "inherited_mode", marker_line(SRC, "FORK-SITE"))
    assert f["processes"] == 1, "the parent closed its copy correctly: not a finding"


def test_peer_closed_in_accept_queue_is_close_wait_unaccepted(tool, tmp_path):
    run = sweep_run([prog_path("cw_shapes"), "unaccepted", 4], tmp_path / "out",
                    close_wait_seen(4), findings=1)
    truth = run.driver_result
    assert len(truth) == 4 and all(not pids for _, _, pids in truth), (
        f"ss shows {truth}{run.describe()}")
    assert kinds(run) == [("close_wait_unaccepted", 4)], run.describe()
    f = run.findings[0]
    assert_site(run, f, "listen_stack", SRC, "make_listener", marker_line(SRC, "LISTEN-SITE"))
    ex = f["examples"][0]
    assert ex.get("backlog") == 64 and ex.get("queued") == 4, run.describe()


def test_short_lived_process_reports_at_exit(tool, tmp_path):
    """Exits 100 ms after reading end-of-stream, long before the 5 s
    deadline: with --at-exit both the socket that read its end-of-stream and
    the one left unread are reported, marked at_exit."""
    argv = [prog_path("cw_shapes"), "exit"]

    def look_then_release(port):
        """Once ss showed both sockets held, the program may exit (it waits
        half a deadline at most)."""
        truth = close_wait_seen(2, held=True)(port)
        for pid in {p for _, _, pids in truth for p in pids}:
            os.kill(pid, RELEASE)
        return truth

    quiet = sockleak_run(argv, tmp_path / "plain", driver=look_then_release, deadline=5000)
    assert len(quiet.driver_result) == 2, quiet.describe()
    assert quiet.findings == [], "before the deadline, without --at-exit: nothing"
    run = sockleak_run(argv, tmp_path / "out", driver=look_then_release, deadline=5000,
                       tool_args=("--at-exit",))
    assert kinds(run) == [("close_wait", 1), ("close_wait_unread", 1)], run.describe()
    for f in run.findings:
        assert all(ex.get("at_exit") for ex in f["examples"]), run.describe()
    eof = next(f for f in run.findings if f["kind"] == "close_wait")
    assert_site(run, eof, "eof_stack", SRC, "exit_mode", marker_line(SRC, "EOF-SITE"))


def test_no_netlink_or_thread_without_tcp_sockets(tool, tmp_path):
    """A process that makes no TCP socket pays nothing: no thread, no log."""
    code = "import os,socket; a,b=socket.socketpair(); print(len(os.listdir('/proc/self/task')))"
    run = sockleak_run(["/usr/bin/python3", "-c", code], tmp_path / "out")
    assert run.stdout.strip() == "1", run.describe()
    assert not list((tmp_path / "out").glob("*.jsonl")), run.describe()


# ------------------------------------------------------------ real runtimes

class IdleClosingServer:
    """HTTP/1.1 keep-alive on 127.0.0.1 that closes a connection left idle
    for 100 ms (as servers do after their idle timeout). Runs in this test
    process, not under the library."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import threading
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        conn.settimeout(0.1)
        buf = b""
        try:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return  # idle timeout: close
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 b"Connection: keep-alive\r\n\r\nok")
        finally:
            conn.close()

    def close(self):
        self.stop = True
        self.sock.close()


def run_pool_client(code, tmp_path, driver=ss_close_wait, **kw):
    """Runs the Python client code (its argv[1]: the port) under sockleak
    against an IdleClosingServer; ss's CLOSE_WAIT view is the driver's."""
    server = IdleClosingServer()
    script = tmp_path / "client.py"
    script.write_text(code)
    try:
        return sockleak_run(["/usr/bin/python3", script, server.port], tmp_path / "out",
                            driver=driver, **kw)
    finally:
        server.close()


POOL_CLIENT = r"""
import signal, sys, urllib3
port = int(sys.argv[1])
pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)
for _ in range(3):
    assert pool.request("GET", "/").data == b"ok"
# Idle in the pool: the server closes it and the pooled socket sits in
# CLOSE_WAIT, until the test (which waits for that) releases the client.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
print("listening on %d" % port, flush=True)
signal.sigtimedwait({signal.SIGUSR2}, 20)
"""


def test_python_pooled_connection_closed_by_server(tool, tmp_path):
    """urllib3's pool keeps an idle keep-alive connection the server has
    since closed: nothing reads its FIN until the pool reuses it."""
    import pytest
    try:
        import urllib3  # noqa: F401 (the client needs it)
    except ImportError:
        pytest.skip("urllib3 is not installed (Debian package python3-urllib3)")
    run = run_pool_client(POOL_CLIENT, tmp_path, driver=close_wait_seen(1, held=True),
                          stop_signal=RELEASE, stop_after_findings=1)
    truth = [t for t in run.driver_result if t[2]]  # the client's end, held by a process
    assert len(truth) == 1, f"ss shows {run.driver_result}{run.describe()}"
    assert kinds(run) == [("close_wait_unread", 1)], run.describe()
    ex = run.findings[0]["examples"][0]
    assert {ex["pid"]} == truth[0][2] and ex["local"] == truth[0][0], run.describe()


FORKING_SERVER = r"""
import os, signal, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
port = srv.getsockname()[1]
cli = socket.create_connection(("127.0.0.1", port))
conn, _ = srv.accept()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # the helper's too
pid = os.fork()               # a helper process, forked while conn is open
if pid == 0:
    cli.close(); srv.close()  # it closes what it knows of, and forgets conn
    signal.sigtimedwait({signal.SIGUSR2}, 20)  # until the parent releases it
    os._exit(0)
cli.close()
assert conn.recv(10) == b""   # the parent reads end-of-stream
conn.close()                  # and closes its copy correctly
print("listening on %d" % port, flush=True)
signal.sigtimedwait({signal.SIGUSR2}, 20)  # until the test releases it
os.kill(pid, signal.SIGUSR2)
os.waitpid(pid, 0)
"""


def test_python_forked_helper_keeps_the_copy(tool, tmp_path):
    script = tmp_path / "forking.py"
    script.write_text(FORKING_SERVER)
    run = sweep_run(["/usr/bin/python3", script], tmp_path / "out", close_wait_seen(1),
                    findings=1)
    truth = run.driver_result
    assert len(truth) == 1, f"ss shows {truth}{run.describe()}"
    assert kinds(run) == [("close_wait_inherited", 1)], run.describe()
    ex = run.findings[0]["examples"][0]
    assert {ex["pid"]} == truth[0][2] and ex.get("from_pid"), run.describe()


NODE_UNREAD = r"""
const net = require('net');
setTimeout(() => process.exit(3), 20000).unref();
// A server that sends a greeting and closes the connection.
const srv = net.createServer((s) => s.end('hello'));
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  const sock = net.connect(port, '127.0.0.1', () => {
    sock.pause();   // a pooled stream nobody resumes, reads or destroys
    // Held until the test saw it in CLOSE_WAIT and its finding logged.
    process.on('SIGUSR2', () => process.exit(0));
    console.log('listening on ' + port);
  });
});
"""


def test_node_paused_stream_never_read(tool, tmp_path):
    import shutil
    import pytest
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed (Debian package nodejs)")
    script = tmp_path / "unread.js"
    script.write_text(NODE_UNREAD)
    run = sweep_run([node, script], tmp_path / "out", close_wait_seen(1, held=True),
                    findings=1)
    truth = [t for t in run.driver_result if t[2]]
    assert len(truth) == 1, f"ss shows {run.driver_result}{run.describe()}"
    assert kinds(run) == [("close_wait_unread", 1)], run.describe()
    assert run.findings[0]["examples"][0]["local"] == truth[0][0], run.describe()


ASYNCIO_POOL = r"""
import asyncio, signal, sys
port = int(sys.argv[1])

async def main():
    pool = []
    for _ in range(4):                       # a small pool of keep-alive connections
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await r.readuntil(b"ok")
        pool.append((r, w))
    async def watch(r, w):                   # an idle connection's end-of-stream
        await r.read()                       # is read, and the connection closed
        w.close()
        await w.wait_closed()
    await asyncio.gather(*(watch(r, w) for r, w in pool))
    # Alive while the test looks with ss, until it releases the client.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    print("listening on %d" % port, flush=True)
    signal.sigtimedwait({signal.SIGUSR2}, 20)

asyncio.run(main())
"""


def test_python_asyncio_pool_that_reads_eof_is_clean(tool, tmp_path):
    """The correct counterpart of the pool test: asyncio reads each idle
    connection's end-of-stream as it comes and the client closes it. The
    client holds on (until released, two deadlines later) while ss looks:
    it used to sleep 0.6 s, so a late look found it gone and passed
    whatever it would have held."""
    run = run_pool_client(ASYNCIO_POOL, tmp_path, stop_signal=RELEASE, stop_after_findings=0)
    assert [t for t in run.driver_result if t[2]] == [], run.describe()
    assert run.rc == 0 and run.findings == [], run.describe()
    assert run.report["summary"]["sockets"] >= 4, run.describe()


def test_sweep_matches_a_reused_fd_by_the_new_connections_inode(tool, tmp_path):
    """The sweep takes a socket's inode when it first looks at it; a second
    connection at the same fd number is matched by its own."""
    src = proc_src("cw_fd_reuse")
    run = sweep_run([prog_path("cw_fd_reuse")], tmp_path / "out", close_wait_seen(1),
                    findings=1)
    truth = run.driver_result
    assert len(truth) == 1, f"ss shows {truth}{run.describe()}"
    assert kinds(run) == [("close_wait_unread", 1)], run.describe()
    f = run.findings[0]
    assert (f["examples"][0]["local"], f["examples"][0]["peer"]) == truth[0][:2], run.describe()
    assert_site(run, f, "open_stack", src, "main", marker_line(src, "OPEN-SITE"))
