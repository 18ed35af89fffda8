"""The library costs nothing to processes that never read end-of-stream on a
socket: no log file, no thread. Under `sockleak run -- make test` hundreds of
processes must not each leave a file behind."""
import json
import os
import subprocess

from conftest import LIB, PYTHON, TIMEOUT, need_file, sockleak_run

TASKS = "import os; print(len(os.listdir('/proc/self/task')))"


def _preloaded(code, outdir, options=""):
    need_file(LIB, "make build/libsockleak.so")
    env = dict(os.environ, LD_PRELOAD=str(LIB),
               SOCKLEAK_OPTIONS=f"deadline_ms=200:output={outdir}{options}")
    r = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_processes_without_sockets_leave_no_file(tmp_path):
    out = tmp_path / "out"
    script = "for i in 1 2 3 4 5; do ls / >/dev/null; cat /etc/hostname >/dev/null; done"
    run = sockleak_run(["/bin/sh", "-c", script], out)
    assert run.rc == 0, run.stderr
    assert not out.exists() or list(out.iterdir()) == [], list(out.iterdir())


def test_socket_without_eof_starts_no_thread_and_no_file(tmp_path):
    out = tmp_path / "out"
    code = ("import socket\na, b = socket.socketpair()\na.send(b'x'); b.recv(1)\n" + TASKS)
    assert _preloaded(code, out) == "1"
    assert not out.exists() or list(out.iterdir()) == []


def test_eof_starts_the_deadline_thread_with_thread_1(tmp_path):
    # The other side of the test above: with thread=1 the thread does start
    # at the first work (an end-of-stream), so counting tasks really tells.
    # By default a single-threaded program keeps its one thread: its
    # blocking reads are capped on its own thread.
    code = ("import socket\na, b = socket.socketpair()\nb.close(); a.recv(10)\n" + TASKS
            + "\na.close()")
    assert _preloaded(code, tmp_path / "out", ":thread=1") == "2"
    assert _preloaded(code, tmp_path / "out2") == "1"


def test_correct_program_that_read_eof_logs_counts_but_no_finding(tmp_path):
    out = tmp_path / "out"
    code = ("import socket\nfor i in range(3):\n    a, b = socket.socketpair()\n"
            "    b.close(); a.recv(10); a.close()\n")
    _preloaded(code, out)
    files = list(out.iterdir())
    assert len(files) == 1, files
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    kinds = [r["t"] for r in records]
    assert kinds[0] == "header" and kinds[-1] == "footer", kinds
    assert "finding" not in kinds, records
    assert records[-1]["eof_seen"] == 3, records[-1]
    assert records[-1]["findings"] == 0, records[-1]
