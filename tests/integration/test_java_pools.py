"""Java programs on real pooling libraries: Apache HttpClient 4's pooling
connection manager and a trivial JDBC pool over the PostgreSQL driver. The
leaked connections sit in CLOSE_WAIT inside the library's code; the finding
must name the user's own line (the request, the getConnection), not the
library's frames.

The programs are in tests/integration/progs/java/pools/, compiled with javac
against the Debian jars in /usr/share/java into the test's tmp_path. The
servers are the test's own, on loopback: a Python HTTP server that closes
each connection after answering, and a private PostgreSQL 15 cluster with
idle_session_timeout = 1s. Ground truth for "leaked" is ss."""
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import TIMEOUT, TOOL, finding_records, sockleak_run, wait_until
from test_java_frames import AGENT, assert_call_site, java_frames, marked
from test_node_frames import describe, log_findings
from test_sweep import ss_close_wait

POOLS_SRC = Path(__file__).parent / "progs" / "java" / "pools"
JARS = Path("/usr/share/java")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
HTTP_JARS = {"httpclient.jar": "libhttpclient-java", "httpcore.jar": "libhttpcore-java",
             "commons-logging.jar": "libcommons-logging-java",
             "commons-codec.jar": "libcommons-codec-java"}
PG_JARS = {"postgresql.jar": "libpostgresql-jdbc-java"}


def java_with(tmp_path, jars, program):
    """(java, classpath) with progs/java/pools/<program>.java compiled
    against jars (name -> Debian package), or a skip naming what is missing."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("javac is not installed (Debian package openjdk-17-jdk-headless)")
    for jar, pkg in jars.items():
        if not (JARS / jar).exists():
            pytest.skip(f"{JARS / jar} is missing (Debian package {pkg})")
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is missing: `make` builds it when a JDK's headers are there",
                    pytrace=False)
    classes = tmp_path / "classes"
    classes.mkdir()
    cp = ":".join(str(JARS / j) for j in jars)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    p = subprocess.run([javac, "-d", str(classes), "-cp", cp, str(POOLS_SRC / f"{program}.java")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    return java, f"{classes}:{cp}"


def held_until_found(n, outdir, done):
    """A driver: waits until ss shows n CLOSE_WAIT sockets on the port held
    by a process and the library has written n finding records, then lets
    the program end (the file done). Returns the held sockets ss showed."""
    def drive(port):
        held = wait_until(f"{n} held CLOSE_WAIT sockets on port {port}",
                          lambda: (lambda s: s if len(s) >= n else None)(
                              [t for t in ss_close_wait(port) if t[2]]))
        wait_until(f"{n} finding records in {outdir}",
                   lambda: len(finding_records(outdir)) >= n)
        seen = [t for t in ss_close_wait(port) if t[2]]
        done.write_text("")
        return seen if len(seen) >= len(held) else held
    return drive


def check_pool_finding(run, n, function, file, line, package):
    """One finding of the sweep's kind for the n sockets ss showed, named
    at the user's line; the library's frames (package) in the raw log have
    their jar in /usr/share/java as file."""
    held = run.driver_result
    assert len(held) == n, f"ss shows {held}{describe(run)}"
    got = [(f["kind"], f["count"]) for f in run.findings]
    assert len(got) == 1 and got[0][0] in ("close_wait", "close_wait_unread") \
        and got[0][1] == len(held), f"findings {got}, ss {held}{describe(run)}"
    assert_call_site(run, function, file, line)
    reported = {ex["local"] for ex in run.findings[0]["examples"]}
    assert reported <= {t[0] for t in held}, describe(run)
    rec, frames = log_findings(run.outdir)[0]
    jf = java_frames(rec, frames, "open_stack")
    assert (function, file, line) in jf, f"{jf}{describe(run)}"
    lib = [f for fn, f, _ in jf if fn.startswith(package + ".")]
    assert lib and all(f.startswith(str(JARS) + "/") and ".jar!/" in f for f in lib), \
        f"{jf}{describe(run)}"
    text = subprocess.run([str(TOOL), "report", str(run.outdir)], capture_output=True,
                          text=True, timeout=TIMEOUT).stdout
    assert f"in {function} {file}:{line} [java]" in text, text


class _CloseAfterAnswer(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 answers with a body, then the server closes the connection
    (as a keep-alive server does at its idle timeout)."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"item " + self.path.encode() + b"\n" * 64
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CloseAfterAnswer)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join(timeout=10)


def test_java_httpclient_unconsumed_responses_name_the_request_line(http_server, tmp_path):
    """HttpClient 4, pooling manager, n responses never consumed nor closed:
    the n leased connections are in CLOSE_WAIT once the server closed them;
    the finding counts what ss shows and names HttpLeak.fetch's execute()
    line, not org.apache.http's frames."""
    jvm, cp = java_with(tmp_path, HTTP_JARS, "HttpLeak")
    n, out, done = 3, tmp_path / "out", tmp_path / "done"
    run = sockleak_run([jvm, "-cp", cp, "HttpLeak", http_server, n, done], out,
                       driver=held_until_found(n, out, done))
    assert f"leased {n}" in run.stdout, describe(run)
    check_pool_finding(run, n, "HttpLeak.fetch", "HttpLeak.java",
                       marked(POOLS_SRC / "HttpLeak.java", "REQUEST-SITE"), "org.apache.http")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres(request):
    """A private PostgreSQL 15 on 127.0.0.1 (trust auth, idle sessions
    ended after 1 s), its port; stopped at the end whatever happens."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            pytest.skip(f"{PG_BIN / tool} is missing (Debian package postgresql-15)")
    as_user = []
    if os.geteuid() == 0:
        # postgres refuses to run as root; pytest's tmp_path is root's only.
        if not shutil.which("runuser"):
            pytest.skip("running as root and runuser is missing (Debian package util-linux)")
        try:
            import pwd
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run postgres as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="sockleak-pg-"))
    if as_user:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data, port = base / "data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"

    def pg(*cmd, timeout=TIMEOUT):
        return subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=base)

    def stop():
        if (data / "postmaster.pid").exists():
            pg(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "20", "stop")
        shutil.rmtree(base, ignore_errors=True)

    request.addfinalizer(stop)
    p = pg(PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
           "--no-sync", timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{base}'\nidle_session_timeout = '1s'\n"
                "fsync = off\nmax_connections = 20\n")
    p = pg(PG_BIN / "pg_ctl", "-D", data, "-l", base / "log", "-w", "-t", "30", "start")
    assert p.returncode == 0, p.stdout + p.stderr + (
        (base / "log").read_text() if (base / "log").exists() else "")
    return port


def test_java_jdbc_pool_idle_connections_name_the_getconnection_line(postgres, tmp_path):
    """n JDBC connections kept in a list after one query each: the server
    ends the idle sessions, the n sockets sit in CLOSE_WAIT; the finding
    counts what ss shows and names PgPool.open's getConnection line, not
    org.postgresql's frames."""
    jvm, cp = java_with(tmp_path, PG_JARS, "PgPool")
    n, out, done = 3, tmp_path / "out", tmp_path / "done"
    run = sockleak_run([jvm, "-cp", cp, "PgPool", postgres, n, done], out,
                       driver=held_until_found(n, out, done))
    assert f"pooled {n}" in run.stdout, describe(run)
    check_pool_finding(run, n, "PgPool.open", "PgPool.java",
                       marked(POOLS_SRC / "PgPool.java", "CONNECT-SITE"), "org.postgresql")
