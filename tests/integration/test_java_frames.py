"""Java frames in captured stacks: a Java program's findings name the app's
own method and line, through the JVMTI agent (java/sockleak_jvmti.c) that
`sockleak run` adds to JAVA_TOOL_OPTIONS.

The programs are in tests/integration/progs/java/, compiled with javac into
the test's tmp_path, and mark their call sites with `// READ-SITE`-style
comments. Ground truth for "this socket leaked" is the kernel's (ss,
through test_sweep.ss_close_wait). A leaky program holds its sockets until
the test, once ss showed them and their findings are logged, creates its
go-ahead file (a file, not a signal: the JVM uses signals itself). Call
sites are checked in `sockleak report --format json` (a Java frame has
function, file, line and "lang": "java") and in the raw log (frame
records, [-2, id] entries)."""
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import ERROR_EXIT, PROG_SRC, TIMEOUT, TOOL, sockleak_run
from test_node_frames import describe, log_findings
from test_sweep import held_until_go

JAVA_SRC = PROG_SRC / "java"
AGENT = Path(TOOL).parent / "sockleak-java" / "libsockleak_jvmti.so"


def marked(src, marker):
    """The 1-based line of src holding `// MARKER` (exactly one)."""
    lines = [i for i, t in enumerate(Path(src).read_text().splitlines(), 1)
             if t.rstrip().endswith(f"// {marker}")]
    assert len(lines) == 1, f"{src}: expected one '// {marker}' marker, found {lines}"
    return lines[0]


@pytest.fixture
def java(tmp_path):
    """(java, classes dir) with every program of progs/java compiled."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if not javac or not java:
        pytest.skip("javac is not installed (Debian package openjdk-17-jdk-headless)")
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is missing: `make` builds it when a JDK's headers are there"
                    " (/usr/lib/jvm/*/include/jvmti.h)", pytrace=False)
    classes = tmp_path / "classes"
    classes.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    p = subprocess.run([javac, "-d", str(classes), *sorted(map(str, JAVA_SRC.glob("*.java")))],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    return java, classes


def java_frames(finding, frames, which):
    """The Java frames of finding[which] in the raw log, innermost first, as
    (function, file, line); every [-2, id] must have its frame record."""
    got = []
    for mod, ref in finding.get(which) or []:
        if mod == -2:
            assert ref in frames, f"{which}: frame {ref} has no frame record before it"
            fr = frames[ref]
            assert fr["lang"] == "java", fr
            got.append((fr["function"], fr["file"], fr["line"]))
    return got


def assert_call_site(run, function, file, line):
    site = run.findings[0].get("call_site") or {}
    want = {"function": function, "file": file, "line": line, "lang": "java"}
    got = {k: site.get(k) for k in want}
    assert got == want, f"call site {site}{describe(run)}"


def half_close(n, outdir, go):
    """A driver: n connections that send, shut down writing and stay until
    ss shows the server's n sockets in CLOSE_WAIT and their findings are
    logged (held_until_go). Returns the held sockets ss saw."""
    def drive(port):
        conns = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"hello\n")
            s.shutdown(socket.SHUT_WR)
            conns.append(s)
        seen = [t for t in held_until_go(outdir, go, n, "close_wait")(port) if t[2]]
        for s in conns:
            s.close()
        return seen
    return drive


def test_java_server_leak_names_the_read_line(java, tmp_path):
    """A server that reads to end-of-stream and returns without closing:
    the finding's call site is the user's method at the read, in Java."""
    jvm, classes = java
    n = 3
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([jvm, "-cp", classes, "LeakServer", n, go], out,
                       driver=half_close(n, out, go))
    assert len(run.driver_result) == n, f"ss shows {run.driver_result}{describe(run)}"
    got = [(f["kind"], f["count"]) for f in run.findings]
    assert got == [("close_wait", n)], describe(run)
    assert run.rc == ERROR_EXIT, describe(run)
    line = marked(JAVA_SRC / "LeakServer.java", "READ-SITE")
    assert_call_site(run, "LeakServer.drain", "LeakServer.java", line)
    assert run.findings[0]["call_site"].get("stack") == "eof_stack", describe(run)
    reported = {ex["local"] for ex in run.findings[0]["examples"]}
    assert reported == {t[0] for t in run.driver_result}, describe(run)
    # The raw log: Java frames from the read down to main, nothing of the
    # JVM's native frames below them.
    found = log_findings(run.outdir)
    assert len(found) == n, describe(run)
    rec, frames = found[0]
    jf = java_frames(rec, frames, "eof_stack")
    names = [f for f, _, _ in jf]
    assert ("LeakServer.drain", "LeakServer.java", line) in jf, f"{jf}{describe(run)}"
    assert names[-1] == "LeakServer.main", f"{jf}{describe(run)}"
    assert rec["eof_stack"][-1][0] == -2, f"native frames after the Java ones: {rec['eof_stack']}"
    text = subprocess.run([str(TOOL), "report", str(run.outdir)], capture_output=True,
                          text=True, timeout=TIMEOUT).stdout
    assert f"in LeakServer.drain LeakServer.java:{line} [java]" in text, text


def test_java_client_leak_names_the_connect_line(java, tmp_path):
    """A client whose peer closed and which never reads: the sweep's
    finding names the user's method at the connect (open_stack)."""
    jvm, classes = java
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([jvm, "-cp", classes, "LeakClient", go], out,
                       driver=held_until_go(out, go, 1, "close_wait_unread"))
    held = [t for t in run.driver_result if t[2]]
    assert len(held) == 1, f"ss shows {run.driver_result}{describe(run)}"
    got = [(f["kind"], f["count"]) for f in run.findings]
    assert got == [("close_wait_unread", 1)], describe(run)
    line = marked(JAVA_SRC / "LeakClient.java", "CONNECT-SITE")
    assert_call_site(run, "LeakClient.dial", "LeakClient.java", line)
    assert run.findings[0]["call_site"].get("stack") == "open_stack", describe(run)
    found = log_findings(run.outdir)
    assert len(found) == 1, describe(run)
    rec, frames = found[0]
    assert rec["local"] == held[0][0], describe(run)
    jf = java_frames(rec, frames, "open_stack")
    assert ("LeakClient.dial", "LeakClient.java", line) in jf, f"{jf}{describe(run)}"
    assert jf[0][0] == "sun.nio.ch.Net.connect0", f"{jf}{describe(run)}"


def test_java_program_is_unchanged_by_the_agent(java, tmp_path):
    """The same stdout and exit status with and without the agent; the
    agent's only trace on stderr is the JVM's own "Picked up" line."""
    jvm, classes = java
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    plain = subprocess.run([jvm, "-cp", str(classes), "Transparent"], capture_output=True,
                           text=True, timeout=TIMEOUT, env=env)
    assert plain.returncode == 3, plain.stderr
    run = sockleak_run([jvm, "-cp", classes, "Transparent"], tmp_path / "out")
    assert run.rc == 3, describe(run)
    assert run.stdout == plain.stdout, describe(run)
    # stderr: the JVM's line, then the program's own (none), then the report.
    before_report = run.stderr[:run.stderr.index("{\n")]
    assert before_report == (f"Picked up JAVA_TOOL_OPTIONS: -agentpath:{AGENT.resolve()}\n"
                             + plain.stderr), run.stderr
    assert run.findings == [], describe(run)


def test_java_agent_keeps_the_users_options_and_can_be_turned_off(java, tmp_path):
    jvm, classes = java
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([jvm, "-cp", classes, "LeakClient", go], out,
                       driver=held_until_go(out, go, 1, "close_wait_unread"),
                       env={"JAVA_TOOL_OPTIONS": "-Dsockleak.test=1"})
    assert (f"Picked up JAVA_TOOL_OPTIONS: -Dsockleak.test=1 -agentpath:{AGENT.resolve()}"
            in run.stderr), run.stderr
    assert run.findings[0]["call_site"].get("lang") == "java", describe(run)
    go, out = tmp_path / "go-off", tmp_path / "off"
    off = sockleak_run([jvm, "-cp", classes, "LeakClient", go], out,
                       driver=held_until_go(out, go, 1, "close_wait_unread"),
                       env={"SOCKLEAK_JAVA": "0"})
    assert "Picked up JAVA_TOOL_OPTIONS" not in off.stderr, off.stderr
    assert [f["kind"] for f in off.findings] == ["close_wait_unread"], describe(off)
    assert (off.findings[0].get("call_site") or {}).get("lang") != "java", describe(off)


def test_java_attach_listener_is_left_alone(java, tmp_path):
    """jcmd attaching makes the JVM's attach listener create a socket from
    the VM's own code: its stack is not one to ask the agent about (the
    JVMTI call would mark a thread in the VM as in native). The attach
    works and the program ends as it would."""
    jvm, classes = java
    jcmd = shutil.which("jcmd")
    if not jcmd:
        pytest.skip("jcmd is not installed (Debian package openjdk-17-jdk-headless)")
    done = tmp_path / "attached"
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}

    def attach(pid):
        p = subprocess.run([jcmd, str(pid), "VM.version"], capture_output=True, text=True,
                           timeout=TIMEOUT, env=env)
        done.write_text("")
        return p

    run = sockleak_run([jvm, "-cp", classes, "Attachable", done], tmp_path / "out",
                       driver=attach)
    assert run.driver_result.returncode == 0, run.driver_result.stderr
    assert "JDK" in run.driver_result.stdout, run.driver_result.stdout
    assert run.rc == 0 and "attached true" in run.stdout, describe(run)
    assert run.findings == [], describe(run)


def java21():
    """(java, javac) of a JDK 21 or later in /usr/lib/jvm, or a skip."""
    for release in sorted(Path("/usr/lib/jvm").glob("*/release")):
        text = release.read_text(errors="replace")
        ver = text.split('JAVA_VERSION="', 1)[-1].split(".", 1)[0] if "JAVA_VERSION=" in text else ""
        bin_dir = release.parent / "bin"
        if ver.isdigit() and int(ver) >= 21 and (bin_dir / "javac").exists():
            return bin_dir / "java", bin_dir / "javac"
    pytest.skip("no JDK 21 or later in /usr/lib/jvm (virtual threads)")


def test_java_virtual_thread_connect_is_named(java, tmp_path):
    """A virtual thread's connect: the virtual thread's own frames."""
    jvm, javac = java21()
    classes = tmp_path / "classes21"
    src = JAVA_SRC / "java21" / "VirtualLeak.java"
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    p = subprocess.run([str(javac), "-d", str(classes), str(src)], capture_output=True,
                       text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([jvm, "-cp", classes, "VirtualLeak", go], out,
                       driver=held_until_go(out, go, 1, "close_wait_unread"))
    held = [t for t in run.driver_result if t[2]]
    assert len(held) == 1, f"ss shows {run.driver_result}{describe(run)}"
    assert [(f["kind"], f["count"]) for f in run.findings] == [("close_wait_unread", 1)], \
        describe(run)
    assert_call_site(run, "VirtualLeak.fetch", "VirtualLeak.java", marked(src, "CONNECT-SITE"))
    rec, frames = log_findings(run.outdir)[0]
    names = [f for f, _, _ in java_frames(rec, frames, "open_stack")]
    assert "java.lang.VirtualThread.run" in names, f"{names}{describe(run)}"


def test_java_redefined_method_gets_its_new_lines(java, tmp_path):
    """A method redefined while the program runs (a debugger's hot swap):
    the agent's cache notices, and the second connect is named at the new
    version's line, not the first's."""
    jvm, _ = java
    bin_dir = Path(jvm).resolve().parent
    javac, jar = bin_dir / "javac", bin_dir / "jar"
    if not jar.exists():
        pytest.skip(f"no jar tool beside {jvm}")
    src = JAVA_SRC / "redefine"
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    v1, v2, main = tmp_path / "v1", tmp_path / "v2", tmp_path / "main"
    for out, files, cp in ((v1, [src / "v1" / "Target.java"], None),
                           (v2, [src / "v2" / "Target.java"], None),
                           (main, [src / "Redefine.java"], v1)):
        cmd = [str(javac), "-d", str(out), *(["-cp", str(cp)] if cp else []), *map(str, files)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 0, p.stderr
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("Premain-Class: Redefine\nCan-Redefine-Classes: true\n")
    agent = tmp_path / "redefine.jar"
    p = subprocess.run([str(jar), "cfm", str(agent), str(manifest), "-C", str(main), "."],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    go, out = tmp_path / "go", tmp_path / "out"
    run = sockleak_run([jvm, f"-javaagent:{agent}", "-cp", f"{v1}:{main}", "Redefine",
                        v2 / "Target.class", go], out,
                       driver=held_until_go(out, go, 2, "close_wait_unread"))
    held = [t for t in run.driver_result if t[2]]
    assert len(held) == 2, f"ss shows {run.driver_result}{describe(run)}"
    lines = set()
    for rec, frames in log_findings(run.outdir):
        lines |= {ln for fn, _, ln in java_frames(rec, frames, "open_stack") if fn == "Target.dial"}
    assert lines == {marked(src / "v1" / "Target.java", "CONNECT-SITE"),
                     marked(src / "v2" / "Target.java", "CONNECT-SITE")}, describe(run)
