"""`sockleak report` on logs with language frames ("frame" records, [-2, id]
in stacks): the call site is the first frame in the user's code, not the
interpreter's, the runtime's or the standard library's; findings group by
it; text, JSON and SARIF name its file and line; --source-root decides what
is user code and makes SARIF paths relative; SARIF carries stable
partialFingerprints; damaged frame records only warn.

Every log here is written by the test itself, shaped as the library writes
them for a Python or Node program (no interpreter runs)."""
import json
import subprocess

import pytest

from conftest import TIMEOUT, TOOL, need_file
from test_hostile_logs import multitool, multitool_errors

PY_EXE = "/opt/sockleak-test/bin/python3.11"
LIBPY = "/opt/sockleak-test/lib/libpython3.11.so.1.0"
LIBC = "/opt/sockleak-test/lib/libc.so.6"
NODE = "/opt/sockleak-test/bin/node"
LIBUV = "/opt/sockleak-test/lib/libuv.so.1"
APP = "/srv/app/app.py"
SOCKET_PY = "/usr/lib/python3.11/socket.py"


def header(pid, program, exe):
    return {"t": "header", "version": 1, "pid": pid, "ppid": 1, "program": program,
            "exe": exe, "argv": [program], "start_unix_ms": 1764000000000, "run_id": "",
            "deadline_ms": 5000, "frames": 32}


def module(mid, path):
    return {"t": "module", "id": mid, "path": path, "build_id": "", "base": 93824992231424}


def frame(fid, function, file, line, lang="python"):
    return {"t": "frame", "id": fid, "lang": lang, "function": function, "file": file,
            "line": line}


def finding(fid, eof, open_, port=53122, **extra):
    rec = {"t": "finding", "id": fid, "kind": "close_wait", "fd": 6 + fid, "family": "inet",
           "local": "127.0.0.1:8080", "peer": f"127.0.0.1:{port}", "inode": 100 + fid,
           "tcp_state": "CLOSE_WAIT", "eof_unix_ms": 1764000001000, "held_ms": 5003,
           "eof_stack": eof, "open_stack": open_}
    rec.update(extra)
    return rec


def write_log(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# The interpreter's native frames: the same for both findings.
NATIVE_READ = [[2, 0x11a0], [1, 0x2b000], [0, 0x1234]]
NATIVE_OPEN = [[2, 0x1100], [1, 0x2a000], [0, 0x1234]]


def python_log(path, pid, ids, port=53122, shift=0):
    """Two leaks in two Python functions of app.py whose native stacks are
    identical; each read goes through the standard library's socket.py.
    ids: the frame ids this process gave handle, other, main, recv (a
    process numbers its frames its own way). shift moves every line of
    app.py (an edit above them)."""
    h, o, m, r = ids
    return write_log(path, [
        header(pid, "python3", PY_EXE),
        module(0, PY_EXE), module(1, LIBPY), module(2, LIBC),
        frame(r, "recv_into", SOCKET_PY, 700),
        frame(h, "handle", APP, 12 + shift),
        frame(o, "other", APP, 30 + shift),
        frame(m, "main", APP, 50 + shift),
        finding(1, NATIVE_READ + [[-2, r], [-2, h], [-2, m]], NATIVE_OPEN + [[-2, m]], port),
        finding(2, NATIVE_READ + [[-2, r], [-2, o], [-2, m]], NATIVE_OPEN + [[-2, m]],
                port + 1),
    ])


def report(*args, cwd=None):
    need_file(TOOL, "make build/sockleak")
    try:
        p = subprocess.run([str(TOOL), "report", *map(str, args)], cwd=cwd,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sockleak report {args} did not finish within {TIMEOUT} s", pytrace=False)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr.decode(errors='replace')}"
    return p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def json_report(*args, **kw):
    out, err = report("--format", "json", *args, **kw)
    return json.loads(out), err


def sarif_report(*args, **kw):
    out, err = report("--format", "sarif", *args, **kw)
    return json.loads(out), out


def by_function(findings):
    return {f["call_site"]["function"]: f for f in findings}


# ------------------------------------------------ grouping and call site

def test_python_functions_with_identical_native_stacks_are_two_findings(tmp_path):
    logs = tmp_path / "logs"
    python_log(logs / "python3.100.jsonl", 100, (1, 2, 3, 4))
    python_log(logs / "python3.200.jsonl", 200, (7, 5, 6, 8), port=40000)
    data, err = json_report(logs)
    assert data["summary"]["leaks"] == 4, data
    assert len(data["findings"]) == 2, json.dumps(data["findings"], indent=1)
    sites = by_function(data["findings"])
    assert set(sites) == {"handle", "other"}, sites
    for fn, line in (("handle", 12), ("other", 30)):
        f = sites[fn]
        cs = f["call_site"]
        assert (cs["file"], cs["line"], cs["lang"]) == (APP, line, "python"), cs
        assert cs["stack"] == "eof_stack" and cs["user"] is True, cs
        assert f["count"] == 2 and f["processes"] == 2, f
        # The stack keeps every frame, each language frame with its lang.
        langs = [fr.get("lang") for fr in f["eof_stack"]]
        assert langs == [None, None, None, "python", "python", "python"], f["eof_stack"]
        assert "module" not in f["eof_stack"][3], f["eof_stack"][3]
        assert f["eof_stack"][3]["file"] == SOCKET_PY


def test_python_call_site_in_text(tmp_path):
    python_log(tmp_path / "python3.100.jsonl", 100, (1, 2, 3, 4))
    out, _ = report(tmp_path)
    assert f"call site: in handle {APP}:12 [python]" in out, out
    assert f"call site: in other {APP}:30 [python]" in out, out
    assert f"#3 in recv_into {SOCKET_PY}:700 [python]" in out, out
    assert "SUMMARY: sockleak: 2 leaked sockets in 2 call sites" in out, out


def test_python_call_site_is_the_sarif_location(tmp_path):
    python_log(tmp_path / "python3.100.jsonl", 100, (1, 2, 3, 4))
    data, _ = sarif_report("--source-root", "/srv", tmp_path)
    results = data["runs"][0]["results"]
    assert len(results) == 2, results
    where = sorted((r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                    r["locations"][0]["physicalLocation"]["region"]["startLine"],
                    r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"])
                   for r in results)
    assert where == [("app/app.py", 12, "handle"), ("app/app.py", 30, "other")], where
    for r in results:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == \
            "%SRCROOT%", r
        assert "app.py" in r["message"]["text"] and "socket.py" not in r["message"]["text"], r
    assert data["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///srv/", data


def node_log(path, pid=300):
    """A Node server: libuv accepts and reads in the event loop (no
    JavaScript frame at all); each socket carries its listener's stack, made
    by the user's server.js through node:net and a package."""
    return write_log(path, [
        header(pid, "node", NODE),
        module(0, NODE), module(1, LIBUV), module(2, LIBC),
        frame(1, "Server.listen", "node:net", 1900, "javascript"),
        frame(2, "startServer", "/srv/web/server.js", 12, "javascript"),
        frame(3, "app.listen", "/srv/web/node_modules/express/lib/application.js", 635,
              "javascript"),
        frame(4, "startAdmin", "/srv/web/server.js", 40, "javascript"),
        finding(1, [[2, 0x100], [1, 0x200], [0, 0x300]], [[2, 0x110], [1, 0x210], [0, 0x300]],
                listen_stack=[[2, 0x120], [0, 0x400], [-2, 1], [-2, 3], [-2, 2]]),
        finding(2, [[2, 0x100], [1, 0x200], [0, 0x300]], [[2, 0x110], [1, 0x210], [0, 0x300]],
                listen_stack=[[2, 0x120], [0, 0x400], [-2, 1], [-2, 4]]),
    ])


def test_event_loop_reads_take_the_listener_as_call_site(tmp_path):
    node_log(tmp_path / "node.300.jsonl")
    data, _ = json_report(tmp_path)
    assert len(data["findings"]) == 2, json.dumps(data["findings"], indent=1)
    sites = by_function(data["findings"])
    assert set(sites) == {"startServer", "startAdmin"}, sites
    cs = sites["startServer"]["call_site"]
    assert cs == {"function": "startServer", "file": "/srv/web/server.js", "line": 12,
                  "lang": "javascript", "stack": "listen_stack", "user": True,
                  "listener": True}, cs
    out, _ = report(tmp_path)
    assert "accepted on the listener created at /srv/web/server.js:12" in out, out
    assert "accepted on the listener created at /srv/web/server.js:40" in out, out
    sarif, _ = sarif_report(tmp_path)
    lines = sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"]
                   for r in sarif["runs"][0]["results"])
    assert lines == [12, 40], sarif


def test_source_root_decides_user_code(tmp_path):
    """A vendored library under site-packages is not user code by default;
    with --source-root over it, it is."""
    vendored = "/srv/app/venv/lib/python3.11/site-packages/pool.py"
    write_log(tmp_path / "python3.100.jsonl", [
        header(100, "python3", PY_EXE), module(0, PY_EXE), module(1, LIBC),
        frame(1, "checkout", vendored, 88), frame(2, "serve", APP, 20),
        finding(1, [[1, 0x10], [0, 0x20], [-2, 1], [-2, 2]], [[1, 0x30], [-2, 2]]),
    ])
    data, _ = json_report(tmp_path)
    assert data["findings"][0]["call_site"]["function"] == "serve", data["findings"][0]
    data, _ = json_report("--source-root", "/srv/app/venv", tmp_path)
    assert data["findings"][0]["call_site"]["function"] == "checkout", data["findings"][0]
    sarif, _ = sarif_report("--source-root", "/srv/app/venv", tmp_path)
    art = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "lib/python3.11/site-packages/pool.py", "uriBaseId": "%SRCROOT%"}, art


@pytest.mark.parametrize("root", ["file", "nope"])
def test_source_root_must_be_a_directory(tmp_path, root):
    """A file, or a relative path that does not exist, is refused; an
    absolute path that does not exist here (logs from another machine) is
    taken as given."""
    (tmp_path / "file").write_text("")
    p = subprocess.run([str(TOOL), "report", "--source-root", root, tmp_path],
                       capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert p.returncode == 2 and "--source-root" in p.stderr, p


def test_run_passes_source_root_through(tmp_path):
    p = subprocess.run([str(TOOL), "run", "--source-root", "nope", "--", "true"],
                       capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert p.returncode == 2 and "--source-root" in p.stderr, p
    p = subprocess.run([str(TOOL), "run", "--source-root", tmp_path, "--format", "sarif",
                        "--output", tmp_path / "out", "--verbosity", "0", "--", "true"],
                       capture_output=True, text=True, timeout=TIMEOUT, cwd="/")
    assert p.returncode == 0, p.stderr
    sarif = json.loads(p.stderr[p.stderr.index("{"):])
    assert sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == \
        f"file://{tmp_path}/", sarif["runs"][0]


# ------------------------------------------------ fingerprints

def fingerprints(sarif):
    return {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]:
            r["partialFingerprints"] for r in sarif["runs"][0]["results"]}


def test_partial_fingerprints_are_stable_across_runs(tmp_path):
    """Another run: other pids, ports, frame ids, and every line of app.py
    moved by an edit above them. The fingerprints stay; they differ between
    the two call sites."""
    python_log(tmp_path / "a" / "python3.100.jsonl", 100, (1, 2, 3, 4))
    python_log(tmp_path / "b" / "python3.977.jsonl", 977, (4, 3, 2, 1), port=61000, shift=7)
    first, _ = sarif_report("--source-root", "/srv/app", tmp_path / "a")
    second, _ = sarif_report("--source-root", "/srv/app", tmp_path / "b")
    fa, fb = fingerprints(first), fingerprints(second)
    assert set(fa) == {"handle", "other"}, fa
    assert fa == fb, (fa, fb)
    assert fa["handle"] != fa["other"], fa
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"]
             for r in second["runs"][0]["results"]]
    assert sorted(lines) == [19, 37], lines


def test_sarif_with_language_frames_passes_the_multitool(tmp_path):
    tool = multitool()
    python_log(tmp_path / "logs" / "python3.100.jsonl", 100, (1, 2, 3, 4))
    node_log(tmp_path / "logs" / "node.300.jsonl")
    _, out = sarif_report("--source-root", "/srv", tmp_path / "logs")
    sarif = tmp_path / "report.sarif"
    sarif.write_text(out)
    errors = multitool_errors(tool, tmp_path, sarif)
    assert not errors, "\n".join(errors)


# ------------------------------------------------ suppressions

@pytest.mark.parametrize("rule", ["close_wait:handle", "close_wait:app.py",
                                  "*:/srv/app/app.py"])
def test_suppressions_match_language_frames(tmp_path, rule):
    python_log(tmp_path / "logs" / "python3.100.jsonl", 100, (1, 2, 3, 4))
    supp = tmp_path / "s.supp"
    supp.write_text(rule + "\n")
    data, _ = json_report("--suppressions", supp, tmp_path / "logs")
    left = [f["call_site"]["function"] for f in data["findings"]]
    # Both findings' stacks hold app.py (main); only handle names handle.
    assert left == ([] if "app.py" in rule else ["other"]), data


# ------------------------------------------------ damaged frame records

def test_damaged_frame_records_warn_and_never_crash(tmp_path):
    big = 2**63 - 1
    write_log(tmp_path / "python3.100.jsonl", [
        header(100, "python3", PY_EXE), module(0, PY_EXE),
        {"t": "frame", "id": "1", "lang": "python", "function": "f", "file": APP, "line": 1},
        {"t": "frame", "id": -5, "lang": "python", "function": "f", "file": APP, "line": 1},
        {"t": "frame", "lang": "python", "function": "nofid", "file": APP, "line": 1},
        {"t": "frame", "id": 2, "lang": "python", "file": APP, "line": 1},
        {"t": "frame", "id": 3, "lang": ["python"], "function": 7, "file": APP},
        {"t": "frame", "id": big, "lang": "cobol\u001b[2J", "function": "huge\u001b[2J",
         "file": {"x": 1}, "line": "12"},
        {"t": "frame", "id": 4, "lang": "python", "function": "ok", "file": APP, "line": big},
        {"t": "frame", "id": 5, "lang": "rust", "function": "handle", "file": "/srv/r.rs",
         "line": 9},
        finding(1, [[0, 0x10], [-2, 99], [-2, big], [-2, 4]], [[-2, 2]]),
        finding(2, [[0, 0x10], [-2, 5], [-2, -1], [-2], [-2, "x"]], []),
    ])
    out, err = report(tmp_path)
    assert "frame record" in err, err
    assert "\x1b" not in out, out
    data, _ = json_report(tmp_path)
    assert data["summary"]["leaks"] == 2, data
    frames = [fr for f in data["findings"] for fr in f["eof_stack"]]
    langs = {fr["function"]: fr.get("lang") for fr in frames}
    assert langs["huge\x1b[2J"] == "unknown", langs
    assert langs["[frame 99]"] == "unknown", langs
    assert langs["ok"] == "python" and langs["handle"] == "rust", langs
    ok = next(fr for fr in frames if fr["function"] == "ok")
    assert "line" not in ok, ok
    sites = sorted(f["call_site"]["function"] for f in data["findings"])
    assert sites == ["handle", "ok"], data
    sarif, _ = sarif_report(tmp_path)
    assert len(sarif["runs"][0]["results"]) == 2, sarif


def test_es_module_file_url_is_a_source_file(tmp_path):
    """An ES module names its file as a file: URL; it is user code and a
    SARIF path like any other."""
    write_log(tmp_path / "node.300.jsonl", [
        header(300, "node", NODE), module(0, NODE),
        frame(1, "Socket.read", "node:net", 700, "javascript"),
        frame(2, "pump", "file:///srv/web/esm.mjs", 8, "javascript"),
        finding(1, [[0, 0x10], [-2, 1], [-2, 2]], [[0, 0x20]]),
    ])
    data, _ = json_report(tmp_path)
    assert data["findings"][0]["call_site"]["function"] == "pump", data["findings"][0]
    sarif, _ = sarif_report("--source-root", "/srv", tmp_path)
    art = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "web/esm.mjs", "uriBaseId": "%SRCROOT%"}, art
