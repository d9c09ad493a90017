"""A real hub with the demo city, and Debian's chromium with no network beyond loopback."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from conftest import free_port, running, service_missing
from smartseoul.app import create_app
from smartseoul.config import Settings
from smartseoul.hub.store.sqlite import SqliteStore
from smartseoul.ingest.loader import DEMO_CONTEXT_ID, load_into

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Only 127.0.0.1 resolves: the page must fetch nothing from the internet. SwiftShader gives
# headless chromium the WebGL that MapLibre needs.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


@contextmanager
def demo_hub(data_dir: Path) -> Iterator[str]:
    """Serve the demo city (generated Han River readings) on a free port; yields the base URL."""
    port = free_port()
    settings = Settings(data_dir=data_dir, port=port)

    async def load() -> None:
        store = SqliteStore(settings.sqlite_path)
        await store.open()
        try:
            await load_into(store, settings, han_river_dir=None)
        finally:
            await store.close()

    # In a thread of its own: playwright's sync API may already run a loop in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, load()).result()
    with running(create_app(settings), port) as base:
        yield base


def demo_link(base: str) -> str:
    url = f"{base}/ngsi-ld/v1/jsonldContexts/{DEMO_CONTEXT_ID}"
    return f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@contextmanager
def chromium() -> Iterator[object]:
    """A headless chromium (skips, or fails in CI, when chromium or playwright is missing)."""
    if CHROMIUM is None:
        service_missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_map(browser, base: str, *, lang: str = "ko", width: int = 1400, height: int = 1000):
    """A page on the map, after it has drawn the hub's entities and loaded their history."""
    page = browser.new_page(viewport={"width": width, "height": height}, locale="ko-KR")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Nothing may be fetched from outside the server (the resolver rules would also stop it).
    page.on("request", lambda request: None if request.url.startswith((base, "data:", "blob:"))
            else errors.append(f"outside request: {request.url}"))  # fmt: skip
    page.goto(f"{base}/?lang={lang}")
    page.wait_for_function("document.documentElement.dataset.history === 'loaded'", timeout=30000)
    if page.evaluate("document.documentElement.dataset.map") == "webgl":
        page.wait_for_function(
            "document.documentElement.dataset.mapLoaded === 'true'", timeout=30000
        )
    page.errors = errors
    return page
