"""The flood service on the hub: loads gauges, forecasts each new reading, writes alerts.

Everything goes through :class:`~smartseoul.hub.client.HubClient`. Readings arrive as
NGSI-LD entities (a subscription's notifications or a query of the current state); each
complete 10-minute step of the four bridge gauges gives a ``WaterLevelForecast`` per
gauge and advances each gauge's alert (:func:`~smartseoul.services.flood.warnings.next_alert`).
Rain gauges (``WeatherObserved`` with ``precipitation`` and ``district``) advance the gu's
inundation pre-warning. Alerts are Smart Data Models ``Alert`` entities whose history is
the sequence of messages, each with its CAP 1.2 rendering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from smartseoul.datasets.han_river import GAUGES, PALDANG_DAM, HanRiverRecord
from smartseoul.hub.client import HubClient
from smartseoul.ingest.demo_city import DEMO_CONTEXT
from smartseoul.services.alert_terms import ALERT_CONTEXT
from smartseoul.services.flood.cap import AlertText, render_cap
from smartseoul.services.flood.model import (
    GAUGE_CODES,
    HISTORY_STEPS,
    LEADS,
    STEP_SECONDS,
    FloodModel,
    RiverSeries,
)
from smartseoul.services.flood.warnings import (
    LEVELS,
    AlertRecord,
    Assessment,
    GaugeLevels,
    RainRule,
    Transition,
    assess_gauge,
    assess_rain,
    next_alert,
)

log = logging.getLogger("smartseoul.flood")

__all__ = ["FLOOD_CONTEXT", "FloodConfig", "FloodService", "site_entities"]

_SDM = "https://smartdatamodels.org/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
TIDE_CODE = "ganghwa-tide"
FLOOD_CONTEXT: dict[str, str] = {
    **DEMO_CONTEXT,
    "WeatherObserved": _SDM + "dataModel.Weather/WeatherObserved",
    "precipitation": _SDM + "dataModel.Weather/precipitation",
    **ALERT_CONTEXT,
    **{
        term: _DEFAULT + term
        for term in (
            "WaterLevelForecast",
            "refWaterObserved",
            "waterLevelForecast",
            "leadTimes",
            "peakLevel",
            "peakLeadTime",
            "warningLevel",
            "modelSpan",
            "alertStatus",
            "alertLevel",
            "leadTimeMinutes",
            "levelValue",
            "sequence",
            "sentTimes",
            "capMessage",
            "lastAction",
            "subject",
        )
    },  # fmt: skip
}
"""The terms of the flood service's entities, on top of the demo city's."""


@dataclass(frozen=True)
class FloodConfig:
    """Warning thresholds and message settings (built from :class:`~smartseoul.config.Settings`)."""

    levels: dict[str, GaugeLevels]
    rain: RainRule = RainRule()
    hold_minutes: int = 60
    sender: str = "flood@smartseoul.example"
    tenant: str = ""


def _short(name: str) -> str:
    """A term from a compact or an expanded attribute name (notifications may expand)."""
    return name.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _property(value: Any, moment: datetime, unit: str | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "Property", "value": value, "observedAt": _utc(moment)}
    if unit:
        prop["unitCode"] = unit
    return prop


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
                _property(value, r.time, unit)
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


@dataclass
class _Live:
    record: AlertRecord
    sent: list[datetime] = field(default_factory=list)


class FloodService:
    """Forecasts and warnings for the Han River gauges and rain-gauge gu, on one hub."""

    def __init__(self, client: HubClient, model: FloodModel, config: FloodConfig):
        self.client, self.model, self.config = client, model, config
        self.steps: dict[int, dict[str, float]] = {}
        self.forecast_done: set[int] = set()
        self.rain: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
        self.alerts: dict[str, _Live] = {}
        self.subscriptions: list[str] = []
        self._lock = asyncio.Lock()  # notifications may arrive together: one at a time

    # -- start-up

    async def start(self) -> None:
        """Take the live alerts and the last readings from the hub."""
        tenant = self.config.tenant
        found = await self.client.query(
            type="Alert", q='alertStatus=="active"', context=FLOOD_CONTEXT, tenant=tenant,
            key_values=True,
        )  # fmt: skip
        for entity in found:
            live = _live_from_entity(entity)
            self.alerts[live.record.subject] = live
        sites = await self.client.query(type="WaterObserved", context=FLOOD_CONTEXT, tenant=tenant)
        latest = [_reading_time(e) for e in sites]
        times = [t for t in latest if t is not None]
        if times:
            end = max(times) + timedelta(seconds=STEP_SECONDS)
            begin = end - timedelta(seconds=STEP_SECONDS * (HISTORY_STEPS + 2))
            history = await self.client.history(
                [e["id"] for e in sites], attrs=["waterLevel", "discharge", "inflow"],
                time_at=_utc(begin), end_time_at=_utc(end), context=FLOOD_CONTEXT, tenant=tenant,
            )  # fmt: skip
            for entity_id, attrs in history.items():
                for term, instances in attrs.items():
                    for instance in instances:
                        self._put(entity_id, _short(term), instance)
            self.forecast_done.update(self.steps)

    async def subscribe(self, endpoint: str) -> str:
        """Have the hub notify ``endpoint`` of every new gauge, dam, tide or rain reading."""
        body = {
            "type": "Subscription",
            "entities": [{"type": "WaterObserved"}, {"type": "WeatherObserved"}],
            "watchedAttributes": ["waterLevel", "discharge", "precipitation"],
            "notification": {"endpoint": {"uri": endpoint, "accept": "application/json"}},
        }
        sub_id = await self.client.subscribe(body, context=FLOOD_CONTEXT, tenant=self.config.tenant)
        self.subscriptions.append(sub_id)
        return sub_id

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
        for entity in entities:
            kind = _short(str(entity.get("type", "")))
            for name, value in entity.items():
                if not isinstance(value, dict) or "observedAt" not in value:
                    continue
                term = _short(name)
                if kind == "WaterObserved":
                    self._put(entity["id"], term, value)
                elif kind == "WeatherObserved" and term == "precipitation":
                    gu = _district(entity)
                    if gu is not None and value.get("value") is not None:
                        new_rain.add(gu)
                        moment = _parse_time(value["observedAt"])
                        readings = self.rain.setdefault(gu, {}).setdefault(entity["id"], [])
                        if not readings or readings[-1][0] < moment:
                            readings.append((moment, float(value["value"])))
        transitions = []
        for step in sorted(self._complete_steps()):
            transitions += await self._forecast(step)
        for gu in sorted(new_rain):
            transitions += await self._rain_alert(gu)
        return transitions

    def _put(self, entity_id: str, term: str, instance: dict[str, Any]) -> None:
        code = entity_id.rsplit(":", 1)[-1]
        value = instance.get("value")
        if value is None or "observedAt" not in instance:
            return
        epoch = _parse_time(instance["observedAt"]).timestamp()
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
        keys = [f"level:{code}" for code in GAUGE_CODES]
        return [
            step
            for step, values in self.steps.items()
            if step not in self.forecast_done and all(k in values for k in keys)
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
        self.forecast_done.add(step)
        for old in [s for s in self.steps if s < step - 2 * HISTORY_STEPS * STEP_SECONDS]:
            del self.steps[old]
            self.forecast_done.discard(old)
        forecast = self.model.forecast_latest(self.series_until(step))
        moment = datetime.fromtimestamp(step, UTC)
        entities, transitions = [], []
        for g, code in enumerate(GAUGE_CODES):
            observed = self.steps[step][f"level:{code}"] / 100
            heights = [round(float(v) / 100, 3) for v in forecast[g]]
            leads = [lead * STEP_SECONDS // 60 for lead in LEADS]
            valid = [(lead, h) for lead, h in zip(leads, heights, strict=True) if np.isfinite(h)]
            levels = self.config.levels.get(code, GaugeLevels(code))
            assessment = assess_gauge(levels, moment, observed, valid)
            entities.append(_forecast_entity(code, moment, heights, leads, assessment, self.model))
            transitions += await self._advance(assessment, _gauge_text(code, assessment))
        await self.client.upsert(entities, context=FLOOD_CONTEXT, tenant=self.config.tenant)
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
        return await self._advance(worst, _rain_text(gu, worst))

    async def _advance(self, assessment: Assessment, text: AlertText) -> list[Transition]:
        subject = assessment.subject
        live = self.alerts.get(subject)
        stamp = assessment.time.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
        kind = "inundation" if text.geocode else "flood"
        step = next_alert(
            live.record if live else None,
            assessment,
            alert_id=f"urn:ngsi-ld:Alert:{kind}:{subject}:{stamp}",
            hold_minutes=self.config.hold_minutes,
        )
        if step.action == "none":
            if live is not None and step.alert is not None:
                live.record = step.alert
            return []
        assert step.alert is not None
        sent = [] if step.action == "issue" or live is None else live.sent
        cap = render_cap(
            step.alert, step.action, text, sender=self.config.sender, sent=assessment.time,
            history=sent,
        )  # fmt: skip
        current = _Live(step.alert, [*sent, assessment.time])
        entity = _alert_entity(step, current, text, cap)
        outcome = await self.client.upsert(
            [entity], context=FLOOD_CONTEXT, tenant=self.config.tenant
        )
        if outcome.errors:
            raise RuntimeError(f"hub refused alert {entity['id']}: {outcome.errors[0]}")
        if step.alert.status == "active":
            self.alerts[subject] = current
        else:
            self.alerts.pop(subject, None)
        log.info("%s %s %s", step.action, step.alert.id, step.alert.level.key)
        return [step]


def _reading_time(entity: dict[str, Any]) -> datetime | None:
    for name, value in entity.items():
        if _short(name) == "waterLevel" and isinstance(value, dict) and "observedAt" in value:
            return _parse_time(value["observedAt"])
    return None


def _district(entity: dict[str, Any]) -> str | None:
    for name, value in entity.items():
        if _short(name) == "district":
            found = value.get("value") if isinstance(value, dict) else value
            return None if found is None else str(found)
    return None


def _forecast_entity(
    code: str,
    moment: datetime,
    heights: list[float],
    leads: list[int],
    assessment: Assessment,
    model: FloodModel,
) -> dict[str, Any]:
    finite = [(h, lead) for h, lead in zip(heights, leads, strict=True) if np.isfinite(h)]
    peak: float | None = None
    peak_lead: int | None = None
    if finite:
        peak, peak_lead = max(finite)
    gauge = GAUGES[code]
    entity = {
        "id": f"urn:ngsi-ld:WaterLevelForecast:hrfco:{code}",
        "type": "WaterLevelForecast",
        "name": {"type": "Property", "value": gauge.name_ko},
        "code": {"type": "Property", "value": code},
        "refWaterObserved": {
            "type": "Relationship",
            "object": f"urn:ngsi-ld:WaterObserved:hrfco:{code}",
        },
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [gauge.lon, gauge.lat]},
        },
        "waterLevelForecast": _property(
            [h if np.isfinite(h) else None for h in heights], moment, "MTR"
        ),
        "leadTimes": {"type": "Property", "value": leads, "unitCode": "C26"},
        "warningLevel": _property(assessment.level.key, moment),
    }
    if peak is not None:
        entity["peakLevel"] = _property(peak, moment, "MTR")
        entity["peakLeadTime"] = _property(peak_lead, moment, "C26")
    span = model.info.get("data_span")
    if span:
        entity["modelSpan"] = {"type": "Property", "value": span}
    return entity


def _gauge_text(code: str, assessment: Assessment) -> AlertText:
    gauge = GAUGES[code]
    level = assessment.level
    when = "관측" if assessment.lead_minutes == 0 else f"{assessment.lead_minutes}분 후 도달 예상"
    value = f"{assessment.value:.2f} m" if assessment.value is not None else "-"
    return AlertText(
        area=f"한강 {gauge.name_ko} 부근 ({gauge.name_en})",
        headline=f"{gauge.name_ko} {level.name_ko}",
        description=f"{gauge.name_ko} 수위 {value} ({when}). 기준: {level.name_ko}.",
        instruction="한강 둔치와 강변도로 이용을 자제하고 통제에 따르십시오.",
        point=(gauge.lon, gauge.lat),
    )


def _rain_text(gu: str, assessment: Assessment) -> AlertText:
    value = f"{assessment.value:.1f} mm" if assessment.value is not None else "-"
    return AlertText(
        area=f"서울특별시 자치구 {gu}",
        headline=f"{gu} {assessment.level.name_ko}",
        description=f"강우량 {value}: 도시 침수 우려.",
        instruction="지하 공간과 저지대를 피하고 배수구 주변을 살피십시오.",
        geocode=gu,
    )


def _alert_entity(step: Transition, live: _Live, text: AlertText, cap: str) -> dict[str, Any]:
    alert = live.record
    moment = alert.updated
    valid_to = moment + timedelta(hours=6)
    gauge = alert.subject in GAUGES
    source = (
        f"urn:ngsi-ld:WaterObserved:hrfco:{alert.subject}"
        if gauge
        else f"urn:ngsi-ld:AdministrativeArea:seoul:{alert.subject}"
    )
    entity: dict[str, Any] = {
        "id": alert.id,
        "type": "Alert",
        "category": {"type": "Property", "value": "weather"},
        "subCategory": {"type": "Property", "value": "flood" if gauge else "rainfall"},
        "subject": {"type": "Property", "value": alert.subject},
        "alertSource": {"type": "Relationship", "object": source},
        "dateIssued": {"type": "Property", "value": _utc(alert.issued)},
        "validFrom": {"type": "Property", "value": _utc(alert.issued)},
        "validTo": _property(_utc(moment if alert.status != "active" else valid_to), moment),
        "severity": _property(alert.level.severity, moment),
        "alertLevel": _property(alert.level.key, moment),
        "alertStatus": _property(alert.status, moment),
        "lastAction": _property(step.action, moment),
        "leadTimeMinutes": _property(alert.lead_minutes, moment, "C26"),
        "sequence": _property(alert.sequence, moment),
        "sentTimes": {"type": "Property", "value": [_utc(t) for t in live.sent]},
        "description": _property(text.description, moment),
        "capMessage": _property(cap, moment),
    }
    if alert.value is not None:
        entity["levelValue"] = _property(alert.value, moment)
    if text.point is not None:
        lon, lat = text.point
        entity["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [lon, lat]},
        }
    return entity


def _live_from_entity(entity: dict[str, Any]) -> _Live:
    def value(term: str) -> Any:
        for name, found in entity.items():
            if _short(name) == term:
                return found
        return None

    sent = [_parse_time(t) for t in value("sentTimes") or []]
    record = AlertRecord(
        id=entity["id"],
        subject=str(value("subject")),
        level=LEVELS[value("alertLevel")],
        status=value("alertStatus"),
        issued=_parse_time(value("dateIssued")),
        updated=sent[-1] if sent else _parse_time(value("dateIssued")),
        lead_minutes=int(value("leadTimeMinutes") or 0),
        value=value("levelValue"),
        sequence=int(value("sequence") or len(sent) or 1),
    )
    return _Live(record, sent)


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
