"""The Smart Data Models ``Alert`` terms that every service writing alerts shares.

Flood warnings and security alerts are both ``Alert`` entities
(https://smartdatamodels.org/dataModel.Alert/), so subscriptions, open data and the map
see one type with one vocabulary, whichever service issued them.
"""

from __future__ import annotations

ALERT_BASE = "https://smartdatamodels.org/dataModel.Alert/"

ALERT_CONTEXT: dict[str, str] = {
    term: ALERT_BASE + term
    for term in (
        "Alert",
        "category",
        "subCategory",
        "severity",
        "alertSource",
        "dateIssued",
        "validFrom",
        "validTo",
        "description",
    )
}
"""JSON-LD term definitions of the Alert data model (the value of an ``@context``)."""
