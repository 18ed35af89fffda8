"""The whole life of a socket fd in real programs: close paths that skip
close(), read paths and zeros that are not end-of-stream, fork, vfork,
posix_spawn and exec, inherited and early sockets, dlopen'd code, threads
racing on fd numbers, and programs that sweep away every fd they do not know
(progs/lc_*.c). Call sites come from the EOF-SITE / OPEN-SITE markers."""
import json
import os
import re
import subprocess

import pytest

from conftest import (TIMEOUT, assert_clean, assert_leaks, expect_prog, frame_in,
                      marker_line, marker_lines, proc_src, prog_path, run_report,
                      sockleak_run)


def finding_at(run, name, line):
    """The finding whose EOF stack passes through name.c:line."""
    src = f"{name}.c"
    for f in run.findings:
        fr = frame_in(f["eof_stack"], src)
        if fr and fr.get("line") == line:
            return f
    pytest.fail(f"no finding with an EOF frame at {src}:{line}{run.describe()}", pytrace=False)


def pids_from(run, *labels):
    pids = dict(re.findall(r"^(\w+) (\d+)$", run.stdout, re.M))
    missing = [lb for lb in labels if lb not in pids]
    assert not missing, f"program output lacks {missing}{run.describe()}"
    return {lb: int(pids[lb]) for lb in labels}


def raw_records(outdir):
    """{file name: [records]} of every raw log in outdir."""
    logs = {}
    for path in sorted(outdir.glob("*.jsonl")):
        logs[path.name] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return logs


# ------------------------------------------------------------ close paths

def test_close_range_closefrom_and_dunder_close(tool, tmp_path):
    prog = prog_path("lc_close_range")
    syms = subprocess.run(["nm", "-D", str(prog)], capture_output=True, text=True,
                          timeout=TIMEOUT).stdout
    for sym in ("__close", "close_range", "closefrom"):
        assert re.search(rf"\bU {sym}\b", syms), f"lc_close_range does not call {sym}:\n{syms}"
    src = proc_src("lc_close_range")
    line_a, line_b = marker_lines(src, "EOF-SITE")
    run = sockleak_run([prog], tmp_path / "out")
    assert_leaks(run,
                 {"kind": "close_wait", "count": 1, "eof": (src, "main", line_a)},
                 {"kind": "close_wait", "count": 1, "eof": (src, "main", line_b)})
    closed_a = [ex["closed"] for ex in finding_at(run, "lc_close_range", line_a)["examples"]]
    closed_b = [ex["closed"] for ex in finding_at(run, "lc_close_range", line_b)["examples"]]
    assert closed_a == [True], f"close_range(A, A, 0) after the report: closed{run.describe()}"
    assert closed_b == [False], f"CLOSE_RANGE_CLOEXEC closes nothing now{run.describe()}"
    assert run.report["summary"]["eof_seen"] == 4, f"four sockets read the end{run.describe()}"


# -------------------------------------------------------------- read paths

def test_recvmmsg_end_of_stream_found(tool, tmp_path):
    run = sockleak_run([prog_path("lc_recvmmsg")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_recvmmsg", "close_wait", 1, function_eof="drain_batch"))
    assert run.findings[0]["tcp_state"] == "CLOSE_WAIT", run.describe()


def test_msg_peek_at_end_counts_once_at_the_peek(tool, tmp_path):
    run = sockleak_run([prog_path("lc_peek")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_peek", "close_wait", 1, function_eof="main"))
    assert run.report["summary"]["eof_seen"] == 1, (
        f"peek then three reads of the same end: one end-of-stream{run.describe()}")


def test_nonblocking_eagain_is_not_end_of_stream(tool, tmp_path):
    run = sockleak_run([prog_path("lc_nonblock")], tmp_path / "out")
    assert_clean(run)
    assert run.report["summary"]["eof_seen"] == 0, f"EAGAIN counted as an end{run.describe()}"


def test_ipv6_server_leak_found_with_v6_addresses(tool, tmp_path):
    run = sockleak_run([prog_path("lc_ipv6")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_ipv6", "close_wait", 1, function_eof="main",
                                  function_open="main"))
    f = run.findings[0]
    assert f["tcp_state"] == "CLOSE_WAIT", run.describe()
    port = int(re.search(r"server port (\d+)", run.stdout).group(1))
    ex = f["examples"][0]
    assert ex["local"] == f"[::1]:{port}", f"local address {ex['local']!r}{run.describe()}"
    assert re.fullmatch(r"\[::1\]:\d+", ex["peer"]), f"peer address {ex['peer']!r}"


def test_unix_stream_leak_found_without_tcp_state(tool, tmp_path):
    out = tmp_path / "out"
    run = sockleak_run([prog_path("lc_unix_stream")], out)
    assert_leaks(run, expect_prog("lc_unix_stream", "close_wait", 1, function_eof="main",
                                  function_open="main"))
    assert run.findings[0]["tcp_state"] is None, f"a unix socket has no TCP state{run.describe()}"
    p = subprocess.run([str(tool), "report", "--format", "text", str(out)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    text = p.stdout + p.stderr
    assert re.search(r"kernel state at the deadline: unknown", text), (
        f"the text report must say the kernel state is unknown:\n{text}")
    assert "None" not in text and "null" not in text, f"odd text for a missing state:\n{text}"


@pytest.mark.parametrize("name", ["lc_seqpacket", "lc_errqueue"])
def test_zero_returns_that_are_not_end_of_stream(name, tool, tmp_path):
    run = sockleak_run([prog_path(name)], tmp_path / "out")
    assert_clean(run)
    assert run.report["summary"]["eof_seen"] == 0, run.describe()


# --------------------------------------------------------------- processes

def test_fork_after_eof_each_holder_reports_its_copy(tool, tmp_path):
    """The parent reads end-of-stream, forks, and neither closes: both copies
    hold the connection in CLOSE_WAIT (ss lists both pids). The parent's is
    a close_wait at its end-of-stream read; the child's, which read nothing,
    is close_wait_inherited, reported once, in the child, naming the parent."""
    run = sockleak_run([prog_path("lc_fork_after_eof")], tmp_path / "out")
    pids = pids_from(run, "parent", "child")
    kinds = sorted((f["kind"], f["count"]) for f in run.findings)
    assert kinds == [("close_wait", 1), ("close_wait_inherited", 1)], run.describe()
    by_kind = {f["kind"]: f for f in run.findings}
    eof = by_kind["close_wait"]
    assert [ex["pid"] for ex in eof["examples"]] == [pids["parent"]], run.describe()
    assert any(fr.get("function") == "main" for fr in eof["eof_stack"][:1]), run.describe()
    inh = by_kind["close_wait_inherited"]
    assert [(ex["pid"], ex.get("from_pid")) for ex in inh["examples"]] == [
        (pids["child"], pids["parent"])], run.describe()


def test_vfork_child_closes_do_not_end_the_parents_socket(tool, tmp_path):
    run = sockleak_run([prog_path("lc_vfork_close")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_vfork_close", "close_wait", 1, function_eof="main"))
    assert [ex["closed"] for ex in run.findings[0]["examples"]] == [False], run.describe()


def test_clone_vm_child_closes_do_not_end_the_parents_socket(tool, tmp_path):
    run = sockleak_run([prog_path("lc_clone_vm_close")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_clone_vm_close", "close_wait", 1, function_eof="main"))
    assert [ex["closed"] for ex in run.findings[0]["examples"]] == [False], run.describe()


def test_posix_spawn_file_actions_leave_tracking_intact(tool, tmp_path):
    run = sockleak_run([prog_path("lc_posix_spawn")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_posix_spawn", "close_wait", 1, function_eof="main"))
    assert "spawned children closed their copies" in run.stdout, run.describe()


def test_exec_chain_each_image_its_own_log(tool, tmp_path):
    out = tmp_path / "out"
    run = sockleak_run([prog_path("lc_exec_chain")], out)
    pids = pids_from(run, "first", "image2")
    assert_leaks(run, expect_prog("lc_exec_chain", "close_wait", 1, function_eof="image2_leak"))
    f = run.findings[0]
    assert [ex["pid"] for ex in f["examples"]] == [pids["image2"]], run.describe()
    logs = raw_records(out)
    by_pid = {recs[0]["pid"]: recs for recs in logs.values() if recs}
    assert set(by_pid) == {pids["first"], pids["image2"]}, f"logs: {sorted(logs)}"
    first, image2 = by_pid[pids["first"]], by_pid[pids["image2"]]
    assert "image2" in image2[0]["argv"], image2[0]
    assert [r["t"] for r in first].count("finding") == 0, (
        f"the socket handed over across exec is no finding of the first image: {first}")
    assert [r["t"] for r in image2].count("finding") == 1, image2


def test_socket_activation_fd3_accept_is_the_open_site(tool, tmp_path):
    run = sockleak_run([prog_path("lc_listen_fds")], tmp_path / "out")
    assert "activated server read the end" in run.stdout, run.describe()
    assert_leaks(run, expect_prog("lc_listen_fds", "close_wait", 1, function_eof="serve_fd3",
                                  function_open="serve_fd3"))


def test_library_constructor_before_ours(tool, tmp_path):
    src = proc_src("lc_ctor")
    lib_line, main_line = marker_lines(src, "EOF-SITE")
    run = sockleak_run([prog_path("lc_ctor")], tmp_path / "out")
    assert_leaks(run,
                 {"kind": "close_wait", "count": 1, "eof": (src, "lc_ctor_connections", lib_line)},
                 {"kind": "close_wait", "count": 1, "eof": (src, "main", main_line)})
    lib_frame = finding_at(run, "lc_ctor", lib_line)["eof_stack"][0]
    assert lib_frame.get("module", "").endswith("/lc_ctor_lib.so"), lib_frame


def test_start_up_looks_up_only_what_the_program_calls(lib, tmp_path):
    """Every hook binds its libc function at its first call: a program that
    calls none of them has ld.so look up one for the library, the
    __register_atfork that its own constructor calls (dlsym lookups carry no
    symbol version in LD_DEBUG's output). Binding them all there cost every
    program about 70,000 instructions at start (bench: start-up + exit)."""
    debug = tmp_path / "ld"
    env = dict(os.environ, LD_PRELOAD=str(lib), LD_DEBUG="bindings", LD_DEBUG_OUTPUT=str(debug))
    env.pop("SOCKLEAK_OPTIONS", None)
    r = subprocess.run([prog_path("lc_nothing")], env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    text = "".join(p.read_text() for p in tmp_path.glob("ld.*"))
    ours = re.escape(lib.name)
    looked_up = re.findall(rf"binding file \S*/{ours} \[0\] to \S*libc\.so\.6 \[0\]: "
                           r"normal symbol `([^']+)'$", text, re.M)
    assert looked_up, f"LD_DEBUG=bindings showed no binding of the library's:\n{text[:2000]}"
    assert set(looked_up) == {"__register_atfork"}, sorted(looked_up)


def test_dlopened_library_frames_symbolized(tool, tmp_path):
    src = proc_src("lc_dlopen")
    run = sockleak_run([prog_path("lc_dlopen")], tmp_path / "out")
    assert_leaks(run, expect_prog("lc_dlopen", "close_wait", 1, function_eof="plugin_drain",
                                  function_open="main"))
    top = run.findings[0]["eof_stack"][0]
    assert (top.get("function"), os.path.basename(top.get("file", "")), top.get("line")) == (
        "plugin_drain", "lc_dlopen.c", marker_line(src, "EOF-SITE")), top
    assert top.get("module", "").endswith("/lc_dlopen_lib.so"), top


# ----------------------------------------------------------------- threads

def test_threads_racing_on_accept_close_exact_count(tool, tmp_path):
    # A longer deadline: eight servers and churn on two cores must never be
    # mistaken for a slow close.
    run = sockleak_run([prog_path("lc_threads"), 400, 10], tmp_path / "out", deadline=1000)
    assert "served 400, kept 10" in run.stdout, run.describe()
    assert_leaks(run, expect_prog("lc_threads", "close_wait", 10, function_eof="server",
                                  function_open="server"))
    fds = [ex["fd"] for ex in run.findings[0]["examples"]]
    assert len(set(fds)) == len(fds), run.describe()


# ------------------------------------------------- sweeping every fd away

@pytest.mark.parametrize("mode", ["loop", "range", "closefrom", "stdio"])
def test_program_sweeping_fds_keeps_the_log(mode, tool, tmp_path):
    src = proc_src("lc_closeall")
    out = tmp_path / "out"
    run = sockleak_run([prog_path("lc_closeall"), mode], out)
    lines = {}
    for no in marker_lines(src, "EOF-SITE"):
        text = src.read_text().splitlines()[no - 1]
        lines["second" if "read(" in text else "first"] = no
    assert_leaks(run,
                 {"kind": "close_wait", "count": 1, "eof": (src, "leak_one", lines["first"])},
                 {"kind": "close_wait", "count": 1, "eof": (src, "leak_one", lines["second"])})
    first = finding_at(run, "lc_closeall", lines["first"])["examples"]
    second = finding_at(run, "lc_closeall", lines["second"])["examples"]
    assert [ex["closed"] for ex in first] == [mode != "stdio"], run.describe()
    assert [ex["closed"] for ex in second] == [False], run.describe()
    logs = raw_records(out)
    assert len(logs) == 1, f"one process, one log: {sorted(logs)}"
    recs = next(iter(logs.values()))
    kinds = [r["t"] for r in recs]
    assert kinds.count("header") == 1 and kinds[-1] == "footer", kinds
    assert kinds.count("finding") == 2, kinds


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to chroot as daemons do")
def test_chrooted_daemon_still_logs_in_the_output_directory(tool, tmp_path):
    run = sockleak_run([prog_path("lc_chroot")], tmp_path / "out")
    m = re.search(r"chrooted into (\S+)", run.stdout)
    if m:
        import shutil
        shutil.rmtree(m.group(1), ignore_errors=True)
    assert m, f"the program did not chroot{run.describe()}"
    assert_leaks(run, expect_prog("lc_chroot", "close_wait", 1, function_eof="main"))
