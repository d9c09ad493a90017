"""`smartseoul flood run` end to end: a hub server on a SQLite file, the service in its
own process, every reading notified over HTTP from the hub's notifier to the service's
receiver, forecasts and alerts written back and read from the hub.

Expected alerts come from an independent statement of the rule for one threshold (the
advisory): issue when the observation or any forecast reaches it; update when the
observation reaches it after a forecast did; cancel when neither has for the hold time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from flood_seasons import records, season_file
from lxml import etree
from synthetic_river import Pulse, write_season

from conftest import free_port, running
from smartseoul.app import create_app
from smartseoul.cli import main
from smartseoul.config import Settings
from smartseoul.datasets import shipped_file
from smartseoul.datasets.han_river import read_han_river
from smartseoul.hub.client import HttpHubClient
from smartseoul.hub.store.sqlite import SqliteStore
from smartseoul.services.flood.cap import CAP_SCHEMA
from smartseoul.services.flood.files import load_model
from smartseoul.services.flood.model import GAUGE_CODES, series_from_records
from smartseoul.services.flood.service import FLOOD_CONTEXT, site_entities, subscription_id

HANGANG = "1018683"
ADVISORY_M = 8.5
WARNING_M = 10.5
HOLD = timedelta(minutes=60)
LEADS = list(range(10, 181, 10))
WARM_UP = 160  # rows of history loaded before the replay (a forecast needs 151)


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Oracle:
    """The advisory's lifecycle at one gauge, written out from the rule in the docs."""

    hold: timedelta
    live_lead: int | None = None
    below_since: datetime | None = None
    actions: list[tuple[str, str, int]] = field(default_factory=list)

    def step(self, moment: datetime, observed: float, forecast: list[float]) -> None:
        # The replays stay below the flood warning (10.5 m): the advisory is the only level.
        assert max(observed, *forecast) < WARNING_M, (moment, observed, forecast)
        reach = [0] if observed >= ADVISORY_M else []
        reach += [lead for lead, h in zip(LEADS, forecast, strict=True) if h >= ADVISORY_M]
        if self.live_lead is None:
            if reach:
                self.live_lead = min(reach)
                self.actions.append((utc(moment), "issue", self.live_lead))
            return
        if reach:
            self.below_since = None
            if reach[0] == 0 < self.live_lead:
                self.live_lead = 0
                self.actions.append((utc(moment), "update", 0))
            return
        self.below_since = self.below_since or moment
        if moment - self.below_since >= self.hold:
            self.actions.append((utc(moment), "cancel", 0))
            self.live_lead, self.below_since = None, None


class FloodRun:
    """``smartseoul flood run`` as its own process (started, killed, stopped by its pid)."""

    def __init__(self, tmp: Path, api: str, model: Path, env: dict[str, str]):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/flood/notify"
        self.args = [sys.executable, "-m", "smartseoul.cli", "flood", "run", "--url", api,
                     "--port", str(self.port), "--model", str(model)]  # fmt: skip
        self.env = {**os.environ, **env, "SMARTSEOUL_DATA_DIR": str(tmp)}
        self.log = tmp / "flood-run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"flood run exited: {self.log.read_text()[-3000:]}")
            try:  # the server listens once start-up (subscribe, resume, catch up) is done
                if httpx.get(f"http://127.0.0.1:{self.port}/flood/warnings").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"flood run did not start: {self.log.read_text()[-3000:]}")

    def end(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None


async def _forecasts_at(client: HttpHubClient, moment: datetime) -> dict[str, dict] | None:
    """The four gauges' forecasts if all of them are the forecast made at ``moment``."""
    found = await client.query(type="WaterLevelForecast", context=FLOOD_CONTEXT)
    made = {f["code"]["value"]: f for f in found}
    stamp = utc(moment)
    if set(made) != set(GAUGE_CODES):
        return None
    if any(f["waterLevelForecast"]["observedAt"] != stamp for f in made.values()):
        return None
    return made


async def wait_forecasts(client: HttpHubClient, moment: datetime, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        made = await _forecasts_at(client, moment)
        if made is not None:
            return made
        await asyncio.sleep(0.005)
    raise AssertionError(f"no forecast of {utc(moment)} in the hub after {timeout} s")


async def write_reading(client: HttpHubClient, row: Any) -> None:
    entities, _ = site_entities([row])
    outcome = await client.upsert(entities, context=FLOOD_CONTEXT)
    assert not outcome.errors, outcome.errors


async def hub_alerts(client: HttpHubClient) -> tuple[list[dict], dict[str, dict]]:
    alerts = await client.query(type="Alert", context=FLOOD_CONTEXT, key_values=True)
    history = await client.history(
        [a["id"] for a in alerts], attrs=["lastAction", "leadTimeMinutes", "capMessage"],
        time_at="2000-01-01T00:00:00Z", end_time_at="2100-01-01T00:00:00Z",
        context=FLOOD_CONTEXT,
    )  # fmt: skip
    return alerts, history


def check_forecast(made: dict[str, dict], model: Any, rows: list, moment: datetime) -> None:
    """The hub's forecasts equal the model's on the same rows read from the file."""
    expected = model.forecast_latest(series_from_records(rows))
    for g, code in enumerate(GAUGE_CODES):
        entity = made[code]
        assert entity["leadTimes"]["value"] == LEADS
        heights = entity["waterLevelForecast"]["value"]
        assert len(heights) == 18 and None not in heights, (code, heights)
        for height, want in zip(heights, expected[g], strict=True):
            assert abs(height - want / 100) <= 0.0015, (utc(moment), code, heights)


def check_messages(alerts: list[dict], history: dict[str, dict], oracle: Oracle) -> None:
    """One alert per issue, its messages as the oracle says, every CAP message valid."""
    schema = etree.XMLSchema(etree.parse(str(shipped_file(CAP_SCHEMA))))
    sent = []
    for alert in sorted(alerts, key=lambda a: a["dateIssued"]):
        assert alert["subject"] == HANGANG
        actions = history[alert["id"]]["lastAction"]
        leads = {i["observedAt"]: i["value"] for i in history[alert["id"]]["leadTimeMinutes"]}
        sent += [(i["observedAt"], i["value"], leads[i["observedAt"]]) for i in actions]
        messages = history[alert["id"]]["capMessage"]
        assert len(messages) == len(actions) == alert["sequence"]
        for message in messages:
            schema.assertValid(etree.fromstring(message["value"].encode("utf-8")))
    assert sorted(sent) == oracle.actions
    assert len(alerts) == [a for _, a, _ in oracle.actions].count("issue")


def hub_server(tmp: Path):
    port = free_port()
    (tmp / "hub").mkdir()
    settings = Settings(data_dir=tmp / "hub", port=port)
    return running(create_app(settings, store=SqliteStore(tmp / "hub" / "hub.db")), port)


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


async def replay(api: str, run: FloodRun, model: Any, warm: list, rows: list, *,
                 restart_after: timedelta | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``rows`` one at a time; after each, wait for its forecasts and follow the oracle.

    With ``restart_after``, once the advisory has been held below that long the service
    is killed (SIGKILL), one reading is written while it is down, and it is started again:
    the run must then end exactly as one without a restart.
    """
    client = HttpHubClient(api)
    oracle = Oracle(HOLD)
    latencies: list[float] = []
    seen = list(warm)
    restart: dict[str, Any] = {}

    def follow(row: Any, made: dict[str, dict]) -> None:
        check_forecast(made, model, seen, row.time)
        forecast = made[HANGANG]["waterLevelForecast"]["value"]
        oracle.step(row.time, row.water_level_m(HANGANG), forecast)

    try:
        # At start-up the service forecast the latest loaded step (the hub had none).
        follow(warm[-1], await wait_forecasts(client, warm[-1].time, timeout=5))
        subs = (await client.http.get("/subscriptions")).json()
        assert [s["id"] for s in subs] == [subscription_id(run.endpoint)]
        queue = list(rows)
        while queue:
            row = queue.pop(0)
            seen.append(row)
            started = time.perf_counter()
            await write_reading(client, row)
            made = await wait_forecasts(client, row.time)
            latencies.append(time.perf_counter() - started)
            follow(row, made)
            since = oracle.below_since
            if restart_after is None or restart or since is None:
                continue
            if row.time - since < restart_after:
                continue
            [alert] = await client.query(
                type="Alert", q='alertStatus=="active"', context=FLOOD_CONTEXT, key_values=True
            )
            assert alert["lowerSince"] == {"none": utc(since)}  # the hold is in the hub
            assert run.end(signal.SIGKILL) == -signal.SIGKILL
            missed = queue.pop(0)
            seen.append(missed)
            await write_reading(client, missed)
            await asyncio.to_thread(run.start)
            made = await _forecasts_at(client, missed.time)
            assert made is not None, "the reading written while down was not caught up"
            follow(missed, made)
            [again] = await client.query(type="Alert", context=FLOOD_CONTEXT, key_values=True)
            subs = (await client.http.get("/subscriptions")).json()
            restart = {
                "since": utc(since),
                "lowerSince": again["lowerSince"],
                "subscriptions": [s["id"] for s in subs],
            }
            assert again["id"] == alert["id"] and again["sequence"] == alert["sequence"]
        assert restart_after is None or restart, "the replay ended before the hold began"
        alerts, history = await hub_alerts(client)
    finally:
        await client.close()
    return {"oracle": oracle, "latencies": latencies, "restart": restart, "alerts": alerts,
            "history": history, "subscription": subscription_id(run.endpoint)}  # fmt: skip


def cut(source: Path, target: Path, start: int, stop: int) -> Path:
    """Rows ``start:stop`` of a season file as a season file of their own."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(lines[0] + "".join(lines[1 + start : 1 + stop]), encoding="utf-8")
    return target


def flood_run(tmp: Path, train: Path, warm: Path, rows: Path, **options: Any) -> dict[str, Any]:
    """Train with ``flood train``, start a hub, ``flood load`` the warm-up rows, start
    ``flood run`` and replay ``rows`` (see :func:`replay`); then stop the service."""
    model_file = tmp / "model.json"
    cli("flood", "train", str(train), "--output", str(model_file))
    model = load_model(model_file)
    env = {"SMARTSEOUL_FLOOD_LEVELS": f"{HANGANG}={ADVISORY_M}:{WARNING_M}",
           "SMARTSEOUL_FLOOD_HOLD_MINUTES": str(HOLD.seconds // 60)}  # fmt: skip
    with hub_server(tmp) as base:
        api = base + "/ngsi-ld/v1"
        cli("flood", "load", str(warm), "--url", api)
        run = FloodRun(tmp, api, model_file, env)
        try:
            run.start()
            outcome = asyncio.run(
                replay(api, run, model, list(read_han_river(warm)), list(read_han_river(rows)),
                       **options)
            )  # fmt: skip
            # uvicorn shuts down gracefully on SIGTERM, then re-raises it.
            assert run.end(signal.SIGTERM) in (0, -signal.SIGTERM)
            outcome["subscriptions_after_stop"] = httpx.get(api + "/subscriptions").json()
        finally:
            run.close()
    return outcome


def test_flood_run_over_notifications_with_a_restart_mid_hold(tmp_path):
    """A made-up flood crossing the advisory; the service is killed 30 minutes into the
    hold and started again, with a reading written while it was down."""
    start = datetime(2025, 7, 1, tzinfo=UTC)
    train = write_season(tmp_path / "train" / "data_2025.csv", start, range(900),
                         [Pulse(8000, 300, 20), Pulse(11000, 650, 25)])  # fmt: skip
    season = write_season(tmp_path / "season" / "data_2031.csv", start, range(WARM_UP + 45),
                          [Pulse(12000, 171, 20)])  # fmt: skip
    warm = cut(season, tmp_path / "warm" / "data_2031.csv", 0, WARM_UP)
    rows = cut(season, tmp_path / "replay" / "data_2031.csv", WARM_UP, WARM_UP + 45)
    outcome = flood_run(tmp_path, train, warm, rows, restart_after=timedelta(minutes=30))
    oracle = outcome["oracle"]
    # Issued from the forecast ahead of the observed crossing, updated when observed,
    # cancelled an hour after the river and its forecasts fell below 8.5 m.
    assert [a for _, a, _ in oracle.actions] == ["issue", "update", "cancel"], oracle.actions
    assert oracle.actions[0][2] > 0
    alerts = outcome["alerts"]
    check_messages(alerts, outcome["history"], oracle)
    assert alerts[0]["alertStatus"] == "cancelled" and alerts[0]["lowerSince"] == {}
    restart = outcome["restart"]
    # After the restart the hold went on from the hub's state, and the restarted service
    # replaced the killed one's subscription instead of adding one.
    assert restart["lowerSince"] == {"none": restart["since"]}
    assert restart["subscriptions"] == [outcome["subscription"]]
    assert outcome["subscriptions_after_stop"] == []
    _report("made-up flood", outcome["latencies"], oracle)


def test_flood_run_replays_the_2013_flood(tmp_path):
    """The July 2013 flood, Hangang Bridge at 8.57 m at its peak, replayed reading by
    reading from 3 hours before to 3 h 10 min after; trained on the 2016 flood season."""
    season_2016, season_2013 = season_file(2016), season_file(2013)
    peak_2016, peak_2013 = (_peak(records(year)) for year in (2016, 2013))
    train = cut(season_2016, tmp_path / "train" / "data_2016.csv", peak_2016 - 4000,
                peak_2016 + 4000)  # fmt: skip
    first = peak_2013 - 18
    warm = cut(season_2013, tmp_path / "warm" / "data_2013.csv", first - WARM_UP, first)
    rows = cut(season_2013, tmp_path / "replay" / "data_2013.csv", first, peak_2013 + 20)
    outcome = flood_run(tmp_path, train, warm, rows)
    oracle = outcome["oracle"]
    actions = [a for _, a, _ in oracle.actions]
    assert actions[0] == "issue" and actions[-1] == "cancel", oracle.actions
    assert actions.count("issue") == 1 and set(actions) <= {"issue", "update", "cancel"}
    crossed = min(utc(r.time) for r in read_han_river(rows) if r.water_level_m(HANGANG) >= 8.5)
    issued, _, lead = oracle.actions[0]
    assert issued < crossed and lead > 0, (issued, crossed)  # warned ahead of the crossing
    check_messages(outcome["alerts"], outcome["history"], oracle)
    assert outcome["subscriptions_after_stop"] == []
    _report("2013 flood", outcome["latencies"], oracle)


def _peak(rows: list) -> int:
    return max(range(len(rows)), key=lambda i: rows[i].water_level_cm[HANGANG] or 0)


def _report(name: str, latencies: list[float], oracle: Oracle) -> None:
    ms = sorted(1000 * s for s in latencies)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(
        f"\n{name}: {len(ms)} readings, reading -> four forecasts in the hub: p50 "
        f"{statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms; "
        f"messages {oracle.actions}"
    )
    assert ms[-1] < 5000, ms
