"""`sockleak report` on logs nobody vouches for: trees gathered from many jobs
and machines, some written by other users, some damaged or crafted. The
report must finish, stay small, keep each process's suppressions to that
process, never copy a file named in a log into its output, and always print
valid UTF-8 JSON and SARIF and a text report without raw control characters.

Every log here is written by the test itself (no program runs), so each case
is exactly the hostile input it names."""
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, TIMEOUT, TOOL, need_file

INT64_MAX = 2**63 - 1
SARIF_TOOL = (REPO / "tests" / "tools" / "sarif" / "node_modules" / ".bin" / "sarif-multitool")
NOBODY = 65534


def header(pid, program="server", **extra):
    rec = {"t": "header", "version": 1, "pid": pid, "ppid": 1, "program": program,
           "exe": f"/opt/sockleak-test/{program}", "argv": [program],
           "start_unix_ms": 1764000000000, "run_id": "", "deadline_ms": 5000, "frames": 32}
    rec.update(extra)
    return rec


def module(mid=0, path="/opt/sockleak-test/server"):
    return {"t": "module", "id": mid, "path": path, "build_id": "", "base": 93824992231424}


def finding(fid=1, mid=0, off=0x1a2b, **extra):
    rec = {"t": "finding", "id": fid, "kind": "close_wait", "fd": 7, "family": "inet",
           "local": "127.0.0.1:8080", "peer": "127.0.0.1:53122", "inode": 123,
           "tcp_state": "CLOSE_WAIT", "eof_unix_ms": 1764000001000, "held_ms": 5003,
           "eof_stack": [[mid, off]], "open_stack": [[mid, off - 0x40]]}
    rec.update(extra)
    return rec


def footer(**extra):
    rec = {"t": "footer", "sockets": 1, "eof_seen": 1, "findings": 1,
           "end_unix_ms": 1764000009000}
    rec.update(extra)
    return rec


def write_log(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def simple_log(path, pid, program="server", **hdr):
    return write_log(path, [header(pid, program, **hdr), module(), finding(), footer()])


def report(*args, cwd=None, mem_mb=1024, timeout=TIMEOUT):
    """Runs `sockleak report ARGS` under an address-space limit; returns
    (rc, stdout bytes, stderr text, peak RSS in MB). A hang fails the test."""
    need_file(TOOL, "make build/sockleak")

    def limit():
        lim = mem_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    outf = tempfile.TemporaryFile()
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen([str(TOOL), "report", *map(str, args)], cwd=cwd,
                         stdin=subprocess.DEVNULL, stdout=outf, stderr=errf, preexec_fn=limit)
    # wait4, not communicate: the peak RSS of this child alone.
    end = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            p.kill()
            os.wait4(p.pid, 0)
            pytest.fail(f"sockleak report {' '.join(map(str, args))} did not finish within "
                        f"{timeout} s", pytrace=False)
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    outf.seek(0)
    errf.seek(0)
    return (p.returncode, outf.read(), errf.read().decode("utf-8", "replace"),
            usage.ru_maxrss / 1024)


def json_report(*args, **kw):
    rc, out, err, rss = report("--format", "json", *args, **kw)
    try:
        data = json.loads(out.decode("utf-8"))  # strict: invalid UTF-8 fails
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        pytest.fail(f"invalid JSON report ({e}): {out[:2000]!r}\nstderr: {err}", pytrace=False)
    return rc, data, err


def sarif_report(*args, **kw):
    rc, out, err, _ = report("--format", "sarif", *args, **kw)
    try:
        data = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        pytest.fail(f"invalid SARIF report ({e}): {out[:2000]!r}\nstderr: {err}", pytrace=False)
    return rc, data, out, err


# ------------------------------------------------ suppressions from headers

def test_header_suppressions_apply_only_to_their_own_process(tmp_path):
    supp = tmp_path / "all.supp"
    supp.write_text("*:*\n")
    logs = tmp_path / "logs"
    simple_log(logs / "quiet.1.jsonl", 1, "quiet", suppressions=str(supp))
    simple_log(logs / "loud.2.jsonl", 2, "loud")
    rc, data, err = json_report("--error-exitcode", "23", logs)
    assert data["summary"]["leaks"] == 1, data
    assert data["summary"]["suppressed"] == 1, data
    assert [f["programs"] for f in data["findings"]] == [["loud"]], data
    assert rc == 23, f"a leak remains, yet exit {rc}: {err}"


def test_header_suppressions_of_a_log_owned_by_another_user_are_ignored(tmp_path):
    supp = tmp_path / "all.supp"
    supp.write_text("*:*\n")
    log = simple_log(tmp_path / "logs" / "quiet.1.jsonl", 1, "quiet", suppressions=str(supp))
    os.chown(log, NOBODY, NOBODY)
    if os.geteuid() == NOBODY:
        pytest.skip("runs as the user the log is given to")
    rc, data, err = json_report("--error-exitcode", "23", log)
    assert data["summary"]["leaks"] == 1, data
    assert rc == 23, err
    assert "suppressions" in err and str(log) in err, \
        f"ignoring a header's suppressions must be said, naming the log: {err!r}"


def test_relative_header_suppressions_are_not_looked_up_in_the_readers_directory(tmp_path):
    (tmp_path / "all.supp").write_text("*:*\n")
    log = simple_log(tmp_path / "logs" / "a.1.jsonl", 1, suppressions="all.supp")
    rc, data, err = json_report("--error-exitcode", "23", log, cwd=tmp_path)
    assert data["summary"]["leaks"] == 1, data
    assert rc == 23, err


SECRET = "root:$y$j9T$SECRETSALT$SECRETHASH:19000:0:99999:7:::\n" \
         "daemon:SECRETLINE:19000:0:99999:7:::\nnot a rule SECRETWORD\n"


@pytest.mark.parametrize("fmt", ["json", "sarif", "text"])
def test_header_suppressions_never_copy_the_file_into_the_report(tmp_path, fmt):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    log = simple_log(tmp_path / "logs" / "a.1.jsonl", 1, suppressions=str(secret))
    rc, out, err, _ = report("--format", fmt, log)
    assert b"SECRET" not in out, f"the file's lines reached the report: {out[:3000]!r}"
    assert "SECRET" not in err, f"the file's lines reached stderr: {err!r}"


# ------------------------------------------------ what gets opened

def test_fifo_log_in_a_directory_is_skipped(tmp_path):
    logs = tmp_path / "logs"
    simple_log(logs / "a.1.jsonl", 1)
    os.mkfifo(logs / "b.2.jsonl")
    rc, data, err = json_report(logs, timeout=15)
    assert rc == 0, err
    assert data["summary"]["processes"] == 1, data
    assert "b.2.jsonl" in err, f"a skipped entry must be named: {err!r}"


def test_fifo_log_on_the_command_line_is_refused(tmp_path):
    os.mkfifo(tmp_path / "a.jsonl")
    rc, out, err, _ = report(tmp_path / "a.jsonl", timeout=15)
    assert rc == 2, err
    assert "a.jsonl" in err and "regular" in err, err


def test_fifo_module_does_not_hang(tmp_path):
    fifo = tmp_path / "libfifo.so"
    os.mkfifo(fifo)
    log = write_log(tmp_path / "logs" / "a.1.jsonl",
                    [header(1), module(0, str(fifo)), finding(), footer()])
    rc, data, err = json_report(log, timeout=15)
    assert rc == 0, err
    assert data["findings"][0]["eof_stack"][0]["module"] == str(fifo), data


def test_fifo_suppressions_on_the_command_line_are_refused(tmp_path):
    fifo = tmp_path / "supp"
    os.mkfifo(fifo)
    log = simple_log(tmp_path / "a.1.jsonl", 1)
    rc, out, err, _ = report("--suppressions", fifo, log, timeout=15)
    assert rc == 2, err
    assert "regular" in err, err


def test_fifo_suppressions_in_a_header_do_not_hang(tmp_path):
    fifo = tmp_path / "supp"
    os.mkfifo(fifo)
    log = simple_log(tmp_path / "a.1.jsonl", 1, suppressions=str(fifo))
    rc, data, err = json_report("--error-exitcode", "23", log, timeout=15)
    assert rc == 23 and data["summary"]["leaks"] == 1, (rc, data, err)


@pytest.mark.parametrize("where", ["command-line", "header"])
def test_dev_zero_suppressions_stay_small(tmp_path, where):
    if where == "header":
        log = simple_log(tmp_path / "a.1.jsonl", 1, suppressions="/dev/zero")
        args = [log]
    else:
        args = ["--suppressions", "/dev/zero", simple_log(tmp_path / "a.1.jsonl", 1)]
    rc, out, err, rss = report(*args, mem_mb=512, timeout=20)
    assert "out of memory" not in err, err
    assert rss < 48, f"peak memory {rss:.0f} MB reading /dev/zero"
    assert rc == (2 if where == "command-line" else 0), err


def test_a_suppressions_file_of_huge_lines_stays_small(tmp_path):
    supp = tmp_path / "big.supp"
    with open(supp, "wb") as f:
        f.write(b"close_wait:" + b"x" * (64 << 20) + b"\n")
    log = simple_log(tmp_path / "a.1.jsonl", 1)
    rc, out, err, rss = report("--suppressions", supp, log, timeout=30)
    assert rc == 2, err
    assert rss < 48, f"peak memory {rss:.0f} MB for one 64 MB suppression line"


# ------------------------------------------------ memory bounds

def test_many_processes_with_high_module_ids_stay_small(tmp_path):
    log = tmp_path / "many.jsonl"
    hdr = json.dumps(header(1))
    mod = json.dumps(module(65535))
    with open(log, "w") as f:
        for _ in range(20000):
            f.write(hdr + "\n" + mod + "\n")
    rc, data, err = json_report(log, mem_mb=1024, timeout=60)
    assert rc == 0, err[-2000:]
    assert data["summary"]["processes"] == 20000


def test_a_huge_line_is_not_held_in_memory(tmp_path):
    log = tmp_path / "huge.jsonl"
    with open(log, "wb") as f:
        f.write((json.dumps(header(1)) + "\n").encode())
        f.write(b'{"t":"module","path":"' + b"a" * (64 << 20) + b'"}\n')
        f.write((json.dumps(module()) + "\n" + json.dumps(finding()) + "\n").encode())
    rc, data, err = json_report(log, timeout=30)
    assert rc == 0, err
    assert data["summary"]["leaks"] == 1, data
    assert f"{log}:2" in err, f"the long line must be named file:line: {err!r}"
    _, _, _, rss = report(log, timeout=30)
    assert rss < 48, f"peak memory {rss:.0f} MB for one 64 MB line"


# ------------------------------------------------ numbers

def test_hostile_numbers_saturate(tmp_path):
    recs = [header(1), module(),
            finding(1, held_ms=INT64_MAX), finding(2, held_ms=INT64_MAX - 1),
            footer(sockets=INT64_MAX, eof_seen=INT64_MAX, lost=INT64_MAX)]
    write_log(tmp_path / "logs" / "a.1.jsonl", recs)
    write_log(tmp_path / "logs" / "b.2.jsonl",
              [header(2), footer(sockets=INT64_MAX, eof_seen=INT64_MAX, lost=INT64_MAX)])
    write_log(tmp_path / "logs" / "c.3.jsonl",
              [header(3), module(), finding(1, off=0x999, held_ms=-5),
               footer(sockets=-10, eof_seen=-10)])
    rc, data, err = json_report(tmp_path / "logs")
    s = data["summary"]
    assert s["sockets"] == INT64_MAX and s["eof_seen"] == INT64_MAX, s
    assert s["lost_records"] == INT64_MAX, s
    by_count = {f["count"]: f for f in data["findings"]}
    assert by_count[2]["held_ms_median"] >= INT64_MAX - 1, by_count[2]
    assert by_count[2]["held_ms_max"] == INT64_MAX, by_count[2]
    assert by_count[1]["held_ms_median"] >= 0, by_count[1]
    assert all(e["held_ms"] >= 0 for f in data["findings"] for e in f["examples"]), data
    rc, out, err, _ = report(tmp_path / "logs")
    assert b" -" not in out, f"a negative number in the text report: {out.decode()}"


# ------------------------------------------------ strings

def utf8_module_log(tmp_path):
    # 511 bytes of a raw frame name end inside a two-byte character.
    path = "/opt/" + "\u00e9" * 300
    return write_log(tmp_path / "logs" / "a.1.jsonl",
                     [header(1), module(0, path), finding(), footer()])


def test_module_name_cut_inside_a_utf8_character_keeps_every_field(tmp_path):
    log = utf8_module_log(tmp_path)
    rc, data, err = json_report(log)
    for frame in data["findings"][0]["eof_stack"] + data["findings"][0]["open_stack"]:
        assert isinstance(frame.get("function"), str) and frame["function"], frame
    rc, sarif, _, err = sarif_report(log)
    for res in sarif["runs"][0]["results"]:
        assert isinstance(res.get("message", {}).get("text"), str), res


HOSTILE = "\x1b[2J\x1b[H\rSUMMARY: sockleak: no leaks\n\x07\x7f\u009b"


def control_log(tmp_path):
    recs = [header(1, program=HOSTILE), module(0, "/opt/" + HOSTILE),
            finding(kind="close_wait" + HOSTILE, local=HOSTILE, peer=HOSTILE,
                    tcp_state=HOSTILE), footer()]
    return write_log(tmp_path / "logs" / "a.1.jsonl", recs)


def test_control_characters_from_logs_are_escaped_in_text(tmp_path):
    rc, out, err, _ = report("--color", "never", control_log(tmp_path))
    text = out.decode("utf-8")
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) < 0xa0]
    assert not bad, f"raw control characters in the text report: {bad!r}\n{text!r}"
    summaries = [line for line in text.split("\n") if line.startswith("SUMMARY")]
    assert len(summaries) == 1, f"a log forged a SUMMARY line: {text}"
    assert not any(c in err for c in "\x1b\r\x07"), f"raw control characters on stderr: {err!r}"


def test_control_characters_stay_intact_in_json(tmp_path):
    rc, data, err = json_report(control_log(tmp_path))
    assert data["findings"][0]["examples"][0]["peer"] == HOSTILE, data


# ------------------------------------------------ SARIF validity

def multitool():
    if not SARIF_TOOL.exists():
        pytest.skip("Microsoft's SARIF Multitool is not installed: run `make deps-sarif` "
                    "(npm, into tests/tools/sarif/node_modules)")
    return SARIF_TOOL


def multitool_errors(tool, tmp_path, sarif):
    """The multitool's console output when it found error-level results in
    the SARIF file (each one is a line of it), else []."""
    result = tmp_path / "validation.sarif"
    v = subprocess.run([str(tool), "validate", str(sarif), "-o", str(result)],
                       capture_output=True, text=True, timeout=120)
    assert result.exists(), f"the multitool wrote no result: {v.stdout}\n{v.stderr}"
    found = json.loads(result.read_text(encoding="utf-8-sig"))
    errors = [r for run in found["runs"] for r in run.get("results", [])
              if r.get("level", "warning") == "error"]
    return [v.stdout] if errors else []


@pytest.mark.parametrize("case", ["utf8", "control", "numbers", "empty-stacks"])
def test_sarif_of_hostile_logs_passes_the_multitool(tmp_path, case):
    tool = multitool()
    if case == "utf8":
        log = utf8_module_log(tmp_path)
    elif case == "control":
        log = control_log(tmp_path)
    elif case == "numbers":
        log = write_log(tmp_path / "a.1.jsonl",
                        [header(1), module(), finding(held_ms=INT64_MAX),
                         finding(2, held_ms=INT64_MAX), footer(sockets=INT64_MAX)])
    else:
        log = write_log(tmp_path / "a.1.jsonl",
                        [header(1), finding(eof_stack=[], open_stack=[]),
                         finding(2, kind="new_kind", eof_stack=[[9, 1]], open_stack=None)])
    rc, _, out, err = sarif_report(log)
    sarif = tmp_path / "report.sarif"
    sarif.write_bytes(out)
    errors = multitool_errors(tool, tmp_path, sarif)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name", sorted(p.name for p in
                                        (REPO / "tests/unit/data/golden").glob("*.sarif")))
def test_golden_sarif_passes_the_multitool(tmp_path, name):
    errors = multitool_errors(multitool(), tmp_path, REPO / "tests/unit/data/golden" / name)
    assert not errors, "\n".join(errors)
