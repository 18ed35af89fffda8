#!/bin/sh
# CPython's own socket test suites, once without and once under the library:
# the per-test results (passed, failure, error, skipped) and the totals must
# be identical.
#
# Usage: tests/cpython_suite.sh [LIBRARY] [WORKDIR]
#   LIBRARY  the interposer (default: build/libsockleak.so of this tree)
#   WORKDIR  where logs, JUnit files and raw sockleak logs go (default: a
#            temporary directory, removed when the results are identical)
# Environment: PYTHON (default /usr/bin/python3), CPYTHON_TESTS (default
# "test_socket test_selectors test_socketserver").
# Exit status: 0 identical, 1 different (what differs on stdout), 77 the test
# package is not installed (Debian: libpython3.11-testsuite), 2 usage.
#
# test_socket hangs in its VSOCK tests on VMs with a vsock device that nobody
# answers: they are excluded (-i '*VSOCK*'), and every test has a timeout.
# A test whose result differs is run again alone, both ways, before it
# counts: timing-sensitive tests fail now and then without any preload.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-$here/build/libsockleak.so}
work=${2:-}
PYTHON=${PYTHON:-/usr/bin/python3}
CPYTHON_TESTS=${CPYTHON_TESTS:-test_socket test_selectors test_socketserver}

if [ ! -f "$lib" ]; then
    echo "cpython_suite: $lib not found (make build/libsockleak.so)" >&2
    exit 2
fi
case $lib in /*) ;; *) lib=$(pwd)/$lib ;; esac
if ! "$PYTHON" -c 'import test.test_socket' >/dev/null 2>&1; then
    echo "cpython_suite: $PYTHON has no test.test_socket" \
         "(Debian: apt-get install libpython3.11-testsuite)" >&2
    exit 77
fi
keep=1
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/cpython_suite.XXXXXX")
    keep=0
fi
mkdir -p "$work"

set +e
"$PYTHON" - "$PYTHON" "$lib" "$work" $CPYTHON_TESTS <<'EOF'
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter

python, lib, work, tests = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
FLAGS = ["-u", "network", "-i", "*VSOCK*", "--timeout", "300", "-v"]


def run(label, preload, match=()):
    """Runs the suites; returns ({test id: outcome}, exit status)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
    if preload:
        env["LD_PRELOAD"] = lib
        env["SOCKLEAK_OPTIONS"] = f"output={work}/sockleak-out:deadline_ms=1000"
    xml = f"{work}/{label}.xml"
    argv = [python, "-m", "test", *tests, *FLAGS, "--junit-xml", xml]
    for m in match:
        argv += ["-m", m]
    start = time.monotonic()
    with open(f"{work}/{label}.log", "w") as log:
        rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT).returncode
    print(f"{label}: exit {rc} after {time.monotonic() - start:.0f} s"
          f" (log: {work}/{label}.log)", flush=True)
    out = {}
    if os.path.exists(xml):
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = f"{case.get('classname', '').lstrip('.')}.{case.get('name', '')}"
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    outcome = child.tag
                    break
            out[name] = outcome
    return out, rc


def differences(base, under, names):
    return [f"{n}: {base.get(n, 'absent')} without, {under.get(n, 'absent')} with the library"
            for n in sorted(names) if base.get(n, "absent") != under.get(n, "absent")]


def totals(r):
    return dict(sorted(Counter(r.values()).items()))


base, rc_base = run("without", False)
under, rc_under = run("with", True)
print(f"without the library: {len(base)} tests {totals(base)}, exit {rc_base}")
print(f"with the library:    {len(under)} tests {totals(under)}, exit {rc_under}")
if not base:
    print("DIFFERENT: no test results recorded without the library")
    sys.exit(1)
names = set(base) | set(under)
diff = differences(base, under, names)
if diff:
    # Once more, only those tests, both ways: a difference must repeat.
    again = sorted({n.rsplit(".", 1)[-1] for n in names
                    if base.get(n, "absent") != under.get(n, "absent")})
    print(f"{len(diff)} results differ; running {len(again)} of them again both ways")
    base2, _ = run("without-again", False, again)
    under2, _ = run("with-again", True, again)
    retried = {n for n in names if base.get(n, "absent") != under.get(n, "absent")}
    diff = differences(base2, under2, retried)
    if not diff:
        rc_under = rc_base  # the only differences were one-off
for line in diff[:100]:
    print("DIFFERENT:", line)
if rc_base != rc_under:
    print(f"DIFFERENT: exit status {rc_base} without, {rc_under} with the library")
    diff.append("exit status")
sys.exit(1 if diff else 0)
EOF
status=$?
set -e
if [ "$status" -eq 0 ]; then
    echo "cpython_suite: identical results"
    [ "$keep" -eq 1 ] || rm -rf "$work"
else
    echo "cpython_suite: results differ; logs kept in $work"
fi
exit "$status"
