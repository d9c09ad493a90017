"""The flood service's entities: WaterLevelForecast and Alert as NGSI-LD, and alerts read back.

Pure: builds entity bodies from the service's state and parses the hub's answers; the
service writes and reads them through the hub client. An Alert carries everything the
service needs to resume after a restart: level, status, sequence, send times and the
hold state ``lowerSince`` (see :attr:`~smartseoul.services.flood.warnings.AlertRecord.lower_since`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from smartseoul.datasets.han_river import GAUGES
from smartseoul.ingest.demo_city import DEMO_CONTEXT
from smartseoul.services.alert_terms import ALERT_CONTEXT
from smartseoul.services.flood.cap import AlertText
from smartseoul.services.flood.model import FloodModel
from smartseoul.services.flood.warnings import LEVELS, AlertRecord, Transition

__all__ = [
    "FLOOD_CONTEXT",
    "LiveAlert",
    "alert_entity",
    "alert_text",
    "forecast_entity",
    "hold_property",
    "live_alert",
    "observed_at",
]

_SDM = "https://smartdatamodels.org/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
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
            "lowerSince",
            "subject",
        )
    },  # fmt: skip
}
"""The terms of the flood service's entities, on top of the demo city's."""


@dataclass
class LiveAlert:
    """An alert in force and the send times of its messages (for CAP references)."""

    record: AlertRecord
    sent: list[datetime] = field(default_factory=list)


def short(name: str) -> str:
    """A term from a compact or an expanded attribute name (notifications may expand)."""
    return name.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prop(value: Any, moment: datetime, unit: str | None = None) -> dict[str, Any]:
    """A Property observed at ``moment``."""
    out: dict[str, Any] = {"type": "Property", "value": value, "observedAt": utc(moment)}
    if unit:
        out["unitCode"] = unit
    return out


def observed_at(entity: dict[str, Any], term: str) -> datetime | None:
    """``observedAt`` of an attribute of a normalized entity (``None`` if absent)."""
    for name, value in entity.items():
        if short(name) == term and isinstance(value, dict) and "observedAt" in value:
            return parse_time(value["observedAt"])
    return None


def forecast_entity(
    code: str,
    moment: datetime,
    heights: list[float],
    leads: list[int],
    warning_level: str,
    model: FloodModel,
) -> dict[str, Any]:
    """The WaterLevelForecast of one gauge made at ``moment`` (heights in m, NaN: none)."""
    finite = [(h, lead) for h, lead in zip(heights, leads, strict=True) if np.isfinite(h)]
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
        "waterLevelForecast": prop([h if np.isfinite(h) else None for h in heights], moment, "MTR"),
        "leadTimes": {"type": "Property", "value": leads, "unitCode": "C26"},
        "warningLevel": prop(warning_level, moment),
    }
    if finite:
        peak, peak_lead = max(finite)
        entity["peakLevel"] = prop(peak, moment, "MTR")
        entity["peakLeadTime"] = prop(peak_lead, moment, "C26")
    span = model.info.get("data_span")
    if span:
        entity["modelSpan"] = {"type": "Property", "value": span}
    return entity


def alert_text(alert: AlertRecord) -> AlertText:
    """What a message says about ``alert`` (a gauge's or a gu's), in Korean."""
    level = alert.level
    cancelled = alert.status != "active"
    gauge = GAUGES.get(alert.subject)
    if gauge is None:
        value = f"{alert.value:.1f} mm" if alert.value is not None else "-"
        return AlertText(
            area=f"서울특별시 자치구 {alert.subject}",
            headline=f"{alert.subject} {level.name_ko}" + (" 해제" if cancelled else ""),
            description=f"강우량 {value}: "
            + ("기준 아래로 내려갔습니다." if cancelled else "도시 침수 우려."),
            instruction="지하 공간과 저지대를 피하고 배수구 주변을 살피십시오.",
            geocode=alert.subject,
        )
    when = "관측" if alert.lead_minutes == 0 else f"{alert.lead_minutes}분 후 도달 예상"
    value = f"{alert.value:.2f} m" if alert.value is not None else "-"
    return AlertText(
        area=f"한강 {gauge.name_ko} 부근 ({gauge.name_en})",
        headline=f"{gauge.name_ko} {level.name_ko}" + (" 해제" if cancelled else ""),
        description=f"{gauge.name_ko} 수위 {value} ({when}). "
        + (f"{level.name_ko} 해제." if cancelled else f"기준: {level.name_ko}."),
        instruction="한강 둔치와 강변도로 이용을 자제하고 통제에 따르십시오.",
        point=(gauge.lon, gauge.lat),
    )


def hold_property(alert: AlertRecord, moment: datetime) -> dict[str, Any]:
    """``lowerSince``: level key -> since when every assessment has been at or below it."""
    return prop({level.key: utc(since) for level, since in alert.lower_since}, moment)


def alert_entity(step: Transition, live: LiveAlert, text: AlertText, cap: str) -> dict[str, Any]:
    """The Alert entity after ``step`` (a Smart Data Models Alert plus the flood terms)."""
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
        "dateIssued": {"type": "Property", "value": utc(alert.issued)},
        "validFrom": {"type": "Property", "value": utc(alert.issued)},
        "validTo": prop(utc(moment if alert.status != "active" else valid_to), moment),
        "severity": prop(alert.level.severity, moment),
        "alertLevel": prop(alert.level.key, moment),
        "alertStatus": prop(alert.status, moment),
        "lastAction": prop(step.action, moment),
        "leadTimeMinutes": prop(alert.lead_minutes, moment, "C26"),
        "sequence": prop(alert.sequence, moment),
        "sentTimes": {"type": "Property", "value": [utc(t) for t in live.sent]},
        "lowerSince": hold_property(alert, moment),
        "description": prop(text.description, moment),
        "capMessage": prop(cap, moment),
    }
    if alert.value is not None:
        entity["levelValue"] = prop(alert.value, moment)
    if text.point is not None:
        lon, lat = text.point
        entity["location"] = {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [lon, lat]},
        }
    return entity


def live_alert(entity: dict[str, Any]) -> LiveAlert:
    """An Alert entity of the hub (key-values) as the service's live state."""

    def value(term: str) -> Any:
        for name, found in entity.items():
            if short(name) == term:
                return found
        return None

    sent = [parse_time(t) for t in value("sentTimes") or []]
    hold = value("lowerSince") or {}
    lower_since = tuple(
        sorted(
            ((LEVELS[key], parse_time(since)) for key, since in hold.items()),
            key=lambda pair: -pair[0].rank,
        )
    )
    record = AlertRecord(
        id=entity["id"],
        subject=str(value("subject")),
        level=LEVELS[value("alertLevel")],
        status=value("alertStatus"),
        issued=parse_time(value("dateIssued")),
        updated=sent[-1] if sent else parse_time(value("dateIssued")),
        lead_minutes=int(value("leadTimeMinutes") or 0),
        value=value("levelValue"),
        sequence=int(value("sequence") or len(sent) or 1),
        lower_since=lower_since,
    )
    return LiveAlert(record, sent)
