"""A threading server with two handlers, each forgetting to close its
connection after reading end-of-stream. A first line "A" or "B" picks the
handler. Prints "listening on PORT"; serves argv[1] connections, then holds
them until the test releases it with SIGUSR2 (at most argv[2] seconds)."""
import signal
import socket
import sys
import threading

kept = []


def handle_a(conn):
    while True:
        data = conn.recv(4096)  # EOF-SITE-A
        if not data:
            break
    kept.append(conn)


def handle_b(conn):
    buf = b""
    while True:
        chunk = conn.recv(1024)  # EOF-SITE-B
        if not chunk:
            break
        buf += chunk
    kept.append(conn)


def dispatch(conn):
    first = conn.recv(2)
    (handle_a if first == b"A\n" else handle_b)(conn)


def main():
    n, limit = int(sys.argv[1]), float(sys.argv[2])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # the threads' too
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("listening on", srv.getsockname()[1], flush=True)
    threads = []
    for _ in range(n):
        conn, _ = srv.accept()
        t = threading.Thread(target=dispatch, args=(conn,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    signal.sigtimedwait({signal.SIGUSR2}, limit)  # until the test saw them
    print("kept", len(kept), flush=True)


main()
