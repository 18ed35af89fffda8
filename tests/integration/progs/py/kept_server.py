"""The issue's Python server: a handler reads each request and keeps the
connection in a list, for a reply that never comes. The clients hang up,
so every kept socket sits in CLOSE_WAIT with its end-of-stream unread.
Prints "listening on PORT", serves argv[1] connections, then holds them
until the test releases it with SIGUSR2 (at most 20 s)."""
import signal
import socket
import sys

kept = []


def handle(conn):
    request = conn.recv(100)  # LAST-READ-SITE
    assert request
    kept.append(conn)


def main():
    n = int(sys.argv[1])
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("listening on", srv.getsockname()[1], flush=True)
    for _ in range(n):
        conn, _ = srv.accept()  # ACCEPT-SITE
        handle(conn)  # HANDLE-CALL
    signal.sigtimedwait({signal.SIGUSR2}, 20)


main()
