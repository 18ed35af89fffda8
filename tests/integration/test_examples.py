"""The example programs (examples/) under sockleak, and `make demo`'s
script."""
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (BUILD, DEADLINE_MS, EXAMPLE_SRC, PYTHON, REPO, assert_clean,
                      assert_leaks, drive, example_path, marker_line, sockleak_run)

# Two clients say QUIT (the server closes), three just hang up (it leaks).
MIX = ("quit", "echo", "quit", "echo", "echo")
SERVER_ARGS = ["0", "--max-conns", str(len(MIX)), "--linger-ms", str(3 * DEADLINE_MS)]


def test_leaky_server_c_leak_found_at_handle_client(tool, tmp_path):
    src = EXAMPLE_SRC / "leaky_server.c"
    run = sockleak_run([example_path("leaky_server"), *SERVER_ARGS], tmp_path / "out",
                       driver=drive(*MIX))
    assert_leaks(run, {"kind": "close_wait", "count": 3,
                       "eof": (src, "handle_client", marker_line(src, "EOF-SITE")),
                       "open": (src, "main", marker_line(src, "OPEN-SITE"))})
    assert run.findings[0].get("tcp_state") == "CLOSE_WAIT", run.describe()


def test_fixed_server_c_clean(tool, tmp_path):
    run = sockleak_run([example_path("fixed_server"), *SERVER_ARGS], tmp_path / "out",
                       driver=drive(*MIX))
    assert_clean(run)


def test_leaky_client_c_leak_found_at_read_banner(tool, tmp_path, banner_server):
    src = EXAMPLE_SRC / "leaky_client.c"
    run = sockleak_run([example_path("leaky_client"), banner_server.port,
                        "--linger-ms", 3 * DEADLINE_MS], tmp_path / "out")
    assert_leaks(run, {"kind": "close_wait", "count": 1,
                       "eof": (src, "read_banner", marker_line(src, "EOF-SITE")),
                       "open": (src, "connect_loopback", marker_line(src, "OPEN-SITE"))})


@pytest.mark.parametrize("name,leaks", [("leaky_server", 2), ("fixed_server", 0)])
def test_c_server_without_max_conns_stops_cleanly_on_sigterm(tool, tmp_path, name, leaks):
    run = sockleak_run([example_path(name), "0"], tmp_path / "out",
                       driver=drive("echo", "quit", "echo"), stop_signal=signal.SIGTERM,
                       stop_after_findings=leaks)
    assert "handled 3 connections" in run.stdout, f"no clean exit{run.describe()}"
    if leaks:
        assert_leaks(run, {"kind": "close_wait", "count": leaks})
    else:
        assert_clean(run)


def _need_python():
    if not os.access(PYTHON, os.X_OK):
        pytest.skip(f"{PYTHON} not present")


def test_leaky_server_py_leak_found(tool, tmp_path):
    _need_python()
    # The EOF read happens inside libpython: check the kind and count only.
    run = sockleak_run([PYTHON, EXAMPLE_SRC / "leaky_server.py", *SERVER_ARGS],
                       tmp_path / "out", driver=drive(*MIX))
    assert_leaks(run, {"kind": "close_wait", "count": 3})


def test_fixed_server_py_clean(tool, tmp_path):
    _need_python()
    run = sockleak_run([PYTHON, EXAMPLE_SRC / "fixed_server.py", *SERVER_ARGS],
                       tmp_path / "out", driver=drive(*MIX))
    assert_clean(run)


def test_make_demo_script_succeeds(tool):
    if BUILD != (REPO / "build").resolve():
        pytest.skip("examples/demo.sh uses the in-tree build/ directory")
    example_path("leaky_server")
    example_path("drive")
    p = subprocess.run(["sh", "examples/demo.sh"], cwd=REPO, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "demo: OK" in p.stdout, (
        f"examples/demo.sh exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    assert Path(REPO / "build" / "demo-out").is_dir()
