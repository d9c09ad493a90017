"""The catalog page in a real headless browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from opendata_city import start_city

from conftest import service_missing

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


@pytest.fixture
def city(hub):
    yield from start_city(hub)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        service_missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_catalog_search_dataset_page_and_download(city, browser):
    page = browser.new_page(locale="ko-KR", accept_downloads=True)
    page.goto(city.hub.base + "/opendata/?lang=ko")
    page.wait_for_selector(".dataset-link")
    assert page.locator("h1").inner_text() == "열린데이터 광장"
    assert page.locator(".dataset-link").count() == 3
    page.fill("#q", "미세먼지")
    page.click("#search button")
    page.wait_for_function("document.querySelectorAll('.dataset-link').length === 1")
    assert page.locator(".dataset-link").inner_text() == "측정소 미세먼지"
    page.click(".dataset-link")
    page.wait_for_selector("#preview-station-latest table")
    assert page.locator("#dataset-title").inner_text() == "측정소 미세먼지"
    cells = page.locator("#preview-station-latest tbody tr").first.locator("td").all_inner_texts()
    assert cells[:5] == ["urn:ngsi-ld:Station:1", "측정소1", "Station 1", "강남구", "19"]
    with page.expect_download() as info:
        page.locator("#preview-station-latest").locator("xpath=..").locator(".download-csv").click()
    path = info.value.path()
    text = Path(path).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["ID", "NAME", "NAME_EN", "GU", "PM10", "location"]
    assert rows[1][:5] == ["urn:ngsi-ld:Station:1", "측정소1", "Station 1", "강남구", "19"]
    # English
    page.click("#lang")
    page.wait_for_selector("text=Open Data Plaza")
    assert page.locator("#dataset-title").inner_text() == "Station particulate matter"
