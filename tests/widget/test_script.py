"""The widget script: served versioned and cacheable, with SRI, small, carrying its
operations from graphql/operations/widget/."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re

import httpx

from app.widget.http import widget_operations


async def test_script_is_served_with_integrity_and_cache_headers(http: httpx.AsyncClient) -> None:
    manifest = (await http.get("/widget/v1/manifest.json")).json()
    entry = manifest["files"]["parley-widget.js"]
    script = await http.get(entry["url"])
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "immutable" in script.headers["cache-control"]
    assert script.headers["x-content-type-options"] == "nosniff"
    digest = base64.b64encode(hashlib.sha384(script.content).digest()).decode()
    assert entry["integrity"] == f"sha384-{digest}"
    size = len(gzip.compress(script.content, 9))
    assert size < 30_000, size
    assert (await http.get("/widget/v1/../config.py")).status_code == 404
    assert (await http.get("/widget/v1/missing.js")).status_code == 404


async def test_script_carries_exactly_the_allowlisted_operations(http: httpx.AsyncClient) -> None:
    script = (await http.get("/widget/v1/parley-widget.js")).text
    match = re.search(r"var OPS = (\{.*?\});\n", script)
    assert match, "operations were not injected"
    embedded = json.loads(match.group(1))
    assert embedded == widget_operations()
    used = set(re.findall(r"OPS\.(\w+)", script))
    assert used <= set(embedded), used - set(embedded)
    # No HTML sinks: everything is inserted as text.
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script and "eval(" not in script
