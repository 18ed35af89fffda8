"""Metrics for Prometheus: `sockleak report --format openmetrics|prometheus`
and `sockleak serve`, checked against the kernel (ss) on a live leaky
server, against promtool's parsers, and scraped by a private Prometheus
(Debian package prometheus; those tests are skipped without it)."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import (DEADLINE_MS, EXAMPLE_SRC, TIMEOUT, TOOL, _kill_group, _read_port, client,
                      example_path, marker_line)

SRC = EXAMPLE_SRC / "leaky_server.c"
LABELS = {"kind", "program", "function", "file", "line"}
SAMPLE = re.compile(r'^([a-z_]+)(\{(.*)\})? (\d+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)",?')
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")
NO_PROMETHEUS = "prometheus/promtool are not installed (Debian package prometheus; " \
                "`make deps-programs` installs it)"


def wait_until(what, cond, timeout=TIMEOUT):
    """Polls cond() until it returns something true; fails naming what."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s", pytrace=False)
        time.sleep(0.1)


def ss_close_wait(pid):
    """The kernel's count of pid's TCP sockets in CLOSE-WAIT."""
    out = subprocess.run(["ss", "-tanpH", "state", "close-wait"], capture_output=True,
                         text=True, timeout=TIMEOUT).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


def listener_pid(port):
    out = subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=TIMEOUT).stdout
    m = re.search(r"pid=(\d+),", out)
    assert m, f"no process listens on port {port}: {out!r}"
    return int(m.group(1))


def parse(text):
    """Samples of the exposition text: {(name, frozenset(labels)): value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable sample line {line!r} in:\n{text}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = int(m.group(4))
    return samples


def site_labels(program="leaky_server"):
    return frozenset({("kind", "close_wait"), ("program", program),
                      ("function", "handle_client"), ("file", "leaky_server.c"),
                      ("line", str(marker_line(SRC, "EOF-SITE")))})


def report(outdir, fmt):
    p = subprocess.run([str(TOOL), "report", "--format", fmt, str(outdir)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"report --format {fmt} exited {p.returncode}: {p.stderr}"
    return p.stdout


class LiveServer:
    """examples/leaky_server under `sockleak run`, left running: each client
    that just hangs up leaves a socket in CLOSE_WAIT."""

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        cmd = [str(TOOL), "run", "--deadline", str(DEADLINE_MS), "--output", str(outdir),
               "--", str(example_path("leaky_server")), "0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.port, _ = _read_port(self.proc)
        self.pid = listener_pid(self.port)
        self.leaked = 0

    def leak(self, n):
        """n leaking clients (plus one that says QUIT, which the server closes);
        returns once the kernel shows them in CLOSE-WAIT and the log has them."""
        client(self.port, "quit")
        for _ in range(n):
            client(self.port, "echo")
        self.leaked += n
        wait_until(f"{self.leaked} sockets in CLOSE-WAIT",
                   lambda: ss_close_wait(self.pid) == self.leaked)
        wait_until(f"{self.leaked} leaks in the log", lambda: parse(report(
            self.outdir, "prometheus")).get(("sockleak_leaked_sockets_total", site_labels()))
            == self.leaked)

    def stop(self):
        """SIGTERM to sockleak run, which passes it on; the server exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc)
                self.proc.communicate(timeout=TIMEOUT)


@pytest.fixture
def live(tool, tmp_path):
    srv = LiveServer(tmp_path / "out")
    yield srv
    srv.stop()


def test_openmetrics_report_counts_what_the_kernel_shows(live):
    live.leak(3)
    assert ss_close_wait(live.pid) == 3
    text = report(live.outdir, "openmetrics")
    samples = parse(text)
    site = site_labels()
    assert samples[("sockleak_leaked_sockets_total", site)] == 3, text
    assert samples[("sockleak_close_wait_sockets", site)] == ss_close_wait(live.pid), text
    assert samples[("sockleak_metrics_dropped_series", frozenset())] == 0, text
    # The kernel's states of the live server's sockets, as ss sees them.
    def tcp(state):
        return samples.get(("sockleak_tcp_sockets",
                            frozenset({("program", "leaky_server"), ("state", state)})))
    assert tcp("close_wait") == 3 and tcp("listen") == 1 and tcp("established") == 0, text
    # Labels: call site, kind and program, never pids, fds, ports, addresses.
    per_name = {"sockleak_tcp_sockets": {"program", "state"},
                "sockleak_open_sockets": {"program", "function", "file", "line", "state"},
                "sockleak_fd_limit": {"program"}, "sockleak_open_fds": {"program"}}
    for name, labels in samples:
        want = per_name.get(name, LABELS)
        if labels:
            assert {k for k, _ in labels} == want, (name, labels)
    # The census (written every 4 sweep periods): every socket the server
    # holds, by creation site and state.
    def census():
        return {dict(lab)["state"]: v for (n, lab), v in
                parse(report(live.outdir, "openmetrics")).items() if n == "sockleak_open_sockets"}
    wait_until("the census of 3 CLOSE_WAIT and the listener",
               lambda: census() == {"CLOSE_WAIT": 3, "LISTEN": 1})
    assert str(live.port) not in text and f"pid" not in text
    assert "# TYPE sockleak_leaked_sockets counter\n" in text
    assert "# TYPE sockleak_close_wait_sockets gauge\n" in text
    assert text.endswith("\n# EOF\n"), text
    # Once the server is gone nothing is held any more; the counter stays.
    live.stop()
    assert ss_close_wait(live.pid) == 0
    samples = parse(report(live.outdir, "openmetrics"))
    assert samples[("sockleak_leaked_sockets_total", site)] == 3
    assert samples[("sockleak_close_wait_sockets", site)] == 0
    assert not [k for k in samples if k[0] == "sockleak_tcp_sockets"], samples
    assert not [k for k in samples if k[0] == "sockleak_open_sockets"], samples


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMETHEUS)
def test_promtool_accepts_both_formats(live, tmp_path):
    live.leak(2)
    # promtool check metrics reads the text format 0.0.4 (and lints it).
    text = report(live.outdir, "prometheus")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}\n{text}"
    assert "# TYPE sockleak_leaked_sockets_total counter\n" in text
    # Its OpenMetrics parser is the backfill's: it needs a timestamp on every
    # sample, added here and nothing else changed.
    om = report(live.outdir, "openmetrics")
    stamped = re.sub(r"^(sockleak\S* \d+)$", r"\1 1764000000", om, flags=re.M)
    (tmp_path / "m.om").write_text(stamped)
    p = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics",
                        str(tmp_path / "m.om"), str(tmp_path / "blocks")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0 and "error" not in (p.stdout + p.stderr).lower(), (
        f"promtool's OpenMetrics parser: {p.stdout}{p.stderr}\n{om}")


class Serve:
    def __init__(self, *paths, args=()):
        self.proc = subprocess.Popen([str(TOOL), "serve", "--listen", "127.0.0.1:0", *args,
                                      *map(str, paths)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        line = wait_until("sockleak serve's address", self._address_line)
        self.port = int(re.search(rb":(\d+)/metrics", line).group(1))

    def _address_line(self):
        line = self.proc.stderr.readline()
        if not line and self.proc.poll() is not None:
            pytest.fail(f"sockleak serve exited {self.proc.returncode}", pytrace=False)
        return line if re.search(rb"listening on https?://", line) else None

    def get(self, path="/metrics", method="GET", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, r.getheader("Content-Type"), body

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(data)
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return got
                got += chunk

    def stop(self):
        """SIGTERM: returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            self.proc.wait(timeout=TIMEOUT)
        return self.proc.returncode


@pytest.fixture
def serve_factory():
    started = []

    def start(*paths, args=()):
        s = Serve(*paths, args=args)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


EXTRA_LOG = (
    '{"t":"header","version":1,"pid":1,"ppid":0,"program":"extra \\"one\\"",'
    '"start_unix_ms":1,"run_id":"","deadline_ms":100,"frames":32}\n'
    '{"t":"finding","id":1,"kind":"unclosed_after_shutdown","fd":5,"family":"inet",'
    '"local":"10.0.0.1:80","peer":"10.0.0.2:5","inode":1,"tcp_state":null,'
    '"eof_unix_ms":1,"held_ms":200,"eof_stack":[],"open_stack":[]}\n')


def test_serve_reads_appended_lines_and_new_files(live, serve_factory):
    live.leak(2)
    srv = serve_factory(live.outdir)
    site = site_labels()
    status, ctype, body = srv.get()
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
    assert parse(body)[("sockleak_leaked_sockets_total", site)] == 2, body
    assert parse(body)[("sockleak_close_wait_sockets", site)] == 2, body
    # Prometheus asks for OpenMetrics and gets it.
    status, ctype, om = srv.get(headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert status == 200 and ctype.startswith("application/openmetrics-text; version=1.0.0")
    assert om.endswith("# EOF\n") and parse(om) == parse(body)
    # Appended to the live process's log: read at the next scrape.
    live.leak(3)
    body = srv.get()[2]
    assert parse(body)[("sockleak_leaked_sockets_total", site)] == 5 == ss_close_wait(live.pid)
    assert parse(body)[("sockleak_close_wait_sockets", site)] == 5, body
    # A new file in a new subdirectory, written in two steps.
    sub = live.outdir / "more"
    sub.mkdir()
    half = len(EXTRA_LOG) - 40
    (sub / "extra.1.jsonl").write_text(EXTRA_LOG[:half])
    extra = frozenset({("kind", "unclosed_after_shutdown"), ("program", 'extra \\"one\\"'),
                       ("function", "unknown"), ("file", ""), ("line", "0")})
    assert ("sockleak_leaked_sockets_total", extra) not in parse(srv.get()[2])
    with open(sub / "extra.1.jsonl", "a") as f:
        f.write(EXTRA_LOG[half:])
    body = srv.get()[2]
    assert parse(body)[("sockleak_leaked_sockets_total", extra)] == 1, body
    assert parse(body)[("sockleak_leaked_sockets_total", site)] == 5, body
    # Deleted: gone from the metrics.
    (sub / "extra.1.jsonl").unlink()
    assert ("sockleak_leaked_sockets_total", extra) not in parse(srv.get()[2])
    assert srv.stop() == 0


def test_serve_http_errors_and_slow_clients(tool, tmp_path, serve_factory):
    (tmp_path / "x.jsonl").write_text(EXTRA_LOG)
    srv = serve_factory(tmp_path)
    assert srv.get("/")[0] == 404
    assert srv.get("/metrics/x")[0] == 404
    assert srv.get("/metrics?x=1")[0] == 200
    assert srv.get(method="POST")[0] == 405
    assert srv.get(method="HEAD")[0] == 200
    assert srv.raw(b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    try:
        got = srv.raw(big)
    except ConnectionResetError:
        got = b"HTTP/1.1 431 (reset after the answer)"
    assert got.startswith(b"HTTP/1.1 431 ")
    # Clients that send half a request, or nothing, do not hold up a scrape.
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
            for _ in range(5)]
    idle[0].sendall(b"GET /metr")
    status, _, body = srv.get()
    assert status == 200 and "sockleak_leaked_sockets_total" in body
    for s in idle:
        s.close()
    assert srv.stop() == 0


def test_serve_answers_a_scrape_past_idle_and_slow_connections(tool, tmp_path, serve_factory):
    """1,000 connections that send nothing and 50 that send a header byte a
    second do not hold up a scrape: it is answered before any slow client
    has sent 8 bytes of its request. (Before, 32 idle connections took every
    place until their 10 s ran out, and the scrape waited in the queue
    behind the others.) At its connection limit serve makes room by closing
    the connection that has sent no whole request for the longest; a
    request's headers have 3 s."""
    import resource
    import select as sel
    import threading
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1000 + 50 + 200
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"the fd limit ({hard}) leaves no room for 1,050 connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    (tmp_path / "x.jsonl").write_text(EXTRA_LOG)
    srv = serve_factory(tmp_path)
    request = b"GET /metrics HTTP/1.1\r\nHost: sockleak\r\nUser-Agent: slow\r\n\r\n"
    stop = threading.Event()
    sent = [0] * 50

    def slow(k):
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as c:
                for i in range(len(request)):
                    c.sendall(request[i:i + 1])
                    sent[k] = i + 1
                    if stop.wait(1.0):
                        return
        except OSError:
            pass  # closed by serve: its headers took too long
    idle = []
    try:
        for _ in range(1000):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", srv.port))
            idle.append(c)
        pending = list(idle)

        def connected():
            _, ready, _ = sel.select([], pending[:500], [], 0)
            for c in ready:
                pending.remove(c)
            return not pending
        wait_until("1,000 idle connections established", connected)
        threads = [threading.Thread(target=slow, args=(k,), daemon=True) for k in range(50)]
        for t in threads:
            t.start()
        wait_until("50 slow clients sending", lambda: all(sent))
        status, _, body = srv.get()
        most = max(sent)
        assert status == 200 and "sockleak_leaked_sockets_total" in body, body
        assert most < 8, f"the scrape waited until a slow client had sent {most} bytes"
    finally:
        stop.set()
        for c in idle:
            c.close()
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert srv.stop() == 0


def _serve_ports(proc, n):
    """The ports of the first n "listening on" lines serve prints (read from
    the raw pipe: never blocking past wait_until's limit)."""
    import select as sel
    got = [b""]

    def more():
        if sel.select([proc.stderr], [], [], 0.2)[0]:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk and proc.poll() is not None:
                pytest.fail(f"sockleak serve exited {proc.returncode}: {got[0]!r}", pytrace=False)
            got[0] += chunk
        return len(re.findall(rb"listening on http://\S*:(\d+)/metrics", got[0])) >= n
    wait_until(f"{n} listening addresses from sockleak serve", more)
    return [int(p) for p in re.findall(rb"listening on http://\S*:(\d+)/metrics", got[0])[:n]]


def _scrape(host, port):
    c = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def test_serve_listens_on_every_address_and_on_systemd_sockets(tool, tmp_path):
    """--listen may repeat: each address answers. Under systemd socket
    activation (LISTEN_FDS, LISTEN_PID) the sockets passed from fd 3 on are
    served and nothing else is bound; with --listen beside them, or a passed
    fd that is not a listening socket, it refuses to start (2)."""
    (tmp_path / "x.jsonl").write_text(EXTRA_LOG)
    proc = subprocess.Popen([str(TOOL), "serve", "--listen", "127.0.0.1:0", "--listen",
                             "127.0.0.1:0", str(tmp_path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        ports = _serve_ports(proc, 2)
        assert len(set(ports)) == 2, ports
        for port in ports:
            status, body = _scrape("127.0.0.1", port)
            assert status == 200 and "sockleak_leaked_sockets_total" in body, (port, body)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0

    activate = ['sh', '-c', 'exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', 'sh']
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        port = ls.getsockname()[1]
        proc = subprocess.Popen([*activate, str(TOOL), "serve", str(tmp_path)], stdin=ls.fileno(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    try:
        assert _serve_ports(proc, 1) == [port]
        status, body = _scrape("127.0.0.1", port)
        assert status == 200 and "sockleak_leaked_sockets_total" in body, body
        # Nothing bound on the default address by this process.
        p = subprocess.run(["ss", "-tlnpH"], capture_output=True, text=True, timeout=TIMEOUT)
        mine = [l for l in p.stdout.splitlines() if f"pid={proc.pid}," in l]
        assert len(mine) == 1 and f":{port} " in mine[0], p.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0

    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        p = subprocess.run([*activate, str(TOOL), "serve", "--listen", "127.0.0.1:0",
                            str(tmp_path)], stdin=ls.fileno(), capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert p.returncode == 2 and "one or the other" in p.stderr, p.stderr
    with socket.socket() as notlistening:
        p = subprocess.run([*activate, str(TOOL), "serve", str(tmp_path)],
                           stdin=notlistening.fileno(), capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert p.returncode == 2 and "not a listening stream socket" in p.stderr, p.stderr
    p = subprocess.run([str(TOOL), "serve", *["--listen=127.0.0.1:0"] * 17, str(tmp_path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 2 and "more than 16" in p.stderr, p.stderr


def test_serve_reads_regular_files_only(tool, tmp_path, serve_factory):
    """A FIFO or a link to a device among the logs must not hang or feed
    serve: only regular files are opened, never through a link."""
    logs = tmp_path / "logs"
    logs.mkdir()
    os.mkfifo(logs / "fifo.1.jsonl")
    os.symlink("/dev/zero", logs / "zero.2.jsonl")
    os.symlink(tmp_path / "elsewhere.jsonl", logs / "planted.3.jsonl")
    (tmp_path / "elsewhere.jsonl").write_text(EXTRA_LOG)
    (logs / "real.4.jsonl").write_text(EXTRA_LOG.replace("extra", "real"))
    srv = serve_factory(logs)
    status, _, body = srv.get()
    assert status == 200, body
    programs = {dict(labels).get("program") for _, labels in parse(body)}
    assert programs == {None, 'real \\"one\\"'}, body
    assert srv.stop() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not NODE_EXPORTER, reason="prometheus-node-exporter is not installed "
                    "(Debian package prometheus-node-exporter; `make deps-programs`)")
def test_node_exporter_textfile_collector_reads_the_report(live, tmp_path):
    live.leak(2)
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    # The README's recipe: written beside its final name, then renamed.
    tmp = textdir / "sockleak.prom.tmp"
    p = subprocess.run([str(TOOL), "report", "--format", "prometheus", "-o", str(tmp),
                        str(live.outdir)], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    tmp.rename(textdir / "sockleak.prom")
    port = free_port()
    log = open(tmp_path / "node_exporter.log", "w")
    ne = subprocess.Popen([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                           f"--collector.textfile.directory={textdir}",
                           f"--web.listen-address=127.0.0.1:{port}"],
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                          start_new_session=True)

    def scrape():
        if ne.poll() is not None:
            pytest.fail(f"node_exporter exited {ne.returncode}: "
                        f"{(tmp_path / 'node_exporter.log').read_text()[-2000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None
    try:
        text = wait_until("node_exporter's metrics", scrape)
    finally:
        ne.terminate()
        ne.wait(timeout=TIMEOUT)
        log.close()
    assert "node_textfile_scrape_error 0\n" in text, text
    assert "# TYPE sockleak_leaked_sockets_total counter\n" in text, text
    assert parse("\n".join(l for l in text.splitlines() if l.startswith("sockleak_")))[
        ("sockleak_leaked_sockets_total", site_labels())] == 2, text


class PrivatePrometheus:
    """A private Prometheus (own config, storage and a free port, so a
    system-wide one, the package's service, is never touched) scraping one
    job, sockleak, every second; scrape: the job's lines after its name."""

    def __init__(self, tmp_path, scrape):
        self.tmp_path, self.port = tmp_path, free_port()
        self.cfg = tmp_path / "prometheus.yml"
        self.cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                            "scrape_configs:\n  - job_name: sockleak\n" + scrape)

    def __enter__(self):
        p = subprocess.run([PROMTOOL, "check", "config", str(self.cfg)], capture_output=True,
                           text=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stdout + p.stderr
        self.log = open(self.tmp_path / "prometheus.log", "w")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={self.cfg}",
                                      f"--storage.tsdb.path={self.tmp_path / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            self.proc.wait(timeout=TIMEOUT)
        self.log.close()

    def api(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/{path}",
                                    timeout=5) as r:
            return json.load(r)["data"]

    def wait_series(self, name):
        """The query's result once Prometheus has scraped the series."""
        def series():
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited {self.proc.returncode}: "
                            f"{(self.tmp_path / 'prometheus.log').read_text()[-3000:]}",
                            pytrace=False)
            try:
                return self.api(f"query?query={urllib.parse.quote(name)}")["result"] or None
            except (OSError, ValueError, KeyError):
                return None
        return wait_until(f"the {name} series in Prometheus", series, timeout=90)

    def target(self):
        return self.api("targets")["activeTargets"][0]


@pytest.mark.skipif(not PROMETHEUS or not PROMTOOL, reason=NO_PROMETHEUS)
def test_prometheus_scrapes_serve(live, serve_factory, tmp_path):
    live.leak(3)
    srv = serve_factory(live.outdir)
    status, _, body = srv.get()
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"promtool check metrics on serve: {p.stdout}{p.stderr}\n{body}"
    scrape = ("    static_configs:\n"
              f"      - targets: ['127.0.0.1:{srv.port}']\n")
    with PrivatePrometheus(tmp_path, scrape) as prom:
        res = prom.wait_series("sockleak_leaked_sockets_total")
        assert len(res) == 1, res
        labels = dict(res[0]["metric"])
        assert labels.pop("job") == "sockleak" and labels.pop("instance")
        assert labels == {"__name__": "sockleak_leaked_sockets_total", "kind": "close_wait",
                          "program": "leaky_server", "function": "handle_client",
                          "file": "leaky_server.c", "line": str(marker_line(SRC, "EOF-SITE"))}
        assert res[0]["value"][1] == "3" and ss_close_wait(live.pid) == 3
        target = prom.target()
        assert target["health"] == "up" and not target["lastError"], target
