"""`sockleak run` must never say "no leaks" when it watched nothing, must
put a sanitizer runtime the program needs ahead of the library, and must wait
for every descendant, not only the program it started.

What these tests rely on, measured on the run itself: the run's own JSON
report (the last JSON object on its stderr), its exit status and its stderr
lines. Programs that cannot be watched get the library loaded nowhere, so
`sockleak report` of the output directory would show an empty report either
way: only the run can tell.

No Go or musl toolchain is installed on the build machines: rw_gofake and
rw_muslfake are glibc programs marked like a Go binary (a .go.buildinfo
section) and a musl program (an ld-musl-* interpreter, a link to glibc's
loader). They test the detection, not Go or musl themselves.
"""
import json
import re
import os
import shutil
import signal
import subprocess

import pytest

from conftest import (ERROR_EXIT, TIMEOUT, TOOL, assert_leaks, expect_prog, prog_path,
                      sockleak_run, wait_until)


def run_json(run):
    """The JSON report `sockleak run --format json` printed last on stderr."""
    i = run.stderr.rfind('{\n  "version"')
    assert i >= 0, f"no JSON report on the run's stderr{run.describe()}"
    return json.JSONDecoder().raw_decode(run.stderr[i:])[0]


def assert_unwatched(run, status, reason_word):
    """The run says, in one stderr line and in its JSON, that it watched
    nothing, naming reason_word; the program's exit status is unchanged."""
    rep = run_json(run)
    assert run.rc == status, f"expected the program's status {status}{run.describe()}"
    assert rep["summary"].get("watched") is False, (
        f"summary.watched must be false{run.describe()}\nrun JSON: {rep}")
    reasons = " ".join(f"{u.get('program')}: {u.get('reason')}" for u in rep.get("unwatched", []))
    assert reason_word.lower() in reasons.lower(), (
        f"unwatched[] should name {reason_word!r}: {rep.get('unwatched')}"
        f"{run.describe()}")
    lines = [ln for ln in run.stderr.splitlines()
             if ln.startswith("sockleak:") and "nothing was watched" in ln]
    assert len(lines) == 1, f"expected one 'nothing was watched' line{run.describe()}"
    assert reason_word.lower() in lines[0].lower(), f"the line should say why: {lines[0]!r}"


def text_summary(tool_args, argv, tmp_path, env=None):
    """The SUMMARY line of a text report of `sockleak run`."""
    p = subprocess.run([str(TOOL), "run", "--output", str(tmp_path / "text-out"), *tool_args,
                        "--", *map(str, argv)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT, env=dict(os.environ, **(env or {})))
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("SUMMARY:")]
    assert len(lines) == 1, f"no SUMMARY line: {p.stderr!r}"
    return lines[0]


# ------------------------------------------------------- nothing watched

def test_static_program_is_reported_unwatched(tool, tmp_path, banner_server):
    # It leaks a socket; the library cannot see it: "no leaks" would be a lie.
    run = sockleak_run([prog_path("rw_static"), banner_server.port], tmp_path / "out",
                       read_report=False)
    assert_unwatched(run, 0, "statically linked")
    summary = text_summary([], [prog_path("rw_static"), banner_server.port], tmp_path,
                           env={"SOCKLEAK_TEST_DEADLINE_MS": "50"})
    assert "no leaks" not in summary and "nothing was watched" in summary, summary


def test_go_binary_is_reported_unwatched(tool, tmp_path):
    # Dynamically linked and loading the library, yet Go makes raw syscalls.
    run = sockleak_run([prog_path("rw_gofake"), 4], tmp_path / "out", read_report=False)
    assert_unwatched(run, 4, "Go")


def test_musl_program_is_reported_unwatched(tool, tmp_path):
    run = sockleak_run([prog_path("rw_muslfake"), 5], tmp_path / "out", read_report=False)
    assert_unwatched(run, 5, "musl")


def test_setuid_program_is_reported_unwatched(tool, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a set-user-ID program of another user needs root")
    copy = tmp_path / "rw_exit_setuid"
    shutil.copy(prog_path("rw_exit"), copy)
    os.chown(copy, 65534, 65534)
    os.chmod(copy, 0o4755)
    run = sockleak_run([copy, 6], tmp_path / "out", read_report=False)
    assert_unwatched(run, 6, "set-user-ID")


def test_preload_stripped_is_reported_unwatched(tool, tmp_path):
    # env loads the library, then runs the program without LD_PRELOAD.
    run = sockleak_run(["env", "-u", "LD_PRELOAD", prog_path("rw_exit"), 7], tmp_path / "out",
                       read_report=False)
    assert_unwatched(run, 7, "rw_exit")


def test_script_exec_chain_ending_static_is_reported_unwatched(tool, tmp_path, banner_server):
    script = tmp_path / "chain.sh"
    script.write_text(f"#!/bin/sh\nexec {prog_path('rw_static')} \"$@\"\n")
    script.chmod(0o755)
    run = sockleak_run([script, banner_server.port], tmp_path / "out", read_report=False)
    assert_unwatched(run, 0, "rw_static")


def test_watched_program_without_sockets_is_a_genuine_no_leaks(tool, tmp_path):
    run = sockleak_run([prog_path("rw_exit"), 3], tmp_path / "out")
    rep = run_json(run)
    assert run.rc == 3, run.describe()
    assert rep["summary"].get("watched") is True, f"summary.watched must be true: {rep}"
    assert rep.get("unwatched") == [], f"nothing is unwatched: {rep}"
    assert "nothing was watched" not in run.stderr and "not loaded" not in run.stderr, (
        run.describe())
    # The marker of the library's load is no log: the output directory's
    # report stays an ordinary, empty one.
    assert run.report["summary"]["processes"] == 0, run.describe()
    summary = text_summary([], [prog_path("rw_exit"), 3], tmp_path)
    assert "no leaks" in summary, summary


def test_watched_descendant_keeps_the_run_watched(tool, tmp_path):
    # A static program starting a dynamic one: the child was watched.
    run = sockleak_run(["sh", "-c", f"{prog_path('rw_exit')} 0; exit 2"], tmp_path / "out",
                       read_report=False)
    rep = run_json(run)
    assert run.rc == 2 and rep["summary"].get("watched") is True, run.describe()


# ------------------------------------------------------------ sanitizers

def test_asan_program_runs_and_its_leak_is_found(tool, tmp_path, banner_server):
    run = sockleak_run([prog_path("rw_asan_client"), banner_server.port], tmp_path / "out",
                       tool_args=["--verbosity", "1"])
    assert "does not come first" not in run.stderr, run.describe()
    lines = [ln for ln in run.stderr.splitlines()
             if ln.startswith("sockleak: preloading ") and "libasan.so" in ln
             and "AddressSanitizer" in ln]
    assert len(lines) == 1, f"expected one line naming the ASan runtime{run.describe()}"
    # The leak's call sites are pos_client_banner.c's, which rw_asan_client includes.
    assert_leaks(run, expect_prog("pos_client_banner", "close_wait", 1,
                                  function_eof="main", function_open="main"))


# ----------------------------------------------------------- descendants

def background_client(port):
    """A shell that starts a leaky client in the background and exits 5 at
    once: the client starts only once the shell is gone (reaped; at most
    about 30 s of polling), so the finding lands after it."""
    wait_gone = ('i=0; while kill -0 $$ 2>/dev/null && [ $i -lt 600 ]; do sleep 0.05;'
                 ' i=$((i+1)); done')
    return ["sh", "-c",
            f"({wait_gone}; exec {prog_path('pos_client_banner')} {port}) & exit 5"]


def finished_log(outdir, program):
    """A log of program in outdir that ends with its footer (the process
    exited normally), or None."""
    for path in sorted(outdir.glob(f"{program}.*.jsonl")):
        lines = path.read_text(errors="replace").splitlines()
        if lines and '"t":"footer"' in lines[-1]:
            return path
    return None


def children(pid):
    """(pid, comm) of pid's children, zombies included."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        return []
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/comm") as f:
                out.append((k, f.read().strip()))
        except OSError:
            pass
    return out


def test_run_waits_for_background_descendants(tool, tmp_path, banner_server):
    run = sockleak_run(background_client(banner_server.port), tmp_path / "out")
    rep = run_json(run)
    kinds = [(f["kind"], f["count"]) for f in rep["findings"]]
    assert kinds == [("close_wait", 1)], f"the run's own report missed the leak{run.describe()}"
    assert run.rc == ERROR_EXIT, run.describe()
    lines = [ln for ln in run.stderr.splitlines()
             if ln.startswith("sockleak: waited for 1 descendant")]
    assert len(lines) == 1, f"expected one line counting the descendants{run.describe()}"


def test_no_wait_descendants_reports_at_once_with_the_childs_status(tool, tmp_path,
                                                                   banner_server):
    run = sockleak_run(background_client(banner_server.port), tmp_path / "out",
                       tool_args=["--no-wait-descendants"], read_report=False)
    rep = run_json(run)
    assert run.rc == 5 and rep["findings"] == [], run.describe()
    assert "descendant" not in run.stderr, run.describe()
    # The orphan, still watched, finishes on its own: its log ends with a
    # footer. Only then may the banner server go.
    wait_until("the orphaned client's log with its footer",
               lambda: finished_log(tmp_path / "out", "pos_client_banner"))
    helptext = subprocess.run([str(TOOL), "run", "--help"], capture_output=True, text=True,
                              timeout=TIMEOUT).stdout
    assert "--no-wait-descendants" in helptext, helptext


def test_signal_while_waiting_for_descendants_stops_the_wait(tool, tmp_path):
    # Not pipes: the orphaned sleep would hold them open after the run ends.
    errfile = tmp_path / "stderr"
    with open(errfile, "w") as errf:
        proc = subprocess.Popen([str(TOOL), "run", "--output", str(tmp_path / "out"), "--",
                                 "sh", "-c", "sleep 20 & exit 9"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
    try:
        # The shell is gone (reaped) and its orphaned sleep adopted by the run
        # (its subreaper): the run is now waiting for a descendant.
        kids = wait_until("the shell gone and its background sleep adopted by the run",
                          lambda: proc.poll() is not None or (
                              [c for _, c in children(proc.pid)] == ["sleep"]))
        assert proc.poll() is None, (f"the run should still wait for the background sleep"
                                     f" (children seen: {kids})")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        err = errfile.read_text()
    except subprocess.TimeoutExpired:
        pytest.fail("SIGTERM did not end the wait for descendants within 10 s")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned sleep
        except ProcessLookupError:
            pass
    assert proc.returncode == 9, f"the direct child's status, not {proc.returncode}: {err}"
    assert "still running" in err and "SUMMARY:" in err, err


# ------------------------------------------- processes without their footer

def test_a_killed_process_is_no_clean_zero(tool, tmp_path):
    """A process killed by a signal's default action writes no footer, so
    its socket counts are unknown: the report says so, names the process and
    (from `run`) the signal, and never prints a clean "0 sockets"."""
    run = sockleak_run([prog_path("rw_killed"), 20, "signal"], tmp_path / "out")
    assert run.rc == 128 + signal.SIGTERM, run.describe()
    rep = run.report
    assert rep["summary"]["incomplete"] == 1, run.describe()
    [inc] = rep["incomplete"]
    assert inc["program"] == "rw_killed" and inc["pid"] > 0 and not inc["running"], inc
    # `sockleak report` reads the logs afterwards: it cannot know the signal.
    assert "signal" not in inc, inc
    # `run` saw the signal: its own JSON report names it.
    p = subprocess.run([str(tool), "run", "--output", str(tmp_path / "out2"), "--format", "json",
                        "--", str(prog_path("rw_killed")), "20", "signal"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    report = json.loads(p.stderr[p.stderr.index("{"):])
    [inc] = report["incomplete"]
    assert (inc["signal"], inc["signal_number"]) == ("SIGTERM", signal.SIGTERM), report
    # Text: "at least", and the line that names the process and the signal.
    p = subprocess.run([str(tool), "run", "--output", str(tmp_path / "out3"), "--",
                        str(prog_path("rw_killed")), "20", "signal"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert re.search(r"1 process ended without its log's footer: rw_killed \(pid \d+, killed by"
                     r" SIGTERM\)", p.stderr), p.stderr
    summary = [l for l in p.stderr.splitlines() if l.startswith("SUMMARY")]
    assert summary and "at least" in summary[0] and " 0 sockets" not in summary[0].replace(
        "at least 0 sockets", ""), p.stderr


def test_a_raw_exit_is_incomplete_in_every_format(tool, tmp_path):
    """exit_group through an inline system call runs no exit handler: the
    same, in the text, JSON and SARIF reports of `sockleak report`."""
    run = sockleak_run([prog_path("rw_killed"), 5, "rawexit"], tmp_path / "out")
    assert run.rc == 0, run.describe()
    assert run.report["summary"]["incomplete"] == 1, run.describe()
    assert run.report["incomplete"][0]["reason"].startswith("killed, ended by a raw _exit")
    p = subprocess.run([str(tool), "report", "--format", "sarif", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    props = json.loads(p.stdout)["runs"][0]["properties"]
    assert props["incomplete"] == 1 and props["incomplete_processes"][0]["program"] == "rw_killed"
    p = subprocess.run([str(tool), "report", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert "at least" in p.stdout and "ended without its footer" in p.stdout, p.stdout


def test_a_clean_exit_is_complete(tool, tmp_path):
    """The same program ending normally: no incomplete process, no "at least"."""
    run = sockleak_run([prog_path("rw_killed"), 20, "exit"], tmp_path / "out")
    assert run.rc == 0, run.describe()
    assert run.report["summary"]["incomplete"] == 0 and run.report["incomplete"] == []
    assert run.report["summary"]["sockets"] == 60, run.describe()
    p = subprocess.run([str(tool), "report", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert "at least" not in p.stdout and "footer" not in p.stdout, p.stdout


def test_a_killed_process_keeps_the_counts_it_had(tool, tmp_path):
    """The library writes its counts so far after each sweep: a server
    killed after 20 connections (60 sockets: listener, client, accepted)
    reads "at least 60 sockets", not 0."""
    out = tmp_path / "out"
    run = sockleak_run([prog_path("rw_killed"), 20, "signal", out], out)
    assert run.rc == 128 + signal.SIGTERM, run.describe()
    s = run.report["summary"]
    assert s["incomplete"] == 1 and s["sockets"] >= 60 and s["eof_seen"] >= 20, run.describe()
