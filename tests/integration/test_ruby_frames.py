"""Ruby frames in captured stacks: unmodified Ruby programs (Debian's
/usr/bin/ruby, CRuby 3.1, no debug symbols) under the library, whose
findings name the Ruby method, file and line where the socket was made or
read, in place of libruby's native frames.

The programs are in tests/integration/progs/ruby/ and mark their call sites
with `# OPEN-SITE`-style comments. Ground truth for "this socket leaked" is
the kernel's (ss, through test_sweep.ss_close_wait). Each program keeps its
sockets until the test, having seen both the kernel's state and the
library's finding, creates its go-ahead file: no fixed sleeps."""
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ERROR_EXIT, PROG_SRC, assert_site, client, sockleak_run
from test_sweep import IdleClosingServer, ss_close_wait

RB_SRC = PROG_SRC / "ruby"
RUBY = shutil.which("ruby")
DEADLINE = 300  # ms


def need_ruby(*requires):
    if not RUBY:
        pytest.skip("ruby is not installed (Debian package ruby)")
    for lib in requires:
        p = subprocess.run([RUBY, "-e", f"require {lib!r}"], capture_output=True, timeout=60)
        if p.returncode != 0:
            pytest.skip(f"ruby cannot require {lib!r} (Debian package ruby-{lib.split('/')[-1]}"
                        f" or ruby-net-http-persistent)")


def rb_marker(src, marker):
    """The 1-based line of src holding `# MARKER` (exactly one)."""
    lines = [i for i, text in enumerate(Path(src).read_text().splitlines(), 1)
             if text.rstrip().endswith(f"# {marker}")]
    assert len(lines) == 1, f"{src}: expected one '# {marker}' marker, found {lines}"
    return lines[0]


def log_kinds(outdir):
    """The kinds of the finding records in the raw logs of outdir so far."""
    kinds = []
    for path in Path(outdir).glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if rec.get("t") == "finding":
                kinds.append(rec.get("kind"))
    return kinds


def wait_for(what, cond, timeout=15):
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() > end:
            return got
        time.sleep(0.05)


def held_close_wait(port):
    return [t for t in ss_close_wait(port) if t[2]]


def kinds(run):
    return sorted((f["kind"], f["count"]) for f in run.findings)


def ruby_frames(stack):
    return [fr for fr in stack if fr.get("lang") == "ruby"]


def test_persistent_client_names_the_users_method(tool, tmp_path):
    """net-http-persistent keeps a connection the server closed while it
    idled in the pool: the close_wait_unread finding's call site is the
    user's Client#fetch line, not net/http's or the gem's."""
    need_ruby("net/http/persistent")
    src = RB_SRC / "persistent_client.rb"
    go = tmp_path / "go"
    out = tmp_path / "out"
    server = IdleClosingServer()

    def driver(port):
        truth = wait_for("CLOSE_WAIT", lambda: held_close_wait(port))
        wait_for("finding", lambda: "close_wait_unread" in log_kinds(out))
        go.touch()
        return truth

    try:
        run = sockleak_run([RUBY, src, server.port, go], out, driver=driver, deadline=DEADLINE)
    finally:
        server.close()
    truth = run.driver_result
    assert len(truth) == 1, f"ss shows {truth}{run.describe()}"
    assert "done" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait_unread", len(truth))], run.describe()
    f = run.findings[0]
    assert f["examples"][0]["local"] == truth[0][0], run.describe()
    site = rb_marker(src, "OPEN-SITE")
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang")) == ("Client#fetch", site, "ruby"), cs
    assert Path(cs.get("file", "")).name == src.name, cs
    assert_site(run, f, "open_stack", src, "Client#fetch", site)
    # net/http's and the gem's frames lie between the socket call and the
    # user's; below it, the block and the main script.
    frames = ruby_frames(f["open_stack"])
    files = [Path(fr["file"]).name for fr in frames]
    assert "http.rb" in files and "persistent.rb" in files, files
    assert files.index("persistent.rb") < files.index(src.name), files
    names = [fr["function"] for fr in frames if Path(fr["file"]).name == src.name]
    assert names[:2] == ["Client#fetch", "block in <main>"], names
    # No libruby frame left where Ruby frames stand: its glue is dropped.
    users = [fr for fr in f["open_stack"] if fr.get("file") == cs["file"]]
    assert all(fr.get("lang") == "ruby" for fr in users), users


def test_tcpserver_handler_names_the_read_line(tool, tmp_path):
    """A TCPServer handler reads to end-of-stream (IO#read returns nil)
    and returns without closing: one close_wait finding for both
    connections, its call site the handler's read line."""
    need_ruby("socket")
    src = RB_SRC / "eof_server.rb"
    go = tmp_path / "go"
    out = tmp_path / "out"
    n = 2

    def driver(port):
        for _ in range(n):
            client(port, "send", payload=b"GET / HTTP/1.0\r\n\r\n")
        truth = wait_for("CLOSE_WAIT", lambda: len(held_close_wait(port)) >= n and
                         held_close_wait(port))
        wait_for("findings", lambda: log_kinds(out).count("close_wait") >= n)
        go.touch()
        return truth

    run = sockleak_run([RUBY, src, n, go], out, driver=driver, deadline=DEADLINE)
    truth = run.driver_result
    assert truth and len(truth) == n, f"ss shows {truth}{run.describe()}"
    assert f"served {n}" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait", n)], run.describe()
    f = run.findings[0]
    site = rb_marker(src, "EOF-SITE")
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang"), cs.get("stack")) == (
        "Handler#serve", site, "ruby", "eof_stack"), cs
    assert_site(run, f, "eof_stack", src, "Handler#serve", site)
    # The callers next: the accept loop's block, the method, the script.
    names = [fr["function"] for fr in ruby_frames(f["eof_stack"])]
    assert names == ["Handler#serve", "block in Object#run", "Object#run", "<main>"], names
    # Native frames innermost (libc, libruby's read) and outermost (main).
    assert "module" in f["eof_stack"][0] and "module" in f["eof_stack"][-1], f["eof_stack"]
    # The socket was made by the accept line.
    assert [fr["function"] for fr in ruby_frames(f["open_stack"])][:1] == ["block in Object#run"]


def test_text_report_prints_ruby_frames(tool, tmp_path):
    """In the text report a Ruby frame reads `#N in Handler#serve
    eof_server.rb:L [ruby]`."""
    need_ruby("socket")
    src = RB_SRC / "eof_server.rb"
    go = tmp_path / "go"
    out = tmp_path / "out"

    def driver(port):
        client(port, "send")
        wait_for("finding", lambda: "close_wait" in log_kinds(out))
        go.touch()

    run = sockleak_run([RUBY, src, 1, go], out, driver=driver, deadline=DEADLINE)
    assert kinds(run) == [("close_wait", 1)], run.describe()
    p = subprocess.run([str(tool), "report", str(out)], capture_output=True, text=True,
                       timeout=60)
    site = rb_marker(src, "EOF-SITE")
    assert f"call site: in Handler#serve {src}:{site} [ruby]" in p.stdout, p.stdout
    assert f" in Handler#serve {src}:{site} [ruby]" in p.stdout.split("end-of-stream read at:")[1], \
        p.stdout


def test_threads_under_compaction_keep_their_result(tool, tmp_path):
    """Eight Ruby threads read end-of-stream (captures made without the
    GVL) while another compacts the heap under them: the program's own
    result, and the one socket it keeps found at leak_one's read line."""
    need_ruby("socket")
    if subprocess.run([RUBY, "-e", "exit GC.respond_to?(:compact)"], timeout=60).returncode:
        pytest.skip("this ruby has no GC.compact")
    src = RB_SRC / "stress_compact.rb"
    go = tmp_path / "go"
    out = tmp_path / "out"
    threads, rounds = 8, 60

    def driver(port):
        found = wait_for("finding", lambda: "close_wait" in log_kinds(out), timeout=120)
        go.touch()
        return found

    run = sockleak_run([RUBY, src, threads, rounds, go], out, driver=driver, deadline=2000)
    assert f"ok {threads * rounds} of {threads * rounds}" in run.stdout, run.describe()
    assert "compacted" in run.stdout and "kept TCPSocket" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait", 1)], run.describe()
    cs = run.findings[0].get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang")) == (
        "Object#leak_one", rb_marker(src, "LEAK-SITE"), "ruby"), cs
