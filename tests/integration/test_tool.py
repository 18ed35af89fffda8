"""The command line of `sockleak run` and `sockleak report`: usage errors,
exit statuses, signals, damaged logs."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (ERROR_EXIT, TIMEOUT, TOOL, prog_path, run_report, sockleak_run,
                      wait_until)


def sockleak(*args, timeout=TIMEOUT, **kw):
    try:
        return subprocess.run([str(TOOL), *map(str, args)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sockleak {' '.join(map(str, args))} did not finish within {timeout} s",
                    pytrace=False)


@pytest.mark.parametrize("args", [
    ["run", "--no-such-option", "--", "true"],
    ["run", "--deadline", "soon", "--", "true"],
    ["run", "--format", "xml", "--", "true"],
    ["run"],
    ["no-such-command"],
], ids=["unknown-option", "bad-deadline", "bad-format", "no-program", "unknown-command"])
def test_run_usage_error_exits_2_with_message(tool, tmp_path, args):
    p = sockleak(*args, cwd=tmp_path)
    assert p.returncode == 2, f"sockleak {args}: exit {p.returncode}, stderr {p.stderr!r}"
    assert p.stderr.strip(), f"sockleak {args}: exit 2 without a message"


def test_report_missing_path_exits_2(tool, tmp_path):
    p = sockleak("report", tmp_path / "does-not-exist")
    assert p.returncode == 2, f"exit {p.returncode}, stderr {p.stderr!r}"
    assert "does-not-exist" in p.stderr, f"the message should name the path: {p.stderr!r}"


def test_report_bad_format_exits_2(tool, tmp_path):
    p = sockleak("report", "--format", "yaml", tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, stderr {p.stderr!r}"


def test_truncated_log_still_reports_with_warning(tool, tmp_path):
    run = sockleak_run([prog_path("pos_many_one_site"), 3], tmp_path / "out")
    logs = sorted((tmp_path / "out").glob("*.jsonl"))
    assert len(logs) == 1, f"expected one raw log, got {logs}{run.describe()}"
    cut = tmp_path / "cut"
    cut.mkdir()
    data = logs[0].read_bytes()
    lines = data.rstrip(b"\n").split(b"\n")
    last = lines[-1]
    assert json.loads(last)["t"] in ("footer", "finding", "closed"), f"last line: {last!r}"
    damaged = b"\n".join(lines[:-1]) + b"\n" + last[:len(last) // 2]
    (cut / logs[0].name).write_bytes(damaged)
    rc, rep, _, err = run_report(cut)
    assert rc == 0 and rep is not None, f"report on a truncated log: exit {rc}, stderr {err!r}"
    assert err.strip(), "a truncated last line must give a warning on stderr"
    kinds = [(f["kind"], f["count"]) for f in rep["findings"]]
    if json.loads(last)["t"] == "footer":
        assert kinds == [("close_wait", 3)], f"the findings before the cut are lost: {rep}"
    else:
        assert kinds, f"the findings before the cut are lost: {rep}"


def test_report_error_exitcode_when_findings(tool, tmp_path):
    sockleak_run([prog_path("pos_many_one_site"), 1], tmp_path / "out")
    p = sockleak("report", "--error-exitcode", 5, tmp_path / "out")
    assert p.returncode == 5, f"exit {p.returncode}, stderr {p.stderr!r}"
    assert p.stdout.strip() or p.stderr.strip(), "the text report is missing"


def test_run_passes_program_exit_status_through(tool, tmp_path):
    run = sockleak_run(["sh", "-c", "echo out; exit 3"], tmp_path / "out")
    assert run.rc == 3, run.describe()
    assert run.stdout == "out\n", run.describe()
    assert run.findings == [], run.describe()


def test_run_program_killed_by_sigterm_exits_143(tool, tmp_path):
    run = sockleak_run(["sh", "-c", "kill -TERM $$; sleep 5"], tmp_path / "out")
    assert run.rc == 128 + signal.SIGTERM, run.describe()


def _child_runs(pid, comm):
    """Whether a child of pid has comm as its name."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
    except OSError:
        return False
    for k in kids:
        try:
            with open(f"/proc/{k}/comm") as f:
                if f.read().strip() == comm:
                    return True
        except OSError:
            pass
    return False


def test_run_forwards_sigterm_to_program(tool, tmp_path):
    proc = subprocess.Popen([str(TOOL), "run", "--output", str(tmp_path / "out"), "--",
                             "sleep", "20"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        # The program runs: the run's child is sleep (exec'd), so the run has
        # its child's pid and forwards what it gets.
        wait_until("sockleak run's child running sleep", lambda: _child_runs(proc.pid, "sleep"))
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("SIGTERM to sockleak run did not end the program within 10 s")
    assert proc.returncode == 128 + signal.SIGTERM, f"exit {proc.returncode}"
    assert time.monotonic() - start < 5


def test_run_missing_program_exits_127(tool, tmp_path):
    p = sockleak("run", "--output", tmp_path / "out", "--", "/nonexistent/program")
    assert p.returncode == 127, f"exit {p.returncode}, stderr {p.stderr!r}"
    assert "/nonexistent/program" in p.stderr, f"message should name it: {p.stderr!r}"


def test_run_error_exitcode_only_when_leaks(tool, tmp_path):
    run = sockleak_run(["true"], tmp_path / "out")
    assert run.rc == 0, run.describe()
    run = sockleak_run([prog_path("pos_many_one_site"), 1], tmp_path / "out2")
    assert run.rc == ERROR_EXIT, run.describe()


def test_run_text_report_on_stderr(tool, tmp_path):
    p = subprocess.run([str(TOOL), "run", "--deadline", "200", "--output", str(tmp_path / "o"),
                        "--", str(prog_path("pos_many_one_site")), "2"],
                       env=dict(os.environ, SOCKLEAK_TEST_DEADLINE_MS="200"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"without --error-exitcode the program's status: {p.returncode}"
    assert p.stdout == "2 leaked\n", f"stdout is the program's only: {p.stdout!r}"
    assert "drain" in p.stderr and "pos_many_one_site.c" in p.stderr, (
        f"the text report should name the function and file:\n{p.stderr}")


@pytest.mark.skipif(shutil.which("nm") is None, reason="nm not installed")
def test_library_exports_only_hooks_and_api(lib):
    syms = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True,
                          text=True, timeout=TIMEOUT).stdout.split("\n")
    internal = [s for s in syms if s.split(" ")[-1].startswith("sl_")]
    assert not internal, f"internal symbols exported: {internal}"
