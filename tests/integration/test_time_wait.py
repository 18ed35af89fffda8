"""time_wait_churn (issue 19): a connect call site whose connections leave
more TIME_WAIT sockets to one destination than churn_share (10%) of the
ephemeral port range, and connects failing with EADDRNOTAVAIL.

Each case runs progs/tw_churn.c (a client and its server, a fork child) in
a network namespace of its own (`unshare -n`, tw_netns.sh) whose port range
is 1,000 ports, so a tenth is 100 connections and the whole range runs out
in a second; the kernel's count of TIME_WAIT sockets (`ss -tanH state
time-wait`) is taken inside it right after the program ends. Call sites
come from the markers in the program."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (DEADLINE_MS, ERROR_EXIT, REPO, TIMEOUT, TOOL, Run, attach_report, frame_in,
                      finding_records, follow_until, marker_line, proc_src, prog_path, run_report)
from test_prometheus import parse

SRC = proc_src("tw_churn")
NAME = "tw_churn.c"
NETNS = REPO / "tests" / "integration" / "tw_netns.sh"
PORT = 5000            # the server's, outside the namespace's port range
RANGE = [40000, 40999]  # tw_netns.sh's
THRESHOLD = 100         # 10% of it


def _namespace_why_not():
    if os.geteuid() != 0:
        return "needs root: a network namespace of its own (unshare -n) with its own port range"
    for tool in ("unshare", "ip", "sysctl", "ss"):
        if not shutil.which(tool):
            return f"{tool} is missing (util-linux, iproute2, procps)"
    p = subprocess.run(["unshare", "-n", "sh", "-c",
                        "ip link set lo up && sysctl -qw "
                        "net.ipv4.ip_local_port_range='40000 40999'"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if p.returncode != 0:
        return f"cannot make a network namespace here (unshare -n): {p.stderr.strip()}"
    return None


WHY_NOT = _namespace_why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))


def tw_run(tmp_path, mode, n, *extra, tool_args=(), env=None, wait=True):
    """tw_churn MODE N PORT EXTRA... under `sockleak run` inside the
    namespace. With wait False the process is returned running (Popen);
    otherwise the finished run, its report, and the kernel's TIME_WAIT
    counts to and from the server's port in run.tw_to, run.tw_from."""
    outdir, count = tmp_path / "out", tmp_path / "tw_count"
    cmd = ["unshare", "-n", "sh", str(NETNS), str(TOOL), "run", "--deadline", str(DEADLINE_MS),
           "--output", str(outdir), "--format", "json", "--error-exitcode", str(ERROR_EXIT),
           *tool_args, "--", str(prog_path("tw_churn")), mode, str(n), str(PORT),
           *map(str, extra)]
    full_env = dict(os.environ, TW_PORT=str(PORT), TW_COUNT=str(count), **(env or {}))
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env,
                            start_new_session=True)
    if not wait:
        return proc, cmd, outdir, count
    return tw_finish(proc, cmd, outdir, count, start)


def tw_finish(proc, cmd, outdir, count, start):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"{' '.join(cmd)} did not finish within {TIMEOUT} s: {out[-2000:]!r}"
                    f" {err[-2000:]!r}", pytrace=False)
    run = Run(argv=cmd, rc=proc.returncode, stdout=out, stderr=err, outdir=outdir,
                seconds=time.monotonic() - start)
    assert run.rc != 97, f"the namespace could not be set up{run.describe()}"
    attach_report(run)
    run.tw_to, run.tw_from = map(int, count.read_text().split())
    return run


def churns(run, exhausted=False):
    return [f for f in run.findings
            if f["kind"] == "time_wait_churn" and f["exhausted"] == exhausted]


def site(f):
    cs = f["call_site"]
    return cs["function"], os.path.basename(cs["file"] or ""), cs["line"]


CONNECT = ("connect_or_die", NAME, marker_line(SRC, "CONNECT-SITE"))
BULK = ("bulk", NAME, marker_line(SRC, "BULK-SITE"))
EXHAUST = ("until_no_port", NAME, marker_line(SRC, "EXHAUST-SITE"))


@pytest.fixture(scope="module")
def percon(tmp_path_factory):
    return tw_run(tmp_path_factory.mktemp("percon"), "percon", 300)


@pytest.fixture(scope="module")
def exhaust(tmp_path_factory):
    return tw_run(tmp_path_factory.mktemp("exhaust"), "exhaust", 900)


def test_connection_per_request_is_one_finding_at_the_connect(percon):
    """300 connections, each closed by the client first: one finding at
    the connect, with the connections made and the kernel's count, which
    agrees with ss's taken right after the program ended."""
    run = percon
    assert "300 connections" in run.stdout, run.describe()
    assert run.rc == ERROR_EXIT, f"a finding makes --error-exitcode{run.describe()}"
    found = churns(run)
    assert [site(f) for f in found] == [CONNECT], run.describe()
    assert [f["kind"] for f in run.findings] == ["time_wait_churn"], run.describe()
    f = found[0]
    assert f["call_site"]["stack"] == "open_stack", f["call_site"]
    assert frame_in(f["open_stack"], NAME)["line"] == CONNECT[2], f["open_stack"]
    assert f["destination"] == f"127.0.0.1:{PORT}", f
    assert f["connections"] == 300, f
    assert f["port_range"] == RANGE, f
    assert run.tw_to >= THRESHOLD, f"ss counted {run.tw_to} TIME_WAIT sockets{run.describe()}"
    assert THRESHOLD <= f["time_wait_peak"] <= run.tw_to, (
        f"time_wait_peak {f['time_wait_peak']}, ss {run.tw_to}{run.describe()}")
    assert f["rate_per_s"] > 0 and "keep-alive" in f["advice"], f
    summary = run.report["summary"]
    assert summary["time_wait_churn"] == 1 and summary["leaks"] == 0, summary


def test_fork_child_does_not_report_its_parents_connections(tmp_path):
    """A child forked after the 300 connections inherits their counts:
    the finding is the parent's alone."""
    run = tw_run(tmp_path, "forked", 300)
    found = churns(run)
    assert [site(f) for f in found] == [CONNECT] and found[0]["processes"] == 1, run.describe()
    assert found[0]["connections"] == 300, run.describe()


def test_pooled_client_is_no_finding(tmp_path):
    """The same 300 requests over one connection: one TIME_WAIT socket."""
    run = tw_run(tmp_path, "pooled", 300)
    assert "300 requests on one connection" in run.stdout, run.describe()
    assert run.findings == [] and run.rc == 0, run.describe()
    assert run.tw_to <= 1, run.describe()


def test_server_closing_first_is_no_finding(tmp_path):
    """The server closes each of 300 connections first: the TIME_WAIT
    sockets are its own (they hold no ephemeral port), the client closes
    after the server's FIN without reading it, and nothing is reported for
    either side."""
    run = tw_run(tmp_path, "srvfirst", 300)
    assert "300 connections" in run.stdout, run.describe()
    assert run.findings == [] and run.rc == 0, run.describe()
    assert run.tw_from >= THRESHOLD and run.tw_to == 0, (
        f"ss: {run.tw_from} TIME_WAIT sockets from the server's port, {run.tw_to} to it"
        f"{run.describe()}")


def test_churn_share_from_run(tmp_path):
    """--churn-share 50: 300 connections are 30% of the range, no finding."""
    run = tw_run(tmp_path, "percon", 300, tool_args=("--churn-share", "50"))
    assert run.findings == [] and run.rc == 0, run.describe()
    assert run.tw_to >= THRESHOLD, run.describe()


def test_no_port_left_is_a_finding_naming_the_sites(exhaust):
    """900 connections from one site, then more from another until connect
    fails: the program gets EADDRNOTAVAIL as without the library, and the
    failing connect is a finding of its own (exhausted) naming the site
    that holds most ports first."""
    run = exhaust
    m = re.search(r"connect failed with (\w+) after (\d+) more", run.stdout)
    assert m and m.group(1) == "EADDRNOTAVAIL", run.describe()
    assert run.rc == ERROR_EXIT, run.describe()
    ex = churns(run, exhausted=True)
    assert [site(f) for f in ex] == [EXHAUST], run.describe()
    f = ex[0]
    assert f["destination"] == f"127.0.0.1:{PORT}" and f["port_range"] == RANGE, f
    assert f["time_wait_peak"] >= 900, f
    top = f["top_sites"]
    assert top and (top[0]["call_site"]["function"], top[0]["call_site"]["line"]) == (
        BULK[0], BULK[2]), top
    assert top[0]["connections"] == 900 and 800 <= top[0]["time_wait"] <= 900, top
    assert frame_in(top[0]["open_stack"], NAME)["line"] == BULK[2], top[0]
    # The bulk site passed the share on its own.
    assert BULK in [site(x) for x in churns(run)], run.describe()


def tool(*args):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def test_text_report(exhaust):
    rc, out, err = tool("report", exhaust.outdir)
    assert rc == 0, err
    assert re.search(rf"==sockleak== time_wait_churn: connections to 127\.0\.0\.1:{PORT} left "
                     rf"\d+ sockets in TIME_WAIT, \d+% of the ephemeral port range "
                     rf"\(40000-40999, 1000 ports\)", out), out
    assert re.search(rf"==sockleak== time_wait_churn: connect to 127\.0\.0\.1:{PORT} failed "
                     rf"with EADDRNOTAVAIL", out), out
    assert re.search(rf"ports held by .*\n    \d+ to 127\.0\.0\.1:{PORT}, 900 connections, in "
                     rf"bulk \S*{NAME}:{BULK[2]}\n", out), out
    assert "advice: keep connections open and reuse them" in out, out
    assert re.search(r"SUMMARY: sockleak: no leaks, 3 TIME_WAIT churn findings in 3 call sites",
                     out), out


def test_sarif(exhaust):
    rc, out, err = tool("report", "--format", "sarif", exhaust.outdir)
    assert rc == 0, err
    run = json.loads(out)["runs"][0]
    rule = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "time_wait_churn"]
    assert rule and rule[0]["name"] == "EphemeralPortChurn", rule
    results = [r for r in run["results"] if r["ruleId"] == "time_wait_churn"]
    lines = sorted(r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results)
    assert lines == sorted([BULK[2], EXHAUST[2], EXHAUST[2]]), lines
    ex = [r for r in results if "EADDRNOTAVAIL" in r["message"]["text"]]
    assert len(ex) == 1 and ex[0]["properties"]["exhausted"] is True, ex
    rel = [x["physicalLocation"]["region"]["startLine"] for x in ex[0]["relatedLocations"]]
    assert rel[0] == BULK[2], rel
    assert run["properties"]["time_wait_churn"] == 3, run["properties"]


def test_suppressions(exhaust, tmp_path):
    """A rule on the bulk site's function removes its finding and the
    exhausted one, whose top sites name it; a rule of another kind does
    nothing."""
    supp = tmp_path / "supp.txt"
    supp.write_text("time_wait_churn:bulk\n")
    rc, data, _, err = run_report(exhaust.outdir, "--suppressions", supp)
    assert rc == 0, err
    assert [(f["call_site"]["function"], f["exhausted"]) for f in data["findings"]] == [
        ("until_no_port", False)], data["findings"]
    assert data["suppressed"] == [{"rule": "time_wait_churn:bulk", "count": 2}], data["suppressed"]
    supp.write_text("close_wait:bulk\n")
    rc, data, _, err = run_report(exhaust.outdir, "--suppressions", supp)
    assert rc == 0 and len(data["findings"]) == 3, (err, data["findings"])


def test_follow(exhaust):
    first = (rf"time_wait_churn pid \d+ tw_churn to 127\.0\.0\.1:{PORT}: connected at "
             rf"bulk \({NAME}:{BULK[2]}\), 900 connections")
    # Both lines, in whichever order the two findings come.
    out = follow_until(exhaust.outdir, rf"(?s)^(?=.*{first})(?=.*EADDRNOTAVAIL[^\n]*\n)")
    assert re.search(rf"connect failed with EADDRNOTAVAIL at until_no_port \({NAME}:"
                     rf"{EXHAUST[2]}\), \d+ in TIME_WAIT of 1000 ephemeral ports; 900 held by "
                     rf"bulk \({NAME}:{BULK[2]}\)", out), out


def test_peak_updated_later_and_metrics_while_running(tmp_path):
    """200 connections, a pause in which the due work writes the finding,
    200 more: the finding's counts are updated (an update record) to the
    400 connections. While the program holds on, the TIME_WAIT gauge of
    the call site and destination is the finding's peak and the port range
    gauge is the namespace's."""
    hold = tmp_path / "hold"
    proc, cmd, outdir, count = tw_run(tmp_path, "percon", 400, 600,
                                      env={"TW_HOLD_FILE": str(hold)}, wait=False)
    start = time.monotonic()
    try:
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end and proc.poll() is None:
            if any(r["kind"] == "time_wait_churn" for r in finding_records(outdir)) and \
                    any('"t":"update"' in p.read_text() for p in outdir.glob("*.jsonl")):
                break
            time.sleep(0.05)
        rc, data, _, err = run_report(outdir)
        f = [x for x in data["findings"] if x["kind"] == "time_wait_churn"]
        assert len(f) == 1, (err, data)
        text = tool("report", "--format", "prometheus", outdir)[1]
        samples = parse(text)
        if shutil.which("promtool"):
            lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                                  capture_output=True, text=True, timeout=TIMEOUT)
            assert lint.returncode == 0, (lint.stdout, lint.stderr, text)
        gauge = samples.get(("sockleak_time_wait_sockets", frozenset({
            ("program", "tw_churn"), ("function", CONNECT[0]), ("file", NAME),
            ("line", str(CONNECT[2])), ("destination", f"127.0.0.1:{PORT}")})))
        assert gauge == f[0]["time_wait_peak"] and gauge >= THRESHOLD, (gauge, f, samples)
        assert samples.get(("sockleak_ephemeral_ports", frozenset({("program", "tw_churn")}))) \
            == 1000, samples
        counter = [v for k, v in samples.items() if k[0] == "sockleak_time_wait_churn_total"]
        assert counter == [1], samples
    finally:
        hold.touch()
    run = tw_finish(proc, cmd, outdir, count, start)
    records = [json.loads(line) for p in outdir.glob("*.jsonl")
               for line in p.read_text().splitlines()]
    first = [r for r in records if r.get("kind") == "time_wait_churn"]
    assert len(first) == 1 and 100 <= first[0]["connections"] <= 200, first
    assert [r for r in records if r.get("t") == "update"], records
    f = churns(run)[0]
    assert f["connections"] == 400, f
    assert 200 < f["time_wait_peak"] <= run.tw_to, (f, run.tw_to)
