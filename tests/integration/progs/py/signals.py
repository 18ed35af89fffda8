"""Socket work in signal handlers while the main thread and a server
thread do socket work too: a Python handler (signal.setitimer, every
millisecond) opens, uses and closes a connection; a C handler (sigsock.c,
loaded with ctypes, on SIGPROF every millisecond of CPU) makes and closes a
socket while it interrupts the interpreter anywhere. Every connection is
closed correctly. argv: the C handler library, connections the main
thread makes."""
import ctypes
import signal
import socket
import sys
import threading

"127.0.0.1".encode("idna")  # the codec looked up now, not first inside a handler
lib = ctypes.CDLL(sys.argv[1])
rounds = int(sys.argv[2])

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(128)
port = srv.getsockname()[1]
served = 0


def serve():
    global served
    while True:
        conn, _ = srv.accept()
        if conn.recv(16) == b"STOP":
            conn.close()
            return
        while conn.recv(4096):
            pass
        conn.close()
        served += 1


def one_connection(payload):
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(payload)


py_runs = 0


def on_alarm(signum, frame):
    global py_runs
    py_runs += 1
    one_connection(b"from the handler")


t = threading.Thread(target=serve)
t.start()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
lib.sigsock_start()
busy = 0
try:
    for i in range(rounds):
        one_connection(b"from main")
        busy += sum(x * x for x in range(2000))  # the interpreter, interrupted
finally:
    lib.sigsock_stop()
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
c_runs = lib.sigsock_runs()
with socket.create_connection(("127.0.0.1", port)) as c:
    c.sendall(b"STOP")
t.join()
print("served", served, "python handler", py_runs, "c handler", c_runs,
      "ok" if served == rounds + py_runs and py_runs > 0 and c_runs > 0 else "MISMATCH",
      flush=True)
