"""The load generator: a separate process that replays prepared HTTP requests at a fixed
concurrency for a fixed time and prints one JSON line of results.

    python ops/bench/graphql/load.py < spec.json

The spec names the server (`port`), the `concurrency`, `warmup_s`, `duration_s` and a list of
raw HTTP/1.1 `requests` (strings); each of `concurrency` keep-alive connections sends one
request, waits for the whole answer, and sends the next (closed loop), picking requests in
turn from its own offset. A request counts as an error when the status is not 200 or the
body has a GraphQL `"errors"` member. Only requests that complete inside the measured window
count. The client is plain asyncio streams on uvloop rather than an HTTP library, so that it
costs the shared CPU as little as possible.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


class Connection:
    """One keep-alive HTTP/1.1 connection that reads Content-Length or chunked answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to the server on localhost."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, return the status and body."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
            return status, bytes(body)
        return status, await self.reader.readexactly(length or 0)

    def close(self) -> None:
        """Close the socket."""
        self.writer.close()


async def worker(
    port: int,
    requests: list[bytes],
    offset: int,
    start: float,
    end: float,
    latencies: list[float],
    errors: list[str],
    answered: list[int],
) -> None:
    """Send requests back to back until `end`; record those that finish in [start, end)."""
    conn = await Connection.open(port)
    n = offset
    try:
        while True:
            now = time.perf_counter()
            if now >= end:
                return
            request = requests[n % len(requests)]
            n += 1
            try:
                status, body = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors.append(f"connection: {exc!r}")
                conn.close()
                conn = await Connection.open(port)
                continue
            done = time.perf_counter()
            answered.append(1)  # every answer, warm-up included: the server's CPU covers them
            if done < start or done >= end:
                continue
            latencies.append(done - now)
            if status != 200 or b'"errors"' in body[:200_000]:
                errors.append(f"{status}: {body[:300]!r}")
    finally:
        conn.close()


def percentile(ordered: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of sorted values."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the server as the spec says and summarise."""
    requests = [r.encode() for r in spec["requests"]]
    concurrency = int(spec["concurrency"])
    start = time.perf_counter() + float(spec["warmup_s"])
    end = start + float(spec["duration_s"])
    latencies: list[float] = []
    errors: list[str] = []
    answered: list[int] = []
    step = max(1, len(requests) // concurrency)
    await asyncio.gather(
        *(
            worker(spec["port"], requests, i * step, start, end, latencies, errors, answered)
            for i in range(concurrency)
        )
    )
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "answered": len(answered),
        "rps": len(ordered) / float(spec["duration_s"]),
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    """Read the spec from stdin, print the result as JSON."""
    spec = json.load(sys.stdin)
    try:
        import uvloop
    except ImportError:  # plain asyncio works too, only slower
        result = asyncio.run(run(spec))
    else:
        result = uvloop.run(run(spec))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
