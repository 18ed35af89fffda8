"""Programs with real leaks: kind, count, grouping, and the exact EOF and
creation lines (found by the EOF-SITE / OPEN-SITE markers in the sources)."""
import os
import re
import subprocess

import pytest

from conftest import (PROGS, TIMEOUT, assert_leaks, drive, expect_prog, marker_lines,
                      proc_src, prog_path, sockleak_run)


def test_fortified_read_chk_server_leak_found(tool, tmp_path):
    prog = prog_path("pos_fortify_read")
    syms = subprocess.run(["nm", "-D", str(prog)], capture_output=True, text=True,
                          timeout=TIMEOUT).stdout
    assert "__read_chk" in syms, (
        "pos_fortify_read must call __read_chk (built with -O2 -D_FORTIFY_SOURCE=2 via"
        f" tests/integration/progs/flags.mk); its dynamic symbols:\n{syms}")
    run = sockleak_run([prog, 2], tmp_path / "out", driver=drive("send", "send"))
    assert_leaks(run, expect_prog("pos_fortify_read", "close_wait", 2,
                                  function_eof="read_request", function_open="main"))


def test_epoll_recvmsg_server_leak_found(tool, tmp_path):
    run = sockleak_run([prog_path("pos_epoll_recvmsg"), 2], tmp_path / "out",
                       driver=drive("echo", "echo"))
    assert_leaks(run, expect_prog("pos_epoll_recvmsg", "close_wait", 2,
                                  function_eof="on_readable", function_open="main"))
    f = run.findings[0]
    assert f.get("tcp_state") == "CLOSE_WAIT", f"TCP state not confirmed{run.describe()}"
    for ex in f["examples"]:
        assert ex["local"].startswith("127.0.0.1:") and ex["peer"].startswith("127.0.0.1:"), (
            f"examples should name the loopback addresses: {ex}")
        assert ex["held_ms"] >= 200 and ex["closed"] is False, f"bad example {ex}"


def test_client_keeping_fd_after_banner_eof_leak_found(tool, tmp_path, banner_server):
    run = sockleak_run([prog_path("pos_client_banner"), banner_server.port], tmp_path / "out")
    assert banner_server.BANNER.decode() in run.stdout, f"banner not read{run.describe()}"
    assert_leaks(run, expect_prog("pos_client_banner", "close_wait", 1,
                                  function_eof="main", function_open="main"))


def test_forked_child_leak_reported_once_from_child_pid(tool, tmp_path):
    run = sockleak_run([prog_path("pos_fork_child")], tmp_path / "out")
    pids = dict(re.findall(r"^(parent|child) (\d+)$", run.stdout, re.M))
    assert "child" in pids and "parent" in pids, f"program output lacks pids{run.describe()}"
    assert_leaks(run, expect_prog("pos_fork_child", "close_wait", 1,
                                  function_eof="main", function_open="main"))
    examples = run.findings[0]["examples"]
    assert [ex["pid"] for ex in examples] == [int(pids["child"])], (
        f"the finding must come from the child ({pids['child']}) only, not the parent"
        f" ({pids['parent']}){run.describe()}")
    assert run.findings[0]["processes"] == 1, f"one process leaked{run.describe()}"


def test_shutdown_wr_without_close_is_unclosed_after_shutdown(tool, tmp_path):
    run = sockleak_run([prog_path("pos_shutdown_wr")], tmp_path / "out")
    assert_leaks(run, expect_prog("pos_shutdown_wr", "unclosed_after_shutdown", 1,
                                  function_eof="finish_request", function_open="main"))


def test_socket_closed_after_report_marked_closed(tool, tmp_path):
    run = sockleak_run([prog_path("pos_closed_late")], tmp_path / "out")
    assert_leaks(run, expect_prog("pos_closed_late", "close_wait", 1, open_site=False,
                                  function_eof="main"))
    ex = run.findings[0]["examples"]
    assert len(ex) == 1 and ex[0]["closed"] is True, (
        f"the late close must show as closed: true{run.describe()}")


def test_many_leaks_from_one_site_form_one_group(tool, tmp_path):
    run = sockleak_run([prog_path("pos_many_one_site"), 5], tmp_path / "out")
    assert_leaks(run, expect_prog("pos_many_one_site", "close_wait", 5,
                                  function_eof="drain", function_open="main"))
    assert len({ex["fd"] for ex in run.findings[0]["examples"]}) == len(
        run.findings[0]["examples"]), f"examples repeat an fd{run.describe()}"


def test_two_leak_sites_form_two_groups(tool, tmp_path):
    src = proc_src("pos_two_sites")
    header_line, body_line = marker_lines(src, "EOF-SITE")
    run = sockleak_run([prog_path("pos_two_sites")], tmp_path / "out")
    assert_leaks(run,
                 {"kind": "close_wait", "count": 2, "eof": (src, "read_header", header_line)},
                 {"kind": "close_wait", "count": 1, "eof": (src, "read_body", body_line)})


def test_all_programs_built():
    """Every program in tests/integration/progs has its binary (make progs)."""
    from conftest import PROG_SRC
    missing = [p.stem for p in PROG_SRC.glob("*.c") if not (PROGS / p.stem).exists()]
    assert not missing, f"not built: {missing}; run `make progs`"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to drop privileges as servers do")
def test_worker_that_dropped_privileges_still_logs_its_leak(tool, tmp_path):
    # sockleak run creates the output directory; a worker running as nobody
    # must still be able to create its log there (nginx's `user nobody`).
    run = sockleak_run([prog_path("pos_drop_privs")], tmp_path / "out")
    assert_leaks(run, expect_prog("pos_drop_privs", "close_wait", 1, open_site=False,
                                  function_eof="worker"))


def test_stacks_where_seccomp_refuses_process_vm_readv(tool, tmp_path, banner_server):
    """Docker's default seccomp profile refuses process_vm_readv: libunwind's
    memory checks must still work, and the stacks name the lines."""
    run = sockleak_run([prog_path("rw_seccomp"), prog_path("pos_client_banner"),
                        banner_server.port], tmp_path / "out")
    assert banner_server.BANNER.decode() in run.stdout, f"banner not read{run.describe()}"
    assert_leaks(run, expect_prog("pos_client_banner", "close_wait", 1,
                                  function_eof="main", function_open="main"))
