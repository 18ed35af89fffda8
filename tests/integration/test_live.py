"""Seeing leaks while the program runs, and reports that say more about
them: `sockleak report --follow`, `run -o FILE`, "held" as of the report,
the command line in each example, the latest run of a reused output
directory, the library's verbosity 2 line, and the in-process API's
baseline per test."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time


from conftest import (EXAMPLE_SRC, LIB, PROG_SRC, TIMEOUT, TOOL, _kill_group, _lines_until, _read_port,
                      example_path, marker_line, need_file, prog_path, run_report,
                      sockleak_run)
from test_sweep import ss_close_wait

DEADLINE = 200


def _preloaded(outdir, deadline=DEADLINE, verbosity=1):
    env = dict(os.environ, LD_PRELOAD=str(LIB), SOCKLEAK_TEST_DEADLINE_MS=str(deadline),
               SOCKLEAK_OPTIONS=f"deadline_ms={deadline}:output={outdir}:verbosity={verbosity}")
    return env


def _hang_up(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"hello\n")
        assert s.recv(64) == b"hello\n"


# ------------------------------------------------------------------ --follow

def test_follow_prints_findings_as_they_are_logged(tool, tmp_path):
    """A running leaky server's finding appears with its pid, program and
    call site (file:line); a second process that appears later in the
    directory is followed too, its repeats on one short line with the count
    so far; SIGINT ends `report --follow` with status 0."""
    need_file(LIB, "make build/libsockleak.so")
    out = tmp_path / "out"
    out.mkdir()
    follow = subprocess.Popen([str(TOOL), "report", "--follow", str(out)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    server = subprocess.Popen([str(example_path("leaky_server")), "0"], env=_preloaded(out),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        port, _ = _read_port(server)
        _hang_up(port)
        line = marker_line(EXAMPLE_SRC / "leaky_server.c", "EOF-SITE")
        m, buf = _lines_until(
            follow, "",
            rf"close_wait pid {server.pid} leaky_server fd \d+ (\S+) <- (\S+): end-of-stream"
            rf" read at handle_client \(leaky_server\.c:{line}\)\n")
        # The kernel agrees: the server holds that socket in CLOSE_WAIT.
        held = [(lo, pe) for lo, pe, pids in ss_close_wait(port) if server.pid in pids]
        assert (m.group(1), m.group(2)) in held, (m.group(0), held)

        many = subprocess.run([str(prog_path("pos_many_one_site")), "3"], env=_preloaded(out),
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert many.returncode == 0, many.stderr
        src_line = marker_line(PROG_SRC / "pos_many_one_site.c", "EOF-SITE")
        _, buf = _lines_until(
            follow, buf,
            rf"close_wait pid \d+ pos_many_one_site fd \d+ \S+ <- \S+: end-of-stream read at"
            rf" drain \(pos_many_one_site\.c:{src_line}\)\n")
        m, buf = _lines_until(
            follow, buf,
            rf"pos_many_one_site fd \d+ \S+ <- \S+: \.\.\. again, end-of-stream read at drain"
            rf" \(pos_many_one_site\.c:{src_line}\) \(3 sockets so far\)\n")
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=TIMEOUT)
        assert follow.returncode == 0, err
    finally:
        _kill_group(server)
        _kill_group(follow)
        server.communicate(timeout=TIMEOUT)
        follow.communicate(timeout=TIMEOUT)


def test_follow_names_the_python_function(tool, tmp_path):
    """--follow names a Python program's call site as the report does: the
    handler's recv line, not the interpreter's C code; --format json gives
    the report's call_site object; the library's verbosity 2 line names the
    same Python frame."""
    need_file(LIB, "make build/libsockleak.so")
    out = tmp_path / "out"
    out.mkdir()
    src = PROG_SRC / "py" / "two_handlers.py"
    eof_line = [i for i, t in enumerate(src.read_text().splitlines(), 1)
                if "# EOF-SITE-A" in t][0]
    server = subprocess.Popen(["/usr/bin/python3", str(src), "1", "30"],
                              env=_preloaded(out, verbosity=2),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    follows = []
    try:
        port, _ = _read_port(server)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"A\n")
        for fmt in ("text", "json"):
            follows.append(subprocess.Popen(
                [str(TOOL), "report", "--follow", "--format", fmt, str(out)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True))
        _lines_until(follows[0], "",
                     rf"close_wait pid {server.pid} python3 fd \d+ \S+ <- \S+: end-of-stream"
                     rf" read at handle_a \(two_handlers\.py:{eof_line}\)\n")
        m, _ = _lines_until(follows[1], "", r"(\{.*\})\n")
        site = json.loads(m.group(1))["call_site"]
        assert (site["function"], site["file"], site["line"], site["lang"]) == (
            "handle_a", str(src), eof_line, "python"), site
        # The library's own line (verbosity=2) names the Python frame too.
        _kill_group(server)
        _, err = server.communicate(timeout=TIMEOUT)
        assert f"end-of-stream read at handle_a ({src}:{eof_line})" in err.decode(), err
    finally:
        for p in [server] + follows:
            _kill_group(p)
            p.communicate(timeout=TIMEOUT)


# ------------------------------------------------------------------- run -o

def test_run_output_report_goes_to_the_file_not_stderr(tool, tmp_path):
    for opt, fmt in (("-o", "json"), ("--output-report", "text")):
        rep = tmp_path / f"report.{fmt}"
        if fmt == "text":
            rep.write_text("old content that must go\n")
        p = subprocess.run([str(TOOL), "run", "--deadline", str(DEADLINE), "--output",
                            str(tmp_path / "out"), "--format", fmt, opt, str(rep), "--",
                            str(prog_path("pos_many_one_site")), "2"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        assert "2 leaked" in p.stdout
        text = rep.read_text()
        assert "old content" not in text
        assert "SUMMARY" not in p.stderr and '"findings"' not in p.stderr, p.stderr
        if fmt == "json":
            assert json.loads(text)["summary"]["leaks"] == 2, text
        else:
            assert "SUMMARY: sockleak: 2 leaked sockets in 1 call site" in text, text
        if fmt == "json":  # made by run: it holds command lines
            assert stat.S_IMODE(os.stat(rep).st_mode) == 0o600, oct(os.stat(rep).st_mode)


def test_run_output_report_refuses_a_planted_symlink(tool, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "report.txt"
    link.symlink_to(victim)
    p = subprocess.run([str(TOOL), "run", "--output", str(tmp_path / "out"), "-o", str(link),
                        "--", str(prog_path("pos_many_one_site")), "1"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "symbolic link" in p.stderr, p.stderr
    assert victim.read_text() == "precious\n"
    assert "leaked" not in p.stdout, "the program ran although its report could not be written"


# ------------------------------------------------------------------ held as of

def test_held_counts_to_the_exit_of_the_process(tool, tmp_path):
    """pos_many_one_site keeps its leaked sockets three deadlines after the
    last end-of-stream, then exits: held is that long, not the deadline
    (twice the deadline is the bound: the wall clocks of the end-of-stream
    and of the footer are taken in whole milliseconds)."""
    run = sockleak_run([prog_path("pos_many_one_site"), "2"], tmp_path / "out",
                       deadline=DEADLINE)
    [f] = run.findings
    for ex in f["examples"]:
        assert ex["held_ms"] >= 2 * DEADLINE, ex
        assert ex["held_until"] == "exit", ex
    assert f["held_ms_max"] >= 2 * DEADLINE, f
    p = subprocess.run([str(TOOL), "report", str(tmp_path / "out")], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert re.search(r"held (\d+) ms until exit", p.stdout), p.stdout


def test_held_counts_to_now_for_a_running_process(tool, tmp_path):
    need_file(LIB, "make build/libsockleak.so")
    out = tmp_path / "out"
    server = subprocess.Popen([str(example_path("leaky_server")), "0"], env=_preloaded(out),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        port, _ = _read_port(server)
        _hang_up(port)
        end = time.monotonic() + TIMEOUT
        first = None
        while first is None and time.monotonic() < end:
            rc, data, _, err = run_report(out)
            if data and data["findings"]:
                first = data["findings"][0]["examples"][0]
            else:
                time.sleep(0.1)
        assert first is not None, "no finding logged"
        time.sleep(1.0)
        _, data, _, _ = run_report(out)
        later = data["findings"][0]["examples"][0]
        # At least the second that passed between the two reports.
        assert later["held_ms"] >= first["held_ms"] + 1000, (first, later)
        assert first["held_until"] == later["held_until"] == "now", (first, later)
    finally:
        _kill_group(server)
        server.communicate(timeout=TIMEOUT)


# ------------------------------------------------------------ argv in examples

def test_examples_name_the_command_line_bounded_and_escaped(tool, tmp_path):
    long_arg = "x" * 1000
    run = sockleak_run([prog_path("pos_many_one_site"), "1", "\x1b[31mred", long_arg],
                       tmp_path / "out", deadline=DEADLINE)
    [f] = run.findings
    argv = f["examples"][0]["argv"]
    assert argv[0] == str(prog_path("pos_many_one_site")), argv
    assert argv[1:3] == ["1", "\x1b[31mred"], argv
    assert argv[3] == "x" * 256, len(argv[3])
    p = subprocess.run([str(TOOL), "report", str(tmp_path / "out")], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert "\x1b" not in p.stdout
    m = re.search(r"\n    command: (.*)\n", p.stdout)
    assert m, p.stdout
    assert m.group(1).startswith(f"{prog_path('pos_many_one_site')} 1 \\x1b[31mred"), m.group(1)
    assert len(m.group(1)) < 400, m.group(1)


# ------------------------------------------------------- the latest run only

def test_a_reused_output_directory_reports_its_latest_run(tool, tmp_path):
    out = tmp_path / "out"
    for n in ("3", "2"):
        sockleak_run([prog_path("pos_many_one_site"), n], out, deadline=DEADLINE,
                     read_report=False)
    rc, data, _, err = run_report(out)
    assert rc == 0 and data["summary"]["leaks"] == 2, (data, err)
    assert data["summary"]["processes"] == 1, data["summary"]
    assert "left out 1 earlier run (1 process)" in err and "--all-runs" in err, err
    rc, data, _, err = run_report(out, "--all-runs")
    assert rc == 0 and data["summary"]["leaks"] == 5, (data, err)
    # Log files named one by one are all reported.
    rc, data, _, err = run_report(sorted(out.glob("*.jsonl")))
    assert data["summary"]["leaks"] == 5, (data, err)


# ------------------------------------------------------------ verbosity 2

def test_verbosity_2_line_names_the_finding_as_the_report_does(tool, tmp_path):
    run = sockleak_run([prog_path("pos_many_one_site"), "1"], tmp_path / "out",
                       deadline=DEADLINE, tool_args=("--verbosity", "2"))
    [f] = run.findings
    [ex] = f["examples"]
    m = re.search(r"sockleak: pid (\d+) pos_many_one_site: close_wait fd (\d+) (\S+) <- (\S+)"
                  r" \(CLOSE_WAIT\), held \d+ ms; end-of-stream read at"
                  r" pos_many_one_site\+0x([0-9a-f]+)\n", run.stderr)
    assert m, run.stderr
    assert (int(m.group(1)), int(m.group(2))) == (ex["pid"], ex["fd"]), (m.group(0), ex)
    assert (m.group(3), m.group(4)) == (ex["local"], ex["peer"]), (m.group(0), ex)
    assert int(m.group(5), 16) == int(f["eof_stack"][0]["address"], 16), (m.group(0), f)
    assert f["eof_stack"][0]["function"] == "drain", f["eof_stack"][0]


# ------------------------------------------------------- API: a mark per test

def _api_marks(mode, preload, outdir):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env.update(_preloaded(outdir, deadline=5000))
    return subprocess.run([str(prog_path("api_marks")), mode], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def test_a_mark_per_test_fails_only_the_leaking_test(tmp_path):
    need_file(LIB, "make build/libsockleak.so")
    r = _api_marks("marks", True, tmp_path)
    outp = r.stdout + r.stderr
    assert r.returncode == 1, outp
    assert re.search(r"\[  ERROR   \] test_1_leaks", outp), outp
    assert re.search(r"\[       OK \] test_2_closes", outp), outp
    assert re.search(r"\[       OK \] test_3_closes", outp), outp
    # The failure message lists the socket: fd, addresses, and where its
    # end-of-stream was read (module+offset: the EOF-SITE line).
    m = re.search(r"sockleak: fd (\d+) 127\.0\.0\.1:\d+ <- 127\.0\.0\.1:\d+ read end-of-stream"
                  r" \d+ ms ago at api_marks\+0x([0-9a-f]+), still open\n", r.stdout)
    assert m, r.stdout
    src = subprocess.run(["eu-addr2line", "-e", str(prog_path("api_marks")),
                          hex(int(m.group(2), 16) - 1)], capture_output=True, text=True,
                         timeout=TIMEOUT).stdout.strip()
    want = marker_line(PROG_SRC / "api_marks.c", "EOF-SITE")
    assert src.startswith(str(PROG_SRC / "api_marks.c")) and \
        src.split(":")[1] == str(want), (src, want)


def test_without_marks_one_leak_fails_every_later_test(tmp_path):
    need_file(LIB, "make build/libsockleak.so")
    r = _api_marks("global", True, tmp_path)
    outp = r.stdout + r.stderr
    assert r.returncode == 3, outp
    for t in ("test_1_leaks", "test_2_closes", "test_3_closes"):
        assert re.search(rf"\[  ERROR   \] {t}", outp), outp


def test_api_marks_runs_unchanged_without_the_library(tmp_path):
    for mode in ("marks", "global"):
        r = _api_marks(mode, False, tmp_path)
        assert r.returncode == 0, (mode, r.stdout + r.stderr)


def test_follow_reads_only_whole_appended_lines_of_regular_files(tool, tmp_path):
    """A line still being written is read once it is whole; a line past the
    reader's limit is skipped with a warning, never held; a symbolic link
    and a FIFO in the directory are not followed (and do not block it)."""
    from test_hostile_logs import finding, header, module
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("".join(json.dumps(r) + "\n" for r in
                                 [header(3, "linked"), module(), finding(fd=33)]))
    (out / "link.jsonl").symlink_to(elsewhere)
    os.mkfifo(out / "fifo.jsonl")
    a, b = out / "a.jsonl", out / "b.jsonl"
    a.write_text(json.dumps(header(1, "alpha")) + "\n" + json.dumps(module()) + "\n")
    follow = subprocess.Popen([str(TOOL), "report", "--follow", "--format", "json", str(out)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        line = json.dumps(finding(1, fd=7)) + "\n"
        with open(a, "a") as f:
            f.write(line[:40])
        # One poll reads both files: once b's line is out, a's half was seen.
        b.write_text("".join(json.dumps(r) + "\n" for r in
                             [header(2, "beta"), module(), finding(fd=99)]))
        _, buf = _lines_until(follow, "", r'"fd": ?99')
        with open(a, "a") as f:
            f.write(line[40:])
            f.write("x" * 70000 + "\n")
            f.write(json.dumps(finding(2, fd=8)) + "\n")
        _, buf = _lines_until(follow, buf, r'"fd": ?8\b')
        follow.send_signal(signal.SIGINT)
        rest, err = follow.communicate(timeout=TIMEOUT)
        assert follow.returncode == 0, err
    finally:
        _kill_group(follow)
        follow.communicate(timeout=TIMEOUT)
    objs = [json.loads(x) for x in (buf + rest.decode()).splitlines() if x.strip()]
    got = sorted((o["pid"], o["program"], o["fd"]) for o in objs)
    assert got == [(1, "alpha", 7), (1, "alpha", 8), (2, "beta", 99)], objs
    assert [o["count_so_far"] for o in objs if o["pid"] == 1] == [2, 3], objs
    assert "longer than 65536 bytes" in err.decode(), err
    assert "corrupt" not in err.decode() and "truncated" not in err.decode(), err


def test_follow_starts_with_the_latest_run_of_a_reused_directory(tool, tmp_path):
    from test_hostile_logs import finding, header, module
    out = tmp_path / "out"
    out.mkdir()
    for pid, run_id, start, fd in ((1, "old", 1764000000000, 7), (2, "new", 1764000100000, 8)):
        (out / f"p.{pid}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
            header(pid, run_id=run_id, start_unix_ms=start), module(), finding(fd=fd)]))
    for extra, want in (((), [8]), (("--all-runs",), [7, 8])):
        follow = subprocess.Popen([str(TOOL), "report", "--follow", "--format", "json", *extra,
                                   str(out)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, buf = _lines_until(follow, "", r'"fd": ?8\b')
            follow.send_signal(signal.SIGINT)
            rest, err = follow.communicate(timeout=TIMEOUT)
            assert follow.returncode == 0, err
        finally:
            _kill_group(follow)
            follow.communicate(timeout=TIMEOUT)
        fds = sorted(json.loads(x)["fd"] for x in (buf + rest.decode()).splitlines() if x)
        assert fds == want, (extra, fds, err)
        assert ("--all-runs" in err.decode()) == (not extra), err
