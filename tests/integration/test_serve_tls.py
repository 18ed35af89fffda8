"""`sockleak serve --web.config.file`: the Prometheus exporter toolkit's web
configuration. TLS with client certificates (OpenSSL), basic auth against
bcrypt hashes (libcrypt), refusals (no CA, no client certificate, a wrong
password, plain HTTP), bad files, SIGHUP, and a private Prometheus scraping
over TLS with basic auth."""
import http.client
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from base64 import b64encode

import pytest

from conftest import TIMEOUT, TOOL, _kill_group, marker_line
from test_prometheus import (NO_PROMETHEUS, PROMETHEUS, PROMTOOL, SRC, PrivatePrometheus,  # noqa: F401
                             free_port, live, serve_factory, ss_close_wait, wait_until)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

OPENSSL = "openssl"
PASSWORD = "s3cret pass"


def openssl(*args, cwd):
    p = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 (serial 1001) and a client
    certificate, all signed by the CA; EC keys, quick to make."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-subj", "/CN=sockleak test CA", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "srv.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (d / "cli.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", *ec, "-subj", "/CN=scraper", "-keyout", "cli.key", "-out", "cli.csr", cwd=d)
    openssl("x509", "-req", "-in", "cli.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", "77", "-days", "2", "-extfile", "cli.ext", "-out", "cli.crt", cwd=d)
    server_cert(d, 1001)


def server_cert(d, serial, name="srv"):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", str(serial), "-days", "2", "-extfile", "srv.ext",
            "-out", f"{name}.crt", cwd=d)


def bcrypt(password, prefix="$2y$", rounds=16):
    """A bcrypt hash as htpasswd -B writes it ($2y$), at cost 4 (16 rounds)
    unless asked, to keep the tests quick."""
    h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=rounds))
    assert h.startswith("$2b$"), h
    return prefix + h[4:]


def web_config(d, text, mode=0o600):
    f = d / "web.yml"
    f.write_text(text)
    f.chmod(mode)
    return f


TLS_AUTH = """\
tls_server_config:
  cert_file: srv.crt
  key_file: srv.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS12
basic_auth_users:
  prometheus: '{hash}'
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
"""


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_pki(d)
    return d


def context(pki, ca=True, client=True):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt") if ca else None)
    if client:
        ctx.load_cert_chain(str(pki / "cli.crt"), str(pki / "cli.key"))
    return ctx


def get(port, ctx, user=None, password=None, auth=None):
    """GET /metrics over TLS: (status, headers, body)."""
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT, context=ctx)
    headers = {"Authorization": auth} if auth else {}
    if user is not None:
        headers["Authorization"] = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
    try:
        c.request("GET", "/metrics", headers=headers)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def served_serial(port, pki):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return int(s.getpeercert()["serialNumber"], 16)


def test_tls_client_certificates_and_basic_auth(live, serve_factory, pki):
    live.leak(2)
    cfg = web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD)))
    srv = serve_factory(live.outdir, args=["--web.config.file", str(cfg)])
    status, headers, body = get(srv.port, context(pki), "prometheus", PASSWORD)
    assert status == 200, (status, body)
    assert headers.get("X-Content-Type-Options") == "nosniff", headers
    line = str(marker_line(SRC, "EOF-SITE"))
    assert (f'sockleak_leaked_sockets_total{{kind="close_wait",program="leaky_server",'
            f'function="handle_client",file="leaky_server.c",line="{line}"}} 2') in body, body
    assert ss_close_wait(live.pid) == 2
    # A wrong password, an unknown user, no Authorization: 401 and the challenge.
    for user, password in (("prometheus", "wrong"), ("nobody", PASSWORD), (None, None)):
        status, headers, body = get(srv.port, context(pki), user, password)
        assert status == 401, (user, status, body)
        assert headers.get("WWW-Authenticate", "").startswith("Basic "), headers
        assert "sockleak_" not in body
    # The right credentials with more after them, or not base64: refused.
    good = b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    for auth in (f"Basic {good} extra", f"Basic {good[:-1]}", f"Bearer {good}",
                 "Basic " + b64encode(f"prometheus\0:{PASSWORD}".encode()).decode()):
        assert get(srv.port, context(pki), auth=auth)[0] == 401, auth
    assert get(srv.port, context(pki), auth=f"basic  {good}  ")[0] == 200
    # Without the CA, the server's certificate is not trusted.
    with pytest.raises(ssl.SSLCertVerificationError):
        get(srv.port, context(pki, ca=False), "prometheus", PASSWORD)
    # Without a client certificate, the server ends the handshake.
    with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected,
                        BrokenPipeError)):
        get(srv.port, context(pki, client=False), "prometheus", PASSWORD)
    # Plain HTTP to the TLS port: refused in plain text, never the metrics.
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    assert r.status == 400 and "HTTP request to an HTTPS server" in body, (r.status, body)
    # curl, the way an operator checks it by hand.
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            "--cert", str(pki / "cli.crt"), "--key", str(pki / "cli.key"),
            f"https://127.0.0.1:{srv.port}/metrics"]
    if not shutil.which("curl"):
        return
    ok = subprocess.run([*curl[:-1], "--cacert", str(pki / "ca.crt"), "-u",
                         f"prometheus:{PASSWORD}", curl[-1]], capture_output=True, text=True,
                        timeout=TIMEOUT)
    assert ok.stdout == "200", ok
    wrong = subprocess.run([*curl[:-1], "--cacert", str(pki / "ca.crt"), "-u",
                            "prometheus:nope", curl[-1]], capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert wrong.stdout == "401", wrong
    no_ca = subprocess.run([*curl, "-u", f"prometheus:{PASSWORD}"], capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert no_ca.returncode == 60, no_ca  # the peer's certificate cannot be verified
    plain = subprocess.run(["curl", "-sS", "-w", "%{http_code}",
                            f"http://127.0.0.1:{srv.port}/metrics"], capture_output=True,
                           text=True, timeout=TIMEOUT)
    assert plain.stdout.endswith("400") and "sockleak_" not in plain.stdout, plain


def test_basic_auth_without_tls_and_an_empty_file(tool, tmp_path, serve_factory):
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = web_config(tmp_path, f"basic_auth_users:\n  alice: {bcrypt('pw', '$2b$')}\n")
    srv = serve_factory(logs, args=["--web.config.file", str(cfg)])
    assert srv.get()[0] == 401
    auth = "Basic " + b64encode(b"alice:pw").decode()
    assert srv.get(headers={"Authorization": auth})[0] == 200
    # An empty file asks for nothing: plain HTTP, no password, as the toolkit reads it.
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    empty.chmod(0o600)
    srv = serve_factory(logs, args=["--web.config.file", str(empty)])
    assert srv.get()[0] == 200


BAD = [
    ("tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  ciphers: x\n",
     ":4: tls_server_config.ciphers: unknown or unsupported key"),
    ("tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n  min_version: TLS14\n",
     ":4: tls_server_config.min_version: 'TLS14' is not one of"),
    ("tls_server_config:\n  cert_file: srv.crt\n",
     "tls_server_config.key_file: missing"),
    ("tls_server_config:\n  cert_file: srv.crt\n  key_file: ca.key\n",
     "tls_server_config.key_file: "),
    ("tls_server_config:\n  cert_file: srv.crt\n  key_file: srv.key\n"
     "  client_auth_type: RequireAndVerifyClientCert\n",
     "tls_server_config.client_ca_file: missing"),
    ("tls_server_config:\n  cert_file: nonexistent.crt\n  key_file: srv.key\n",
     ":2: tls_server_config.cert_file: "),
    ("basic_auth_users:\n  alice: plaintext\n", ":2: basic_auth_users: user alice: not a bcrypt"),
    ("http_server_config:\n  headers:\n    Content-Length: 5\n",
     ":3: http_server_config.headers: 'Content-Length' cannot be added"),
    ("basic_auth_user:\n  alice: x\n", ":1: basic_auth_user: unknown key"),
    ("tls_server_config: [\n", "not YAML"),
]


@pytest.mark.parametrize("text,said", BAD, ids=[b[1].split(":")[-2] if b[1].count(":") > 1
                                                 else b[1] for b in BAD])
def test_a_bad_web_config_exits_2_naming_the_key(tool, pki, text, said):
    cfg = web_config(pki, text)
    p = subprocess.run([str(TOOL), "serve", "--listen", "127.0.0.1:0", "--web.config.file",
                        str(cfg), str(pki)], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(cfg) in lines[0] and said in lines[0], p.stderr


def test_a_web_config_others_may_write_or_own_is_refused(tool, pki):
    cfg = web_config(pki, "", mode=0o602)
    cmd = [str(TOOL), "serve", "--listen", "127.0.0.1:0", "--web.config.file", str(cfg),
           str(pki)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 2 and "writable by other users" in p.stderr, p
    cfg.chmod(0o600)
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(cfg, 65534, 65534)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 2 and "not owned by this user or root" in p.stderr, p
        os.chown(cfg, 0, 0)


def test_a_flood_of_wrong_passwords_costs_a_few_bcrypts_a_second(tool, tmp_path, pki,
                                                                  serve_factory):
    """Each wrong password costs a bcrypt (cost 10 here, as htpasswd -B
    makes them): past 4 failed checks in a second, credentials not known
    good get 429 at once, so a flood cannot keep serve busy; a scraper whose
    password was checked before goes on getting its metrics."""
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD, rounds=1024)))
    srv = serve_factory(logs, args=["--web.config.file", str(cfg)])
    assert get(srv.port, context(pki), "prometheus", PASSWORD)[0] == 200
    statuses, lock = [], threading.Lock()

    def flood():
        ctx = context(pki)
        for _ in range(15):
            status = get(srv.port, ctx, "prometheus", "wrong")[0]
            with lock:
                statuses.append(status)

    start = time.monotonic()
    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    scrapes = []
    while any(t.is_alive() for t in threads):
        scrapes.append(get(srv.port, context(pki), "prometheus", PASSWORD)[0])
    for t in threads:
        t.join(TIMEOUT)
    elapsed = time.monotonic() - start
    assert len(statuses) == 120 and set(statuses) <= {401, 429}, statuses
    checked = statuses.count(401)
    # At most 4 failed checks in each second begun (the window restarts at
    # the first check after a second has passed).
    assert checked <= 4 * (int(elapsed) + 2), (checked, elapsed)
    assert statuses.count(429) > 0 and scrapes and set(scrapes) == {200}, (statuses, scrapes)
    c = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=TIMEOUT, context=context(pki))
    c.request("GET", "/metrics", headers={"Authorization": "Basic " + b64encode(
        b"prometheus:wrong").decode()})
    r = c.getresponse()
    assert r.status in (401, 429) and (r.status == 401 or r.getheader("Retry-After") == "1")
    c.close()


def stderr_says(srv, text):
    """True once serve has written text on stderr since its address line.
    Raw reads (the address line was the only thing buffered then), so that
    nothing sits unseen in a Python buffer while select says nothing new."""
    while select.select([srv.proc.stderr], [], [], 0.1)[0]:
        chunk = os.read(srv.proc.stderr.fileno(), 65536)
        if not chunk:
            break
        srv.err = getattr(srv, "err", b"") + chunk
    return text in getattr(srv, "err", b"")


def test_sighup_serves_a_new_certificate_while_scrapes_go_on(tool, tmp_path, pki,
                                                             serve_factory):
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD)))
    srv = serve_factory(logs, args=["--web.config.file", str(cfg)])
    assert served_serial(srv.port, pki) == 1001
    results, stop = [], threading.Event()

    def scrape():
        while not stop.is_set():
            try:
                results.append(get(srv.port, context(pki), "prometheus", PASSWORD)[0])
            except (OSError, http.client.HTTPException) as e:
                results.append(repr(e))

    t = threading.Thread(target=scrape)
    t.start()
    try:
        wait_until("scrapes before the reload", lambda: len(results) >= 5)
        # A file that does not read leaves the old configuration in force.
        cfg.write_text("tls_server_config: [\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until("the reload's refusal on stderr",
                   lambda: stderr_says(srv, b"kept as it was"))
        n = len(results)
        wait_until("scrapes after the refused reload", lambda: len(results) >= n + 5)
        assert served_serial(srv.port, pki) == 1001
        # A new certificate and a new password: both taken at SIGHUP.
        server_cert(pki, 1002)
        web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD)))
        srv.proc.send_signal(signal.SIGHUP)
        wait_until("the reload on stderr", lambda: stderr_says(srv, b"file read again"))
        assert served_serial(srv.port, pki) == 1002
        n = len(results)
        wait_until("scrapes after the reload", lambda: len(results) >= n + 5)
    finally:
        stop.set()
        t.join(TIMEOUT)
    assert srv.proc.poll() is None
    assert set(results) == {200}, [r for r in results if r != 200][:5]


@pytest.mark.skipif(not PROMETHEUS or not PROMTOOL, reason=NO_PROMETHEUS)
def test_prometheus_scrapes_serve_over_tls_with_basic_auth(live, serve_factory, pki, tmp_path):
    live.leak(3)
    cfg = web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD)))
    srv = serve_factory(live.outdir, args=["--web.config.file", str(cfg)])
    (tmp_path / "password").write_text(PASSWORD)
    scrape = ("    scheme: https\n"
              f"    tls_config:\n      ca_file: {pki / 'ca.crt'}\n"
              f"      cert_file: {pki / 'cli.crt'}\n      key_file: {pki / 'cli.key'}\n"
              f"    basic_auth:\n      username: prometheus\n"
              f"      password_file: {tmp_path / 'password'}\n"
              f"    static_configs:\n      - targets: ['127.0.0.1:{srv.port}']\n")
    with PrivatePrometheus(tmp_path, scrape) as prom:
        res = prom.wait_series("sockleak_leaked_sockets_total")
        assert len(res) == 1 and res[0]["value"][1] == "3", res
        assert res[0]["metric"]["function"] == "handle_client", res
        assert ss_close_wait(live.pid) == 3
        target = prom.target()
        assert target["health"] == "up" and not target["lastError"], target
        assert target["scrapeUrl"].startswith("https://"), target


@pytest.mark.skipif(not shutil.which("systemd-socket-activate"),
                    reason="systemd-socket-activate is missing (Debian: systemd)")
def test_systemd_socket_activation_serves_tls(tool, tmp_path, pki):
    """systemd's own activation tool owns the socket and starts serve at the
    first connection, as the socket unit of docs/deploy.md does."""
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = web_config(pki, TLS_AUTH.format(hash=bcrypt(PASSWORD)))
    port = free_port()
    proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", str(TOOL),
                             "serve", "--web.config.file", str(cfg), str(logs)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        def listening():
            if proc.poll() is not None:
                pytest.fail(f"systemd-socket-activate exited {proc.returncode}: "
                            f"{proc.stderr.read().decode()}", pytrace=False)
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_until("systemd-socket-activate's socket", listening)
        status, _, body = wait_until("serve started by the activation", lambda: get(
            port, context(pki), "prometheus", PASSWORD))
        assert status == 200 and "# TYPE sockleak_leaked_sockets_total counter" in body, body
        assert get(port, context(pki), "prometheus", "wrong")[0] == 401
        out = subprocess.run(["ss", "-tlnpH", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=TIMEOUT).stdout
        assert '"sockleak"' in out, out  # serve holds the socket systemd's tool made
    finally:
        _kill_group(proc)
        proc.wait(timeout=TIMEOUT)
