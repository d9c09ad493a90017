"""The operations map in a real headless browser, on a real hub holding the demo city."""

from __future__ import annotations

import time

import httpx
import pytest
from web_city import AXE, chromium, demo_hub, demo_link, open_map

STATION = "urn:ngsi-ld:AirQualityObserved:seoul:jongno-gu"
ROW = f"tr[data-id='{STATION}']"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with demo_hub(tmp_path_factory.mktemp("web")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as found:
        yield found


@pytest.fixture
def page(browser, base):
    page = open_map(browser, base)
    yield page
    assert page.errors == []
    page.close()


def dataset(page) -> dict:
    return page.evaluate("({...document.documentElement.dataset})")


def webgl(page) -> bool:
    return dataset(page)["map"] == "webgl"


def test_page_draws_the_gu_layer_and_the_hubs_entities(page):
    data = dataset(page)
    assert data["state"] == "ready" and data["time"] == "live"
    assert page.locator("html").get_attribute("lang") == "ko"
    assert page.locator("h1").inner_text() == "서울 도시 운영 지도"
    # The layer list follows /types: the demo's three types, with their counts.
    layers = page.locator("#layer-list li").all_inner_texts()
    assert len(layers) == 3 and any("대기질 측정소" in x and "(50)" in x for x in layers)
    assert page.locator("#entity-table tbody tr").count() == 55  # 50 stations, 5 water sites
    assert page.locator(ROW).get_attribute("data-status") in ("good", "normal", "bad", "veryBad")
    if not webgl(page):
        pytest.skip(
            "no WebGL in this chromium: the map degrades to the entity list (checked above)"
        )
    gu = page.evaluate("new Set(smartseoul.twin.map.queryRenderedFeatures({layers: ['gu-fill']})"
                       ".map(f => f.properties.SIG_CD)).size")  # fmt: skip
    assert gu == 25
    # The points layer draws after its source loads (a frame or more after "ready").
    drawn_ids = ("smartseoul.twin.map.queryRenderedFeatures().filter(f => f.properties.id)"
                 ".map(f => f.properties.id)")  # fmt: skip
    page.wait_for_function(f"{drawn_ids}.includes({STATION!r})", timeout=10_000)
    drawn = page.evaluate(drawn_ids)
    assert STATION in drawn and "urn:ngsi-ld:WaterObserved:hrfco:1018683" in drawn
    # The canvas shows the map, not a blank page.
    assert (
        page.evaluate("document.querySelector('#map canvas').toDataURL().length") > 5000
    )  # blank: < 1 kB


def test_english_switch_translates_labels(page):
    page.click("#lang")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Seoul city operations map"
    assert "Air-quality stations" in page.locator("#layer-list").inner_text()
    assert page.locator(f"{ROW} th").inner_text() == "Jongno-gu"
    page.click("#lang")
    assert page.locator("html").get_attribute("lang") == "ko"


def test_a_reading_posted_to_the_hub_appears_within_two_seconds(page, base):
    page.wait_for_function("document.documentElement.dataset.live === 'connected'")
    started = time.monotonic()
    response = httpx.post(
        f"{base}/ngsi-ld/v1/entities/{STATION}/attrs",
        json={"pm10": {"type": "Property", "value": 412, "unitCode": "GQ",
                       "observedAt": "2020-01-01T03:00:00Z"}},
        headers={"Link": demo_link(base)},
    )  # fmt: skip
    assert response.status_code == 204, response.text
    page.wait_for_function(
        f"document.querySelector(\"{ROW}\").dataset.value === '412'", timeout=2000
    )
    assert time.monotonic() - started < 2.0
    assert page.locator(ROW).get_attribute("data-status") == "veryBad"
    assert "매우 나쁨" in page.locator(ROW).inner_text()
    if webgl(page):  # and the map redraws it in the very-bad colour
        page.wait_for_function(
            "smartseoul.twin.map.queryRenderedFeatures().some(f => f.properties.id === "
            f"'{STATION}' && f.properties.color === '#d42a1c')",
            timeout=2000,
        )


def test_time_slider_changes_what_is_drawn(page):
    live = dataset(page)
    slider = page.locator("#time")
    assert slider.is_enabled() and int(slider.get_attribute("max")) > 30
    before = page.locator(ROW).get_attribute("data-value")
    slider.focus()
    page.keyboard.press("Home")  # the first moment of the loaded history
    page.wait_for_function("document.documentElement.dataset.time !== 'live'")
    page.wait_for_function(f"document.documentElement.dataset.drawnHash !== '{live['drawnHash']}'")
    moment = dataset(page)["time"]
    assert moment.startswith("2019-12-0")  # the demo's 30 days of daily means end on 2019-12-31
    # Daily means change from day to day: the list (and the map) show that day's values.
    values = page.locator("#entity-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.value)"
    )
    assert page.locator(ROW).get_attribute("data-value") != before or len(set(values)) > 1
    assert "KST" in page.locator("#time-out").inner_text()
    page.keyboard.press("PageUp")
    page.wait_for_function(f"document.documentElement.dataset.time !== '{moment}'")
    page.click("#to-live")
    page.wait_for_function("document.documentElement.dataset.time === 'live'")
    assert page.locator(ROW).get_attribute("data-value") == before


def test_3d_view_extrudes_districts_by_the_chosen_metric(page):
    page.check("input[name=view][value='3d']")
    page.wait_for_function("document.documentElement.dataset.view === '3d'")
    rows = page.locator("#district-table tbody tr")
    assert rows.count() == 25 and page.locator("#district-wrap").is_visible()
    first = rows.first.inner_text()
    page.select_option("#metric", index=2)  # the number of stations per gu
    page.wait_for_function(
        f"document.querySelector('#district-table tbody tr').innerText !== {first!r}"
    )
    if webgl(page):
        page.wait_for_function("smartseoul.twin.map.getPitch() > 40")
        page.wait_for_timeout(800)  # the camera eases to its 3D pitch
        heights = page.evaluate(
            "Object.fromEntries(smartseoul.twin.map.queryRenderedFeatures({layers: ['districts3d']})"
            ".map(f => [f.properties.code, f.properties.height]))"
        )
        assert len(heights) == 25 and max(heights.values()) > min(heights.values()) > 0


def test_selected_entity_shows_its_history_chart(page):
    page.locator("tr[data-id='urn:ngsi-ld:AirQualityObserved:seoul:gangnam-gu'] button").click()
    page.wait_for_function("document.activeElement.id === 'details-name'", timeout=2000)
    assert page.locator("#details-name").inner_text() == "강남구"
    # The temporal API gives the 30 daily means of the demo month.
    page.wait_for_function("Number(document.querySelector('#chart')?.dataset.points) === 30")
    assert page.locator("#chart canvas").count() >= 1
    assert page.locator("#chart-summary").inner_text().startswith("30개 값")


def test_keyboard_reaches_the_skip_link_and_the_list(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#entities') !== null")


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_axe_finds_no_serious_or_critical_violations(browser, base, lang):
    page = open_map(browser, base, lang=lang)
    page.locator(f"{ROW} button").click()
    page.wait_for_selector("#chart-summary")
    page.add_script_tag(path=str(AXE))
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
    result = page.evaluate(f"axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}}})")
    bad = [(v["id"], v["help"], [n["target"] for n in v["nodes"][:3]])
           for v in result["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
    assert bad == []
    assert result["passes"]  # axe really ran
    page.close()


def test_without_webgl_the_list_still_shows_the_city(browser, base):
    context = browser.new_context()
    context.add_init_script(
        "const real = HTMLCanvasElement.prototype.getContext;"
        "HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {"
        "  return String(kind).startsWith('webgl') ? null : real.call(this, kind, ...rest); };"
    )
    page = context.new_page()
    page.goto(f"{base}/?lang=en")
    page.wait_for_function("document.documentElement.dataset.state === 'ready'")
    assert dataset(page)["map"] == "unavailable"
    assert page.locator("#map-fallback").is_visible()
    assert page.locator("#entity-table tbody tr").count() == 55
    context.close()
