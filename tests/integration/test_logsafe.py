"""The raw logs and the output directory trust nothing: a log is only ever
written into a file its process created (never through a link planted at
its predictable name, never appended to a file already there), logs are
0600 and the directories sockleak creates 0700 whatever the umask, `run`
as root never makes a world-writable directory, and a worker that drops
privileges still writes its log into a root-owned output directory.

Most tests need root (a privileged process is what a planted link or a
world-writable directory endangers, and only root can drop privileges)."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (DEADLINE_MS, LIB, TIMEOUT, TOOL, _kill_group, assert_leaks, expect_prog,
                      prog_path, run_report, server_conns_open, sockleak_run)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def preload_env(outdir):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
    env["LD_PRELOAD"] = str(LIB)
    env["SOCKLEAK_OPTIONS"] = f"output={outdir}:deadline_ms={DEADLINE_MS}"
    env["SOCKLEAK_TEST_DEADLINE_MS"] = str(DEADLINE_MS)
    return env


def run_with_link_at_log_name(out, target):
    """ls_planted with a symbolic link to target planted at its log's
    predictable name: (pid, exit status, stderr, the link)."""
    planted = {}

    def plant(pid):
        planted["link"] = out / f"ls_planted.{pid}.jsonl"
        planted["link"].symlink_to(target)

    pid, rc, _, serr = run_planted(out, plant)
    return pid, rc, serr, planted["link"]


def run_planted(outdir, plant, mode="wait", umask=None):
    """Runs `ls_planted MODE` with the library preloaded (logs in outdir);
    once it printed its pid, plant(pid) runs, then the program goes on and
    leaks. Returns (pid, exit status, stdout, stderr)."""
    proc = subprocess.Popen([str(prog_path("ls_planted")), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=preload_env(outdir), start_new_session=True,
                            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    try:
        first = proc.stdout.readline().decode()
        m = re.fullmatch(r"pid (\d+)\n", first)
        assert m, f"ls_planted printed {first!r}, not its pid"
        pid = int(m.group(1))
        plant(pid)
        out, err = proc.communicate(b"go\n", timeout=TIMEOUT)
    except BaseException:
        _kill_group(proc)
        proc.communicate(timeout=TIMEOUT)
        raise
    return pid, proc.returncode, first + out.decode(), err.decode()


def read_records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def logs_in(outdir):
    return sorted(p for p in Path(outdir).glob("*.jsonl") if not p.is_symlink())


def assert_leak_logged_elsewhere(outdir, pid, planted, what):
    """The finding is in a log of pid's own under a fresh name, not at the
    planted name; the report over outdir finds it."""
    logs = [p for p in logs_in(outdir) if p != planted]
    names = [p.name for p in logs]
    assert len(logs) == 1 and re.fullmatch(rf"ls_planted\.{pid}\.\d+\.jsonl", names[0]), (
        f"{what}: expected the log under a fresh name ls_planted.{pid}.N.jsonl, got {names}")
    recs = read_records(logs[0])
    assert recs[0]["t"] == "header" and recs[0]["pid"] == pid, recs[0]
    assert [r["kind"] for r in recs if r["t"] == "finding"] == ["close_wait"], recs
    assert recs[-1]["t"] == "footer", recs[-1]
    mode = stat.S_IMODE(logs[0].stat().st_mode)
    assert mode == 0o600, f"{logs[0].name} has mode {mode:o}, expected 600"
    rc, data, _, rerr = run_report(logs[0])
    assert rc == 0 and [(f["kind"], f["count"]) for f in data["findings"]] == [("close_wait", 1)], (
        f"report of {logs[0]}: {rerr}")


@needs_root
def test_symlink_to_existing_file_at_log_name_is_not_followed(tool, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    target = tmp_path / "precious"
    target.write_text("precious contents\n")
    target.chmod(0o644)
    before = target.stat()
    pid, rc, serr, planted = run_with_link_at_log_name(out, target)
    assert rc == 0, f"ls_planted exited {rc}: {serr}"
    assert target.read_text() == "precious contents\n", (
        f"the log was written through the link planted at its name into {target}:\n"
        f"{target.read_text()[:500]}")
    after = target.stat()
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
    assert planted.is_symlink(), "the planted link was replaced"
    assert_leak_logged_elsewhere(out, pid, planted, "link to an existing file")


@needs_root
def test_dangling_symlink_at_log_name_creates_nothing(tool, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "made-by-root"
    pid, rc, serr, planted = run_with_link_at_log_name(out, target)
    assert rc == 0, f"ls_planted exited {rc}: {serr}"
    assert not target.exists(), (
        f"a dangling link at the log's name made the process create {target}")
    assert planted.is_symlink()
    assert_leak_logged_elsewhere(out, pid, planted, "dangling link")


@needs_root
def test_existing_file_at_log_name_is_never_appended_to(tool, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    planted = {}

    def plant(pid):
        planted["file"] = out / f"ls_planted.{pid}.jsonl"
        planted["file"].write_text("somebody else's file\n")

    pid, rc, sout, serr = run_planted(out, plant)
    assert rc == 0, f"ls_planted exited {rc}: {serr}"
    assert planted["file"].read_text() == "somebody else's file\n", (
        "the log was appended to a file the process did not create:\n"
        f"{planted['file'].read_text()[:500]}")
    assert_leak_logged_elsewhere(out, pid, planted["file"], "existing file")


def test_exec_in_same_pid_makes_a_new_log(tool, tmp_path):
    """An image exec'd in the same pid under the same name does not append
    to the log of the image before it: a file of its own, one header each."""
    out = tmp_path / "out"
    pid, rc, sout, serr = run_planted(out, lambda pid: None, mode="exec")
    assert rc == 0, f"ls_planted exited {rc}: {serr}"
    logs = logs_in(out)
    headers = {p.name: [r["pid"] for r in read_records(p) if r["t"] == "header"] for p in logs}
    assert len(logs) == 2 and all(h == [pid] for h in headers.values()), (
        f"expected two logs of pid {pid} with one header each, got {headers}")
    assert logs[-1].name == f"ls_planted.{pid}.jsonl" or logs[0].name == f"ls_planted.{pid}.jsonl"
    rc, data, _, rerr = run_report(out)
    assert [(f["kind"], f["count"]) for f in data["findings"]] == [("close_wait", 1)], rerr
    assert data["summary"]["processes"] == 2, data["summary"]


def test_modes_under_umask_zero(tool, tmp_path):
    """Directories the library creates are 0700 and logs 0600, even with
    umask 0: a log holds the program's command line."""
    out = tmp_path / "a" / "b" / "out"
    pid, rc, sout, serr = run_planted(out, lambda pid: None, umask=0)
    assert rc == 0, f"ls_planted exited {rc}: {serr}"
    modes = {str(d.relative_to(tmp_path)): stat.S_IMODE(d.stat().st_mode)
             for d in (tmp_path / "a", tmp_path / "a" / "b", out)}
    assert all(m == 0o700 for m in modes.values()), (
        "directories made by the library: " + ", ".join(f"{k} {m:o}" for k, m in modes.items()))
    logs = logs_in(out)
    assert logs, f"no log in {out}: {serr}"
    for log in logs:
        m = stat.S_IMODE(log.stat().st_mode)
        assert m == 0o600, f"{log.name} has mode {m:o}, expected 600"


@needs_root
def test_run_as_root_never_makes_a_world_writable_directory(tool, tmp_path):
    """`sockleak run` as root, umask 0, new output directory: it and the
    run's own marker directory inside it are 0700 while the program runs."""
    out = tmp_path / "new" / "out"
    script = 'stat -c "%a %n" "$1" "$1"/.*.loaded'
    p = subprocess.run([str(TOOL), "run", "--output", str(out), "--", "/bin/sh", "-c", script,
                        "sh", str(out)], capture_output=True, text=True, timeout=TIMEOUT,
                       preexec_fn=lambda: os.umask(0))
    seen = dict(line.split(" ", 1)[::-1] for line in p.stdout.splitlines())
    assert len(seen) == 2, f"stat printed {p.stdout!r}; stderr {p.stderr!r}"
    for d in (tmp_path / "new", out):
        seen[str(d) + " (after)"] = f"{stat.S_IMODE(d.stat().st_mode):o}"
    assert all(m == "700" for m in seen.values()), f"modes: {seen}"


def drop_privs_env():
    return {"SOCKLEAK_TEST_DEADLINE_MS": str(DEADLINE_MS)}


@needs_root
def test_privilege_dropping_worker_logs_into_root_owned_directory(tool, tmp_path):
    """The worker sets its uid to nobody before it reads end-of-stream; the
    output directory exists already, root's, 0700: the worker's log is made
    while it is still root and its finding is reported."""
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    run = sockleak_run([prog_path("pos_drop_privs")], out)
    assert_leaks(run, expect_prog("pos_drop_privs", "close_wait", 1, open_site=False,
                                  function_eof="worker"))
    for log in logs_in(out):
        st = log.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), (
            f"{log.name}: uid {st.st_uid} mode {stat.S_IMODE(st.st_mode):o}, expected root 600")
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


# -------------------------------------------------------------------- nginx

def children_of(pid):
    kids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(d.name))
    return kids


def keepalive_then_close(port, requests=3):
    """One keep-alive connection with several requests, then the client
    hangs up: the worker reads end-of-stream on it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(requests):
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"hello\n"):
                chunk = s.recv(4096)
                assert chunk, f"nginx closed the keep-alive connection: {got!r}"
                got += chunk


@needs_root
def test_nginx_workers_as_nobody_log_into_root_owned_directory(tool, tmp_path):
    """nginx as root with `user nobody;` and two workers, under `sockleak
    run` with a pre-made root-owned output directory: every worker leaves a
    log (made before it dropped privileges), root's, 0600, with a footer;
    the workers saw the clients' end-of-stream."""
    from test_real_programs import (NGINX_CONF, free_port, nginx_setup, tails,
                                    wait_listening)
    port = free_port()
    argv, d = nginx_setup(tmp_path, port)
    conf = NGINX_CONF.format(dir=d, port=port, user="nobody nogroup")
    (d / "nginx.conf").write_text(conf.replace("worker_processes 1;", "worker_processes 2;"))
    out = tmp_path / "nginx-out"
    out.mkdir(mode=0o700)
    cmd = [str(TOOL), "run", "--deadline", "300", "--output", str(out), "--format", "json",
           "--", *argv]
    logs = (tmp_path / "nginx.stderr", d / "error.log")
    with open(logs[0], "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
    try:
        wait_listening(proc, port, "nginx", logs)
        conns = 20
        for _ in range(conns):
            keepalive_then_close(port)

        def settled():
            """(masters, workers, {worker: uid}) once the workers closed
            every connection and both run as nobody; None before."""
            masters = children_of(proc.pid)
            workers = children_of(masters[0]) if len(masters) == 1 else []
            try:
                users = {w: Path(f"/proc/{w}/status").read_text().split("Uid:")[1].split()[1]
                         for w in workers}
            except OSError:  # a worker gone: the checks below tell
                users = {}
            state = (masters, workers, users)
            if (len(workers) == 2 and set(users.values()) == {"65534"}
                    and not server_conns_open(port)):
                return state
            return None if time.monotonic() < end else state

        # Until the workers closed every connection (they read its
        # end-of-stream) and both dropped to nobody; the checks below say
        # what is wrong when that does not come.
        end = time.monotonic() + TIMEOUT
        while (state := settled()) is None:
            time.sleep(0.05)
        masters, workers, users = state
        assert len(masters) == 1, f"expected nginx's master under the tool: {masters}"
        assert len(workers) == 2, f"expected two workers of {masters[0]}: {workers}"
        proc.send_signal(signal.SIGQUIT)
        proc.wait(TIMEOUT)
    except BaseException:
        _kill_group(proc)
        proc.wait(TIMEOUT)
        raise
    assert set(users.values()) == {"65534"}, f"workers' effective uids: {users}"
    found, eof = {}, 0
    for log in logs_in(out):
        recs = read_records(log)
        st = log.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), (
            f"{log.name}: uid {st.st_uid} mode {stat.S_IMODE(st.st_mode):o}")
        found[recs[0]["pid"]] = recs
    missing = [w for w in workers if w not in found]
    assert not missing, (f"no log for worker(s) {missing}; logs of {sorted(found)}:"
                         f"{tails(logs)}")
    for w in workers:
        assert found[w][-1]["t"] == "footer", f"worker {w}'s log has no footer: {found[w]}"
        eof += found[w][-1]["eof_seen"]
    assert eof >= conns, f"workers saw {eof} end-of-stream reads, expected {conns} at least"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    err = (d / "error.log").read_text(errors="replace")
    assert "[alert]" not in err and "[emerg]" not in err and "sockleak" not in err, err[-3000:]
