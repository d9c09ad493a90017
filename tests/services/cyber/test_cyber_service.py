"""The live pipeline on a real hub: alerts, incidents and risk as entities; routes; syslog sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta

from conftest import problem
from smartseoul.config import Settings
from smartseoul.hub.client import HttpHubClient
from smartseoul.services.cyber.detection import load_detector
from smartseoul.services.cyber.service import (
    CyberPipeline,
    SyslogListener,
    list_alerts,
    list_incidents,
    list_risk,
    make_pipeline,
    tail_file,
)
from smartseoul.services.cyber.store import EventStore

# Yesterday: the event store keeps 30 days, and an older event is analysed but not stored.
DAY = datetime.now(UTC) - timedelta(days=1)
ISO_DAY = DAY.strftime("%Y-%m-%d")
BRUTE_FORCE = [
    f"<38>{DAY:%b} {DAY.day:2d} 01:00:{i:02d} gw-1 sshd[7]: Failed password for invalid user u{i} from "
    f"203.0.113.66 port {40000 + i} ssh2"
    for i in range(12)
]
WEB = [
    (
        '{"timestamp":"' + ISO_DAY + 'T01:02:00.000000+0000","event_type":"http","src_ip":"198.51.100.4",'
        '"src_port":5000,"dest_ip":"10.0.0.5","dest_port":80,"proto":"TCP","http":{"hostname":"cctv.example",'
        f'"url":"/view.php?id={i}%20UNION%20SELECT%20pw","http_user_agent":"sqlmap/1.7","status":200}}}}'
    )
    for i in range(3)
]


def test_alerts_incidents_and_risk_land_in_the_hub(hub, tmp_path):
    async def run():
        client = HttpHubClient(hub.api)
        pipeline = make_pipeline(Settings(data_dir=tmp_path), client)
        try:
            first = await pipeline.ingest(
                BRUTE_FORCE + ["not a syslog line"], "syslog", source="gw-1"
            )
            second = await pipeline.ingest(WEB, "eve")
            again = await pipeline.ingest(WEB, "eve")  # a replay: same alert ids, no duplicates
            return (
                first,
                second,
                again,
                await list_alerts(client),
                await list_incidents(client),
                await list_risk(client),
            )
        finally:
            await client.close()
            pipeline.store.close()

    first, second, again, alerts, incidents, risk = asyncio.run(run())
    assert (first.lines, first.events, first.skipped) == (
        13,
        12,
        {"not syslog (RFC 3164 or 5424)": 1},
    )
    assert first.alerts >= 3 and second.alerts == 6 and again.alerts == 6
    titles = {a["description"] for a in alerts}
    assert {
        "SSH brute force from one source",
        "SSH password spraying from one source",
        "SQL injection in a URL",
        "Web vulnerability scanner user agent",
    } <= titles
    web = [a for a in alerts if a["description"] == "SQL injection in a URL"]
    assert len(web) == 3  # the replay updated the same three entities
    assert web[0]["category"] == "security" and web[0]["attackTechniques"] == ["T1190"]
    assert web[0]["asset"] == "10.0.0.5" and web[0]["sourceIp"] == "198.51.100.4"
    assert web[0]["refIncident"].startswith("urn:ngsi-ld:Incident:cyber:")
    by_technique = {i["technique"]: i for i in incidents}
    assert by_technique["T1190"]["alertCount"] == 3 and by_technique["T1190"]["status"] == "new"
    assert by_technique["T1190"]["severity"] == "high"
    assert {r["asset"] for r in risk} == {"gw-1", "10.0.0.5"}
    assert all(0 < r["riskScore"] <= 100 and r["riskFactors"] for r in risk)


def test_routes_search_workflow_and_errors(hub):
    http = hub.http
    base = hub.base + "/cyber"
    answer = http.post(
        base + "/events", params={"format": "syslog"}, content="\n".join(BRUTE_FORCE)
    )
    assert answer.status_code == 200 and answer.json()["events"] == 12
    assert http.post(base + "/events", content="\n".join(WEB)).json()["alerts"] == 6  # format: auto
    found = http.get(
        base + "/events", params={"q": "invalid user", "source.ip": "203.0.113.66", "limit": 5}
    )
    assert found.status_code == 200 and len(found.json()) == 5
    assert found.json()[0]["user.name"] == "u11"
    window = http.get(
        base + "/events", params={"start": f"{ISO_DAY}T01:01:00Z", "end": f"{ISO_DAY}T02:00:00Z"}
    )
    assert len(window.json()) == 3
    problem(http.get(base + "/events", params={"start": "noon"}), 400, "InvalidRequest")
    problem(
        http.post(base + "/events", params={"format": "cef"}, content="x"), 400, "InvalidRequest"
    )

    incidents = http.get(base + "/incidents").json()
    web = next(i for i in incidents if i["technique"] == "T1190")
    short_id = web["id"].rsplit(":", 1)[-1]
    changed = http.patch(
        f"{base}/incidents/{short_id}",
        json={"status": "investigating", "note": "WAF blocked it?", "author": "kim"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "investigating"
    assert changed.json()["notes"][0]["author"] == "kim"
    assert [
        i["id"] for i in http.get(base + "/incidents", params={"status": "investigating"}).json()
    ] == [web["id"]]
    body = problem(
        http.patch(f"{base}/incidents/{short_id}", json={"status": "closed"}), 400, "InvalidRequest"
    )
    assert "valid: new, investigating, resolved, false_positive" in body["detail"]
    http.patch(f"{base}/incidents/{short_id}", json={"status": "false_positive", "author": "kim"})
    problem(
        http.patch(f"{base}/incidents/{short_id}", json={"status": "resolved"}),
        400,
        "InvalidRequest",
    )
    problem(http.get(f"{base}/incidents/nope"), 404, "ResourceNotFound")
    problem(http.get(base + "/incidents", params={"status": "done"}), 400, "InvalidRequest")

    # New alerts after the analyst closed the incident open a new one.
    later = [w.replace("01:02:00", "01:03:00").replace("id=", "id=9") for w in WEB]
    http.post(base + "/events", content="\n".join(later))
    fresh = [i for i in http.get(base + "/incidents").json() if i["technique"] == "T1190"]
    assert sorted(i["status"] for i in fresh) == ["false_positive", "new"]
    assert len(http.get(base + "/alerts").json()) >= 9
    assert http.get(base + "/risk").json()[0]["riskScore"] > 0


def test_events_past_retention_are_analysed_not_stored(hub):
    old = datetime.now(UTC) - timedelta(days=45)
    lines = [
        f"<38>1 {old:%Y-%m-%dT%H:%M:%SZ} gw-9 sshd 1 - - Failed password for root from "
        "192.0.2.7 port 1 ssh2",
        f"<38>1 {ISO_DAY}T03:00:00Z gw-9 sshd 2 - - Failed password for kim from 192.0.2.7 port 2 ssh2",
    ]
    answer = hub.http.post(
        hub.base + "/cyber/events", params={"format": "syslog"}, content="\n".join(lines)
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["lines"], report["events"], report["expired"]) == (2, 2, 1)
    found = hub.http.get(hub.base + "/cyber/events", params={"host.hostname": "gw-9"}).json()
    assert [e["user.name"] for e in found] == ["kim"]


def _wait(predicate, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_syslog_over_udp_and_tcp_on_loopback(tmp_path):
    store = EventStore(tmp_path / "events.db")
    pipeline = CyberPipeline(load_detector(), store=store)

    async def run():
        listener = SyslogListener(pipeline, udp_port=0, tcp_port=0, flush_seconds=0.05)
        await listener.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for line in BRUTE_FORCE[:6]:
                    udp.sendto(line.encode(), ("127.0.0.1", listener.udp_port))
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.tcp_port)
            counted = [f"{len(m.encode())} {m}".encode() for m in BRUTE_FORCE[6:9]]
            writer.write(b"".join(counted))  # RFC 6587 octet counting
            writer.write(("\n".join(BRUTE_FORCE[9:]) + "\n").encode())  # newline framing
            writer.write(f"<13>1 {ISO_DAY}T01:00:00Z gw-1 app - - - no newline at close".encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            await asyncio.to_thread(_wait, lambda: pipeline.stats.events >= 13)
        finally:
            await listener.stop()
        return listener

    listener = asyncio.run(run())
    assert pipeline.stats.events == 13 and store.count() == 13
    assert (
        sum(r.alerts for r in listener.reports) >= 2
    )  # brute force and spraying across transports
    assert store.search(text="newline at close")[0]["host.hostname"] == "gw-1"
    store.close()


def test_tail_file_follows_appended_lines(tmp_path):
    path = tmp_path / "auth.log"
    path.write_text("\n".join(BRUTE_FORCE[:5]) + "\n")
    pipeline = CyberPipeline(load_detector(), store=None, anomaly=False)

    async def run():
        stop = asyncio.Event()
        task = asyncio.create_task(
            tail_file(pipeline, path, "syslog", follow=True, poll_seconds=0.05, stop=stop)
        )
        await asyncio.sleep(0.2)
        with path.open("a") as handle:
            handle.write("\n".join(BRUTE_FORCE[5:]) + "\n" + "half a li")
        await asyncio.sleep(0.3)
        stop.set()
        return await task

    report = asyncio.run(run())
    assert (report.lines, report.events) == (12, 12)  # the half-written line waits for its end
    assert report.alerts >= 2
