"""Alerts, incidents and asset risk as NGSI-LD entities (pure).

Alerts are Smart Data Models ``Alert`` entities (``category`` ``security``), so the map,
subscriptions and open data treat them like any other city alert. Incidents are
``Incident`` entities and risk is ``CyberAsset`` (terms in the NGSI-LD default
vocabulary). Times are UTC ISO 8601.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smartseoul.services.alert_terms import ALERT_CONTEXT
from smartseoul.services.cyber.incidents import AssetRisk, Incident

__all__ = [
    "CYBER_CONTEXT",
    "alert_entity",
    "alert_urn",
    "incident_entity",
    "incident_from_entity",
    "incident_urn",
    "risk_entity",
]

_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
CYBER_CONTEXT: dict[str, str] = {
    **ALERT_CONTEXT,
    **{
        term: _DEFAULT + term
        for term in (
            "Incident",
            "CyberAsset",
            "ruleId",
            "ruleKind",
            "attackTechniques",
            "attackTactics",
            "asset",
            "sourceIp",
            "eventCount",
            "refIncident",
            "evidence",
            "status",
            "technique",
            "firstSeen",
            "lastSeen",
            "alertCount",
            "sources",
            "rules",
            "notes",
            "riskScore",
            "riskLevel",
            "riskFactors",
            "title",
        )
    },  # fmt: skip
}
"""The terms of the cyber service's entities."""


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def alert_urn(alert_id: str) -> str:
    return f"urn:ngsi-ld:Alert:cyber:{alert_id}"


def incident_urn(incident_id: str) -> str:
    return f"urn:ngsi-ld:Incident:cyber:{incident_id}"


def asset_urn(asset: str) -> str:
    return "urn:ngsi-ld:CyberAsset:" + "".join(
        c if c.isalnum() or c in ".-_" else "-" for c in asset
    )


def alert_entity(alert: dict[str, Any], incident_id: str | None) -> dict[str, Any]:
    """An ``Alert`` entity from :meth:`Alert.as_dict`."""
    entity: dict[str, Any] = {
        "id": alert_urn(alert["id"]),
        "type": "Alert",
        "category": _prop("security"),
        "subCategory": _prop("suspiciousAction"),
        "severity": _prop(alert["level"]),
        "description": _prop(alert["title"]),
        "dateIssued": _prop(alert["time"]),
        "alertSource": _prop(f"sigma:{alert['rule_id']}"),
        "ruleId": _prop(alert["rule_id"]),
        "ruleKind": _prop(alert["kind"]),
        "asset": _prop(alert["asset"]),
        "eventCount": _prop(alert["count"]),
        "evidence": _prop(alert["event"]),
    }
    if alert["techniques"]:
        entity["attackTechniques"] = _prop(alert["techniques"])
    if alert["tactics"]:
        entity["attackTactics"] = _prop(alert["tactics"])
    if alert.get("source_ip"):
        entity["sourceIp"] = _prop(alert["source_ip"])
    if incident_id:
        entity["refIncident"] = {"type": "Relationship", "object": incident_urn(incident_id)}
    return entity


def incident_entity(incident: Incident, *, with_status: bool = True) -> dict[str, Any]:
    """An ``Incident`` entity; ``with_status=False`` leaves the analyst's fields alone."""
    entity: dict[str, Any] = {
        "id": incident_urn(incident.id),
        "type": "Incident",
        "title": _prop(incident.title),
        "asset": _prop(incident.asset),
        "technique": _prop(incident.technique),
        "severity": _prop(incident.severity),
        "firstSeen": _prop(_iso(incident.first_seen)),
        "lastSeen": _prop(_iso(incident.last_seen)),
        "alertCount": _prop(len(incident.alert_ids)),
        "sources": _prop(sorted(incident.sources)[:50]),
        "rules": _prop(sorted(incident.rules)),
        "attackTactics": _prop(sorted(incident.tactics)),
    }
    if with_status:
        entity["status"] = _prop(incident.status)
        entity["notes"] = _prop(incident.notes)
    return entity


def incident_from_entity(entity: dict[str, Any]) -> Incident:
    """An :class:`Incident` from its entity in key-values form."""

    def seconds(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    count = int(entity.get("alertCount", 0))
    incident = Incident(
        id=str(entity["id"]).rsplit(":", 1)[-1], asset=str(entity.get("asset", "")),
        technique=str(entity.get("technique", "")), title=str(entity.get("title", "")),
        first_seen=seconds(entity["firstSeen"]), last_seen=seconds(entity["lastSeen"]),
        status=str(entity.get("status", "new")), sources=set(entity.get("sources") or []),
        rules=set(entity.get("rules") or []), tactics=set(entity.get("attackTactics") or []),
        notes=list(entity.get("notes") or []),
    )  # fmt: skip
    incident.alert_ids = [f"#{i}" for i in range(count)]
    return incident


def risk_entity(risk: AssetRisk, at: float) -> dict[str, Any]:
    """A ``CyberAsset`` entity carrying the asset's risk and its top factors."""
    observed = _iso(at)
    return {
        "id": asset_urn(risk.asset),
        "type": "CyberAsset",
        "asset": _prop(risk.asset),
        "riskScore": {"type": "Property", "value": risk.score, "observedAt": observed},
        "riskLevel": _prop(risk.level),
        "riskFactors": _prop(risk.factors),
    }
