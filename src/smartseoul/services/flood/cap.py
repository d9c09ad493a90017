"""CAP 1.2 (OASIS Common Alerting Protocol) messages for flood alerts. Pure.

Every message about one alert carries the identifier ``<alert id>#<sequence>``; updates
and cancellations reference all earlier messages of the alert, as CAP 1.2 section 3.2.1
asks (``sender,identifier,sent`` triples). The schema the output is tested against ships
as ``smartseoul/data/cap-1.2.xsd``: a transcription of the OASIS ``CAP-v1.2.xsd`` from the
standard's text, checked against the official file (docs/flood.md, "CAP 1.2 schema").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree import ElementTree

from smartseoul.datasets import KST
from smartseoul.services.flood.warnings import AlertRecord

__all__ = ["CAP_NAMESPACE", "CAP_SCHEMA", "AlertText", "render_cap"]

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_SCHEMA = "cap-1.2.xsd"
"""File name of the CAP 1.2 schema in the shipped data (``datasets.shipped_file``)."""
_MSG_TYPES = {"issue": "Alert", "escalate": "Update", "update": "Update", "cancel": "Cancel"}


@dataclass(frozen=True)
class AlertText:
    """What a message says about its subject, in Korean (the public's language)."""

    area: str
    """Where: a gauge's reach or a gu name."""
    headline: str
    description: str
    instruction: str
    point: tuple[float, float] | None = None
    """WGS84 ``(lon, lat)`` of a gauge; areas get a 1 km circle around it."""
    geocode: str | None = None
    """A gu's administrative code."""


def render_cap(
    alert: AlertRecord,
    action: str,
    text: AlertText,
    *,
    sender: str,
    sent: datetime,
    history: list[datetime],
    expires_hours: int = 6,
) -> str:
    """The CAP 1.2 XML of one message about ``alert``.

    Parameters
    ----------
    alert
        The alert after the transition.
    action
        ``issue``, ``escalate``, ``update`` or ``cancel``.
    text
        Area and wording.
    sender
        The CAP sender (an e-mail-like identifier of the issuing office).
    sent
        Time the message is sent (shown in KST).
    history
        Send times of the alert's earlier messages, oldest first (``len == sequence - 1``).
    expires_hours
        Hours after ``sent`` the message stops being in force unless renewed.
    """
    if action not in _MSG_TYPES:
        raise ValueError(f"action must be one of {', '.join(_MSG_TYPES)}, not {action!r}")
    ElementTree.register_namespace("", CAP_NAMESPACE)
    root = ElementTree.Element(f"{{{CAP_NAMESPACE}}}alert")

    def add(parent: ElementTree.Element, name: str, value: str) -> ElementTree.Element:
        child = ElementTree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{name}")
        child.text = value
        return child

    add(root, "identifier", f"{alert.id}#{alert.sequence}")
    add(root, "sender", sender)
    add(root, "sent", _cap_time(sent))
    add(root, "status", "Actual")
    add(root, "msgType", _MSG_TYPES[action])
    add(root, "scope", "Public")
    if history:
        add(
            root,
            "references",
            " ".join(
                f"{sender},{alert.id}#{n},{_cap_time(moment)}"
                for n, moment in enumerate(history, start=1)
            ),
        )
    info = ElementTree.SubElement(root, f"{{{CAP_NAMESPACE}}}info")
    add(info, "language", "ko-KR")
    add(info, "category", "Met")
    add(info, "event", alert.level.name_ko if action != "cancel" else "해제")
    add(info, "responseType", "AllClear" if action == "cancel" else "Prepare")
    observed = alert.lead_minutes == 0
    add(info, "urgency", "Past" if action == "cancel" else "Immediate" if observed else "Expected")
    add(info, "severity", "Minor" if action == "cancel" else alert.level.cap_severity)
    add(info, "certainty", "Observed" if observed or action == "cancel" else "Likely")
    add(info, "onset", _cap_time(alert.updated + timedelta(minutes=alert.lead_minutes)))
    add(info, "expires", _cap_time(sent + timedelta(hours=expires_hours)))
    add(info, "senderName", "smartseoul flood service")
    add(info, "headline", text.headline)
    add(info, "description", text.description)
    add(info, "instruction", text.instruction)
    for name, value in (
        ("alertLevel", alert.level.key),
        ("leadTimeMinutes", str(alert.lead_minutes)),
        ("subject", alert.subject),
    ):
        parameter = ElementTree.SubElement(info, f"{{{CAP_NAMESPACE}}}parameter")
        add(parameter, "valueName", name)
        add(parameter, "value", value)
    area = ElementTree.SubElement(info, f"{{{CAP_NAMESPACE}}}area")
    add(area, "areaDesc", text.area)
    if text.point is not None:
        lon, lat = text.point
        add(area, "circle", f"{lat:.5f},{lon:.5f} 1.0")
    if text.geocode is not None:
        geocode = ElementTree.SubElement(area, f"{{{CAP_NAMESPACE}}}geocode")
        add(geocode, "valueName", "KR-SIGUNGU")
        add(geocode, "value", text.geocode)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def _cap_time(moment: datetime) -> str:
    """CAP's dateTime: local time with a numeric offset, never ``Z`` (section 3.3.2)."""
    return moment.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S+09:00")
