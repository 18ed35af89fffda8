"""Programs that must give zero findings: correct closes through every path
glibc offers, and zero returns that are not end-of-stream."""
import pytest

from conftest import assert_clean, drive, prog_path, sockleak_run

# Self-contained programs: name -> what they exercise.
SELF_CONTAINED = {
    "neg_udp_zero": "UDP server receiving zero-length datagrams",
    "neg_zero_len_recv": "zero-length reads on a live TCP socket",
    "neg_fdopen_fclose": "socket closed through fdopen + fclose",
    "neg_dup2": "socket replaced by dup2(devnull, sock)",
    "neg_shut_rd": "program's own shutdown(SHUT_RD), then reads of 0",
    "neg_unix_dgram": "unix datagram socketpair with empty messages",
    "neg_syscall_close": "socket closed through syscall(SYS_close, fd)",
    "neg_hidden_close_reuse": "socket closed unseen, its fd reused by a file that reads 0",
}


@pytest.mark.parametrize("name", sorted(SELF_CONTAINED))
def test_no_finding_for(name, tool, tmp_path):
    run = sockleak_run([prog_path(name)], tmp_path / "out")
    assert_clean(run)


def test_no_finding_for_correct_server_closing_every_connection(tool, tmp_path):
    run = sockleak_run([prog_path("neg_correct_server"), 3], tmp_path / "out",
                       driver=drive("echo", "echo", "echo"))
    assert_clean(run)
    assert run.report["summary"]["eof_seen"] >= 3, (
        f"the server read end-of-stream 3 times; summary.eof_seen says less{run.describe()}")


def test_no_finding_for_half_open_server_still_sending_after_eof(tool, tmp_path):
    run = sockleak_run([prog_path("neg_half_open")], tmp_path / "out", driver=drive("half"))
    answer = run.driver_result[0]
    assert answer.count(b"chunk ") == 15, (
        f"the client should get the whole answer after its half-close: {answer!r}{run.describe()}")
    assert_clean(run)
