"""A server whose accepted connections fill its fd table (fd_exhaustion).

full_server.py LIMIT: the soft RLIMIT_NOFILE becomes LIMIT (the hard one is
left); connections are kept open until their peers close them, so accept
fails with EMFILE again and again while more wait in the queue. stdout, one
line each: "listening on PORT", "fd N" per accepted connection, "full PID
CLIENTS ERRNO" at the first failure of each fill, "drained" once the last
client is gone, "failures N" at SIGTERM."""
import errno
import os
import resource
import select
import signal
import socket
import sys
import time

stop = False


def on_term(sig, frame):
    global stop
    stop = True


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    signal.signal(signal.SIGTERM, on_term)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(256)
    print(f"listening on {srv.getsockname()[1]}", flush=True)
    clients, full, failures = {}, False, 0
    poller = select.poll()
    poller.register(srv, select.POLLIN)
    while not stop:
        try:
            events = poller.poll(1000)
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == srv.fileno():
                try:
                    conn, _ = srv.accept()  # ACCEPT-SITE
                except OSError as e:
                    if e.errno not in (errno.EMFILE, errno.ENFILE):
                        raise
                    failures += 1
                    if not full:
                        print(f"full {os.getpid()} {len(clients)}"
                              f" {errno.errorcode[e.errno]}", flush=True)
                    full = True
                    time.sleep(0.002)
                    continue
                clients[conn.fileno()] = conn
                poller.register(conn, select.POLLIN)
                print(f"fd {conn.fileno()}", flush=True)
            elif fd in clients:
                if clients[fd].recv(256):
                    continue
                poller.unregister(fd)
                clients.pop(fd).close()
                if not clients and full:
                    full = False
                    print("drained", flush=True)
    print(f"failures {failures}", flush=True)


main()
