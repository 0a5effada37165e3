"""A minimal HTTP/1.1 keep-alive client for load generators.

The load generators share the machine with the server they measure, so each request must cost
the client as little CPU as possible: httpx costs about as much per request as the server does.
It speaks just enough HTTP for Parley's answers (Content-Length bodies, keep-alive).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress


class Connection:
    """One keep-alive connection; requests on it run one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one request and read the whole answer; returns the status code and the body."""
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(head.encode() + body)
            status_line = await self.reader.readline()
            if status_line:
                break
            # The server closed an idle keep-alive connection before reading this request.
            await self.close()
            if attempt:
                raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None
