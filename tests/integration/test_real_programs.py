"""Real, unmodified programs under the detector: python3's http.server,
asyncio and forking stdlib servers, Node (net, http, cluster), Java (blocking
sockets and NIO), redis-server with redis-benchmark, nginx with wrk, curl and
wget. Clean programs must give no finding and behave as they do without the
library; leaky ones must give the expected kind and count.

Every program runs on 127.0.0.1 only, with bounded loops and timeouts. A test
whose program is not installed is skipped and names the Debian package that
provides it (redis-server redis-tools nginx-light wrk nodejs curl wget
default-jdk).

CPython's own test_socket, run with and without the library, takes about a
minute: it runs only when SOCKLEAK_SLOW_TESTS=1 is set (and needs
libpython3.11-testsuite).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import (ERROR_EXIT, PYTHON, TIMEOUT, TOOL, Run, _kill_group, attach_report,
                      client, drive, run_report, server_conns_open, sockleak_run, wait_until)

DEADLINE = 300          # ms, the detector's deadline in these tests
HOLD = 1.2              # s a leaky program keeps its sockets: well past DEADLINE
READY_TIMEOUT = 20      # s for a server to accept connections

SLOW = os.environ.get("SOCKLEAK_SLOW_TESTS") == "1"


# ---------------------------------------------------------------- helpers

def need_prog(name, package):
    """Full path of an installed program, or skip the test naming its package."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if not path:
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


def free_port():
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """The environment without any LD_PRELOAD of the caller's."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
    env.update(extra or {})
    return env


def wait_listening(proc, port, what, logs=()):
    """Waits until 127.0.0.1:port accepts a connection (one probe connection,
    opened and closed at once). Fails if proc exits first or it takes too long."""
    end = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with status {proc.returncode} before listening on"
                        f" {port}:{tails(logs)}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    _kill_group(proc)
    proc.wait(TIMEOUT)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {READY_TIMEOUT} s:"
                f"{tails(logs)}", pytrace=False)


def tails(paths):
    text = ""
    for p in paths:
        p = Path(p)
        if p.exists():
            text += f"\n  {p.name}: {p.read_bytes()[-2000:].decode(errors='replace')!r}"
    return text


def run_server(argv, tmp_path, port, driver, name, stop=signal.SIGTERM, cwd=None,
               under_tool=True, extra_logs=()):
    """Starts server argv (listening on 127.0.0.1:port), under `sockleak run`
    when under_tool (raw logs in tmp_path/name-out), runs driver(port), stops it
    with signal stop (the tool passes it on) and waits for it. Returns a Run
    whose report is read back with `sockleak report --format json` (None
    without the tool)."""
    outdir = tmp_path / f"{name}-out"
    stdout = tmp_path / f"{name}.stdout"
    stderr = tmp_path / f"{name}.stderr"
    if under_tool:
        cmd = [str(TOOL), "run", "--deadline", str(DEADLINE), "--output", str(outdir),
               "--format", "json", "--error-exitcode", str(ERROR_EXIT), "--", *argv]
    else:
        cmd = list(argv)
    logs = (stdout, stderr, *extra_logs)
    start = time.monotonic()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                cwd=cwd, env=clean_env(), start_new_session=True)
    try:
        wait_listening(proc, port, name, logs)
        result = driver(port)
        proc.send_signal(stop)
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait(TIMEOUT)
            pytest.fail(f"{' '.join(cmd)} did not stop within {TIMEOUT} s of signal {stop}:"
                        f"{tails(logs)}", pytrace=False)
    except BaseException:
        _kill_group(proc)
        proc.wait(TIMEOUT)
        raise
    run = Run(argv=cmd, rc=proc.returncode, stdout=stdout.read_text(errors="replace"),
              stderr=stderr.read_text(errors="replace"), outdir=outdir,
              seconds=time.monotonic() - start, driver_result=result)
    if under_tool:
        attach_report(run)
    return run


def assert_no_findings(run, status, min_processes=1, min_eof=1):
    """No finding, the program's own exit status, and proof that the library
    was at work: at least min_processes logs and min_eof end-of-stream reads."""
    assert run.findings == [], f"expected no findings{run.describe()}"
    assert run.leaks == 0, f"expected summary.leaks == 0{run.describe()}"
    assert run.rc == status, f"expected exit status {status} (the program's){run.describe()}"
    summary = run.report["summary"]
    assert summary["processes"] >= min_processes, (
        f"expected logs of at least {min_processes} process(es): was the library"
        f" loaded?{run.describe()}")
    assert summary["eof_seen"] >= min_eof, (
        f"expected at least {min_eof} end-of-stream reads seen{run.describe()}")
    assert not warnings_in(run.stderr + run.report_stderr), (
        f"the detector warned{run.describe()}")


def warnings_in(text):
    """The detector's own warnings ("sockleak: ..." lines) in text."""
    return [line for line in text.splitlines() if line.startswith("sockleak:")]


def assert_found(run, kind, count, tcp_state=None, open_stack=True):
    """Exactly one group, of kind and count, and --error-exitcode. open_stack:
    whether the socket's creation was seen (not for fds passed by another
    process)."""
    assert run.rc == ERROR_EXIT, (f"expected exit status {ERROR_EXIT} (--error-exitcode,"
                                  f" leaks found){run.describe()}")
    got = [(f["kind"], f["count"]) for f in run.findings]
    assert got == [(kind, count)], f"expected [({kind!r}, {count})], got {got}{run.describe()}"
    assert run.leaks == count, f"expected summary.leaks == {count}{run.describe()}"
    finding = run.findings[0]
    assert finding["eof_stack"], f"finding without an EOF stack{run.describe()}"
    if open_stack:
        assert finding["open_stack"], f"finding without an open stack{run.describe()}"
    if tcp_state:
        assert finding.get("tcp_state") == tcp_state, (
            f"expected tcp_state {tcp_state}{run.describe()}")
    return finding


def digest_http(port, n, paths):
    """n GET requests with urllib (one connection each), cycling over paths;
    returns ({status: count}, sha256 of every status and body in order)."""
    h = hashlib.sha256()
    codes = {}
    for i in range(n):
        url = f"http://127.0.0.1:{port}/{paths[i % len(paths)]}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body, code = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, code = e.read(), e.code
        codes[code] = codes.get(code, 0) + 1
        h.update(b"%d %d\n" % (code, len(body)) + body)
    return codes, h.hexdigest()


def hang_ups(port, n):
    """n connections that send nothing and hang up: the server reads
    end-of-stream on each and must close it."""
    for _ in range(n):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# ----------------------------------------------------- python3 http.server

@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1.1"])
def test_python_http_server_clean(tool, tmp_path, protocol):
    """200 urllib requests (plus 20 bare hang-ups): same statuses and bodies
    as without the library, no finding."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 1024)
    paths = ["", "hello.txt", "missing", "big.bin"]

    def driver(port):
        res = digest_http(port, 200, paths)
        hang_ups(port, 20)
        # Handler threads may still be on the last hang-ups: a final request
        # proves they were accepted; then wait until every handler has read
        # its end-of-stream and closed (no connection left open on the port).
        digest_http(port, 1, paths)
        wait_until(f"http.server closing every connection on port {port}",
                   lambda: not server_conns_open(port))
        return res

    results = {}
    for under in (False, True):
        port = free_port()
        argv = [PYTHON, "-m", "http.server", "--bind", "127.0.0.1", "--protocol", protocol,
                str(port)]
        name = "http-under" if under else "http-plain"
        results[under] = run_server(argv, tmp_path, port, driver, name, stop=signal.SIGINT,
                                    cwd=root, under_tool=under)
    plain, run = results[False], results[True]
    assert run.driver_result == plain.driver_result, (
        f"responses differ: without {plain.driver_result}, with {run.driver_result}")
    assert plain.driver_result[0] == {200: 150, 404: 50}, plain.driver_result
    assert_no_findings(run, plain.rc, min_eof=20)


# ------------------------------------------------ a leaky Python server

LEAKY_PY = r"""
import socket, sys, time
n, hold = int(sys.argv[1]), float(sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
srv.settimeout(20)
print("listening on", srv.getsockname()[1], flush=True)
kept = []
for _ in range(n):
    conn, _ = srv.accept()
    conn.settimeout(20)
    while True:
        if conn.recv(4096) == b"":
            break            # end-of-stream, and no close: the leak
    kept.append(conn)
time.sleep(hold)
print("kept", len(kept), flush=True)
"""


@pytest.mark.parametrize("n", [1, 12])
def test_python_leaky_server_found(tool, tmp_path, n):
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY_PY)

    def driver(port):
        for i in range(n):
            client(port, "send", payload=b"request %d\n" % i)

    run = sockleak_run([PYTHON, script, n, HOLD], tmp_path / "out", driver=driver,
                       deadline=DEADLINE)
    assert f"kept {n}" in run.stdout, run.describe()
    finding = assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT")
    ports = {ex["local"] for ex in finding["examples"]}
    assert all(p.startswith("127.0.0.1:") for p in ports), run.describe()
    assert len({ex["fd"] for ex in finding["examples"]}) == len(finding["examples"]), (
        f"examples repeat an fd although every socket stayed open{run.describe()}")


# ------------------------------------- asyncio and forking stdlib servers

ASYNCIO_ECHO = r"""
import asyncio, sys
n, leak, hold = int(sys.argv[1]), sys.argv[2] == "leak", float(sys.argv[3])
eofs = 0
kept = []
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        kept.append(transport)
    def data_received(self, data):
        self.transport.write(data)
    def eof_received(self):
        global eofs
        eofs += 1
        # True keeps the transport open (half-open use); None lets asyncio close it.
        return True if leak else None
async def main():
    srv = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print("listening on", srv.sockets[0].getsockname()[1], flush=True)
    for _ in range(400):
        if eofs >= n:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(hold)
    print("eofs", eofs, flush=True)
asyncio.run(main())
"""

FORKING_ECHO = r"""
import socketserver, sys, time
n, hold = int(sys.argv[1]), float(sys.argv[2])
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
        time.sleep(hold)     # end-of-stream read; the socket is closed only later
class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
srv = Server(("127.0.0.1", 0), Echo)
srv.timeout = 20
print("listening on", srv.server_address[1], flush=True)
for _ in range(n):
    srv.handle_request()
srv.collect_children(blocking=True)
srv.server_close()
print("served", n, flush=True)
"""


@pytest.mark.parametrize("leak", [False, True], ids=["clean", "leaky"])
def test_python_asyncio_server(tool, tmp_path, leak):
    script = tmp_path / "echo.py"
    script.write_text(ASYNCIO_ECHO)
    n = 6
    run = sockleak_run([PYTHON, script, n, "leak" if leak else "close", HOLD],
                       tmp_path / "out", driver=drive(*["echo"] * n), deadline=DEADLINE)
    assert f"eofs {n}" in run.stdout, run.describe()
    assert run.driver_result == [b"hello\n"] * n
    if leak:
        assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT")
    else:
        assert_no_findings(run, 0, min_eof=n)


def test_python_forking_server_children_found(tool, tmp_path):
    """Each forked child reads end-of-stream and holds its socket past the
    deadline: one group, one socket in each of n processes."""
    script = tmp_path / "fork.py"
    script.write_text(FORKING_ECHO)
    n = 4
    run = sockleak_run([PYTHON, script, n, HOLD], tmp_path / "out",
                       driver=drive(*["echo"] * n), deadline=DEADLINE)
    assert f"served {n}" in run.stdout, run.describe()
    finding = assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT")
    assert finding["processes"] == n, f"expected {n} processes{run.describe()}"
    assert len({ex["pid"] for ex in finding["examples"]}) == len(finding["examples"]), (
        run.describe())


def test_python_forking_server_clean(tool, tmp_path):
    """Children that close at once (then leave with os._exit, so they write
    no log at all) give no finding."""
    script = tmp_path / "fork.py"
    script.write_text(FORKING_ECHO)
    n = 4
    run = sockleak_run([PYTHON, script, n, 0], tmp_path / "out",
                       driver=drive(*["echo"] * n), deadline=DEADLINE)
    assert f"served {n}" in run.stdout, run.describe()
    assert run.findings == [] and run.leaks == 0 and run.rc == 0, run.describe()


# --------------------------------------------------------------------- Node

NODE_LEAKY = r"""
const net = require('net');
const n = +process.argv[2], hold = +process.argv[3];
let ended = 0;
const kept = [];
setTimeout(() => process.exit(3), 20000).unref();
const srv = net.createServer({allowHalfOpen: true}, (sock) => {
  kept.push(sock);
  sock.on('data', () => {});
  // 'end' is ignored: the half-open socket is never ended nor destroyed.
  sock.on('end', () => {
    if (++ended === n)
      setTimeout(() => { console.log('kept ' + kept.length); process.exit(0); }, hold);
  });
});
srv.listen(0, '127.0.0.1', () => console.log('listening on ' + srv.address().port));
"""

NODE_HTTP = r"""
const http = require('http');
const hold = +process.argv[2];
setTimeout(() => process.exit(3), 25000).unref();
let served = 0;
const srv = http.createServer((req, res) => {
  served++;
  if (req.url === '/quit') {
    res.end('bye\n');
    srv.close();
    setTimeout(() => { console.log('served ' + served); process.exit(0); }, hold);
    return;
  }
  if (req.url === '/missing') { res.statusCode = 404; res.end('no\n'); return; }
  res.setHeader('Content-Type', 'text/plain');
  res.end('hello ' + req.url + '\n');
});
srv.listen(0, '127.0.0.1', () => console.log('listening on ' + srv.address().port));
"""


def test_node_half_open_server_leak_found(tool, tmp_path):
    node = need_prog("node", "nodejs")
    script = tmp_path / "leaky.js"
    script.write_text(NODE_LEAKY)
    n = 8

    def driver(port):
        for i in range(n):
            client(port, "send", payload=b"request %d\n" % i)

    run = sockleak_run([node, script, n, int(HOLD * 1000)], tmp_path / "out", driver=driver,
                       deadline=DEADLINE)
    assert f"kept {n}" in run.stdout, run.describe()
    assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT")


def test_node_http_server_clean(tool, tmp_path):
    """libuv closes with syscall(SYS_close): none of its closes may be missed."""
    node = need_prog("node", "nodejs")
    import http.client
    script = tmp_path / "server.js"
    script.write_text(NODE_HTTP)

    def driver(port):
        res = digest_http(port, 100, ["", "a", "missing"])
        # Keep-alive connections the client hangs up: node reads end-of-stream.
        for _ in range(10):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(10):
                conn.request("GET", f"/k{i}")
                assert conn.getresponse().read() == f"hello /k{i}\n".encode()
            conn.close()
        hang_ups(port, 10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/quit", timeout=10) as r:
            r.read()
        return res

    run = sockleak_run([node, script, int(HOLD * 1000)], tmp_path / "out", driver=driver,
                       deadline=DEADLINE)
    assert "served 201" in run.stdout, run.describe()
    assert run.driver_result[0] == {200: 67, 404: 33}, run.driver_result
    assert_no_findings(run, 0, min_eof=10)


NODE_CLUSTER_LEAKY = r"""
const cluster = require('cluster'), net = require('net');
const n = +process.argv[2], hold = +process.argv[3], port = +process.argv[4];
if (cluster.isPrimary) {
  setTimeout(() => process.exit(3), 20000).unref();
  let ended = 0, online = 0;
  for (let i = 0; i < 2; i++) cluster.fork();
  cluster.on('message', (w, m) => {
    if (m === 'end' && ++ended === n)
      setTimeout(() => {
        console.log('ended ' + ended);
        for (const id in cluster.workers) cluster.workers[id].send('exit');
      }, hold);
  });
  cluster.on('listening', () => { if (++online === 2) console.log('listening on ' + port); });
} else {
  const kept = [];
  process.on('message', (m) => { if (m === 'exit') process.exit(0); });
  net.createServer({allowHalfOpen: true}, (s) => {
    kept.push(s);
    s.on('data', () => {});
    s.on('end', () => process.send('end'));   // and never ended nor destroyed
  }).listen(port, '127.0.0.1');
}
"""


def test_node_cluster_workers_leak_found(tool, tmp_path):
    """The primary accepts and hands each connection to a worker over a unix
    socket (SCM_RIGHTS): the workers' leaks are found, in their own logs,
    although the workers never saw those sockets created."""
    node = need_prog("node", "nodejs")
    script = tmp_path / "cluster.js"
    script.write_text(NODE_CLUSTER_LEAKY)
    n = 10

    def driver(port):
        for i in range(n):
            client(port, "send", payload=b"request %d\n" % i)

    run = sockleak_run([node, script, n, int(HOLD * 1000), free_port()], tmp_path / "out",
                       driver=driver, deadline=DEADLINE)
    assert f"ended {n}" in run.stdout, run.describe()
    finding = assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT", open_stack=False)
    assert 1 <= finding["processes"] <= 2, run.describe()
    assert run.report["summary"]["processes"] == 3, f"primary and two workers{run.describe()}"


# --------------------------------------------------------------------- Java

JAVA_SERVER = r"""
import java.io.InputStream;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.util.*;

public class LeakServer {
    // args: mode (close, leak, nioclose, nioleak), connections, hold ms
    public static void main(String[] a) throws Exception {
        String mode = a[0];
        int n = Integer.parseInt(a[1]);
        long hold = Long.parseLong(a[2]);
        List<Object> kept = new ArrayList<>();
        if (mode.startsWith("nio")) {
            ServerSocketChannel ss = ServerSocketChannel.open();
            ss.bind(new InetSocketAddress("127.0.0.1", 0));
            System.out.println("listening on "
                + ((InetSocketAddress) ss.getLocalAddress()).getPort());
            for (int i = 0; i < n; i++) {
                SocketChannel c = ss.accept();
                ByteBuffer buf = ByteBuffer.allocate(4096);
                while (c.read(buf) >= 0)
                    buf.clear();
                if (mode.equals("nioclose")) c.close(); else kept.add(c);
            }
        } else {
            ServerSocket ss = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
            System.out.println("listening on " + ss.getLocalPort());
            for (int i = 0; i < n; i++) {
                Socket c = ss.accept();
                InputStream in = c.getInputStream();
                byte[] buf = new byte[4096];
                while (in.read(buf) >= 0) {}
                if (mode.equals("close")) c.close(); else kept.add(c);
            }
        }
        Thread.sleep(hold);
        System.out.println("kept " + kept.size());
        System.exit(0);
    }
}
"""


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    """LeakServer compiled once for the module: (java, class directory)."""
    java = need_prog("java", "default-jre")
    javac = need_prog("javac", "default-jdk")
    d = tmp_path_factory.mktemp("java")
    (d / "LeakServer.java").write_text(JAVA_SERVER)
    p = subprocess.run([javac, "-d", str(d), str(d / "LeakServer.java")], capture_output=True,
                       text=True, timeout=120, env=clean_env())
    if p.returncode != 0:
        pytest.fail(f"javac failed: {p.stderr[-3000:]}", pytrace=False)
    return java, d


@pytest.mark.parametrize("mode", ["close", "leak", "nioclose", "nioleak"])
def test_java_server(tool, tmp_path, java_classes, mode):
    """java.net.Socket and NIO SocketChannel (which closes by dup2-ing a
    marker fd over the socket)."""
    java, classes = java_classes
    n = 5
    run = sockleak_run([java, "-cp", classes, "LeakServer", mode, n, int(HOLD * 1000)],
                       tmp_path / "out", driver=drive(*["send"] * n), deadline=DEADLINE)
    leak = mode.endswith("leak")
    assert f"kept {n if leak else 0}" in run.stdout, run.describe()
    if leak:
        assert_found(run, "close_wait", n, tcp_state="CLOSE_WAIT")
    else:
        assert_no_findings(run, 0, min_eof=n)


# -------------------------------------------------------------------- redis

@pytest.mark.parametrize("keepalive", ["1", "0"])
def test_redis_benchmark_clean(tool, tmp_path, keepalive):
    """redis-server under the detector, redis-benchmark (plain, and under the
    detector too) with and without keep-alive (-k 0: a connection per request)."""
    server = need_prog("redis-server", "redis-server")
    bench = need_prog("redis-benchmark", "redis-tools")
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(data), "--daemonize", "no",
            "--logfile", "", "--unixsocket", ""]
    requests = 2000

    def driver(port):
        b = sockleak_run([bench, "-h", "127.0.0.1", "-p", port, "-n", requests, "-c", 20,
                          "-q", "-t", "ping,set,get", "-k", keepalive],
                         tmp_path / "bench-out", deadline=DEADLINE)
        return b

    run = run_server(argv, tmp_path, port, driver, "redis", stop=signal.SIGTERM)
    b = run.driver_result
    assert b.rc == 0, f"redis-benchmark failed{b.describe()}"
    done = re.findall(r"^(\S+): [\d.]+ requests per second", b.stdout.replace("\r", "\n"), re.M)
    assert sorted(set(done)) == ["GET", "PING_INLINE", "PING_MBULK", "SET"], (
        f"benchmark did not complete every test{b.describe()}")
    assert b.findings == [], f"redis-benchmark: expected no findings{b.describe()}"
    # With keep-alive the server sees 20 hang-ups per test at least; without,
    # one per request.
    assert_no_findings(run, 0, min_eof=20 if keepalive == "1" else requests)


# -------------------------------------------------------------------- nginx

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
user {user};
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {dir}/www; }}
        location /hello {{ return 200 "hello\\n"; }}
    }}
}}
"""


def wrk_run(wrk, port, *headers):
    cmd = [wrk, "-t2", "-c20", "-d1s", *[a for h in headers for a in ("-H", h)],
           f"http://127.0.0.1:{port}/hello"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT, env=clean_env())
    return p


def nginx_setup(tmp_path, port):
    """A prefix directory with a minimal config; returns (argv, directory)."""
    nginx = need_prog("nginx", "nginx-light")
    d = tmp_path / "nginx"
    (d / "www").mkdir(parents=True)
    (d / "www" / "index.html").write_text("<p>index</p>\n")
    conf = d / "nginx.conf"
    # The worker keeps root's uid so it may write its log in the pytest tmp dir.
    conf.write_text(NGINX_CONF.format(dir=d, port=port,
                                      user="root" if os.geteuid() == 0 else "nobody"))
    return [nginx, "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")], d


def listener_threads(port):
    """{pid: number of threads} of the processes holding the listening
    socket on port (from `ss -tlnp` and /proc)."""
    out = subprocess.run(["ss", "-tlnpH", f"( sport = :{port} )"], capture_output=True,
                         text=True, timeout=TIMEOUT).stdout
    threads = {}
    for pid in sorted({int(m) for m in re.findall(r"pid=(\d+)", out)}):
        with open(f"/proc/{pid}/status") as f:
            threads[pid] = int(next(l for l in f if l.startswith("Threads:")).split()[1])
    return threads


@pytest.mark.parametrize("close", [False, True], ids=["keepalive", "connection-close"])
def test_nginx_wrk_clean(tool, tmp_path, close):
    """nginx (master and one forked worker, each with its own log) under wrk."""
    wrk = need_prog("wrk", "wrk")
    port = free_port()
    argv, d = nginx_setup(tmp_path, port)

    def driver(port):
        p = wrk_run(wrk, port, *(["Connection: close"] if close else []))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            index = r.read()
        # nginx's master (sigsuspend) and worker (epoll_wait) are single-threaded
        # and stay so: the library's work is done inside their waits.
        threads = listener_threads(port)
        assert len(threads) == 2 and set(threads.values()) == {1}, (
            f"nginx processes and their threads: {threads}")
        hang_ups(port, 5)
        # Served after the hang-ups were accepted: the worker has seen them;
        # wait until it closed every connection.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=10) as r:
            r.read()
        wait_until(f"nginx closing every connection on port {port}",
                   lambda: not server_conns_open(port))
        return p, index

    run = run_server(argv, tmp_path, port, driver, "nginx", stop=signal.SIGQUIT,
                     extra_logs=[d / "error.log"])
    p, index = run.driver_result
    assert p.returncode == 0, f"wrk failed: {p.stdout} {p.stderr}"
    assert index == b"<p>index</p>\n"
    assert "Socket errors" not in p.stdout, f"wrk saw socket errors:\n{p.stdout}"
    assert "Non-2xx" not in p.stdout, f"wrk saw error responses:\n{p.stdout}"
    m = re.search(r"(\d+) requests in", p.stdout)
    assert m and int(m.group(1)) > 0, f"wrk made no request:\n{p.stdout}"
    # The worker reads end-of-stream (the master only forks it), though
    # rarely: with EPOLLRDHUP nginx closes idle keep-alive connections
    # without reading their end-of-stream.
    assert_no_findings(run, 0, min_eof=1)
    err = (d / "error.log").read_text(errors="replace")
    # nginx sends its stderr to its error log: our warnings would land there.
    assert not warnings_in(err), err[-3000:]
    assert "[alert]" not in err and "[crit]" not in err and "[emerg]" not in err, err[-3000:]


def test_nginx_worker_log_named_after_program(tool, tmp_path):
    """The worker's log is `nginx.PID.jsonl` and its header names nginx and
    its real arguments, although nginx rewrites argv[0] in the worker."""
    port = free_port()
    argv, d = nginx_setup(tmp_path, port)

    def driver(port):
        hang_ups(port, 3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=10) as r:
            r.read()
        wait_until(f"nginx closing every connection on port {port}",
                   lambda: not server_conns_open(port))

    run = run_server(argv, tmp_path, port, driver, "nginx", stop=signal.SIGQUIT,
                     extra_logs=[d / "error.log"])
    assert_no_findings(run, 0, min_eof=1)
    logs = sorted(p.name for p in run.outdir.iterdir())
    assert logs and all(re.fullmatch(r"nginx\.\d+\.jsonl", n) for n in logs), logs
    for log in run.outdir.iterdir():
        header = json.loads(log.read_text().splitlines()[0])
        assert header["program"] == "nginx", header
        assert header["argv"][:3] == [argv[0], "-p", argv[2]], header


# --------------------------------------------------------------------- curl

LEAKY_HTTP_PY = r"""
import socket, sys, time
n, hold, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
srv.settimeout(20)
print("listening on", srv.getsockname()[1], flush=True)
kept = []
body = b"hello from a leaky server\n"
for _ in range(n):
    conn, _ = srv.accept()
    conn.settimeout(20)
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = conn.recv(4096)
        if not chunk:
            break
        req += chunk
    if mode == "length":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    else:
        # No length: the body ends with our end-of-stream, the client reads to it.
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + body)
        conn.shutdown(socket.SHUT_WR)
    while conn.recv(4096):
        pass
    kept.append(conn)        # end-of-stream read, never closed
time.sleep(hold)
print("kept", len(kept), flush=True)
"""


HTTP_CLIENTS = {
    # name: (Debian package, command printing the body of the URL {url})
    "curl": ("curl", "{prog} -sS --max-time 10 {url}"),
    "wget": ("wget", "{prog} -q --tries=1 --timeout=10 -O - {url}"),
}


@pytest.mark.parametrize("mode,kind", [("length", "close_wait"),
                                       ("eof", "unclosed_after_shutdown")])
@pytest.mark.parametrize("http_client", sorted(HTTP_CLIENTS))
def test_http_client_clean_against_leaky_server(tool, tmp_path, http_client, mode, kind):
    """curl and wget close what they open: no finding in the client, while the
    server's leak is found (close_wait; or unclosed_after_shutdown when the
    server shut down its side to end the body, which the client then reads to
    end-of-stream)."""
    package, template = HTTP_CLIENTS[http_client]
    prog = need_prog(http_client, package)
    script = tmp_path / "leaky_http.py"
    script.write_text(LEAKY_HTTP_PY)
    n = 6

    def driver(port):
        one = template.format(prog=prog, url=f"http://127.0.0.1:{port}/x")
        loop = f"for i in $(seq {n}); do {one} || exit 1; done"
        return sockleak_run(["/bin/sh", "-c", loop], tmp_path / "client-out",
                            deadline=DEADLINE)

    run = sockleak_run([PYTHON, script, n, HOLD, mode], tmp_path / "server-out", driver=driver,
                       deadline=DEADLINE)
    c = run.driver_result
    assert c.rc == 0, f"{http_client} failed{c.describe()}"
    assert c.stdout == "hello from a leaky server\n" * n, c.describe()
    assert c.findings == [] and c.leaks == 0, (
        f"{http_client}: expected no findings{c.describe()}")
    if mode == "eof":
        # Every client read its end-of-stream and must have closed right after.
        assert c.report["summary"]["eof_seen"] >= n, c.describe()
    assert f"kept {n}" in run.stdout, run.describe()
    assert_found(run, kind, n, tcp_state="CLOSE_WAIT" if kind == "close_wait" else None)


# --------------------------------------------------- CPython's test_socket

def outcomes(output):
    """Per-test outcomes and the totals of a verbose `python3 -m test` run,
    without timings."""
    lines = []
    for line in output.splitlines():
        if re.search(r" \.\.\. (ok|skipped|FAIL|ERROR|expected failure|unexpected success)",
                     line) or re.match(r"(Ran \d+ tests|OK|FAILED|Tests result)", line):
            lines.append(re.sub(r" in [\d.]+m?s\b", "", line))
    return sorted(lines)


@pytest.mark.skipif(not SLOW, reason="CPython's test_socket takes about 30 s per run (two"
                    " runs): set SOCKLEAK_SLOW_TESTS=1 to run it")
def test_cpython_test_socket_same_result(tool, tmp_path):
    """Same per-test outcomes with and without the library; no finding with
    the default deadline. The VSOCK tests hang on machines with a vsock
    device and nothing behind it: they are excluded."""
    probe = subprocess.run([PYTHON, "-c", "import test.test_socket"], capture_output=True,
                           timeout=TIMEOUT, env=clean_env())
    if probe.returncode != 0:
        pytest.skip("CPython's test suite is not installed (Debian package"
                    " libpython3.11-testsuite)")
    argv = [PYTHON, "-m", "test", "test_socket", "-v", "-i", "*VSOCK*", "--timeout", "300"]
    base = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900, env=clean_env(), cwd=tmp_path)
    outdir = tmp_path / "out"
    under = subprocess.run([str(TOOL), "run", "--output", str(outdir), "--format", "json",
                            "--", *argv],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=900, env=clean_env(), cwd=tmp_path)
    assert under.returncode == base.returncode, (under.stdout[-3000:], under.stderr[-3000:])
    got, want = outcomes(under.stdout), outcomes(base.stdout)
    assert any(line.startswith("Ran ") for line in want), base.stdout[-3000:]
    assert got == want, "\n".join(
        ["outcomes differ (- without, + with the library):"]
        + [f"- {x}" for x in sorted(set(want) - set(got))]
        + [f"+ {x}" for x in sorted(set(got) - set(want))])
    rc, data, _, rerr = run_report(outdir)
    assert rc == 0 and data is not None, rerr
    assert data["findings"] == [], json.dumps(data, indent=1)[:6000]
    assert data["summary"]["eof_seen"] > 0, data["summary"]
