"""The call site a finding leads with is the line a person fixes, in C
programs where the first user frame of the end-of-stream stack is not:
- an event loop (libevent): the read is the library's, inside main's
  event_base_dispatch; the socket was made in a callback;
- a read wrapper shared by two handlers: each handler is its own finding,
  named "via" the wrapper;
- a threaded server whose loop runs on threads and on main: one finding.

Ground truth is the kernel's (`ss -tanp state close-wait`)."""
import socket
import time

from conftest import (assert_site, finding_records, follow_until, marker_line, proc_src,
                      prog_path, sockleak_run, TIMEOUT, wait_until)
from test_sweep import seen_then_released, ss_close_wait


def hang_ups(n, outdir=None, go=None):
    """A driver: n connections, each hung up at once; then waits (a
    condition, not a time) until the kernel shows all n in CLOSE_WAIT on the
    server's side, and returns how many it saw. With outdir the program
    holds them until released once ss showed the n and outdir's logs hold n
    findings: by the file go, which the driver then creates (at the limit
    too), or without go by SIGUSR2 to its holders (hold_until_released)."""
    def run(port):
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", port), timeout=10):
                pass
        if outdir is not None and go is None:
            return len([t for t in seen_then_released(outdir, n, n)(port) if t[2]])
        try:
            end = time.monotonic() + TIMEOUT
            seen = []
            while time.monotonic() < end:
                seen = [t for t in ss_close_wait(port) if t[2]]
                if len(seen) >= n:
                    break
                time.sleep(0.05)
            if go is not None and len(seen) >= n:
                wait_until(f"{n} findings in {outdir}'s logs",
                           lambda: len(finding_records(outdir)) >= n)
            return len(seen)
        finally:
            if go is not None:
                go.touch()
    return run


def only_finding(run, count):
    assert run.driver_result == count, f"ss showed {run.driver_result}{run.describe()}"
    assert [(f["kind"], f["count"]) for f in run.findings] == [("close_wait", count)], \
        run.describe()
    return run.findings[0]


def test_libevent_server_names_the_callback_that_made_the_socket(tool, tmp_path):
    run = sockleak_run([prog_path("cs_libevent"), 3], tmp_path / "out",
                       driver=hang_ups(3, tmp_path / "out"))
    f = only_finding(run, 3)
    src = proc_src("cs_libevent")
    cs = f["call_site"]
    assert (cs["function"], cs["line"], cs["stack"]) == (
        "accept_conn_cb", marker_line(src, "OPEN-SITE"), "open_stack"), run.describe()
    loop = cs.get("event_loop") or {}
    assert (loop.get("function"), loop.get("line")) == ("main", marker_line(src, "LOOP-SITE")), cs
    text = run_text(tool, tmp_path / "out")
    assert "call site: created in accept_conn_cb" in text and \
        "end-of-stream read by the event loop in main" in text, text


def test_read_wrapper_names_each_handler_via_the_wrapper(tool, tmp_path):
    run = sockleak_run([prog_path("cs_wrapper")], tmp_path / "out",
                       driver=hang_ups(4, tmp_path / "out"))
    assert run.driver_result == 4, run.describe()
    src = proc_src("cs_wrapper")
    got = sorted((f["count"], f["call_site"]["function"], f["call_site"]["line"],
                  f["call_site"].get("via", {}).get("function"),
                  f["call_site"].get("via", {}).get("line")) for f in run.findings)
    eof = marker_line(src, "EOF-SITE")
    assert got == [(2, "handle_login", marker_line(src, "LOGIN-SITE"), "buffer_recv", eof),
                   (2, "handle_upload", marker_line(src, "UPLOAD-SITE"), "buffer_recv", eof)], \
        run.describe()
    for f in run.findings:
        assert_site(run, f, "eof_stack", src, "buffer_recv", eof)
    text = run_text(tool, tmp_path / "out")
    assert "call site: in handle_login" in text and "via buffer_recv" in text, text


def test_threaded_server_leaks_are_one_finding(tool, tmp_path):
    threads, per = 3, 2
    n = (threads + 1) * per
    run = sockleak_run([prog_path("cs_threads"), threads, per], tmp_path / "out",
                       driver=hang_ups(n, tmp_path / "out"))
    f = only_finding(run, n)
    src = proc_src("cs_threads")
    assert_site(run, f, "eof_stack", src, "handle", marker_line(src, "EOF-SITE"))
    assert_site(run, f, "open_stack", src, "serve", marker_line(src, "OPEN-SITE"))


def run_text(tool, outdir):
    import subprocess
    p = subprocess.run([str(tool), "report", str(outdir)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    return p.stdout


def test_an_interpreter_is_never_the_users_code(tool, tmp_path):
    """A Perl server's leak, read by perl's own sysread: the perl executable
    is the interpreter, not the user's code, even though it is the program
    that ran (the call site used to be `Perl_pp_sysread (perl)`, as user
    code)."""
    import shutil
    import pytest
    perl = shutil.which("perl")
    if not perl:
        pytest.skip("perl is not installed")
    src = proc_src("perl/eof_server").with_suffix(".pl")
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([perl, str(src), 2, go], out, driver=hang_ups(2, out, go))
    assert run.driver_result == 2 and sum(f["count"] for f in run.findings) == 2, run.describe()
    for f in run.findings:
        cs = f["call_site"]
        assert not (cs.get("module", "").split("/")[-1].startswith("perl") and cs["user"]), cs


def test_follow_names_each_handler_via_the_wrapper(tool, tmp_path):
    """`report --follow` applies the report's wrapper rule as findings come:
    once a second handler's leak shows the wrapper shared by callers that
    differ, that leak and every later one at the wrapper are named by their
    handler, via the wrapper (the first, printed before, cannot be)."""
    import json
    out = tmp_path / "out"
    run = sockleak_run([prog_path("cs_wrapper")], out, driver=hang_ups(4, out))
    assert run.driver_result == 4, run.describe()
    src = proc_src("cs_wrapper")
    eof = marker_line(src, "EOF-SITE")
    buf = follow_until(out, r"(\{.*\}\n){4}", ["--format", "json"])
    sites = [json.loads(line)["call_site"] for line in buf.splitlines()]
    named = [(s["function"], s["line"], s.get("via", {}).get("function"),
              s.get("via", {}).get("line")) for s in sites]
    assert named[0] in {("buffer_recv", eof, None, None),
                        ("handle_login", marker_line(src, "LOGIN-SITE"), "buffer_recv", eof)}, named
    assert sorted(set(named[1:])) == [
        ("handle_login", marker_line(src, "LOGIN-SITE"), "buffer_recv", eof),
        ("handle_upload", marker_line(src, "UPLOAD-SITE"), "buffer_recv", eof)], named
    buf = follow_until(out, r"(.*close_wait .*\n){4}")
    assert f"handle_upload (cs_wrapper.c:{marker_line(src, 'UPLOAD-SITE')}) via buffer_recv" \
           f" (cs_wrapper.c:{eof})" in buf, buf
