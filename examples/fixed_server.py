#!/usr/bin/python3
"""fixed_server.py: leaky_server.py with its CLOSE_WAIT bug fixed.

Usage: fixed_server.py PORT [--max-conns N] [--linger-ms M]

A thread-per-connection request server on 127.0.0.1:PORT (0 = any free
port) that prints "listening on PORT". Requests are echoed back; "QUIT" gets
"bye" and a close. When the client hangs up, handle_client closes too.
With --max-conns N it exits after N connections and M more milliseconds;
otherwise it runs until SIGINT or SIGTERM. It exits 0 either way.
"""
import argparse
import signal
import socket
import sys
import threading

sessions = []  # every connection ever accepted, as in leaky_server.py


def handle_client(conn):
    while True:
        data = conn.recv(4096)
        if not data:
            conn.close()  # the client hung up: close our side too
            return
        if data.startswith(b"QUIT"):
            conn.sendall(b"bye\n")
            conn.close()
            return
        conn.sendall(data)


def main(argv, name):
    ap = argparse.ArgumentParser(prog=name)
    ap.add_argument("port", type=int)
    ap.add_argument("--max-conns", type=int, default=0)
    ap.add_argument("--linger-ms", type=int, default=0)
    args = ap.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(64)
    lsock.settimeout(0.2)
    print("listening on %d" % lsock.getsockname()[1], flush=True)

    threads = []
    while not stop.is_set() and (args.max_conns == 0 or len(threads) < args.max_conns):
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        conn.settimeout(None)
        sessions.append(conn)
        th = threading.Thread(target=handle_client, args=(conn,), daemon=True)
        th.start()
        threads.append(th)
    lsock.close()

    if args.max_conns:
        for th in threads:
            while th.is_alive() and not stop.is_set():
                th.join(0.1)
        stop.wait(args.linger_ms / 1000.0)
    print("handled %d connections" % len(threads), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "fixed_server.py"))
