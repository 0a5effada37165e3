"""A local Sentry ingest endpoint: accepts the SDK's envelopes over HTTP, as sentry.io does,
and keeps the events they carry, so tests can check what was reported."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def parse_envelope(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """The items of an envelope: a JSON header line, then per item a JSON header line and a
    payload (of the header's `length` bytes, or up to the next newline)."""
    lines = body.split(b"\n", 1)
    rest = lines[1] if len(lines) > 1 else b""
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        items.append((header, payload))
    return items


class SentryServer:
    """Collects events sent to http://public@127.0.0.1:<port>/1."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                encoding = self.headers.get("content-encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":
                    # The SDK prefers brotli whenever the `brotli` package happens to be
                    # installed (locust brings it, for one), as sentry.io accepts both.
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                for header, payload in parse_envelope(body):
                    if header.get("type") == "event":
                        received.append(json.loads(payload))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://public@127.0.0.1:{self._server.server_address[1]}/1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def sentry_server() -> Iterator[SentryServer]:
    """A running local Sentry endpoint."""
    server = SentryServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
