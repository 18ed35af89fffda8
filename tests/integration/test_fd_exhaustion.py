"""fd_exhaustion (issue 19): the first EMFILE or ENFILE of an episode, with
the sockets that held the fds grouped by where they were made.

The programs are servers that keep every accepted connection while its
peer keeps it open (progs/fd_full_server.c, progs/py/full_server.py): with
their soft fd limit at 64 the clients fill the table, and accept fails with
EMFILE again and again while more connections wait in the queue (a storm of
failures). The kernel says how many sockets the server held then (`ss -tanp
state established`, counted by the server's pid and port while it is
full). Closing every client frees the table (the server closes each
connection at end-of-stream); filling it again is a second episode. Call
sites come from the markers in the programs."""
import json
import os
import select
import signal
import socket
import subprocess
import time

import pytest

from conftest import (DEADLINE_MS, PROG_SRC, PYTHON, TIMEOUT, TOOL, _kill_group, finding_records,
                      marker_line, prog_path, run_report)

LIMIT = 64
CONNS = LIMIT + 8       # the last ones wait in the accept queue
C_SRC = PROG_SRC / "fd_full_server.c"
PY_SRC = PROG_SRC / "py" / "full_server.py"
# Time for the due work (every half deadline) to see the table free again.
SETTLE = 20 * DEADLINE_MS / 1000


class Server:
    """A server program run under `sockleak run` (or alone), read line by
    line."""

    def __init__(self, argv, outdir=None):
        self.outdir = outdir
        cmd = list(map(str, argv))
        if outdir is not None:
            cmd = [str(TOOL), "run", "--deadline", str(DEADLINE_MS), "--output", str(outdir),
                   "--format", "json", "--", *cmd]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.buf, self.lines = b"", []
        self.port = int(self.line("listening on ").split()[-1])

    def line(self, prefix, timeout=TIMEOUT):
        """The next line starting with prefix (earlier ones kept in self.lines)."""
        end = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                text = raw.decode(errors="replace")
                self.lines.append(text)
                if text.startswith(prefix):
                    return text
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and not self._more(0):
                self.kill()
                pytest.fail(f"{self.cmd}: no line starting {prefix!r} within {timeout} s;"
                            f" lines so far {self.lines[-20:]!r}", pytrace=False)
            self._more(min(left, 0.5))

    def _more(self, timeout):
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        chunk = os.read(fd, 65536) if ready else b""
        self.buf += chunk
        return bool(chunk)

    def stop(self):
        """SIGTERM (run passes it on); the rest of stdout and stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.cmd} did not stop on SIGTERM", pytrace=False)
        for text in (self.buf + out).decode(errors="replace").splitlines():
            self.lines.append(text)
        self.stderr = err.decode(errors="replace")
        return self.proc.returncode

    def kill(self):
        _kill_group(self.proc)
        self.proc.communicate(timeout=TIMEOUT)


def kernel_established(pid, port):
    """The kernel's count of ESTABLISHED sockets on port that process pid
    holds (`ss -tanp`)."""
    p = subprocess.run(["ss", "-tanpH", "state", "established", f"( sport = :{port} )"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return sum(1 for ln in p.stdout.splitlines() if f"pid={pid}," in ln)


def fill(srv, conns=CONNS):
    """Connects conns clients that stay open; once the server says it is
    full, the kernel's count of its ESTABLISHED sockets. (clients, count,
    the server's "full" line)."""
    clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
               for _ in range(conns)]
    full = srv.line("full ")
    pid = int(full.split()[1])
    count = kernel_established(pid, srv.port)
    time.sleep(0.3)  # the storm goes on: accept fails again and again
    return clients, count, full


def drain(srv, clients):
    for c in clients:
        c.close()
    srv.line("drained")
    time.sleep(SETTLE)


def fd_findings(outdir):
    return [r for r in finding_records(outdir) if r["kind"] == "fd_exhaustion"]


def report(outdir):
    rc, data, out, err = run_report(outdir)
    assert data is not None, f"no report: {err}"
    return data


def the_finding(data):
    found = [f for f in data["findings"] if f["kind"] == "fd_exhaustion"]
    assert len(found) == 1, json.dumps(data, indent=1)[:6000]
    return found[0]


def check_site(site, src, line, lang=None):
    assert site is not None, "no call site"
    assert os.path.basename(site.get("file") or "") == src.name, site
    assert site.get("line") == line, site
    if lang:
        assert site.get("lang") == lang, site


def test_c_server_two_episodes_each_one_finding(tool, tmp_path):
    accept = marker_line(C_SRC, "ACCEPT-SITE")
    srv = Server([prog_path("fd_full_server"), LIMIT], tmp_path / "out")
    counts = []
    try:
        for _ in range(2):
            clients, count, full = fill(srv)
            assert full.split()[3] == "EMFILE", full
            counts.append(count)
            drain(srv, clients)
    finally:
        rc = srv.stop()
    failures = int(next(ln for ln in srv.lines if ln.startswith("failures")).split()[1])
    assert failures > 10, f"no storm of failures: {srv.lines[-5:]}"
    raw = fd_findings(tmp_path / "out")
    assert len(raw) == 2, f"{failures} failures, {len(raw)} findings: {raw}\n{srv.stderr}"
    for rec, count in zip(raw, counts):
        assert (rec["errno"], rec["limit"], rec["call"]) == ("EMFILE", LIMIT, "accept4"), rec
        top = rec["holders"][0]
        assert top["count"] == count, (rec, counts)
        assert top["states"] == {"ESTABLISHED": count}, rec
        assert top["open_stack"] == rec["fail_stack"], rec  # made by the accept that failed
        assert rec["eof_stack"] == [] and rec["open_stack"] == [], rec
    data = report(tmp_path / "out")
    f = the_finding(data)
    assert f["count"] == 2 and data["summary"]["fd_exhaustion"] == 2, f
    assert data["summary"]["leaks"] == 0, data["summary"]
    check_site(f["call_site"], C_SRC, accept)
    assert f["call_site"]["stack"] == "fail_stack", f["call_site"]
    h = f["holders"][0]
    check_site(h["call_site"], C_SRC, accept)
    assert (h["count"], h["states"]) == (counts[0], {"ESTABLISHED": counts[0]}), h
    assert h["oldest_ms"] >= 0, h
    assert (f["errno"], f["limit"]) == ("EMFILE", LIMIT), f
    listener = [x for x in f["holders"] if x["states"].get("LISTEN")]
    assert len(listener) == 1 and listener[0]["count"] == 1, f["holders"]


def test_c_server_report_formats(tool, tmp_path):
    srv = Server([prog_path("fd_full_server"), LIMIT], tmp_path / "out")
    try:
        clients, count, _ = fill(srv)
        drain(srv, clients)
    finally:
        srv.stop()
    text = subprocess.run([str(TOOL), "report", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=TIMEOUT).stdout
    assert "fd_exhaustion: accept4 failed with EMFILE (fd limit 64" in text, text
    assert f"{count} sockets: ESTABLISHED {count}," in text, text
    assert "1 fd exhaustion episode in 1 call site" in text, text
    sarif = json.loads(subprocess.run([str(TOOL), "report", "--format", "sarif",
                                       str(tmp_path / "out")], capture_output=True, text=True,
                                      timeout=TIMEOUT).stdout)
    res = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "fd_exhaustion"]
    assert len(res) == 1 and res[0]["properties"]["errno"] == "EMFILE", res
    prom = subprocess.run([str(TOOL), "report", "--format", "prometheus", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert any(ln.startswith("sockleak_fd_exhaustion_total{") and ln.endswith(" 1")
               for ln in prom.splitlines()), prom
    supp = tmp_path / "supp"
    supp.write_text("fd_exhaustion:accept_one\n")
    rc, data, _, err = run_report(tmp_path / "out", "--suppressions", str(supp))
    assert data["findings"] == [] and data["summary"]["suppressed"] == 1, (data, err)


def test_never_full_no_finding(tool, tmp_path):
    srv = Server([prog_path("fd_full_server"), 1024], tmp_path / "out")
    try:
        clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
                   for _ in range(CONNS)]
        for _ in range(CONNS):
            srv.line("fd ")
        for c in clients:
            c.close()
        time.sleep(SETTLE)
    finally:
        srv.stop()
    assert not any(ln.startswith("full") for ln in srv.lines), srv.lines
    assert fd_findings(tmp_path / "out") == []
    assert [f for f in report(tmp_path / "out")["findings"] if f["kind"] == "fd_exhaustion"] == []


def run_plain_or_not(outdir):
    srv = Server([prog_path("fd_full_server"), LIMIT], outdir)
    try:
        clients, _, full = fill(srv)
        drain(srv, clients)
    finally:
        srv.stop()
    # Until the table was full: what follows depends on when the peers' closes
    # and the queued connections reach the server, with or without the library.
    fds = [ln for ln in srv.lines[:srv.lines.index(full)] if ln.startswith("fd ")]
    return fds, full.split()[2:]


def test_errno_and_fd_numbers_as_without_the_library(tool, tmp_path):
    """The program sees the same fds and the same EMFILE with the library."""
    plain = run_plain_or_not(None)
    under = run_plain_or_not(tmp_path / "out")
    assert under == plain
    assert len(fd_findings(tmp_path / "out")) == 1


def test_python_server_names_the_accept_line(tool, tmp_path):
    accept = next(i for i, text in enumerate(PY_SRC.read_text().splitlines(), 1)
                  if "# ACCEPT-SITE" in text)
    srv = Server([PYTHON, PY_SRC, LIMIT], tmp_path / "out")
    try:
        clients, count, full = fill(srv)
        assert full.split()[3] == "EMFILE", full
        drain(srv, clients)
    finally:
        srv.stop()
    raw = fd_findings(tmp_path / "out")
    assert len(raw) == 1, raw
    f = the_finding(report(tmp_path / "out"))
    check_site(f["call_site"], PY_SRC, accept, "python")
    h = f["holders"][0]
    check_site(h["call_site"], PY_SRC, accept, "python")
    assert (h["count"], h["states"]) == (count, {"ESTABLISHED": count}), (h, count)
