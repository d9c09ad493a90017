"""Careless requests to /cyber on a running hub (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import problem

DAY = datetime.now(UTC) - timedelta(days=1)
BRUTE_FORCE = "\n".join(
    f"<38>{DAY:%b} {DAY.day:2d} 01:00:{i:02d} gw-1 sshd[7]: Failed password for invalid user "
    f"u{i} from 203.0.113.66 port {40000 + i} ssh2"
    for i in range(12)
)


def test_a_line_longer_than_the_csv_field_limit_is_skipped(hub):
    """A 200,000-character line made format detection (and the flow parser) raise csv.Error:
    a 500 for the whole batch instead of one skipped line."""
    long_line = "x" * 200_000
    for fmt, body in (("auto", long_line + "\n" + BRUTE_FORCE),
                      ("flow", "ts,sa,da,sp,dp,pr\n" + long_line)):  # fmt: skip
        response = hub.http.post(hub.base + "/cyber/events", params={"format": fmt}, content=body)
        assert response.status_code == 200, response.text
        report = response.json()
        assert sum(report["skipped"].values()) == 1, report
    assert report["skipped"] == {"unreadable (Error)": 1}


def test_limit_must_be_ascii_digits(hub):
    response = hub.http.get(hub.base + "/cyber/alerts", params={"limit": "²"})  # isdigit() is True
    assert problem(response, 400, "InvalidRequest")["detail"] == (
        "limit must be an integer from 0 to 10000"
    )
    response = hub.http.get(hub.base + "/cyber/events", params={"offset": "³"})
    assert problem(response, 400, "InvalidRequest")["detail"].startswith("offset must be")


def test_a_null_note_is_no_note_and_a_non_text_note_is_refused(hub):
    response = hub.http.post(hub.base + "/cyber/events", params={"format": "syslog"},
                             content=BRUTE_FORCE)  # fmt: skip
    assert response.status_code == 200 and response.json()["incidents"] >= 1, response.text
    incident = hub.http.get(hub.base + "/cyber/incidents").json()[0]["id"]
    url = hub.base + "/cyber/incidents/" + incident
    response = hub.http.patch(url, json={"status": "investigating", "note": None, "author": None})
    assert response.status_code == 200, response.text
    (note,) = response.json()["notes"]
    assert (note["text"], note["author"], note["status"]) == ("", "", "new -> investigating")
    response = hub.http.patch(url, json={"note": {"text": "x"}})
    assert problem(response, 400, "InvalidRequest")["detail"] == (
        "note must be a string, got {'text': 'x'}"
    )
    response = hub.http.patch(url, json={"note": "checked", "author": 7})
    assert problem(response, 400, "InvalidRequest")["detail"] == "author must be a string, got 7"
    response = hub.http.patch(url, json={"note": "x" * 10_001})  # 1 MB notes were kept
    assert problem(response, 400, "InvalidRequest")["detail"] == (
        "note must be at most 10000 characters"
    )
    response = hub.http.patch(url, json={"note": "checked", "author": "k" * 201})
    assert problem(response, 400, "InvalidRequest")["detail"].startswith("author must be at most")
    assert len(hub.http.get(url).json()["notes"]) == 1
