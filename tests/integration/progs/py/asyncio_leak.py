"""An asyncio server whose handler reads to end-of-stream and forgets to
close the connection. argv: connections to serve, seconds to hold them."""
import asyncio
import sys

n, hold = int(sys.argv[1]), float(sys.argv[2])
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
    await asyncio.sleep(hold)
    print("eofs", eofs, flush=True)


asyncio.run(main())
