"""A stand-in for Sentry's ingest endpoint that speaks the SDK's real wire protocol.

The official sentry-sdk transport POSTs envelopes to `/api/<project>/envelope/`, usually
gzip-compressed, with an `X-Sentry-Auth` header naming the DSN's public key. An envelope is
newline-separated: a JSON header, then items, each a JSON item header (with an optional
`length` in bytes) followed by its payload. This server decodes them and keeps every item,
raw and parsed, so tests can assert what really left the process.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Envelope:
    """One received envelope."""

    project: str
    auth: str
    raw: bytes
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def payloads(self, item_type: str) -> list[dict[str, Any]]:
        """The JSON payloads of the items of one type ("event", "transaction"...)."""
        return [json.loads(body) for head, body in self.items if head.get("type") == item_type]


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Split an envelope into its header and (item header, payload) pairs."""
    first, _, rest = data.partition(b"\n")
    header = json.loads(first)
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item_header = json.loads(line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:]
            rest = rest.removeprefix(b"\n")
        items.append((item_header, payload))
    return header, items


class SentryServer:
    """Runs on 127.0.0.1 on a free port; `dsn(project)` gives the DSN to configure."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 3 or parts[0] != "api" or parts[2] != "envelope":
                    self.send_response(404)
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                header, items = parse_envelope(body)
                envelope = Envelope(
                    project=parts[1],
                    auth=self.headers.get("X-Sentry-Auth", ""),
                    raw=body,
                    header=header,
                    items=items,
                )
                with outer._lock:
                    outer.envelopes.append(envelope)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SentryServer:
        """Begin accepting envelopes."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()

    def dsn(self, project: int = 42, key: str = "publickey") -> str:
        """A DSN pointing at this server."""
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def events(self) -> list[dict[str, Any]]:
        """Every error event received so far."""
        return self.payloads("event")

    def payloads(self, item_type: str) -> list[dict[str, Any]]:
        """Every item of `item_type` ("event", "transaction", ...) received so far."""
        with self._lock:
            return [p for envelope in self.envelopes for p in envelope.payloads(item_type)]

    def raw(self) -> bytes:
        """Every envelope received so far, decompressed, concatenated."""
        with self._lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)

    def wait_for(
        self, predicate: Any, timeout: float = 10.0, item_type: str = "event"
    ) -> list[dict[str, Any]]:
        """Items (error events unless told) matching `predicate`, waiting up to `timeout`
        seconds for at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.payloads(item_type) if predicate(e)]
            if found:
                return found
            time.sleep(0.05)
        return []
