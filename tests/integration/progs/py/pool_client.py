"""An HTTP client whose pooled keep-alive connection the server closes
while it idles in urllib3's pool: nothing reads its FIN, it sits in
CLOSE_WAIT. argv[1]: the server's port."""
import sys
import time

import urllib3


def fetch_all(http, port):
    for _ in range(3):
        r = http.request("GET", "http://127.0.0.1:%d/" % port)  # OPEN-SITE
        assert r.data == b"ok"


def main():
    port = int(sys.argv[1])
    http = urllib3.PoolManager(maxsize=1)
    fetch_all(http, port)
    time.sleep(0.4)               # idle in the pool: the server closes it
    print("listening on %d" % port, flush=True)
    time.sleep(0.6)               # the pooled socket sits in CLOSE_WAIT


main()
