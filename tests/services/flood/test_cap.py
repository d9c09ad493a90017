"""CAP 1.2 messages validate against the OASIS CAP 1.2 schema shipped with the package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from smartseoul.datasets import shipped_file
from smartseoul.services.flood.cap import CAP_SCHEMA, AlertText, render_cap
from smartseoul.services.flood.warnings import GaugeLevels, assess_gauge, next_alert

T0 = datetime(2013, 7, 15, 12, 0, tzinfo=UTC)
TEXT = AlertText("한강대교 부근", "한강대교 홍수주의보", "수위 8.6 m", "둔치 출입 금지",
                 point=(126.959, 37.517))  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shipped_file(CAP_SCHEMA))))


def messages():
    levels = GaugeLevels("1018683", 8.5, 10.5)
    alert, sent = None, []
    for i, height in enumerate([8.6, 10.6, 9.0, 8.0]):
        moment = T0 + timedelta(hours=i)
        step = next_alert(alert, assess_gauge(levels, moment, height), alert_id="urn:ngsi-ld:Alert:x",
                          hold_minutes=0)  # fmt: skip
        if step.action != "none":
            yield step.action, render_cap(step.alert, step.action, TEXT, sender="flood@seoul.example",
                                          sent=moment, history=list(sent))  # fmt: skip
            sent.append(moment)
        alert = step.alert if step.alert and step.alert.status == "active" else None


def test_every_message_validates(schema):
    seen = []
    for action, xml in messages():
        document = etree.fromstring(xml.encode("utf-8"))
        schema.assertValid(document)
        seen.append((action, document.findtext("{urn:oasis:names:tc:emergency:cap:1.2}msgType")))
    assert seen == [("issue", "Alert"), ("escalate", "Update"), ("update", "Update"),
                    ("cancel", "Cancel")]  # fmt: skip


def test_updates_reference_earlier_messages(schema):
    *_, (action, xml) = messages()
    document = etree.fromstring(xml.encode("utf-8"))
    references = document.findtext("{urn:oasis:names:tc:emergency:cap:1.2}references").split()
    assert action == "cancel" and len(references) == 3
    assert references[0] == "flood@seoul.example,urn:ngsi-ld:Alert:x#1,2013-07-15T21:00:00+09:00"


def test_schema_rejects_a_utc_z_time(schema):
    _, xml = next(messages())
    bad = xml.replace("+09:00</sent>", "Z</sent>").replace(":00+09:00</sent>", ":00Z</sent>")
    assert not schema.validate(etree.fromstring(bad.encode("utf-8")))
