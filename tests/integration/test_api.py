"""The public API (include/sockleak.h): a cmocka test whose teardown calls
sockleak_check() fails when the code under test leaked a socket, and the same
program runs unchanged (every test passing) without the library."""
import os
import subprocess

from conftest import LIB, TIMEOUT, need_file, prog_path


def _run(mode, preload, outdir):
    need_file(LIB, "make build/libsockleak.so")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = str(LIB)
        env["SOCKLEAK_OPTIONS"] = f"deadline_ms=5000:output={outdir}"
    return subprocess.run([str(prog_path("api_teardown")), mode], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_teardown_fails_when_code_under_test_leaked(tmp_path):
    r = _run("leaky", preload=True, outdir=tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "1 socket(s) read end-of-stream and were not closed" in r.stdout + r.stderr


def test_teardown_passes_when_code_under_test_closed(tmp_path):
    r = _run("fixed", preload=True, outdir=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_program_runs_unchanged_without_the_library(tmp_path):
    for mode in ("leaky", "fixed"):
        r = _run(mode, preload=False, outdir=tmp_path)
        assert r.returncode == 0, (mode, r.stdout + r.stderr)


PENDING_AND_FLUSH = r"""
import ctypes, glob, json, socket, sys, time
lib = ctypes.CDLL(None)
a, b = socket.socketpair()
print(lib.sockleak_pending())              # 0: nothing read EOF yet
b.close(); a.recv(10)
print(lib.sockleak_pending())              # 1: read EOF, still open
time.sleep(0.15)                           # past the 100 ms deadline
print(lib.sockleak_flush())                # 0: the finding is written now
kinds = [json.loads(l)["t"] for f in glob.glob(sys.argv[1] + "/*.jsonl") for l in open(f)]
print(kinds.count("finding"))              # 1
a.close()
print(lib.sockleak_pending())              # 0
print(lib.sockleak_check(10))              # 0
"""


def test_pending_flush_and_check_from_a_live_process(tmp_path):
    need_file(LIB, "make build/libsockleak.so")
    env = dict(os.environ, LD_PRELOAD=str(LIB),
               SOCKLEAK_OPTIONS=f"deadline_ms=100:output={tmp_path}")
    r = subprocess.run(["/usr/bin/python3", "-c", PENDING_AND_FLUSH, str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "1", "0", "1", "0", "0"], r.stdout + r.stderr
