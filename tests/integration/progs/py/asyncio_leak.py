"""An asyncio server whose handler reads to end-of-stream and forgets to
close the connection. argv: connections to serve, then at most how many
seconds to hold them: until the test releases it with SIGUSR2."""
import asyncio
import signal
import sys

n, limit = int(sys.argv[1]), float(sys.argv[2])
eofs = 0
kept = []


async def handle(reader, writer):
    global eofs
    while await reader.read(4096):
        pass
    eofs += 1
    kept.append(writer)           # never closed: the leak


async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)  # LISTEN-SITE
    print("listening on", srv.sockets[0].getsockname()[1], flush=True)
    for _ in range(400):
        if eofs >= n:
            break
        await asyncio.sleep(0.05)
    signal.sigtimedwait({signal.SIGUSR2}, limit)  # until the test saw them
    print("eofs", eofs, flush=True)


signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})  # the loop's threads' too
asyncio.run(main())
