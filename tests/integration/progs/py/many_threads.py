"""A threading server (socketserver.ThreadingTCPServer) hammered by many
client threads of the same process. The handler reads to end-of-stream;
it forgets to close when the request starts with L. Prints the number of
leaked and closed connections. argv: client threads, connections each,
at most how many seconds to hold the leaks: until the test releases it with
SIGUSR2."""
import signal
import socket
import socketserver
import sys
import threading
import time

threads, each, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # every thread's
kept = []
finished = [0]                # connections whose handler and close are done
lock = threading.Lock()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        first = b""
        while True:
            chunk = self.request.recv(64)  # EOF-SITE
            if not chunk:
                break
            first = first or chunk
        if first.startswith(b"L"):
            with lock:
                kept.append(self.request)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # no handshake dropped from a full accept queue

    def shutdown_request(self, request):
        with lock:
            leak = any(request is k for k in kept)
        if not leak:              # the leak: kept, never closed
            super().shutdown_request(request)
        with lock:
            finished[0] += 1


def client(port, k):
    for i in range(each):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"L\n" if (k * each + i) % 5 == 0 else b"C\n")


srv = Server(("127.0.0.1", 0), Handler)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
cs = [threading.Thread(target=client, args=(port, k)) for k in range(threads)]
for t in cs:
    t.start()
for t in cs:
    t.join()
# Until every handler has closed or kept its connection, a correctly closed
# one may still sit in CLOSE_WAIT beside the leaks.
for _ in range(1000):
    with lock:
        if finished[0] >= threads * each:
            break
    time.sleep(0.02)
print("listening on", port, flush=True)
signal.sigtimedwait({signal.SIGUSR2}, limit)  # until the test saw them
srv.shutdown()
print("kept", len(kept), flush=True)
