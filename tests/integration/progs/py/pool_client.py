"""An HTTP client whose pooled keep-alive connection the server closes
while it idles in urllib3's pool: nothing reads its FIN, it sits in
CLOSE_WAIT, until the test releases the client with SIGUSR2 (at most 20 s).
argv[1]: the server's port."""
import signal
import sys

import urllib3


def fetch_all(http, port):
    for _ in range(3):
        r = http.request("GET", "http://127.0.0.1:%d/" % port)  # OPEN-SITE
        assert r.data == b"ok"


def main():
    port = int(sys.argv[1])
    http = urllib3.PoolManager(maxsize=1)
    fetch_all(http, port)
    # Idle in the pool: the server closes it, the pooled socket sits in
    # CLOSE_WAIT; the test waits for that and for the finding.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    print("listening on %d" % port, flush=True)
    signal.sigtimedwait({signal.SIGUSR2}, 20)


main()
