"""
The kernel's TCP echo listener for the interop tests (RFC 862), run inside the
test's namespace: each connection gets its bytes back, then a FIN once the
peer's FIN came (half-close aware). Prints {"listening": true} once listen(2)
returned.

    python3 tcp-echo.py HOST PORT [BACKLOG]     (BACKLOG defaults to 4096)

Python, not kernel-tool.ts, because the listen backlog must be real: Bun 1.4's
node:net and Bun.listen call listen(2) with 512 whatever backlog they are
given (`ss -ltn` shows Send-Q 512). tcp.test.ts opens 1,000 connections at
once and needs a backlog of at least 1,000; the reason is written there.
"""

import asyncio
import json
import sys


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    backlog = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    server = await asyncio.start_server(echo, host, port, backlog=backlog, reuse_address=True)
    print(json.dumps({"listening": True}), flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
