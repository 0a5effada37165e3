"""The widget in a real browser (Debian's Chromium driven by Playwright): embedded with SRI on
a page of another origin, it asks, streams the answer over graphql-transport-ws, links its
citations, renders model output as text, captures a lead the dashboard then lists, restores
the conversation after a reload, fits a phone screen, and disables itself on a page whose
origin its key does not allow. Screenshots land in test-artifacts/ for a human to look at."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.devstack import demo
from app.devstack.redis import free_port
from tests.support.ai import Stack, serve
from tests.support.factories import Tenant, make_widget
from tests.support.knowledge import add_document
from tests.support.openai_server import FakeOpenAI, Reply

playwright_api = pytest.importorskip("playwright.async_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POLICY = (
    "# Returns\n\nRefunds take five business days to reach your card once the parcel is back "
    "in our warehouse. Returns are free within thirty days."
)
SOURCE_URL = "https://shop.example.com/help/returns"
# Model output with markup in it. The streamed deltas carry it raw (the server strips tags
# only from the final message), so the widget must show it as text and never run it.
REPLY = 'Refunds take five business days [1]. &lt;b&gt; <img src=x onerror="window.__pwned=1">'
HOST = "#parley-widget"  # Playwright's CSS locators pierce the widget's open shadow root.


def chromium_path() -> str | None:
    """The Chromium binary: PARLEY_CHROMIUM, else Debian's."""
    return os.environ.get("PARLEY_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the module. `make test` installs Chromium and sets
    PARLEY_REQUIRE_BROWSER, so a missing browser fails there instead of skipping."""
    path = chromium_path()
    if path is None:
        if os.environ.get("PARLEY_REQUIRE_BROWSER"):
            pytest.fail("Chromium is not installed (apt-get install chromium, or `make install`)")
        pytest.skip("Chromium is not installed")
    async with playwright_api.async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def page_origin() -> str:
    """An origin for the demo page: a free port of its own, so not the API's origin."""
    return f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def demo_page(api: str, key: str, origin: str) -> Iterator[None]:
    """Serve the demo page embedding the widget with `key` at `origin`."""
    server = demo.serve(int(origin.rsplit(":", 1)[1]), demo.render(api, key, origin))
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.asynccontextmanager
async def browser_page(browser: Any, **options: Any) -> AsyncIterator[tuple[Any, Recorder]]:
    """A fresh browser context and page, recorded."""
    context = await browser.new_context(**options)
    try:
        page = await context.new_page()
        yield page, Recorder(page)
    finally:
        await context.close()


class Recorder:
    """What the page printed and what its WebSockets received."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.frames: list[dict[str, Any]] = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("websocket", self._socket)

    def _socket(self, socket: Any) -> None:
        socket.on("framereceived", lambda payload: self.frames.append(json.loads(payload)))

    def answer_events(self) -> list[str]:
        """The kinds of WidgetAnswer events received over the socket, in order."""
        return [
            f["payload"]["data"]["answer"]["kind"]
            for f in self.frames
            if f.get("type") == "next" and "answer" in (f["payload"].get("data") or {})
        ]


async def shot(page: Any, name: str) -> None:
    """Save a screenshot for people reviewing the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))


async def test_the_widget_end_to_end_in_chromium(
    browser: Any, generative: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("chat", Reply(text=REPLY, usage=(200, 20)))
    fake_openai.stream_chunk_delay_s = 0.03  # slow enough that the answer arrives in pieces
    async with serve(generative) as address:
        origin = page_origin()
        widget = await make_widget(generative.factory, origin=origin)
        await widget.tenant.gql.op(
            "UpdateWidgetConfig",
            {"keyId": widget.key_id, "input": {"title": "Shop help", "leadCapture": True}},
        )
        await add_document(widget.tenant, POLICY, sourceUrl=SOURCE_URL)
        await generative.drain()
        with demo_page(f"http://{address}", widget.key, origin):
            async with (
                generative.running_workers(),
                browser_page(browser, viewport={"width": 1280, "height": 800}) as (page, seen),
            ):
                await page.goto(origin + "/")
                await ask_and_check_the_answer(page, seen)
                await submit_a_lead(page, widget.tenant)
                await check_keyboard_and_restore(page, seen)


async def ask_and_check_the_answer(page: Any, seen: Recorder) -> None:
    """Open the panel, ask, and see the streamed, cited answer rendered as text."""
    expect = playwright_api.expect
    launcher = page.locator(f"{HOST} button.launcher")
    await expect(launcher).to_be_visible(timeout=10_000)
    # The host page's `button { background: hotpink !important }` stays outside.
    colour = await launcher.evaluate("b => getComputedStyle(b).backgroundColor")
    assert colour != "rgb(255, 105, 180)"
    await launcher.click()
    panel = page.locator(f"{HOST} section.panel")
    await expect(panel).to_be_visible()
    await expect(panel.locator("h2")).to_have_text("Shop help")
    textarea = page.locator(f"{HOST} textarea")
    await expect(textarea).to_be_focused()
    await textarea.fill("How long do refunds take?")
    await page.keyboard.press("Enter")
    answer = page.locator(f"{HOST} .msg.assistant").last
    link = answer.locator("ol.sources a")
    await expect(link).to_have_attribute("href", SOURCE_URL, timeout=20_000)
    await expect(answer).to_contain_text("Refunds take five business days [1].")
    # Markup from the model is shown as text (an entity stays literal) and never runs.
    await expect(answer).to_contain_text("&lt;b&gt;")
    assert any("onerror" in str(f) for f in seen.frames), "the raw markup never reached the page"
    assert await page.evaluate("window.__pwned") is None
    assert await answer.locator("img").count() == 0
    await shot(page, "answer")
    kinds = seen.answer_events()
    assert kinds.count("DELTA") > 1, kinds  # streamed over the WebSocket, in pieces
    assert kinds[-1] == "DONE", kinds


async def submit_a_lead(page: Any, tenant: Tenant) -> None:
    """The lead form, with consent, lands in the dashboard tied to the conversation."""
    expect = playwright_api.expect
    await page.locator(f"{HOST} button.link").click()
    lead = page.locator(f"{HOST} form.lead")
    await lead.locator("input[name=email]").fill("visitor@example.org")
    await lead.locator("input[name=consent]").check()
    await lead.locator("button[type=submit]").click()
    await expect(lead).to_be_hidden()
    await shot(page, "lead")
    leads = (await tenant.gql.op("Leads")).data["leads"]["edges"]
    assert [e["node"]["email"] for e in leads] == ["visitor@example.org"]
    conversations = (await tenant.gql.op("Conversations")).data["conversations"]["edges"]
    assert leads[0]["node"]["conversationId"] in [e["node"]["id"] for e in conversations]


async def check_keyboard_and_restore(page: Any, seen: Recorder) -> None:
    """Escape closes the panel; after a reload the conversation comes back."""
    expect = playwright_api.expect
    await page.locator(f"{HOST} textarea").focus()
    await page.keyboard.press("Escape")
    await expect(page.locator(f"{HOST} section.panel")).to_be_hidden()
    await expect(page.locator(f"{HOST} button.launcher")).to_be_focused()
    await page.reload()
    await page.locator(f"{HOST} button.launcher").click()
    await expect(page.locator(f"{HOST} .msg.visitor")).to_have_text(["How long do refunds take?"])
    await expect(page.locator(f"{HOST} ol.sources a").first).to_have_attribute("href", SOURCE_URL)
    assert not [c for c in seen.console if "[parley]" in c], seen.console


async def test_the_panel_fills_a_phone_screen(browser: Any, extractive: Stack) -> None:
    async with serve(extractive) as address:
        origin = page_origin()
        widget = await make_widget(extractive.factory, origin=origin)
        phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
        with demo_page(f"http://{address}", widget.key, origin):
            async with browser_page(browser, **phone) as (page, _):
                await page.goto(origin + "/")
                await page.locator(f"{HOST} button.launcher").tap()
                panel = page.locator(f"{HOST} section.panel")
                await playwright_api.expect(panel).to_be_visible()
                box = await panel.bounding_box()
                assert box is not None
                assert (box["x"], box["width"]) == (0, 390), box
                assert box["height"] >= 800, box
                await shot(page, "phone")


async def test_a_page_whose_origin_is_not_allowed_gets_no_widget(
    browser: Any, extractive: Stack
) -> None:
    async with serve(extractive) as address:
        widget = await make_widget(extractive.factory, origin="https://shop.example.com")
        origin = page_origin()
        with demo_page(f"http://{address}", widget.key, origin):
            async with browser_page(browser) as (page, seen):
                async with page.expect_console_message(
                    lambda m: "[parley] widget disabled" in m.text, timeout=10_000
                ):
                    await page.goto(origin + "/")
                assert await page.locator(HOST).count() == 0
                await shot(page, "refused-origin")
                # The refusal came from the server: no CORS grant for this origin.
                assert not any("answer" in str(f) for f in seen.frames)
