"""The library must not change what a program does: same stdout, stderr and
exit status with and without LD_PRELOAD, C++ exceptions included."""
import os
import subprocess

import pytest

from conftest import LIB, PROG_SRC, PROGS, PYTHON, TIMEOUT, prog_path

SOCKETPAIR_DANCE = r"""
import os, socket, sys
a, b = socket.socketpair()
a.sendall(b"ping"); print(b.recv(16)); b.sendall(b"pong"); print(a.recv(16))
a.close(); print(repr(b.recv(16)))          # end-of-stream, then a real close
b.close()
u1, u2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
u1.send(b""); print(repr(u2.recv(16)))
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); d, _ = s.accept()
c.shutdown(socket.SHUT_WR); print(repr(d.recv(8)))
try:
    socket.socket().connect(("127.0.0.1", 1))
except OSError as e:
    print("connect error", e.errno)
try:
    os.read(1000, 1)
except OSError as e:
    print("read error", e.errno)
for x in (c, d, s, u1, u2): x.close()
print("done"); sys.exit(7)
"""

COMMANDS = {
    "python-socketpair-dance": [PYTHON, "-c", SOCKETPAIR_DANCE],
    "ls": ["ls", "-a", "/"],
    "sh-redirections": ["sh", "-c", "echo out; echo err >&2; exec 3>/dev/null; "
                        "echo closed >&3; exec 3>&-; exit 5"],
}


def run_both(argv, tmp_path):
    """(without, with) the library, as CompletedProcess objects."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    base = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=TIMEOUT)
    env_lib = dict(env, LD_PRELOAD=str(LIB),
                   SOCKLEAK_OPTIONS=f"output={tmp_path / 'out'}:deadline_ms=200")
    under = subprocess.run(argv, env=env_lib, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
    return base, under


def assert_same(base, under, what):
    assert under.returncode == base.returncode, (
        f"{what}: exit {under.returncode} with the library, {base.returncode} without;"
        f" stderr {under.stderr[-2000:]!r}")
    assert under.stdout == base.stdout, (
        f"{what}: stdout differs with the library:\n{under.stdout[-2000:]!r}\nwithout:\n"
        f"{base.stdout[-2000:]!r}")
    assert under.stderr == base.stderr, (
        f"{what}: stderr differs with the library:\n{under.stderr[-2000:]!r}\nwithout:\n"
        f"{base.stderr[-2000:]!r}")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_same_output_with_library(name, lib, tmp_path):
    argv = COMMANDS[name]
    if not os.access(argv[0], os.X_OK) and not argv[0].isalpha():
        pytest.skip(f"{argv[0]} not present")
    base, under = run_both(argv, tmp_path)
    assert_same(base, under, name)


def test_cxx_exceptions_unchanged_with_library(lib, tmp_path):
    if not (PROG_SRC / "cxx_throw.cc").exists():
        pytest.skip("tests/integration/progs/cxx_throw.cc not written yet")
    prog = prog_path("cxx_throw")
    base, under = run_both([str(prog)], tmp_path)
    assert base.stdout, "cxx_throw printed nothing without the library"
    assert_same(base, under, "cxx_throw")


def test_test_programs_unchanged_with_library(lib, tmp_path):
    """A leaking program's own output and status do not change either."""
    for name in ("pos_two_sites", "neg_zero_len_recv", "neg_syscall_close"):
        base, under = run_both([str(prog_path(name))], tmp_path)
        assert_same(base, under, name)
    assert PROGS.is_dir()
