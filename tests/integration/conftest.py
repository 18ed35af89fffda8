"""Shared harness for sockleak's integration tests.

Programs run under `sockleak run --format json --error-exitcode 23`; the
report is then read back with `sockleak report --format json OUTDIR` (its
stdout holds nothing but the JSON, unlike run's stderr, which also carries
the program's own messages). Servers print "listening on PORT"; a driver
then connects to them with Python sockets on 127.0.0.1.

Expected call sites are never hard-coded: the program sources mark them
with /* EOF-SITE */ and /* OPEN-SITE */ comments and the tests scan for
the markers.

Every subprocess has a timeout; a missing build fails with the command that
makes it, never a hang.
"""
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# A test run started in the background by a shell without job control (a
# script's `make check &`) ignores SIGINT and SIGQUIT, and so would every
# program the tests start: http.server would not stop at SIGINT. Ignored
# signals stay ignored across exec, handled ones do not: handle them here.
for _sig, _handler in ((signal.SIGINT, signal.default_int_handler),
                       (signal.SIGQUIT, signal.SIG_DFL)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SOCKLEAK_BUILD") or REPO / "build").resolve()
TOOL = BUILD / "sockleak"
# SOCKLEAK_LIBRARY (which `sockleak run` honours too) swaps in another build
# of the library, such as the lock-debug one (`make integration-lockdebug`).
LIB = Path(os.environ.get("SOCKLEAK_LIBRARY") or BUILD / "libsockleak.so").resolve()
PROGS = BUILD / "tests" / "progs"
PROG_SRC = REPO / "tests" / "integration" / "progs"
EXAMPLES = BUILD / "examples"
EXAMPLE_SRC = REPO / "examples"
PYTHON = "/usr/bin/python3"

TIMEOUT = 30          # seconds, for every subprocess
PORT_TIMEOUT = 20     # seconds for a server to announce its port (a JVM on a loaded machine)
DEADLINE_MS = 200     # the detector's deadline in these tests
ERROR_EXIT = 23       # --error-exitcode


# ----------------------------------------------------------------- builds

def need_file(path, make_hint):
    """Fails the calling test with the command that builds path."""
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: build it with `{make_hint}` "
                    f"(or run `make integration`)", pytrace=False)
    return Path(path)


@pytest.fixture
def tool():
    need_file(LIB, "make build/libsockleak.so")
    return need_file(TOOL, "make build/sockleak")


@pytest.fixture
def lib():
    return need_file(LIB, "make build/libsockleak.so")


def prog_path(name):
    hint = f"make build/tests/progs/{name}" if BUILD == REPO / "build" else "make progs"
    return need_file(PROGS / name, hint)


def example_path(name):
    return need_file(EXAMPLES / name, "make examples")


# ------------------------------------------------------------------- qemu

def elf_machine(path):
    """e_machine of the ELF file at path, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    return int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None


# A library built for another processor than this Python's runs its programs
# under qemu-user (binfmt_misc; `make check-arm64`): what qemu-user cannot do
# is skipped there, each test with its reason, from qemu_skips.txt.
QEMU = elf_machine(LIB) not in (None, elf_machine("/proc/self/exe"))
QEMU_SKIPS = Path(__file__).with_name("qemu_skips.txt")


def qemu_skips():
    """{test: reason} of QEMU_SKIPS; a test is FILE::NAME or FILE::NAME[PARAMS]."""
    reasons, tests = {}, {}
    for raw in QEMU_SKIPS.read_text().splitlines():
        line = raw.strip()
        if line.startswith("= "):
            key, _, text = line[2:].partition(": ")
            reasons[key] = text
        elif line and not line.startswith("#"):
            test, key = line.split()
            tests[test] = key
    return {test: reasons[key] for test, key in tests.items()}


def _qemu_test(nodeid):
    """FILE::NAME[PARAMS] of a node id (its parameters may hold a slash)."""
    path, _, name = nodeid.partition("::")
    return f"{Path(path).name}::{name}"


def _qemu_entry(nodeid, skips):
    """The entry of skips that takes in the test nodeid, or None."""
    test = _qemu_test(nodeid)
    for entry in (test, test.split("[")[0]):
        if entry in skips:
            return entry
    return None


def _stale_qemu_skips(skips, items):
    """Entries naming a function that a collected file does not define."""
    modules = {_qemu_test(item.nodeid).split("::")[0]: item.module for item in items}
    return sorted(t for t in skips if t.split("::")[0] in modules and
                  not hasattr(modules[t.split("::")[0]], t.split("::")[1].split("[")[0]))


def pytest_collection_modifyitems(config, items):
    if not QEMU:
        return
    skips = qemu_skips()
    stale = _stale_qemu_skips(skips, items)
    if stale:
        raise pytest.UsageError(f"{QEMU_SKIPS.name} names tests that do not exist: {stale}")
    for item in items:
        entry = _qemu_entry(item.nodeid, skips)
        if entry:
            item.add_marker(pytest.mark.skip(reason=f"under qemu-user: {skips[entry]}"))


# ---------------------------------------------------------------- markers

def marker_lines(src, marker):
    """Line numbers (1-based) of the lines of src that hold /* MARKER */."""
    tag = f"/* {marker} */"
    lines = [i for i, text in enumerate(Path(src).read_text().splitlines(), 1)
             if tag in text]
    assert lines, f"{src} has no {tag} marker"
    return lines


def marker_line(src, marker):
    lines = marker_lines(src, marker)
    assert len(lines) == 1, f"{src}: expected one /* {marker} */ marker, found lines {lines}"
    return lines[0]


# ----------------------------------------------------------------- running

@dataclass(repr=False)
class Run:
    argv: list
    rc: int
    stdout: str
    stderr: str
    outdir: Path
    report: dict = None
    report_stderr: str = ""
    seconds: float = 0.0
    driver_result: object = None

    def __repr__(self):
        return f"Run({os.path.basename(str(self.argv[-1]))}, rc={self.rc})"

    @property
    def findings(self):
        return self.report["findings"]

    @property
    def leaks(self):
        return self.report["summary"]["leaks"]

    def describe(self):
        """Everything needed to understand a failure, for assertion messages."""
        rep = json.dumps(self.report, indent=1) if self.report is not None else "(none)"
        if len(rep) > 6000:
            rep = rep[:6000] + "\n...(cut)"
        return (f"\n  command: {' '.join(map(str, self.argv))}"
                f"\n  exit status: {self.rc} after {self.seconds:.1f} s"
                f"\n  stdout: {self.stdout[-2000:]!r}"
                f"\n  stderr: {self.stderr[-3000:]!r}"
                f"\n  report stderr: {self.report_stderr[-1000:]!r}"
                f"\n  report: {rep}")


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _lines_until(proc, buf, pattern, timeout=TIMEOUT):
    """Reads proc's stdout until pattern matches what was read (buf: what
    was read before); returns (match, everything read). Fails with what came
    when it does not within timeout (a bound, not a measurement)."""
    fd = proc.stdout.fileno()
    end = time.monotonic() + timeout
    while True:
        m = re.search(pattern, buf)
        if m:
            return m, buf
        left = end - time.monotonic()
        if left <= 0:
            pytest.fail(f"no line matching {pattern!r} within {timeout} s; got {buf!r}",
                        pytrace=False)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                _, err = proc.communicate(timeout=TIMEOUT)
                pytest.fail(f"{proc.args} ended (status {proc.returncode}) before a line"
                            f" matching {pattern!r}; got {buf!r}, stderr {err!r}",
                            pytrace=False)
            buf += chunk.decode(errors="replace")

def follow_until(outdir, until, args=()):
    """`sockleak report --follow ARGS outdir`'s output once it matches until
    (a regex), then SIGINT; fails with what came when it does not within
    TIMEOUT."""
    p = subprocess.Popen([str(TOOL), "report", "--follow", *map(str, args), str(outdir)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, buf = _lines_until(p, "", until)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=TIMEOUT)
    finally:
        _kill_group(p)
    return buf


def _read_port(proc, timeout=PORT_TIMEOUT):
    """Reads proc's stdout up to a "listening on PORT" line; returns
    (port, bytes read so far). Fails clearly if the line never comes."""
    fd = proc.stdout.fileno()
    buf = b""
    end = time.monotonic() + timeout
    while True:
        m = re.search(rb"listening on (\d+)\n", buf)
        if m:
            return int(m.group(1)), buf
        left = end - time.monotonic()
        if left <= 0:
            _kill_group(proc)
            _, err = proc.communicate(timeout=TIMEOUT)
            pytest.fail(f"{proc.args}: no 'listening on PORT' line within {timeout} s;"
                        f" stdout so far {buf!r}, stderr {err!r}", pytrace=False)
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            _, err = proc.communicate(timeout=TIMEOUT)
            pytest.fail(f"{proc.args}: exited (status {proc.returncode}) before announcing"
                        f" its port; stdout {buf!r}, stderr {err!r}", pytrace=False)
        buf += chunk


def wait_until(what, cond, timeout=TIMEOUT, interval=0.05):
    """Polls cond() until it returns something true, and returns that; fails
    the test naming what when it does not within timeout seconds. For every
    wait on something a program or the kernel does: a slow, loaded machine
    only makes it take longer."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout} s (last seen: {got!r})", pytrace=False)
        time.sleep(interval)


def finding_records(outdir):
    """The "finding" records the library has written to outdir's logs so far
    (a line still being written is skipped)."""
    found = []
    for path in sorted(Path(outdir).glob("*.jsonl")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("t") == "finding":
                found.append(rec)
    return found


def server_conns_open(port):
    """Connections whose local port is port that the program serving them has
    not closed yet (established, in CLOSE_WAIT, or still in the handshake), as
    `ss` lines; [] once it closed every one."""
    p = subprocess.run(["ss", "-tanH", "state", "established", "state", "close-wait",
                        "state", "syn-recv", f"( sport = :{port} )"], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"ss failed: {p.stderr}"
    return p.stdout.splitlines()


def run_report(outdir_or_paths, *extra):
    """`sockleak report --format json PATH...`: (rc, parsed JSON or None,
    stdout, stderr)."""
    paths = outdir_or_paths if isinstance(outdir_or_paths, (list, tuple)) else [outdir_or_paths]
    cmd = [str(TOOL), "report", "--format", "json", *extra, *map(str, paths)]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd)} did not finish within {TIMEOUT} s", pytrace=False)
    try:
        data = json.loads(p.stdout) if p.stdout.strip() else None
    except json.JSONDecodeError as e:
        pytest.fail(f"{' '.join(cmd)} printed invalid JSON ({e}):\n{p.stdout[:3000]}"
                    f"\nstderr: {p.stderr[:2000]}", pytrace=False)
    return p.returncode, data, p.stdout, p.stderr


def sockleak_run(argv, outdir, driver=None, deadline=DEADLINE_MS, env=None,
                 tool_args=(), read_report=True, stop_signal=None, stop_after_findings=0):
    """Runs argv under `sockleak run` (JSON report, --error-exitcode 23) with
    the raw logs in outdir. When driver is given the program is a server:
    driver(port) runs once it printed its port; then stop_signal, if given,
    goes to the tool (which passes it on), once stop_after_findings finding
    records are in the logs and two deadlines have passed (time for a finding
    that should not be there to show). Then reads the report back with
    `sockleak report --format json outdir`."""
    outdir = Path(outdir)
    cmd = [str(TOOL), "run", "--deadline", str(deadline), "--output", str(outdir),
           "--format", "json", "--error-exitcode", str(ERROR_EXIT), *tool_args,
           "--", *map(str, argv)]
    full_env = dict(os.environ)
    full_env["SOCKLEAK_TEST_DEADLINE_MS"] = str(deadline)
    full_env.update(env or {})
    start = time.monotonic()
    # A session of its own, so a hung run can be killed with all its children.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=full_env, start_new_session=True)
    head = b""
    driver_result = None
    try:
        if driver is not None:
            port, head = _read_port(proc)
            driver_result = driver(port)
            if stop_signal is not None:
                quiet_until = time.monotonic() + 2 * deadline / 1000
                end = time.monotonic() + TIMEOUT
                while (len(finding_records(outdir)) < stop_after_findings
                       and time.monotonic() < end and proc.poll() is None):
                    time.sleep(0.05)
                got = len(finding_records(outdir))
                if got < stop_after_findings:
                    raise AssertionError(f"{got} finding record(s) in {outdir}'s logs, not the"
                                         f" {stop_after_findings} expected before signal"
                                         f" {stop_signal} (waited {TIMEOUT} s or until the"
                                         f" program ended)")
                time.sleep(max(0.0, quiet_until - time.monotonic()))
                proc.send_signal(stop_signal)
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"{' '.join(cmd)} did not finish within {TIMEOUT} s;"
                    f" stdout {(head + out)[-2000:]!r}, stderr {err[-2000:]!r}", pytrace=False)
    except Exception as e:
        # A driver that fails: the program's own output says why.
        _kill_group(proc)
        out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"{' '.join(cmd)}: driving it failed: {e!r};"
                    f" stdout {(head + out)[-2000:]!r}, stderr {err[-2000:]!r}", pytrace=False)
    except BaseException:
        _kill_group(proc)
        proc.communicate(timeout=TIMEOUT)
        raise
    run = Run(argv=cmd, rc=proc.returncode,
              stdout=(head + out).decode(errors="replace"),
              stderr=err.decode(errors="replace"), outdir=outdir,
              seconds=time.monotonic() - start, driver_result=driver_result)
    if read_report:
        attach_report(run)
    return run


def attach_report(run):
    """Reads `sockleak report --format json` of run.outdir into run.report,
    checking its schema; fails the test when there is no report."""
    rc, data, _, rerr = run_report(run.outdir)
    run.report_stderr = rerr
    if rc != 0 or data is None:
        pytest.fail(f"`sockleak report --format json {run.outdir}` exited {rc} without a"
                    f" report{run.describe()}", pytrace=False)
    run.report = data
    check_schema(run)


# ----------------------------------------------------------------- drivers

def client(port, kind, payload=b"hello\n", timeout=10):
    """One client connection on 127.0.0.1:port. kind:
    "echo"  send payload, read its echo, hang up;
    "send"  send payload, hang up;
    "quit"  send QUIT, read to end-of-stream, close;
    "half"  send payload, shut down writing, read to end-of-stream, close.
    Returns the bytes received."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if kind == "quit":
            payload = b"QUIT\n"
        s.sendall(payload)
        if kind == "echo":
            while len(got) < len(payload):
                chunk = s.recv(4096)
                assert chunk, f"port {port}: connection closed before the echo came back"
                got += chunk
        elif kind in ("quit", "half"):
            if kind == "half":
                s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    return got


def drive(*kinds, **kw):
    """A driver running one client per kind, one after the other."""
    def run(port):
        return [client(port, k, **kw) for k in kinds]
    return run


class BannerServer:
    """A server in this process that sends a banner to each client and
    closes, for client programs that read to end-of-stream."""

    BANNER = b"220 banner server ready\r\n"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.served = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.sendall(self.BANNER)
            self.served += 1

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def banner_server():
    srv = BannerServer()
    yield srv
    srv.close()


# -------------------------------------------------------------- assertions

def check_schema(run):
    """The parts of the version 1 JSON schema every report must have."""
    rep = run.report
    assert isinstance(rep, dict), f"report is not a JSON object{run.describe()}"
    assert rep.get("version") == 1, f"report version is not 1{run.describe()}"
    summary = rep.get("summary")
    assert isinstance(summary, dict), f"report has no summary{run.describe()}"
    for key in ("processes", "sockets", "eof_seen", "leaks"):
        assert isinstance(summary.get(key), int), f"summary.{key} missing{run.describe()}"
    assert isinstance(rep.get("findings"), list), f"report has no findings list{run.describe()}"
    for f in rep["findings"]:
        for key in ("kind", "count", "eof_stack", "open_stack", "examples"):
            assert key in f, f"a finding has no {key}{run.describe()}"


def frame_in(stack, src_name):
    """The first frame of stack whose file is src_name (a basename)."""
    for fr in stack:
        if fr.get("file") and os.path.basename(fr["file"]) == src_name:
            return fr
    return None


def assert_site(run, finding, which, src, function, line):
    """finding[which] (eof_stack or open_stack) runs through function at
    src:line, in its first frame from src."""
    stack = finding[which]
    name = os.path.basename(str(src))
    fr = frame_in(stack, name)
    assert fr is not None, (f"{which} of the {finding['kind']} finding has no frame in {name};"
                            f" stack: {json.dumps(stack, indent=1)}{run.describe()}")
    assert (fr.get("function"), fr.get("line")) == (function, line), (
        f"{which}: expected {function} at {name}:{line}, got {fr.get('function')} at"
        f" {name}:{fr.get('line')}; stack: {json.dumps(stack, indent=1)}")


def assert_clean(run, status=0):
    """No finding, and the program's own exit status passed through."""
    assert run.findings == [], f"expected no findings{run.describe()}"
    assert run.leaks == 0, f"expected summary.leaks == 0{run.describe()}"
    assert run.rc == status, f"expected exit status {status} (the program's){run.describe()}"


def assert_leaks(run, *expected):
    """The report holds exactly the expected groups. Each is a dict:
    kind, count, and optionally eof=(src, function, line),
    open=(src, function, line). Exit status must be --error-exitcode."""
    assert run.rc == ERROR_EXIT, (f"expected exit status {ERROR_EXIT} (--error-exitcode,"
                                  f" leaks found){run.describe()}")
    got = sorted((f["kind"], f["count"]) for f in run.findings)
    want = sorted((e["kind"], e["count"]) for e in expected)
    assert got == want, f"findings (kind, count): expected {want}, got {got}{run.describe()}"
    total = sum(e["count"] for e in expected)
    assert run.leaks == total, f"expected summary.leaks == {total}{run.describe()}"
    for e in expected:
        candidates = [f for f in run.findings if (f["kind"], f["count"]) == (e["kind"], e["count"])]
        if "eof" in e:
            src, func, line = e["eof"]
            name = os.path.basename(str(src))
            # With two groups of the same kind and count, pick the one at this site.
            matching = [f for f in candidates
                        if (frame_in(f["eof_stack"], name) or {}).get("line") == line]
            finding = (matching or candidates)[0]
            assert_site(run, finding, "eof_stack", src, func, line)
        else:
            finding = candidates[0]
        if "open" in e:
            src, func, line = e["open"]
            assert_site(run, finding, "open_stack", src, func, line)
        assert finding["examples"], f"finding without examples{run.describe()}"
        for ex in finding["examples"]:
            assert isinstance(ex.get("pid"), int) and isinstance(ex.get("fd"), int), (
                f"example without pid/fd: {ex}{run.describe()}")


def proc_src(name):
    return PROG_SRC / f"{name}.c"


def expect_prog(name, kind, count=1, open_site=True, function_eof=None, function_open=None):
    """Expected group for a test program with one EOF-SITE (and one OPEN-SITE
    when open_site): function names as given."""
    src = proc_src(name)
    e = {"kind": kind, "count": count}
    if function_eof:
        e["eof"] = (src, function_eof, marker_line(src, "EOF-SITE"))
    if open_site and function_open:
        e["open"] = (src, function_open, marker_line(src, "OPEN-SITE"))
    return e
