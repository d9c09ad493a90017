"""The map's routes on a real server: the page, its assets, boundaries, settings, live feed."""

from __future__ import annotations

import threading

import httpx
import pytest

from conftest import free_port, running
from smartseoul.app import create_app
from smartseoul.config import Settings

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@SQLITE
def test_page_assets_and_boundaries_are_served_without_shadowing_other_routes(hub):
    with httpx.Client(base_url=hub.base, timeout=10) as http:
        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/web/static/app.js">' in page.text
        for asset in ("app.js", "app.css", "maplibre-gl-worker.mjs"):
            assert http.get(f"/web/static/{asset}").status_code == 200, asset
        gu = http.get("/web/boundaries/gu.geojson").json()
        dong = http.get("/web/boundaries/dong.geojson").json()
        assert len(gu["features"]) == 25 and len(dong["features"]) == 423
        assert http.get("/web/boundaries/si.geojson").status_code == 404
        assert http.get("/web/config.json").json() == {
            "api": "/ngsi-ld/v1", "tileUrl": None, "keyedReads": False,
        }  # fmt: skip
        # Everything else still answers as before.
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/ngsi-ld/v1/types").status_code == 200
        assert http.get("/opendata/").status_code == 200


def test_tile_url_setting_reaches_the_page(tmp_path):
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port,
                        map_tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png")  # fmt: skip
    with running(create_app(settings), port) as base:
        config = httpx.get(f"{base}/web/config.json").json()
    assert config["tileUrl"] == "http://127.0.0.1:9/{z}/{x}/{y}.png"


@SQLITE
def test_live_feed_streams_changes_from_any_writer(hub):
    events: list[bytes] = []
    connected = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{hub.base}/web/events", timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                events.append(line.encode())
                if line.startswith("event: hello"):
                    connected.set()
                if line.startswith("data:") and b"urn:ngsi-ld:Gauge:9" in line.encode():
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert connected.wait(10)
    entity = {
        "id": "urn:ngsi-ld:Gauge:9",
        "type": "Gauge",
        "level": {"type": "Property", "value": 4},
    }
    assert hub.http.post("/entities", json=entity).status_code == 201
    thread.join(10)
    assert not thread.is_alive()
    assert b"event: changes" in events


def test_live_feed_needs_a_reader_key_when_reads_are_keyed(tmp_path):
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port, auth="on", auth_read="keyed")
    with running(create_app(settings), port) as base:
        assert httpx.get(f"{base}/web/events", timeout=10).status_code == 401
        assert httpx.get(f"{base}/web/events?key=wrong", timeout=10).status_code == 401
        assert httpx.get(f"{base}/web/config.json").json()["keyedReads"] is True
