"""A forking server (socketserver.ForkingTCPServer) while a thread of the
parent keeps making connections: each child reads to end-of-stream and
holds its connection without closing it until the file go exists (the
test's go-ahead, once it saw every child's socket; at most 20 s).
argv: connections, go."""
import os
import socket
import socketserver
import sys
import threading
import time

n, go = int(sys.argv[1]), sys.argv[2]
stop = threading.Event()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while self.request.recv(4096):  # EOF-SITE
            pass
        # End-of-stream read, the socket still open. Held until the test says
        # so, not for a fixed time: the first child must still hold its socket
        # when the last one, forked later, reads its end-of-stream.
        for _ in range(400):
            if os.path.exists(go):
                break
            time.sleep(0.05)


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True


def churn(port):
    """Connections to a second listener, opened and closed while the main
    thread forks."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"x")
        except OSError:
            pass


side = socket.socket()
side.bind(("127.0.0.1", 0))
side.listen(128)
threading.Thread(target=lambda: [side.accept()[0].close() for _ in iter(int, 1)],
                 daemon=True).start()
threading.Thread(target=churn, args=(side.getsockname()[1],), daemon=True).start()
srv = Server(("127.0.0.1", 0), Handler)
srv.timeout = 20
print("listening on", srv.server_address[1], flush=True)
for _ in range(n):
    srv.handle_request()
stop.set()
srv.collect_children(blocking=True)
srv.server_close()
print("served", n, flush=True)
