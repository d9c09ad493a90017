"""The flood service on the hub: loads gauges, forecasts each new reading, writes alerts.

Everything goes through :class:`~smartseoul.hub.client.HubClient`. Readings arrive as
NGSI-LD entities (a subscription's notifications or a query of the current state); each
complete 10-minute step of the four bridge gauges gives a ``WaterLevelForecast`` per
gauge and advances each gauge's alert (:func:`~smartseoul.services.flood.warnings.next_alert`).
Rain gauges (``WeatherObserved`` with ``precipitation`` and ``district``) advance the gu's
inundation pre-warning. Alerts are Smart Data Models ``Alert`` entities whose history is
the sequence of messages, each with its CAP 1.2 rendering.

The hub holds the whole state: the service keeps a copy of the live alerts (with their
hold state, ``lowerSince``) and of the last readings, and rebuilds both from the hub when
it starts (:meth:`FloodService.start`), then forecasts the steps it missed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from smartseoul.datasets.han_river import GAUGES, PALDANG_DAM, HanRiverRecord
from smartseoul.hub.client import HubClient, HubError
from smartseoul.hub.errors import ResourceNotFound
from smartseoul.services.flood.cap import render_cap
from smartseoul.services.flood.entities import (
    FLOOD_CONTEXT,
    LiveAlert,
    alert_entity,
    alert_text,
    forecast_entity,
    hold_property,
    live_alert,
    observed_at,
    parse_time,
    prop,
    short,
    utc,
)
from smartseoul.services.flood.model import (
    GAUGE_CODES,
    HISTORY_STEPS,
    LEADS,
    STEP_SECONDS,
    FloodModel,
    RiverSeries,
)
from smartseoul.services.flood.warnings import (
    Assessment,
    GaugeLevels,
    RainRule,
    Transition,
    assess_gauge,
    assess_rain,
    next_alert,
)

log = logging.getLogger("smartseoul.flood")
FUTURE_SKEW_SECONDS = 3600.0  # a reading may be observed this far ahead of the service's clock

__all__ = [
    "CATCH_UP_STEPS",
    "FLOOD_CONTEXT",
    "FloodConfig",
    "FloodService",
    "site_entities",
    "subscription_id",
]

TIDE_CODE = "ganghwa-tide"
CATCH_UP_STEPS = 18
"""Steps (3 hours) a starting service forecasts at most from the readings it missed."""


@dataclass(frozen=True)
class FloodConfig:
    """Warning thresholds and message settings (built from :class:`~smartseoul.config.Settings`)."""

    levels: dict[str, GaugeLevels]
    rain: RainRule = RainRule()
    hold_minutes: int = 60
    sender: str = "flood@smartseoul.example"
    tenant: str = ""


def subscription_id(endpoint: str, tenant: str = "") -> str:
    """The id of the service's subscription for ``endpoint``: one per receiver, so a
    restarted service replaces the subscription of the run before instead of adding one.

    Examples
    --------
    >>> subscription_id("http://127.0.0.1:1027/flood/notify")
    'urn:ngsi-ld:Subscription:smartseoul-flood:81bdbea9aeca9c58'
    """
    digest = hashlib.sha256(f"{tenant}\n{endpoint}".encode()).hexdigest()[:16]
    return f"urn:ngsi-ld:Subscription:smartseoul-flood:{digest}"


# ----------------------------------------------------------------------- loading seasons


def site_entities(
    records: list[HanRiverRecord],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Gauges, the dam and the Ganghwa tide as WaterObserved entities plus their history.

    Returns ``(entities, history)``: entities carry the latest reading, history is
    ``{"id", "type", "attrs": {term: [instances]}}`` per site with every reading.
    """
    sites: list[tuple[str, str, float, float, dict[str, Any]]] = []
    for code in GAUGE_CODES:
        gauge = GAUGES[code]
        series = {
            "waterLevel": ([r.water_level_m(code) for r in records], "MTR"),
            "flow": ([r.flow.get(code) for r in records], "MQS"),
        }
        sites.append((code, gauge.name_ko, gauge.lon, gauge.lat, series))
    dam = {
        "waterLevel": ([r.dam_level for r in records], "MTR"),
        "inflow": ([r.dam_inflow for r in records], "MQS"),
        "discharge": ([r.dam_discharge for r in records], "MQS"),
    }
    sites.append((PALDANG_DAM.code, PALDANG_DAM.name_ko, PALDANG_DAM.lon, PALDANG_DAM.lat, dam))
    tide = {"waterLevel": ([_cm_to_m(r.tide_level_cm) for r in records], "MTR")}
    sites.append((TIDE_CODE, "강화대교 조위", 126.5210, 37.7300, tide))
    entities, history = [], []
    for code, name, lon, lat, series in sites:
        entity_id = f"urn:ngsi-ld:WaterObserved:hrfco:{code}"
        attrs = {
            term: [
                prop(value, r.time, unit)
                for r, value in zip(records, values, strict=True)
                if value is not None
            ]
            for term, (values, unit) in series.items()
        }
        attrs = {term: instances for term, instances in attrs.items() if instances}
        entity: dict[str, Any] = {
            "id": entity_id,
            "type": "WaterObserved",
            "name": {"type": "Property", "value": name},
            "code": {"type": "Property", "value": code},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [lon, lat]},
            },
            **{term: instances[-1] for term, instances in attrs.items()},
        }
        entities.append(entity)
        history.append({"id": entity_id, "type": "WaterObserved", "attrs": attrs})
    return entities, history


def _cm_to_m(value: float | None) -> float | None:
    return None if value is None else round(value / 100, 4)


async def load_season(
    client: HubClient, records: list[HanRiverRecord], *, tenant: str = "", batch: int = 2000
) -> int:
    """Write the sites and their full history into the hub; returns the instances written."""
    entities, history = site_entities(records)
    outcome = await client.upsert(entities, context=FLOOD_CONTEXT, tenant=tenant)
    if outcome.errors:
        raise RuntimeError(f"hub refused {outcome.errors[0]}")
    written = 0
    for item in history:
        for term, instances in item["attrs"].items():
            for start in range(0, len(instances), batch):
                chunk = instances[start : start + batch]
                await client.append_history(
                    item["id"], item["type"], {term: chunk}, context=FLOOD_CONTEXT, tenant=tenant
                )
                written += len(chunk)
    return written


# ----------------------------------------------------------------------- the service


class FloodService:
    """Forecasts and warnings for the Han River gauges and rain-gauge gu, on one hub.

    ``steps`` buffers the readings per 10-minute step (epoch seconds); ``forecast_upto`` is
    the newest step forecast: a step that completes later than a newer one was forecast
    (a late or redelivered notification) only fills the buffer.
    """

    def __init__(
        self,
        client: HubClient,
        model: FloodModel,
        config: FloodConfig,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.client, self.model, self.config, self.clock = client, model, config, clock
        self.steps: dict[int, dict[str, float]] = {}
        self.forecast_upto: int | None = None
        self.rain: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
        self.alerts: dict[str, LiveAlert] = {}
        self.subscriptions: list[str] = []
        self._lock = asyncio.Lock()  # notifications may arrive together: one at a time

    # -- start-up

    async def start(self) -> list[Transition]:
        """Resume from the hub: live alerts with their hold state, the last readings, and
        the time of the last forecast written; then forecast the steps completed since
        (at most :data:`CATCH_UP_STEPS`, or the latest one when no forecast exists yet).
        """
        async with self._lock:
            return await self._start()

    async def _start(self) -> list[Transition]:
        tenant = self.config.tenant
        found = await self.client.query(
            type="Alert", q='alertStatus=="active"', context=FLOOD_CONTEXT, tenant=tenant,
            key_values=True,
        )  # fmt: skip
        for entity in found:
            live = live_alert(entity)
            self.alerts[live.record.subject] = live
        forecasts = await self.client.query(
            type="WaterLevelForecast", attrs=["waterLevelForecast"], context=FLOOD_CONTEXT,
            tenant=tenant,
        )  # fmt: skip
        allowed = self._latest_allowed()
        made = [t for t in (observed_at(e, "waterLevelForecast") for e in forecasts) if t]
        made = [t for t in made if t <= allowed]
        sites = await self.client.query(type="WaterObserved", context=FLOOD_CONTEXT, tenant=tenant)
        times = [t for t in (observed_at(e, "waterLevel") for e in sites) if t is not None]
        times = [t for t in times if t <= allowed]
        if not times:
            return []
        end = max(times) + timedelta(seconds=STEP_SECONDS)
        begin = end - timedelta(seconds=STEP_SECONDS * (HISTORY_STEPS + CATCH_UP_STEPS + 2))
        history = await self.client.history(
            [e["id"] for e in sites], attrs=["waterLevel", "discharge", "inflow"],
            time_at=utc(begin), end_time_at=utc(end), context=FLOOD_CONTEXT, tenant=tenant,
        )  # fmt: skip
        for entity_id, attrs in history.items():
            for term, instances in attrs.items():
                for reading in filter(None, map(_reading, instances)):
                    if reading[0] <= allowed:
                        self._put(entity_id, short(term), *reading)
        complete = self._complete_steps()
        if complete:
            latest = max(complete)
            floor = latest - STEP_SECONDS * (CATCH_UP_STEPS if made else 1)
            last_made = int(max(made).timestamp()) if made else floor
            self.forecast_upto = max(floor, last_made)
        return await self._forecast_pending()

    async def subscribe(self, endpoint: str) -> str:
        """Have the hub notify ``endpoint`` of every new gauge, dam, tide or rain reading.

        The subscription id is :func:`subscription_id` of the endpoint: one left by a run
        that was killed is replaced, so restarts never add a second one.
        """
        tenant = self.config.tenant
        sub_id = subscription_id(endpoint, tenant)
        try:
            await self.client.unsubscribe(sub_id, tenant=tenant)
        except ResourceNotFound:
            pass
        except HubError as error:
            if error.status != 404:
                raise
        body = {
            "id": sub_id,
            "type": "Subscription",
            "subscriptionName": "smartseoul flood service",
            "entities": [{"type": "WaterObserved"}, {"type": "WeatherObserved"}],
            "watchedAttributes": ["waterLevel", "discharge", "precipitation"],
            "notification": {"endpoint": {"uri": endpoint, "accept": "application/json"}},
        }
        created = await self.client.subscribe(body, context=FLOOD_CONTEXT, tenant=tenant)
        self.subscriptions.append(created)
        return created

    async def stop(self) -> None:
        for sub_id in self.subscriptions:
            await self.client.unsubscribe(sub_id, tenant=self.config.tenant)
        self.subscriptions.clear()

    # -- readings

    async def poll(self) -> list[Transition]:
        """Read the current gauges and rain gauges from the hub and handle them."""
        tenant = self.config.tenant
        entities = await self.client.query(
            type="WaterObserved", context=FLOOD_CONTEXT, tenant=tenant
        )
        entities += await self.client.query(
            type="WeatherObserved", context=FLOOD_CONTEXT, tenant=tenant
        )
        return await self.handle(entities)

    async def handle(self, entities: Iterable[dict[str, Any]]) -> list[Transition]:
        """Handle entities in normalized form (a notification's ``data`` or a query)."""
        async with self._lock:
            return await self._handle(entities)

    async def _handle(self, entities: Iterable[dict[str, Any]]) -> list[Transition]:
        new_rain: set[str] = set()
        latest = self._latest_allowed()
        for entity in entities:
            kind = short(str(entity.get("type", "")))
            for name, value in entity.items():
                reading = _reading(value)
                if reading is None:
                    continue
                if reading[0] > latest:
                    log.warning("%s %s observed at %s, ahead of the clock: skipped",
                                entity.get("id"), name, reading[0].isoformat())  # fmt: skip
                    continue
                term = short(name)
                if kind == "WaterObserved":
                    self._put(str(entity.get("id", "")), term, *reading)
                elif kind == "WeatherObserved" and term == "precipitation":
                    gu = _district(entity)
                    if gu is not None:
                        new_rain.add(gu)
                        sensor = str(entity.get("id"))
                        readings = self.rain.setdefault(gu, {}).setdefault(sensor, [])
                        if not readings or readings[-1][0] < reading[0]:
                            readings.append(reading)
        transitions = await self._forecast_pending()
        for gu in sorted(new_rain):
            transitions += await self._rain_alert(gu)
        return transitions

    def _latest_allowed(self) -> datetime:
        """Readings observed later than this are skipped: one from a device whose clock runs
        ahead (a year 9999, local time written as UTC) made that step the newest, and every
        real step after it counted as already past: no forecast, no rain alert."""
        return datetime.fromtimestamp(self.clock() + FUTURE_SKEW_SECONDS, UTC)

    async def _forecast_pending(self) -> list[Transition]:
        transitions = []
        for step in sorted(self._complete_steps()):
            transitions += await self._forecast(step)
        return transitions

    def _put(self, entity_id: str, term: str, moment: datetime, value: float) -> None:
        code = entity_id.rsplit(":", 1)[-1]
        epoch = moment.timestamp()
        step = int(epoch // STEP_SECONDS * STEP_SECONDS)
        key = None
        if code in GAUGE_CODES and term == "waterLevel":
            key, value = f"level:{code}", float(value) * 100
        elif code == PALDANG_DAM.code and term in ("discharge", "inflow"):
            key = term
        elif code == TIDE_CODE and term == "waterLevel":
            key, value = "tide", float(value) * 100
        if key is not None:
            self.steps.setdefault(step, {})[key] = float(value)

    def _complete_steps(self) -> list[int]:
        """Steps after the newest forecast with a reading at each of the four gauges."""
        keys = [f"level:{code}" for code in GAUGE_CODES]
        upto = self.forecast_upto
        return [
            step
            for step, values in self.steps.items()
            if (upto is None or step > upto) and all(k in values for k in keys)
        ]

    def series_until(self, step: int) -> RiverSeries:
        """The buffered inputs of the :data:`HISTORY_STEPS` before ``step`` and ``step``."""
        n = HISTORY_STEPS + 1
        start = step - (n - 1) * STEP_SECONDS
        level = np.full((n, len(GAUGE_CODES)), np.nan)
        discharge, inflow, tide = (np.full(n, np.nan) for _ in range(3))
        for i in range(n):
            values = self.steps.get(start + i * STEP_SECONDS)
            if not values:
                continue
            for g, code in enumerate(GAUGE_CODES):
                level[i, g] = values.get(f"level:{code}", np.nan)
            discharge[i] = values.get("discharge", np.nan)
            inflow[i] = values.get("inflow", np.nan)
            tide[i] = values.get("tide", np.nan)
        return RiverSeries(float(start), level, discharge, inflow, tide)

    async def _forecast(self, step: int) -> list[Transition]:
        """Forecast ``step``, advance the gauges' alerts, then write the forecasts.

        Alerts are written first: a forecast of ``step`` in the hub means that its alerts
        are there too. A failed write leaves ``step`` pending (the hub redelivers the
        notification); advancing an alert twice by the same assessment changes nothing.
        """
        forecast = self.model.forecast_latest(self.series_until(step))
        moment = datetime.fromtimestamp(step, UTC)
        leads = [lead * STEP_SECONDS // 60 for lead in LEADS]
        entities, transitions = [], []
        for g, code in enumerate(GAUGE_CODES):
            observed = self.steps[step][f"level:{code}"] / 100
            heights = [round(float(v) / 100, 3) for v in forecast[g]]
            valid = [(lead, h) for lead, h in zip(leads, heights, strict=True) if np.isfinite(h)]
            levels = self.config.levels.get(code, GaugeLevels(code))
            assessment = assess_gauge(levels, moment, observed, valid)
            transitions += await self._advance(assessment)
            entities.append(
                forecast_entity(code, moment, heights, leads, assessment.level.key, self.model)
            )
        outcome = await self.client.upsert(
            entities, context=FLOOD_CONTEXT, tenant=self.config.tenant
        )
        if outcome.errors:
            raise RuntimeError(f"hub refused forecast: {outcome.errors[0]}")
        self.forecast_upto = step
        for old in [s for s in self.steps if s < step - 2 * HISTORY_STEPS * STEP_SECONDS]:
            del self.steps[old]
        return transitions

    async def _rain_alert(self, gu: str) -> list[Transition]:
        gauges = self.rain[gu]
        latest = max(readings[-1][0] for readings in gauges.values())
        for readings in gauges.values():
            readings[:] = [r for r in readings if r[0] > latest - timedelta(minutes=60)]
        worst = max(
            (assess_rain(gu, latest, readings, self.config.rain) for readings in gauges.values()),
            key=lambda a: (a.level.rank, a.value or 0.0),
        )
        return await self._advance(worst)

    async def _advance(self, assessment: Assessment) -> list[Transition]:
        subject = assessment.subject
        live = self.alerts.get(subject)
        stamp = assessment.time.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
        kind = "flood" if subject in GAUGES else "inundation"
        step = next_alert(
            live.record if live else None,
            assessment,
            alert_id=f"urn:ngsi-ld:Alert:{kind}:{subject}:{stamp}",
            hold_minutes=self.config.hold_minutes,
        )
        tenant = self.config.tenant
        if step.action == "none":
            if live is not None and step.alert is not None:
                if step.alert.lower_since != live.record.lower_since:
                    # The hold state lives in the hub, so a restart resumes it.
                    await self.client.update_attrs(
                        step.alert.id, {"lowerSince": hold_property(step.alert, assessment.time)},
                        context=FLOOD_CONTEXT, tenant=tenant,
                    )  # fmt: skip
                live.record = step.alert
            return []
        assert step.alert is not None
        sent = [] if step.action == "issue" or live is None else live.sent
        text = alert_text(step.alert)
        cap = render_cap(
            step.alert, step.action, text, sender=self.config.sender, sent=assessment.time,
            history=sent,
        )  # fmt: skip
        current = LiveAlert(step.alert, [*sent, assessment.time])
        entity = alert_entity(step, current, text, cap)
        outcome = await self.client.upsert([entity], context=FLOOD_CONTEXT, tenant=tenant)
        if outcome.errors:
            raise RuntimeError(f"hub refused alert {entity['id']}: {outcome.errors[0]}")
        if step.alert.status == "active":
            self.alerts[subject] = current
        else:
            self.alerts.pop(subject, None)
        log.info("%s %s %s", step.action, step.alert.id, step.alert.level.key)
        return [step]


def _reading(value: Any) -> tuple[datetime, float] | None:
    """An attribute's ``observedAt`` and its value as a finite number, or ``None``.

    A reading the service cannot use (a device's ``"n/a"``, a time without a zone) is
    skipped: answered with an error, the hub would redeliver it again and again.

    Examples
    --------
    >>> _reading({"value": 2.5, "observedAt": "2019-07-01T00:00:00Z"})[1]
    2.5
    >>> _reading({"value": "n/a", "observedAt": "2019-07-01T00:00:00Z"}) is None
    True
    """
    if not isinstance(value, dict):
        return None
    try:
        moment, number = parse_time(value["observedAt"]), float(value["value"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if moment.tzinfo is None or not math.isfinite(number):
        return None
    return moment, number


def _district(entity: dict[str, Any]) -> str | None:
    for name, value in entity.items():
        if short(name) == "district":
            found = value.get("value") if isinstance(value, dict) else value
            return None if found is None else str(found)
    return None


def parse_levels(text: str) -> dict[str, GaugeLevels]:
    """``CODE=ADVISORY:WARNING,...`` (either may be empty) as thresholds per gauge.

    Examples
    --------
    >>> parse_levels("1018683=8.5:10.5, 1018662=:9")["1018662"]
    GaugeLevels(code='1018662', advisory_m=None, warning_m=9.0)
    """
    levels: dict[str, GaugeLevels] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        code, sep, pair = item.partition("=")
        advisory, colon, warning = pair.partition(":")
        if not sep or not colon:
            raise ValueError(f"expected CODE=ADVISORY_M:WARNING_M, got {item!r}")
        try:
            levels[code.strip()] = GaugeLevels(
                code.strip(),
                float(advisory) if advisory.strip() else None,
                float(warning) if warning.strip() else None,
            )
        except ValueError:
            raise ValueError(f"levels must be numbers in metres, got {item!r}") from None
    return levels


def flood_config(settings: Any, *, tenant: str = "") -> FloodConfig:
    """The service's configuration from the platform :class:`~smartseoul.config.Settings`."""
    return FloodConfig(
        levels=parse_levels(settings.flood_levels),
        rain=RainRule(settings.flood_rain_hour_mm, settings.flood_rain_15min_mm),
        hold_minutes=settings.flood_hold_minutes,
        sender=settings.flood_cap_sender,
        tenant=tenant,
    )


def model_path(settings: Any) -> Any:
    """Where the flood model is saved: ``SMARTSEOUL_FLOOD_MODEL_PATH`` or the data dir."""
    return settings.flood_model_path or settings.data_dir / "flood-model.json"


async def current_forecasts(client: HubClient, *, tenant: str = "") -> list[dict[str, Any]]:
    """The latest WaterLevelForecast of every gauge, as key-values."""
    return await client.query(
        type="WaterLevelForecast", context=FLOOD_CONTEXT, tenant=tenant, key_values=True
    )


async def current_warnings(client: HubClient, *, tenant: str = "") -> list[dict[str, Any]]:
    """Alerts in force (status active), as key-values without their CAP text."""
    found = await client.query(
        type="Alert", q='alertStatus=="active"', context=FLOOD_CONTEXT, tenant=tenant,
        key_values=True,
    )  # fmt: skip
    return [{k: v for k, v in alert.items() if k != "capMessage"} for alert in found]
