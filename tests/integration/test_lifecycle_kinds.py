"""The lifecycle's finding kinds beyond CLOSE_WAIT (issue 19): a socket
closed twice (double_close), through every output: JSON, text, SARIF,
metrics, suppressions and --follow. Call sites come from the markers in
progs/lc_double_close.c."""
import json
import os
import re
import subprocess

import pytest

from conftest import (ERROR_EXIT, TIMEOUT, TOOL, assert_clean, follow_until, frame_in, marker_line, proc_src,
                      prog_path, run_report, sockleak_run)
from test_prometheus import parse

SRC = proc_src("lc_double_close")
NAME = "lc_double_close.c"


def lines():
    return {m: marker_line(SRC, m) for m in ("FIRST-CLOSE", "SECOND-CLOSE", "DUP2-CLOSE")}


def frame(stack, what, run):
    fr = frame_in(stack, NAME)
    assert fr is not None, f"{what} has no frame in {NAME}: {json.dumps(stack)}{run.describe()}"
    return fr.get("function"), fr.get("line")


@pytest.fixture(scope="module")
def double(tmp_path_factory):
    return sockleak_run([prog_path("lc_double_close")], tmp_path_factory.mktemp("dc") / "out")


def tool(*args):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def test_double_close_json_has_both_stacks(double):
    """A close that fails with EBADF on a socket's number closed before, and
    a dup2 from such a number: one finding each, with the failing call as
    close_stack (and the call site) and the earlier close as
    first_close_stack."""
    run, ln = double, lines()
    assert run.rc == ERROR_EXIT, f"expected --error-exitcode{run.describe()}"
    got = sorted((f["kind"], f["count"]) for f in run.findings)
    assert got == [("double_close", 1), ("double_close", 1)], f"{got}{run.describe()}"
    # Counted apart from leaked sockets, and still failing the run.
    assert run.leaks == 0 and run.report["summary"]["double_closes"] == 2, run.describe()
    by_site = {}
    for f in run.findings:
        assert f["call_site"] and f["call_site"]["stack"] == "close_stack", f["call_site"]
        by_site[frame(f["close_stack"], "close_stack", run)] = f
    want = {("release_again", ln["SECOND-CLOSE"]), ("redirect_from", ln["DUP2-CLOSE"])}
    assert set(by_site) == want, f"{set(by_site)}{run.describe()}"
    for site, f in by_site.items():
        assert (f["call_site"]["function"], f["call_site"]["line"]) == site
        assert os.path.basename(f["call_site"]["file"]) == NAME
        assert frame(f["first_close_stack"], "first_close_stack", run) == (
            "release", ln["FIRST-CLOSE"]), f
        assert [ex["fd"] for ex in f["examples"]] and all(
            isinstance(ex["pid"], int) for ex in f["examples"])


def test_double_close_text_names_both_closes(double):
    ln = lines()
    rc, out, err = tool("report", double.outdir)
    assert rc == 0, err
    assert out.count("==sockleak== double_close: 1 socket closed twice") == 2, out
    # The summary counts them apart from leaked sockets.
    assert "SUMMARY: sockleak: no leaks, 2 double closes in 2 call sites (" in out, out
    for second in (rf"release_again \S*{NAME}:{ln['SECOND-CLOSE']}",
                   rf"redirect_from \S*{NAME}:{ln['DUP2-CLOSE']}"):
        assert re.search(rf"closed again at:\n    #0 \S+ in {second} .*\n(.*\n)*?"
                         rf"  first closed at:\n    #0 \S+ in release \S*{NAME}:"
                         rf"{ln['FIRST-CLOSE']} ", out), (second, out)


def test_double_close_sarif(double):
    ln = lines()
    rc, out, err = tool("report", "--format", "sarif", double.outdir)
    assert rc == 0, err
    sarif = json.loads(out)
    run = sarif["runs"][0]
    props = run["properties"]
    assert (props["leaks"], props["double_closes"]) == (0, 2), props
    rule = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "double_close"]
    assert rule and rule[0]["name"] == "SocketClosedTwice", rule
    results = [r for r in run["results"] if r["ruleId"] == "double_close"]
    assert len(results) == 2, results
    got = set()
    for r in results:
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith(NAME), loc
        got.add(loc["region"]["startLine"])
        rel = [x["physicalLocation"]["region"]["startLine"] for x in r["relatedLocations"]]
        assert ln["FIRST-CLOSE"] in rel, r
        assert "closed again" in r["message"]["text"], r["message"]
    assert got == {ln["SECOND-CLOSE"], ln["DUP2-CLOSE"]}, got


def test_double_close_metrics(double):
    ln = lines()
    rc, out, err = tool("report", "--format", "prometheus", double.outdir)
    assert rc == 0, err
    samples = parse(out)
    key = ("sockleak_double_closes_total",
           frozenset({("kind", "double_close"), ("program", "lc_double_close"),
                      ("function", "release_again"), ("file", NAME),
                      ("line", str(ln["SECOND-CLOSE"]))}))
    assert samples.get(key) == 1, out
    assert "# TYPE sockleak_double_closes_total counter\n" in out, out
    assert not [k for k in samples if k[0] == "sockleak_leaked_sockets_total"
                and ("kind", "double_close") in k[1]], out


def test_double_close_suppressed(double, tmp_path):
    supp = tmp_path / "supp.txt"
    supp.write_text("double_close:release_again\n")
    rc, data, _, err = run_report(double.outdir, "--suppressions", supp)
    assert rc == 0, err
    sites = [(f["call_site"] or {}).get("function") for f in data["findings"]]
    assert sites == ["redirect_from"], data["findings"]
    assert data["suppressed"] == [{"rule": "double_close:release_again", "count": 1}], \
        data["suppressed"]
    assert data["summary"]["suppressed"] == 1, data["summary"]
    supp.write_text("close_wait:release_again\n")
    rc, data, _, err = run_report(double.outdir, "--suppressions", supp)
    assert rc == 0 and len(data["findings"]) == 2, (err, data["findings"])


def test_double_close_follow(double):
    ln = lines()
    out = follow_until(double.outdir, r"double_close pid .*\n")
    assert (f"closed again at release_again ({NAME}:{ln['SECOND-CLOSE']}), first closed at"
            f" release ({NAME}:{ln['FIRST-CLOSE']})") in out, out


def test_no_double_close_without_the_bug(tmp_path):
    """The same program closing once; EBADF closes of a number never opened,
    of a file's number closed twice after a socket had it, and of the
    library's own fds are not double_close."""
    run = sockleak_run([prog_path("lc_double_close"), "ok"], tmp_path / "out")
    assert_clean(run)
