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


def reader(conn):
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
time.sleep(0.2)
print("exiting", flush=True)
