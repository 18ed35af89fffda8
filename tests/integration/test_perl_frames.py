"""Perl frames in captured stacks: unmodified Perl programs (Debian's
/usr/bin/perl 5.36, threaded) under the library, whose findings name the
Perl sub, file and line where the socket was made or read, in place of
the interpreter's C frames (Perl_pp_sysread, Perl_runops_standard).

The programs are in tests/integration/progs/perl/ and mark their call
sites with `# EOF-SITE`-style comments. Ground truth for "this socket
leaked" is the kernel's (ss, through test_sweep.ss_close_wait). Each
program holds its leaked sockets until the test, once ss showed them and
their findings are logged, creates its go-ahead file: no fixed holds.

Call sites are checked in `sockleak report --format json` (a Perl frame
has function, file, line and "lang": "perl"), in the text report
(`#k in main::handle eof_server.pl:14 [perl]`) and in the raw log (frame
records and [-2, id] entries in the stacks)."""
import os
import subprocess

import pytest

from conftest import ERROR_EXIT, PROG_SRC, TIMEOUT, TOOL, client, sockleak_run
from test_python_frames import log_findings, py_marker
from test_sweep import IdleClosingServer, held_until_go, ss_close_wait

PERL = "/usr/bin/perl"
PL_SRC = PROG_SRC / "perl"
DEADLINE = 300          # ms


def need_perl(*modules):
    """Skips (naming the Debian package) unless perl and the modules load."""
    if not os.path.exists(PERL):
        pytest.skip(f"{PERL} is not installed (Debian package perl)")
    for mod, pkg in modules:
        p = subprocess.run([PERL, f"-M{mod}", "-e", "1"], capture_output=True, text=True,
                           timeout=TIMEOUT)
        if p.returncode != 0:
            pytest.skip(f"Perl module {mod} is missing (Debian package {pkg})")


def perl_frames(stack):
    return [fr for fr in stack if fr.get("lang") == "perl"]


def kinds(run):
    return sorted((f["kind"], f["count"]) for f in run.findings)


def test_lwp_cached_connections_name_the_perl_line_that_made_them(tool, tmp_path):
    """LWP::UserAgent with keep_alive caches its connections; the server
    closes them while they idle. Nothing reads their FIN: the
    close_wait_unread finding's call site is the user's sub and the line of
    the request, not LWP's, Net::HTTP's or IO::Socket's, and its count is
    the kernel's."""
    need_perl(("LWP::UserAgent", "libwww-perl"))
    src = PL_SRC / "lwp_client.pl"
    site = py_marker(src, "OPEN-SITE")
    n = 3
    go, out = tmp_path / "go", tmp_path / "out"
    server = IdleClosingServer()
    try:
        run = sockleak_run([PERL, src, server.port, n, go], out,
                           driver=held_until_go(out, go, n, "close_wait_unread"),
                           deadline=DEADLINE)
    finally:
        server.close()
    truth = run.driver_result
    assert len(truth) == n, f"ss shows {ss_close_wait(server.port)}{run.describe()}"
    assert f"cached {n}" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait_unread", n)], run.describe()
    f = run.findings[0]
    assert sorted(e["local"] for e in f["examples"]) == sorted(t[0] for t in truth), (
        f"{f['examples']} vs ss {truth}")
    cs = f.get("call_site") or {}
    assert (cs.get("function"), os.path.basename(cs.get("file", "")), cs.get("line"),
            cs.get("lang")) == ("main::fetch_all", src.name, site, "perl"), (
        f"call site {cs}; open_stack {f['open_stack']}{run.describe()}")
    # LWP's own frames lie between the socket call and the user's, the
    # interpreter's run loop is gone, the main program is below.
    frames = perl_frames(f["open_stack"])
    names = [fr["function"] for fr in frames]
    assert "LWP::UserAgent::request" in names, names
    assert names.index("main::fetch_all") > names.index("LWP::UserAgent::request"), names
    assert any(fr["file"].startswith("/usr/share/perl5/") for fr in frames), frames
    assert not any(fr.get("function") == "Perl_runops_standard" for fr in f["open_stack"])

    # The raw log: frame records, and [-2, id] in the finding records.
    recs = [r for _, r in log_findings(run.outdir) if r["kind"] == "close_wait_unread"]
    assert len(recs) == n, run.describe()
    for r in recs:
        mine = [fr for fr in r["open_stack"] if fr.get("lang") == "perl"
                and os.path.basename(fr["file"]) == src.name]
        assert mine and (mine[0]["function"], mine[0]["line"]) == ("main::fetch_all", site), (
            r["open_stack"])


def served_leaks(tmp_path, src, n, done):
    """Runs the Perl server src for n connections, each sent a line and
    hung up, and checks what both server tests share: ss shows the n
    sockets in CLOSE_WAIT, the server printed "DONE n", and the report is
    one close_wait finding of n. Returns the run and that finding."""
    go, out = tmp_path / "go", tmp_path / "out"

    def driver(port):
        for _ in range(n):
            client(port, "send")
        return held_until_go(out, go, n, "close_wait")(port)

    run = sockleak_run([PERL, src, n, go], out, driver=driver, deadline=DEADLINE)
    assert len(run.driver_result) == n, f"ss shows {run.driver_result}{run.describe()}"
    assert f"{done} {n}" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    assert kinds(run) == [("close_wait", n)], run.describe()
    return run, run.findings[0]


def test_server_sub_reading_eof_without_close_is_the_call_site(tool, tmp_path):
    """An IO::Socket::INET server's handler sysreads end-of-stream and
    returns without closing: the call site is that sub and the sysread
    line, in JSON and in the text report."""
    need_perl(("IO::Socket::INET", "perl-base"))
    src = PL_SRC / "eof_server.pl"
    site = py_marker(src, "EOF-SITE")
    run, f = served_leaks(tmp_path, src, 3, "kept")
    cs = f.get("call_site") or {}
    assert (cs.get("function"), os.path.basename(cs.get("file", "")), cs.get("line"),
            cs.get("lang"), cs.get("stack")) == ("main::handle", src.name, site, "perl",
                                                 "eof_stack"), (
        f"call site {cs}; eof_stack {f['eof_stack']}{run.describe()}")
    # Innermost the op that read (native), then the sub, then the main
    # program's loop that called it.
    frames = perl_frames(f["eof_stack"])
    assert [fr["function"] for fr in frames] == ["main::handle", "main"], frames
    assert "module" in f["eof_stack"][0], f["eof_stack"]
    assert frames[1]["line"] == py_marker(src, "CALL-SITE"), frames

    # The text report names it as the contract prints language frames.
    p = subprocess.run([str(TOOL), "report", "--color", "never", str(run.outdir)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    want = f"in main::handle {src}:{site} [perl]"
    assert f"call site: {want}" in p.stdout + p.stderr, p.stdout + p.stderr
    assert f"#1 {want}" in p.stdout + p.stderr, p.stdout + p.stderr


def test_ithreads_handler_is_the_call_site(tool, tmp_path):
    """Each connection handled in an ithread (its own interpreter): the
    thread's sub that read end-of-stream is the call site, the thread's
    entry sub below it."""
    need_perl(("threads", "perl"), ("IO::Socket::INET", "perl-base"))
    src = PL_SRC / "thread_server.pl"
    site = py_marker(src, "EOF-SITE")
    run, f = served_leaks(tmp_path, src, 3, "joined")
    cs = f.get("call_site") or {}
    assert (cs.get("function"), cs.get("line"), cs.get("lang")) == (
        "main::read_all", site, "perl"), f"call site {cs}; eof_stack {f['eof_stack']}"
    names = [fr["function"] for fr in perl_frames(f["eof_stack"])]
    assert names[:2] == ["main::read_all", "main::worker"], names
