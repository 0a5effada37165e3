"""CORS for the widget endpoint: only the key's allowed origins, never reflection."""

from __future__ import annotations

import httpx

from tests.support.factories import Factory, make_widget


async def test_preflight_answers_only_allowed_origins(
    http: httpx.AsyncClient, factory: Factory
) -> None:
    widget = await make_widget(factory)
    url = f"/widget/graphql?key={widget.key}"
    request_headers = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    ok = await http.options(url, headers={"origin": widget.origin, **request_headers})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == widget.origin
    assert "authorization" in ok.headers["access-control-allow-headers"]
    for origin in ("https://evil-example.com", "null", "https://shop.example.com.evil.io"):
        refused = await http.options(url, headers={"origin": origin, **request_headers})
        assert refused.status_code == 403, origin
        assert "access-control-allow-origin" not in refused.headers
    no_key = await http.options("/widget/graphql", headers={"origin": widget.origin})
    assert "access-control-allow-origin" not in no_key.headers
    other = await make_widget(factory, origin="https://other.example")
    crossed = await http.options(
        f"/widget/graphql?key={other.key}", headers={"origin": widget.origin, **request_headers}
    )
    assert crossed.status_code == 403


async def test_widget_post_carries_cors_headers(http: httpx.AsyncClient, factory: Factory) -> None:
    widget = await make_widget(factory)
    from tests.support.graphql import operation

    body = {"query": operation("StartWidgetSession"), "operationName": "StartWidgetSession"}
    response = await http.post(
        f"/widget/graphql?key={widget.key}",
        json=body,
        headers={"origin": widget.origin, "authorization": f"Bearer {widget.key}"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == widget.origin
    assert response.json()["data"]["startWidgetSession"]["visitorToken"].startswith("vt_")
    evil = await http.post(
        f"/widget/graphql?key={widget.key}",
        json=body,
        headers={"origin": "https://evil.example", "authorization": f"Bearer {widget.key}"},
    )
    assert evil.status_code == 403
    assert "access-control-allow-origin" not in evil.headers
