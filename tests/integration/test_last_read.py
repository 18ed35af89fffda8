"""The last read names code: a close_wait_unread finding's last_read_stack
is the whole stack of the program's last read (the first time it read from
the socket at that place), not the one return address, so a C program's
shows its caller chain and a Python program's its Python frames, and the
report's call site is the code that read and kept the socket, not the
accept that made it.

Ground truth is the kernel's: while the program holds its sockets, ss shows
them in CLOSE_WAIT held by the program, and the report must name exactly
those."""
import subprocess

from conftest import (ERROR_EXIT, PROG_SRC, PYTHON, marker_line, proc_src, prog_path,
                      sockleak_run, client)
from test_java_frames import java  # noqa: F401 (a fixture)
from test_python_frames import py_marker
from test_sweep import RELEASE, close_wait_seen, seen_then_released

N = 3


def sent_then_held(outdir, n, payload):
    """A driver: n clients send payload and hang up; then, once ss shows
    the n server sockets held in CLOSE_WAIT and n findings are logged, the
    program is released. Returns what ss showed."""
    held = seen_then_released(outdir, count=n, findings=n)

    def run(port):
        for _ in range(n):
            client(port, "send", payload=payload)
        return held(port)
    return run


def sent_then_touched(outdir, go, n, payload):
    """The same for a program released by a file: once ss shows the n
    sockets held in CLOSE_WAIT and n findings are logged, go is made."""
    from test_ruby_frames import log_kinds, wait_for

    def run(port):
        for _ in range(n):
            client(port, "send", payload=payload)
        truth = close_wait_seen(n, held=True)(port)
        wait_for("findings", lambda: log_kinds(outdir).count("close_wait_unread") >= n)
        go.touch()
        return truth
    return run


def frames_from(stack, name):
    """(function, line) of every frame of stack in the file called name."""
    return [(fr.get("function"), fr.get("line")) for fr in stack
            if fr.get("file") and fr["file"].rsplit("/", 1)[-1] == name]


def check_truth(run, n):
    truth = [t for t in run.driver_result if t[2]]
    assert len(truth) == n, f"ss shows {run.driver_result}{run.describe()}"
    assert run.rc == ERROR_EXIT, run.describe()
    got = sorted((f["kind"], f["count"]) for f in run.findings)
    assert got == [("close_wait_unread", n)], run.describe()
    f = run.findings[0]
    reported = {(ex["local"], ex["peer"]) for ex in f["examples"]}
    assert reported <= {(loc, peer) for loc, peer, _ in truth}, run.describe()
    return f


def test_c_last_read_has_its_caller_chain(tool, tmp_path):
    """The header is read first, the body last, each at its own place: the
    last read's stack is the body's, four of the program's frames deep."""
    src = proc_src("cw_lastread")
    run = sockleak_run([prog_path("cw_lastread"), N], tmp_path / "out",
                       driver=sent_then_held(tmp_path / "out", N, b"HEAD\nbody"),
                       stop_signal=RELEASE, stop_after_findings=N)
    f = check_truth(run, N)
    chain = frames_from(f["last_read_stack"], src.name)
    want = [("read_body", marker_line(src, "LAST-READ-SITE")),
            ("handle_conn", marker_line(src, "HANDLE-SITE")),
            ("serve", marker_line(src, "SERVE-SITE")),
            ("main", marker_line(src, "MAIN-SITE"))]
    assert chain[:4] == want, f"last_read_stack: {f['last_read_stack']}{run.describe()}"
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("stack")) == (
        "read_body", marker_line(src, "LAST-READ-SITE"), "last_read_stack"), cs


def test_python_server_keeping_sockets_is_named_at_its_handler(tool, tmp_path):
    """The issue's server: accept, a handler reads and appends the socket to
    a list. The call site is the handler's read, from the last read's
    stack, in JSON and in the text report; the accept stays the creation."""
    src = PROG_SRC / "py" / "kept_server.py"
    read_at, accept_at = py_marker(src, "LAST-READ-SITE"), py_marker(src, "ACCEPT-SITE")
    out = tmp_path / "out"
    run = sockleak_run([PYTHON, src, N], out, driver=sent_then_held(out, N, b"GET\n"),
                       stop_signal=RELEASE, stop_after_findings=N)
    f = check_truth(run, N)
    langs = [fr.get("lang") for fr in f["last_read_stack"] if fr.get("function") == "handle"]
    assert langs == ["python"], f"last_read_stack: {f['last_read_stack']}{run.describe()}"
    assert frames_from(f["last_read_stack"], src.name)[:2] == [("handle", read_at),
                                                                ("main", py_marker(
                                                                    src, "HANDLE-CALL"))]
    assert frames_from(f["open_stack"], src.name)[:1] == [("main", accept_at)], run.describe()
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang"), cs.get("stack")) == (
        "handle", read_at, "python", "last_read_stack"), cs
    text = subprocess.run([str(tool), "report", str(out)], capture_output=True, text=True,
                          timeout=30).stdout
    assert f"call site: in handle {src}:{read_at} [python] (last read)" in text, text


def test_ruby_server_keeping_sockets_is_named_at_its_handler(tool, tmp_path):
    """The same server in Ruby: the last read's stack has the handler's
    Ruby frame, and the call site is that line."""
    from test_ruby_frames import RB_SRC, RUBY, need_ruby, rb_marker
    need_ruby("socket")
    src = RB_SRC / "kept_server.rb"
    go, out = tmp_path / "go", tmp_path / "out"

    run = sockleak_run([RUBY, src, N, go], out, driver=sent_then_touched(out, go, N, b"GET\n"))
    f = check_truth(run, N)
    read_at = rb_marker(src, "LAST-READ-SITE")
    ruby = [(fr["function"], fr["line"]) for fr in f["last_read_stack"]
            if fr.get("lang") == "ruby"]
    assert ruby[:1] == [("Handler#take", read_at)], f"last_read_stack: {f['last_read_stack']}"
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang"), cs.get("stack")) == (
        "Handler#take", read_at, "ruby", "last_read_stack"), cs


def test_java_server_keeping_sockets_is_named_at_its_handler(java, tmp_path):
    """The same server in Java: the last read's stack has the handler's
    Java frame, and the call site is that line."""
    from test_java_frames import JAVA_SRC, marked
    jvm, classes = java
    go, out = tmp_path / "go", tmp_path / "out"

    run = sockleak_run([jvm, "-cp", classes, "KeptServer", N, go], out,
                       driver=sent_then_touched(out, go, N, b"GET\n"))
    f = check_truth(run, N)
    read_at = marked(JAVA_SRC / "KeptServer.java", "LAST-READ-SITE")
    java_frames = [(fr["function"], fr.get("line")) for fr in f["last_read_stack"]
                   if fr.get("lang") == "java"]
    assert ("KeptServer.take", read_at) in java_frames, f"last_read_stack: {f['last_read_stack']}"
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang"), cs.get("stack")) == (
        "KeptServer.take", read_at, "java", "last_read_stack"), cs
