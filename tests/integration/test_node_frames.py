"""Node.js findings name the JavaScript line that made the socket.

libuv connects in a later tick (and accepts and reads inside the event
loop), so the native stack holds no JavaScript of the program; the preload
that `sockleak run` adds to NODE_OPTIONS (node/sockleak-node.js) records the
call sites of net.Socket#connect and net.Server#listen and hands them to
the library as language frames.

Ground truth is the kernel's (`ss -tanp state close-wait`). The raw logs
are read here: a stack frame [-2, id] is the "frame" record with that id
(format/sockleak_log.h). The scripts mark the expected lines with
// CONNECT-SITE and // LISTEN-SITE comments."""
import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import sockleak_run, ERROR_EXIT
from test_sweep import seen_then_released


def need_node():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed (Debian package nodejs)")
    return node


def marked(script, marker):
    """1-based line of the only line of script carrying marker."""
    lines = [i + 1 for i, t in enumerate(script.splitlines()) if marker in t]
    assert len(lines) == 1, f"{marker}: {lines}"
    return lines[0]


def log_findings(outdir):
    """(finding record, {frame id: frame record}) of every log in outdir."""
    out = []
    for name in sorted(os.listdir(outdir)):
        if not name.endswith(".jsonl"):
            continue
        frames = {}
        with open(os.path.join(outdir, name), encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("t") == "frame":
                    frames[rec["id"]] = rec
                elif rec.get("t") == "finding":
                    out.append((rec, frames))
    return out


def js_frames(finding, frames, which):
    """The JavaScript frames of finding[which], innermost first, as
    (function, file, line); every [-2, id] must have its frame record."""
    got = []
    for mod, ref in finding.get(which) or []:
        if mod == -2:
            assert ref in frames, f"{which}: frame {ref} has no frame record before it"
            fr = frames[ref]
            assert fr["lang"] == "javascript", fr
            got.append((fr["function"], fr["file"], fr["line"]))
    return got


def describe(run):
    logs = []
    for name in sorted(os.listdir(run.outdir)):
        with open(os.path.join(run.outdir, name), encoding="utf-8", errors="replace") as f:
            logs.append(f"--- {name}\n{f.read()[-4000:]}")
    return run.describe() + "\n" + "\n".join(logs)


# A client whose connection the server closes: the paused socket never reads
# its end-of-stream nor is destroyed (close_wait_unread).
NODE_CLIENT = r"""
const net = require('net');
const srv = net.createServer((c) => c.end());
function dial(port) {
  const sock = net.connect(port, '127.0.0.1');   // CONNECT-SITE
  sock.on('connect', () => sock.pause());
  return sock;
}
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  dial(port);
  console.log('listening on ' + port);
});
process.on('SIGUSR2', () => process.exit(0));   // the test saw the leak: done
setTimeout(() => process.exit(3), 20000).unref();
"""

# http.request whose response nobody consumes: node stops reading the socket
# (backpressure) and never reads the FIN behind the body (close_wait_unread).
NODE_HTTP_CLIENT = r"""
const http = require('http');
const net = require('net');
const n = 100 * 1024;
const srv = net.createServer((c) => {
  c.once('data', () => c.end('HTTP/1.1 200 OK\r\nContent-Length: ' + n +
                             '\r\nConnection: close\r\n\r\n' + 'x'.repeat(n)));
});
function fetchIt(port) {
  const req = http.request({port, host: '127.0.0.1', path: '/big'});   // CONNECT-SITE
  req.on('response', (res) => { globalThis.kept = res; });   // never read
  req.end();
}
srv.listen(0, '127.0.0.1', () => {
  const port = srv.address().port;
  fetchIt(port);
  console.log('listening on ' + port);
});
process.on('SIGUSR2', () => process.exit(0));   // the test saw the leak: done
setTimeout(() => process.exit(3), 20000).unref();
"""

# A server that never ends a half-open socket (allowHalfOpen, 'end' ignored):
# close_wait on the accepted socket, made inside the event loop.
NODE_SERVER = r"""
const net = require('net');
const kept = [];
const srv = net.createServer({allowHalfOpen: true}, (sock) => {
  kept.push(sock);
  sock.on('data', () => {});
  sock.on('end', () => {});   // held until the test saw the leak (SIGUSR2)
});
process.on('SIGUSR2', () => process.exit(0));
function start() {
  srv.listen(0, '127.0.0.1', () => console.log('listening on ' + srv.address().port));   // LISTEN-SITE
}
start();
setTimeout(() => process.exit(3), 20000).unref();
"""


def half_close_and_watch(outdir):
    """A driver: one connection that sends, shuts down writing and stays: the
    server's socket is in CLOSE_WAIT until the program exits, which it does
    once released, when ss showed the socket and its finding is logged.
    Returns what ss saw."""
    def run(port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"hello\n")
        s.shutdown(socket.SHUT_WR)
        try:
            seen = [t for t in seen_then_released(outdir)(port) if t[2]]
        finally:
            s.close()
        return seen
    return run


def one_finding(run, kind):
    got = [(f["kind"], f["count"]) for f in run.findings]
    assert got == [(kind, 1)], describe(run)
    assert run.rc == ERROR_EXIT, describe(run)
    found = log_findings(run.outdir)
    assert len(found) == 1, describe(run)
    return found[0]


def assert_call_site(run, function, script, line, listener=False):
    """The report's call site of its one finding is this JavaScript frame."""
    site = run.findings[0].get("call_site") or {}
    want = {"function": function, "file": str(script), "line": line,
            "lang": "javascript", "listener": listener}
    got = {k: site.get(k, False if k == "listener" else None) for k in want}
    assert got == want, f"call site {site}{describe(run)}"


def client_leak(tmp_path, source, name, function, kind="close_wait_unread", args=(),
                argv=None, env=None, truth=True):
    """Runs the client script `source` (saved as `name`) under sockleak run;
    its one finding of `kind` names `function` at the script's CONNECT-SITE
    line, first in open_stack and as the report's call site, and (truth)
    is the socket `ss` showed in CLOSE_WAIT. Returns (run, finding record,
    frame records, JavaScript frames)."""
    node = need_node()
    script = tmp_path / name
    script.write_text(source)
    cmd = argv(node, script) if argv else [node, script, *args]
    run = sockleak_run(cmd, tmp_path / "out", driver=seen_then_released(tmp_path / "out"),
                       env=env)
    if truth:
        held = [t for t in run.driver_result if t[2]]
        assert len(held) == 1, f"ss shows {run.driver_result}{describe(run)}"
    rec, frames = one_finding(run, kind)
    if truth:
        assert rec["local"] == held[0][0], describe(run)
    line = marked(source, "CONNECT-SITE")
    js = js_frames(rec, frames, "open_stack")
    assert js[:1] == [(function, str(script), line)], (
        f"open_stack's JavaScript frames: {js}{describe(run)}")
    return run, rec, frames, js


def test_node_client_leak_names_the_connect_line(tool, tmp_path):
    run, rec, _, js = client_leak(tmp_path, NODE_CLIENT, "client.js", "dial")
    assert [m for m, _ in rec["open_stack"][:len(js)]] == [-2] * len(js), describe(run)
    assert_call_site(run, "dial", tmp_path / "client.js", marked(NODE_CLIENT, "CONNECT-SITE"))


def test_node_http_request_leak_names_the_request_line(tool, tmp_path):
    run, _, _, _ = client_leak(tmp_path, NODE_HTTP_CLIENT, "http_client.js", "fetchIt")
    assert_call_site(run, "fetchIt", tmp_path / "http_client.js",
                     marked(NODE_HTTP_CLIENT, "CONNECT-SITE"))


def test_node_server_leak_names_the_listen_line(tool, tmp_path):
    node = need_node()
    script = tmp_path / "server.js"
    script.write_text(NODE_SERVER)
    run = sockleak_run([node, script], tmp_path / "out",
                       driver=half_close_and_watch(tmp_path / "out"))
    assert len(run.driver_result) == 1, f"ss shows {run.driver_result}{describe(run)}"
    rec, frames = one_finding(run, "close_wait")
    assert rec["local"] == run.driver_result[0][0], describe(run)
    js = js_frames(rec, frames, "listen_stack")
    assert js[:2] == [("start", str(script), marked(NODE_SERVER, "LISTEN-SITE")),
                      ("<anonymous>", str(script), marked(NODE_SERVER, "start();"))], (
        f"listen_stack's JavaScript frames: {js}{describe(run)}")
    # Accepted inside the event loop: no JavaScript of the program made it.
    assert js_frames(rec, frames, "open_stack") == [], describe(run)
    line = marked(NODE_SERVER, "LISTEN-SITE")
    assert_call_site(run, "start", script, line, listener=True)
    text = subprocess.run([str(tool), "report", str(run.outdir)], capture_output=True,
                          text=True, timeout=30).stdout
    assert f"accepted on the listener created at {script}:{line}" in text, text


def test_node_started_by_a_shell_keeps_the_users_node_options(tool, tmp_path):
    pre = tmp_path / "user-preload.js"
    pre.write_text("console.log('user preload ran');\n")
    run, _, _, _ = client_leak(tmp_path, NODE_CLIENT, "client.js", "dial", truth=False,
                               argv=lambda node, script: ["sh", "-c", f'"{node}" "{script}"'],
                               env={"NODE_OPTIONS": f"--require {pre}"})
    assert "user preload ran" in run.stdout, describe(run)


# What a program could see of the preload: events, listeners, own properties,
# fds, Error's settings, errors and their stacks, the environment.
NODE_OBSERVE = r"""
const net = require('net'), http = require('http');
const out = [];
const say = (...a) => out.push(a.map((x) => typeof x === 'string' ? x : JSON.stringify(x)).join(' '));
const props = (o) => [Object.getOwnPropertyNames(o).sort(), Object.getOwnPropertySymbols(o).map(String)];
const desc = (o, k) => { const d = Object.getOwnPropertyDescriptor(o, k); return d && {...d, value: typeof d.value}; };
say('methods', [net.Socket.prototype.connect, net.Server.prototype.listen].map((f) => [f.name, f.length]));
say('error', desc(Error, 'prepareStackTrace'), desc(Error, 'stackTraceLimit'), Error.stackTraceLimit);
say('modules', Object.keys(require.cache), module.children.length);
say('env', Object.keys(process.env).filter((k) => !/^(LD_PRELOAD|SOCKLEAK_OPTIONS|NODE_OPTIONS)$/.test(k)).sort());
const bad = new net.Socket();
bad.on('error', (e) => {
  say('refused', e.code, e.syscall, e.stack.split('\n').length, bad.eventNames(), props(bad));
  const srv = net.createServer({allowHalfOpen: true}, (c) => {
    c.on('data', (d) => c.end('echo ' + d));
    say('accepted', c._handle.fd, c.eventNames(), c.listenerCount('end'), props(c)[0]);
  });
  srv.listen(0, '127.0.0.1', () => {
    say('server', srv._handle.fd, srv.eventNames(), srv.listenerCount('listening'), props(srv)[0]);
    const c = net.connect(srv.address().port, '127.0.0.1');
    say('sync', c.eventNames(), c.listenerCount('connect'), c.connecting, props(c)[0]);
    c.on('connect', () => {
      say('client', c._handle.fd, c.eventNames(), props(c._handle)[0], props(c._handle)[1].length);
      c.end('hi');
    });
    let got = '';
    c.on('data', (d) => { got += d; });
    c.on('close', () => {
      say('got', got);
      const hs = http.createServer((q, r) => r.end('ok ' + q.url)).listen(0, '127.0.0.1', () => {
        http.get({port: hs.address().port, host: '127.0.0.1', path: '/x'}, (r) => {
          let b = '';
          r.on('data', (d) => { b += d; });
          r.on('end', () => {
            say('http', r.statusCode, b, r.socket ? r.socket.eventNames() : null);
            try { net.connect({port: -1}); } catch (e) { say('throws', e.code, e.message); }
            say('error', desc(Error, 'prepareStackTrace'), desc(Error, 'stackTraceLimit'));
            console.log(out.join('\n'));
            process.exit(5);
          });
        });
      });
    });
  });
});
bad.connect(1, '127.0.0.1');
"""


def test_node_program_sees_no_difference(tool, lib, tmp_path):
    node = need_node()
    script = tmp_path / "observe.js"
    script.write_text(NODE_OBSERVE)
    preload = lib.parent / "sockleak-node" / "sockleak-node.js"
    assert preload.exists(), f"{preload} was not built (make all, with nodejs installed)"
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS", "NODE_OPTIONS")}
    runs = {}
    for name, extra in {
            "plain": {},
            "library and preload": {"LD_PRELOAD": str(lib), "NODE_OPTIONS": f"--require {preload}",
                                    "SOCKLEAK_OPTIONS": f"output={tmp_path / 'out'}"},
            "preload alone": {"NODE_OPTIONS": f"--require {preload}"}}.items():
        runs[name] = subprocess.run([node, str(script)], env=dict(base_env, **extra),
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=30)
    base = runs.pop("plain")
    assert base.returncode == 5 and "http 200" in base.stdout, base
    for name, r in runs.items():
        assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr), (
            f"{name}:\n{r.stdout}\n{r.stderr}\nwithout:\n{base.stdout}\n{base.stderr}")


def test_node_under_its_permission_model_still_starts(tool, tmp_path):
    """Node's permission model would refuse to read a preload it was not
    allowed: such a command runs without it."""
    node = need_node()
    script = tmp_path / "hello.js"
    script.write_text("console.log('hello ' + typeof require('net').connect);\n")
    run = sockleak_run([node, "--experimental-permission", f"--allow-fs-read={tmp_path}/*",
                        script], tmp_path / "out")
    assert run.rc == 0 and "hello function" in run.stdout, describe(run)


# A TLS client, after a plain one: TLS connects through its own handle's
# proxy to the TCP handle underneath.
NODE_TLS_CLIENT = r"""
const tls = require('tls'), fs = require('fs'), net = require('net');
const [key, cert] = process.argv.slice(2).map((f) => fs.readFileSync(f));
const plain = net.createServer((c) => c.destroy());
const srv = tls.createServer({key, cert}, (c) => c.end());
function dialTls(port) {
  const s = tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false,   // CONNECT-SITE
                         allowHalfOpen: true});
  s.on('end', () => {});   // never ended nor destroyed: close_wait
}
plain.listen(0, '127.0.0.1', () => {
  const p = net.connect(plain.address().port, '127.0.0.1');
  p.on('error', () => {});
  p.on('close', () => srv.listen(0, '127.0.0.1', () => {
    dialTls(srv.address().port);
    console.log('listening on ' + srv.address().port);
  }));
});
process.on('SIGUSR2', () => process.exit(0));   // the test saw the leak: done
setTimeout(() => process.exit(3), 20000).unref();
"""


def test_node_tls_client_leak_names_the_connect_line(tool, tmp_path):
    need_node()
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (Debian package openssl)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost"], check=True,
                   capture_output=True, timeout=60)
    client_leak(tmp_path, NODE_TLS_CLIENT, "tls_client.js", "dialTls", kind="close_wait",
                args=(key, cert))
