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


# The CAP 1.2 schema as the OASIS standard gives it (CAP-v1.2.xsd; sections 3.2 and 3.4):
# element order with cardinality ("?" optional, "*" any number, "+" one or more).
STANDARD = {
    "alert": "identifier sender sent status msgType source? scope restriction? addresses? "
    "code* note? references? incidents? info*",
    "info": "language? category+ event responseType* urgency severity certainty audience? "
    "eventCode* effective? onset? expires? senderName? headline? description? instruction? "
    "web? contact? parameter* resource* area*",
    "resource": "resourceDesc mimeType size? uri? derefUri? digest?",
    "area": "areaDesc polygon* circle* geocode* altitude? ceiling?",
    "eventCode": "valueName value",
    "parameter": "valueName value",
    "geocode": "valueName value",
}
ENUMERATIONS = {
    "status": "Actual Exercise System Test Draft",
    "msgType": "Alert Update Cancel Ack Error",
    "scope": "Public Restricted Private",
    "category": "Geo Met Safety Security Rescue Fire Health Env Transport Infra CBRNE Other",
    "responseType": "Shelter Evacuate Prepare Execute Avoid Monitor Assess AllClear None",
    "urgency": "Immediate Expected Future Past Unknown",
    "severity": "Extreme Severe Moderate Minor Unknown",
    "certainty": "Observed Likely Possible Unlikely Unknown",
}
XS = "{http://www.w3.org/2001/XMLSchema}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def test_the_shipped_schema_is_the_standard_one():
    root = etree.parse(str(shipped_file(CAP_SCHEMA))).getroot()
    assert root.get("targetNamespace") == "urn:oasis:names:tc:emergency:cap:1.2"
    assert root.get("elementFormDefault") == "qualified"
    found = {}
    for element in root.iter(f"{XS}element"):
        sequence = element.find(f"{XS}complexType/{XS}sequence")
        if element.get("name") in STANDARD and sequence is not None:
            items = []
            for child in sequence.findall(f"{XS}element"):
                low, high = child.get("minOccurs", "1"), child.get("maxOccurs", "1")
                mark = {("0", "1"): "?", ("0", "unbounded"): "*", ("1", "unbounded"): "+"}
                name = child.get("name") or child.get("ref", "").split(":")[-1]
                items.append(name + mark.get((low, high), ""))
            found[element.get("name")] = " ".join(items)
    assert found == STANDARD
    enumerations = {
        element.get("name"): " ".join(e.get("value") for e in element.iter(f"{XS}enumeration"))
        for element in root.iter(f"{XS}element")
        if element.find(f"{XS}simpleType/{XS}restriction/{XS}enumeration") is not None
    }
    assert enumerations == ENUMERATIONS
    times = {
        element.get("name"): element.find(f"{XS}simpleType/{XS}restriction/{XS}pattern").get(
            "value"
        )
        for element in root.iter(f"{XS}element")
        if element.find(f"{XS}simpleType/{XS}restriction[@base='dateTime']") is not None
    }
    pattern = r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d"
    assert times == dict.fromkeys(("sent", "effective", "onset", "expires"), pattern)
    signature = root.find(f"{XS}element/{XS}complexType/{XS}sequence/{XS}any")
    assert signature.get("namespace") == "http://www.w3.org/2000/09/xmldsig#"


def test_the_schema_rejects_order_missing_elements_and_unknown_values(schema):
    _, xml = next(messages())
    assert schema.validate(etree.fromstring(xml.encode("utf-8")))

    def changed(edit) -> bool:
        document = etree.fromstring(xml.encode("utf-8"))
        edit(document)
        return schema.validate(document)

    def swap(document):  # scope before msgType
        scope = document.find(f"{CAP}scope")
        document.find(f"{CAP}msgType").addprevious(scope)

    assert not changed(swap)
    assert not changed(lambda d: d.find(f"{CAP}info").remove(d.find(f"{CAP}info/{CAP}event")))
    assert not changed(lambda d: d.remove(d.find(f"{CAP}sender")))
    for name, value in (("status", "Real"), ("urgency", "Now"), ("category", "Flood")):
        element = f"{CAP}{name}" if name == "status" else f"{CAP}info/{CAP}{name}"

        def set_value(document, element=element, value=value):
            document.find(element).text = value

        assert not changed(set_value), name
    for name, values in ENUMERATIONS.items():
        element = (
            f"{CAP}{name}" if name in ("status", "msgType", "scope") else f"{CAP}info/{CAP}{name}"
        )
        for value in values.split():

            def set_value(document, element=element, value=value):
                document.find(element).text = value

            assert changed(set_value), (name, value)
