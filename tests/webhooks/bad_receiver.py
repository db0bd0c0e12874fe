"""A webhook receiver that answers badly on purpose, run as its own process so that what it holds
never counts in the worker's memory: `python bad_receiver.py PORT SIZE`.

`/big` answers 200 with a SIZE-byte body, streamed 1 MiB at a time; `/trickle` sends its status line
and one endless header a byte every 50 ms. Prints "ready" once it accepts connections.
"""

from __future__ import annotations

import asyncio
import sys

CHUNK = b"x" * 2**20


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    try:
        if request_line.split()[1] == b"/big":
            size = int(sys.argv[2])
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % size)
            for _ in range(size // len(CHUNK)):
                writer.write(CHUNK)
                await writer.drain()
        else:
            for byte in b"HTTP/1.1 200 OK\r\nx-slow: " + b"y" * 100_000:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
    except ConnectionError:
        pass  # the client stopped reading: what this receiver is here to see
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
