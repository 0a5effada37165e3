"""The demo: a page on a second local port (so a different origin than the API) that embeds
the widget with a publishable key of a demo workspace, created on first run."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.config import Settings

log = logging.getLogger(__name__)

DEMO_EMAIL = "demo@parley.local"
DEMO_SLUG = "parley-demo"
# A local demonstration account; `make run` prints it so a developer can log in to the demo
# workspace's dashboard API. Never used outside the embedded development stack.
DEMO_PASSWORD = "parley-demo-password"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley demo shop</title>
<style>
  body {{ font-family: Georgia, serif; margin: 0; background: #faf7f2; color: #222; }}
  header {{ background: #3b2f2f; color: #fff; padding: 24px; }}
  main {{ max-width: 720px; margin: 32px auto; padding: 0 16px; line-height: 1.6; }}
  /* Hostile host styles: the widget must not be affected by them. */
  button {{ background: hotpink !important; font-size: 40px; }}
  div {{ border: 0; }}
</style>
</head>
<body>
<header><h1>Parley demo shop</h1>
<p>This page is served from {page_origin}; the API lives at {api}.</p></header>
<main>
  <p>Open the chat bubble in the corner and ask about shipping, returns or opening hours.
  Answers come from the demo workspace's documents, with citations.</p>
</main>
{snippet}
</body>
</html>
"""


def render(api_url: str, key: str, page_origin: str) -> bytes:
    """The demo page embedding the widget."""
    from app.widget.http import snippet

    return PAGE.format(
        page_origin=html.escape(page_origin),
        api=html.escape(api_url),
        snippet=snippet(api_url, key),
    ).encode()


def serve(port: int, page: bytes, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve `page` at / on host:port in a background thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            if path not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("demo page: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="demo-page", daemon=True).start()
    return server


async def seed(settings: Settings, page_origin: str) -> str:
    """Create (once) the demo workspace and a publishable key for the demo page's origin;
    returns the key. The key is kept under the data directory because it is shown only once."""
    path = Path(settings.data_dir) / "demo.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("origin") == page_origin:
            return str(stored["key"])
    from app import admin
    from app.errors import NotFound

    try:
        await admin.workspace_id_by_slug(settings, DEMO_SLUG)
        created = False
    except NotFound:
        await admin.create_workspace(
            settings,
            name="Parley Demo Shop",
            owner_email=DEMO_EMAIL,
            owner_password=DEMO_PASSWORD,
            slug=DEMO_SLUG,
        )
        created = True
    key = await admin.create_publishable_key(
        settings, slug=DEMO_SLUG, name="demo page", origins=[page_origin]
    )
    if created:
        await admin.seed_demo_knowledge(settings, slug=DEMO_SLUG)
    path.write_text(json.dumps({"key": key, "origin": page_origin}))
    return key


def start_demo(settings: Settings, api_url: str, port: int) -> tuple[ThreadingHTTPServer, str]:
    """Seed if needed and serve the demo page; returns the server and its URL."""
    origin = f"http://127.0.0.1:{port}"
    key = asyncio.run(seed(settings, origin))
    return serve(port, render(api_url, key, origin)), origin + "/"
