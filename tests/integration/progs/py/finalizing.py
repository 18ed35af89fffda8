"""Daemon threads blocked in recv while the interpreter shuts down: the
peers are closed by a C exit handler (sigsock.c's close_at_exit), which runs
after the interpreter finalized and freed the daemon threads' states, so
their recv calls return end-of-stream into a finalized interpreter.
argv: the sigsock library, threads."""
import ctypes
import socket
import sys
import threading
import time

lib = ctypes.CDLL(sys.argv[1])
n = int(sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(n)
port = srv.getsockname()[1]


tids = []


def reader(conn):
    tids.append(threading.get_native_id())

    def nested(depth):
        if depth:
            return nested(depth - 1)
        return conn.recv(16)      # end-of-stream comes after finalization
    nested(20)


peers = []
for _ in range(n):
    peers.append(socket.create_connection(("127.0.0.1", port)))
    conn, _ = srv.accept()
    threading.Thread(target=reader, args=(conn,), daemon=True).start()
    lib.close_at_exit(peers[-1].fileno())


def in_recv(tid):
    """Whether thread tid is blocked in recvfrom(2) (45 on x86-64), as the
    kernel says."""
    try:
        with open("/proc/self/task/%d/syscall" % tid) as f:
            return f.read().split()[0] == "45"
    except (OSError, IndexError):
        return False


# Until every reader is blocked in recv (at most 10 s), not a fixed time.
end = time.monotonic() + 10
while time.monotonic() < end and not (len(tids) == n and all(map(in_recv, tids))):
    time.sleep(0.01)
print("exiting", flush=True)
