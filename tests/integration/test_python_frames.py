"""Python frames in captured stacks: unmodified Python programs (Debian's
/usr/bin/python3, no debug symbols) under the library, whose findings name
the .py file, function and line where the socket was made, read or
listened on, in place of the interpreter's C frames.

The programs are in tests/integration/progs/py/ and mark their call sites
with `# EOF-SITE`-style comments. Ground truth for "this socket leaked" is
the kernel's (ss, through test_sweep.ss_close_wait).

Call sites are checked in `sockleak report --format json`, where a Python
frame has function, file, line and "lang": "python"; the raw log's side
(frame records and [-2, id] entries in the stacks) with log_findings().

Also the safety side: many threads, signal handlers (Python ones and a C
one that interrupts the interpreter anywhere), forks; each must end with
the program's own result."""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import (ERROR_EXIT, PROG_SRC, PROGS, PYTHON, assert_site, client,
                      finding_records, frame_in, need_file, sockleak_run, TIMEOUT, wait_until)
from test_sweep import IdleClosingServer, seen_then_released, ss_close_wait

PY_SRC = PROG_SRC / "py"
DEADLINE = 300          # ms
LIMIT = 20              # s at most a leaky program holds its sockets, unless released


def py_marker(src, marker):
    """The 1-based line of src holding `# MARKER` (exactly one)."""
    lines = [i for i, text in enumerate(Path(src).read_text().splitlines(), 1)
             if text.rstrip().endswith(f"# {marker}")]
    assert len(lines) == 1, f"{src}: expected one '# {marker}' marker, found {lines}"
    return lines[0]


# ------------------------------------------------------------ the raw log

def log_findings(outdir):
    """Every finding record of every log in outdir, its stacks resolved:
    a Python frame becomes {"lang", "function", "file", "line"}, a native one
    {"module": id, "offset": n}. Returns a list of (pid, finding)."""
    found = []
    for path in sorted(Path(outdir).glob("*.jsonl")):
        frames, pid = {}, None
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("t") == "header":
                pid = rec.get("pid")
            elif rec.get("t") == "frame":
                frames[rec["id"]] = rec
            elif rec.get("t") == "finding":
                for key, val in list(rec.items()):
                    if key.endswith("_stack"):
                        rec[key] = [dict(frames[fid]) if mod == -2 else
                                    {"module": mod, "offset": fid} for mod, fid in val]
                found.append((pid, rec))
    return found


def py_frames(stack):
    return [fr for fr in stack if fr.get("lang") == "python"]


def frame_at(stack, src):
    """The first Python frame of stack in file src (compared by basename)."""
    for fr in py_frames(stack):
        if os.path.basename(fr["file"]) == os.path.basename(str(src)):
            return fr
    return None


def kinds(run):
    return sorted((f["kind"], f["count"]) for f in run.findings)


def run_py(tmp_path, script, *args, driver=None, deadline=DEADLINE):
    return sockleak_run([PYTHON, PY_SRC / script, *args], tmp_path / "out", driver=driver,
                        deadline=deadline)


def wait_close_wait(port, count, timeout=TIMEOUT):
    """Polls ss until count sockets on port sit in CLOSE_WAIT held by a
    process; returns what ss shows then."""
    end = time.monotonic() + timeout
    while True:
        held = [t for t in ss_close_wait(port) if t[2]]
        if len(held) >= count or time.monotonic() > end:
            return held
        time.sleep(0.05)


def held_then_released(out, count):
    """A driver's wait for a program holding its leaks until SIGUSR2: until
    ss shows count sockets on the port in CLOSE_WAIT held by a process and
    out's logs hold count findings; then its holders are released (not a
    fixed hold that a late test outlasts). Returns the held sockets."""
    def run(port):
        return [t for t in seen_then_released(out, count, count)(port) if t[2]]
    return run


# ----------------------------------------------------------------- findings

def test_threading_server_two_handlers_two_findings(tool, tmp_path):
    """Two handlers forget to close, in threads: two findings, each naming
    its own handler's recv line."""
    src = PY_SRC / "two_handlers.py"
    site_a, site_b = py_marker(src, "EOF-SITE-A"), py_marker(src, "EOF-SITE-B")

    def driver(port):
        for k in "ABAB":
            client(port, "send", payload=k.encode() + b"\nrequest\n")
        return held_then_released(tmp_path / "out", 4)(port)

    run = run_py(tmp_path, "two_handlers.py", 4, LIMIT, driver=driver)
    assert len(run.driver_result) == 4, f"ss shows {run.driver_result}{run.describe()}"
    assert "kept 4" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait", 2), ("close_wait", 2)], run.describe()
    by_handler = {}
    for f in run.findings:
        fr = frame_in(f["eof_stack"], src.name)
        assert fr is not None, f"no frame in {src.name}: {f['eof_stack']}{run.describe()}"
        by_handler[fr["function"]] = f
    assert sorted(by_handler) == ["handle_a", "handle_b"], run.describe()
    assert_site(run, by_handler["handle_a"], "eof_stack", src, "handle_a", site_a)
    assert_site(run, by_handler["handle_b"], "eof_stack", src, "handle_b", site_b)
    for name, line in (("handle_a", site_a), ("handle_b", site_b)):
        cs = by_handler[name].get("call_site") or {}
        assert (cs.get("function"), cs.get("line"), cs.get("lang")) == (name, line, "python"), cs
    # The caller next, the interpreter's frames between them gone, the
    # thread's bootstrap below, native frames innermost and outermost.
    stack = by_handler["handle_a"]["eof_stack"]
    names = [fr["function"] for fr in stack if fr.get("lang") == "python"]
    assert names[:2] == ["handle_a", "dispatch"], names
    assert "Thread._bootstrap" in names, names
    assert "module" in stack[-1] and "module" in stack[0], stack
    assert all(fr.get("lang") == "python" for fr in stack if fr.get("file") == str(src))

    # The raw log: frame records, and [-2, id] in the finding records.
    recs = [r for _, r in log_findings(run.outdir) if r["kind"] == "close_wait"]
    assert len(recs) == 4, run.describe()
    for r in recs:
        fr = frame_at(r["eof_stack"], src)
        assert fr is not None and fr["lang"] == "python", r["eof_stack"]
        assert (fr["function"], fr["line"]) in {("handle_a", site_a), ("handle_b", site_b)}


def test_pooled_connection_names_the_python_line_that_made_it(tool, tmp_path):
    """urllib3's PoolManager keeps a connection the server closed: the
    close_wait_unread finding's open_stack names the request line."""
    try:
        import urllib3  # noqa: F401 (the client needs it)
    except ImportError:
        pytest.skip("urllib3 is not installed (Debian package python3-urllib3)")
    src = PY_SRC / "pool_client.py"
    server = IdleClosingServer()
    try:
        run = sockleak_run([PYTHON, src, server.port], tmp_path / "out",
                           driver=seen_then_released(tmp_path / "out"))
    finally:
        server.close()
    truth = [t for t in run.driver_result if t[2]]
    assert len(truth) == 1, f"ss shows {run.driver_result}{run.describe()}"
    assert kinds(run) == [("close_wait_unread", 1)], run.describe()
    f = run.findings[0]
    assert f["examples"][0]["local"] == truth[0][0], run.describe()
    assert_site(run, f, "open_stack", src, "fetch_all", py_marker(src, "OPEN-SITE"))
    # The call site is the user's line, not urllib3's or http.client's.
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line")) == ("fetch_all", py_marker(src, "OPEN-SITE")), cs
    # urllib3's own frames lie between the socket call and the user's.
    files = [os.path.basename(fr["file"]) for fr in py_frames(f["open_stack"])]
    assert files.index("pool_client.py") > 0 and "connection.py" in files, files


def test_asyncio_server_names_the_users_module(tool, tmp_path):
    src = PY_SRC / "asyncio_leak.py"
    n = 3

    def driver(port):
        for _ in range(n):
            client(port, "send")
        return held_then_released(tmp_path / "out", n)(port)

    run = run_py(tmp_path, "asyncio_leak.py", n, LIMIT, driver=driver)
    assert len(run.driver_result) == n, f"ss shows {run.driver_result}{run.describe()}"
    assert f"eofs {n}" in run.stdout, run.describe()
    assert kinds(run) == [("close_wait", n)], run.describe()
    f = run.findings[0]
    assert_site(run, f, "listen_stack", src, "main", py_marker(src, "LISTEN-SITE"))
    # The end-of-stream is read by the event loop, which the module runs.
    assert frame_at(f["eof_stack"], src) is not None, f["eof_stack"]
    assert frame_at(f["eof_stack"], "selector_events.py") is not None, f["eof_stack"]


# ------------------------------------------------------------------ safety

def test_many_threads_server(tool, tmp_path):
    """16 client threads and a thread per connection in one process, every
    one of them capturing stacks: the program's result, and the leaked
    connections found with the handler's frame."""
    src = PY_SRC / "many_threads.py"
    threads, each = 16, 10
    leaked = sum(1 for j in range(threads * each) if j % 5 == 0)

    run = run_py(tmp_path, "many_threads.py", threads, each, LIMIT,
                 driver=held_then_released(tmp_path / "out", leaked))
    assert len(run.driver_result) == leaked, f"ss shows {run.driver_result}{run.describe()}"
    assert f"kept {leaked}" in run.stdout, run.describe()
    assert kinds(run) == [("close_wait", leaked)], run.describe()
    assert_site(run, run.findings[0], "eof_stack", src, "Handler.handle",
                py_marker(src, "EOF-SITE"))


def test_signal_handlers_doing_socket_work(tool, tmp_path):
    """A Python handler every millisecond and a C handler on SIGPROF that
    interrupts the interpreter anywhere, both making sockets, while two
    threads do socket work: no deadlock, no crash, every connection served,
    nothing leaked."""
    so = need_file(PROGS / "py_sigsock.so", "make progs")
    run = run_py(tmp_path, "signals.py", so, 400)
    assert run.rc == 0, run.describe()
    assert " ok" in run.stdout, run.describe()
    assert run.findings == [] and run.leaks == 0, run.describe()


def test_forking_server_while_threads_capture(tool, tmp_path):
    """ForkingTCPServer forks while a thread of the parent keeps opening
    and closing connections: each child's leak names the handler's line."""
    src = PY_SRC / "forking.py"
    n = 4
    go, out = tmp_path / "go", tmp_path / "out"

    def driver(port):
        """The children hold their sockets until go: until ss showed all n
        at once and their findings are logged, however late the last one
        came (a fixed hold each let the first end before the last began)."""
        try:
            for _ in range(n):
                client(port, "send")
            held = wait_close_wait(port, n)
            if len(held) >= n:
                wait_until(f"{n} close_wait findings in {out}'s logs", lambda: sum(
                    r["kind"] == "close_wait" for r in finding_records(out)) >= n)
            return held
        finally:
            go.touch()

    run = run_py(tmp_path, "forking.py", n, go, driver=driver)
    assert len(run.driver_result) == n, f"ss shows {run.driver_result}{run.describe()}"
    assert f"served {n}" in run.stdout, run.describe()
    # One close_wait group: n sockets in n processes, the same Python frames.
    # A child may also inherit a side connection the churn thread had open
    # at the fork and hold it in CLOSE_WAIT while it holds: that copy is a
    # real close_wait_inherited finding, and the only other kind allowed.
    eof = [f for f in run.findings if f["kind"] == "close_wait"]
    assert [f["count"] for f in eof] == [n], run.describe()
    others = {f["kind"] for f in run.findings if f["kind"] != "close_wait"}
    assert others <= {"close_wait_inherited"}, run.describe()
    f = eof[0]
    assert f["processes"] == n, run.describe()
    assert_site(run, f, "eof_stack", src, "Handler.handle", py_marker(src, "EOF-SITE"))


def test_daemon_threads_read_eof_after_finalization(tool, tmp_path):
    """Daemon threads whose recv returns end-of-stream after the interpreter
    finalized (their peers closed by a C exit handler): no crash, the exit
    status is the program's, and each socket is reported at exit."""
    so = need_file(PROGS / "py_sigsock.so", "make progs")
    n = 8
    run = sockleak_run([PYTHON, PY_SRC / "finalizing.py", so, n], tmp_path / "out",
                       deadline=DEADLINE, tool_args=["--at-exit"])
    assert "exiting" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert sum(c for _, c in kinds(run)) == n, run.describe()
    # Made while the interpreter ran: the Python line that accepted them.
    for f in run.findings:
        assert frame_at(f["open_stack"], "finalizing.py") is not None, f["open_stack"]


# ----------------------------------------------------- other CPython versions

def other_python(minor):
    for cand in [f"/usr/bin/python3.{minor}", shutil.which(f"python3.{minor}")]:
        if cand and os.path.exists(cand):
            return os.path.realpath(cand) if "shims" not in cand else _pyenv(minor)
    return _pyenv(minor)


def _pyenv(minor):
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for d in sorted(root.glob(f"3.{minor}.*"), reverse=True):
        exe = d / "bin" / f"python3.{minor}"
        if exe.exists():
            return str(exe)
    return None


@pytest.mark.parametrize("minor", [12, 13])
def test_other_cpython_versions(tool, tmp_path, minor):
    """3.12 (built-in layout) and 3.13 (the interpreter's _Py_DebugOffsets),
    when such an interpreter is installed."""
    py = other_python(minor)
    if not py:
        pytest.skip(f"no CPython 3.{minor} installed")
    src = PY_SRC / "two_handlers.py"

    def driver(port):
        for k in "AB":
            client(port, "send", payload=k.encode() + b"\nrequest\n")
        return held_then_released(tmp_path / "out", 2)(port)

    run = sockleak_run([py, src, 2, LIMIT], tmp_path / "out", driver=driver, deadline=DEADLINE)
    assert len(run.driver_result) == 2, run.describe()
    sites = sorted((frame_at(f["eof_stack"], src) or {}).get("line", 0) for f in run.findings)
    assert sites == sorted([py_marker(src, "EOF-SITE-A"), py_marker(src, "EOF-SITE-B")]), (
        f"{[py_frames(f['eof_stack']) for f in run.findings]}{run.describe()}")
