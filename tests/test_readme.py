"""The README's tour works as printed: its curl commands run against a demo-city hub."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from conftest import free_port, running
from smartseoul.app import create_app
from smartseoul.config import Settings
from smartseoul.hub.store.sqlite import SqliteStore
from smartseoul.ingest.loader import load_into

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A tour", 1)[1]
    return section.split("```sh", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_tour_runs_against_the_demo_city(tmp_path: Path):
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port)
    store = SqliteStore(settings.sqlite_path)

    async def load() -> dict:
        await store.open()
        try:
            return await load_into(store, settings, han_river_dir=None)
        finally:
            await store.close()

    summary = asyncio.run(load())
    assert summary["entities"] == 80
    script = tour_script().replace("127.0.0.1:1026", f"127.0.0.1:{port}")
    # Fail on any HTTP error and print one JSON document per request.
    script = "set -euo pipefail\n" + re.sub(r"\bcurl ", "curl -sS --fail-with-body -w '\\n' ", script)
    with running(create_app(settings, store=SqliteStore(settings.sqlite_path)), port):
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    outputs = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
    types, high_pm10, near_city_hall, joined, weekly, history = outputs  # POST prints nothing
    assert "AirQualityObserved" in types["typeList"]
    assert 1 <= len(high_pm10) <= 3 and all(e["pm10"] > 40 for e in high_pm10)
    assert near_city_hall and all(set(e) <= {"id", "type", "pm10", "name"} for e in near_city_hall)
    assert set(joined) == {"id", "pm10", "refDistrict"}
    assert joined["refDistrict"]["type"] == "AdministrativeArea"
    assert joined["refDistrict"]["name"] == "Jongno-gu"
    assert {"avg", "max"} <= set(weekly["pm10"])
    instances = history["pm10"] if isinstance(history["pm10"], list) else [history["pm10"]]
    assert [i["value"] for i in instances] == [55]
    assert instances[0]["observedAt"].startswith("2026-11-28T06:00:00")
