"""Network sensor records as ECS events: Suricata EVE JSON, Zeek conn.log, flows (pure)."""

from __future__ import annotations

import csv
import re
from typing import Any

from smartseoul.services.cyber.logline import (
    Event,
    ParseError,
    json_time,
    load_json_object,
    parse_count,
    parse_duration_ns,
    parse_port,
)

__all__ = ["EveParser", "FlowParser", "ZeekParser", "is_flow_header"]

_EVE_DIRECT = {
    "src_ip": "source.ip", "src_port": "source.port", "dest_ip": "destination.ip",
    "dest_port": "destination.port", "proto": "network.transport", "app_proto": "network.protocol",
    "community_id": "network.community_id", "in_iface": "observer.ingress.interface.name",
    "host": "host.hostname",
}  # fmt: skip
_EVE_SEVERITY = {1: "high", 2: "medium", 3: "low"}


class EveParser:
    """Suricata EVE JSON: alerts, http, dns, tls, flow, ssh and other event types."""

    name = "eve"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        eve = load_json_object(line)
        kind = eve.get("event_type")
        if not isinstance(kind, str):
            raise ParseError("EVE record without event_type")
        if "timestamp" not in eve:
            raise ParseError("EVE record without timestamp")
        event: Event = {
            "@timestamp": json_time(eve["timestamp"], "EVE timestamp invalid"),
            "event.module": "suricata", "event.dataset": "suricata.eve",
            "suricata.eve.event_type": kind, "event.kind": "event",
        }  # fmt: skip
        for key, target in _EVE_DIRECT.items():
            if key in eve:
                event[target] = eve[key]
        for key in ("source.port", "destination.port"):
            if key in event:
                event[key] = parse_port(event[key])
        if "network.transport" in event:
            event["network.transport"] = str(event["network.transport"]).lower()
        if "flow_id" in eve:
            event["suricata.eve.flow_id"] = eve["flow_id"]
        detail = eve.get(kind)
        if kind == "alert" and isinstance(detail, dict):
            event["event.kind"] = "alert"
            event["rule.id"] = str(detail.get("signature_id", ""))
            event["rule.name"] = detail.get("signature", "")
            event["rule.category"] = detail.get("category", "")
            severity = detail.get("severity")
            if isinstance(severity, int):
                event["event.severity"] = severity
                event["suricata.eve.alert.severity"] = _EVE_SEVERITY.get(severity, str(severity))
            event["event.action"] = detail.get("action", "")
        http = eve.get("http")
        if isinstance(http, dict):
            event["event.category"] = "web"
            if "hostname" in http:
                event["url.domain"] = http["hostname"]
            if "url" in http:
                event["url.original"] = http["url"]
                path, _, query = str(http["url"]).partition("?")
                event["url.path"] = path
                if query:
                    event["url.query"] = query
            for key, target in (("http_method", "http.request.method"),
                                ("status", "http.response.status_code"),
                                ("http_user_agent", "user_agent.original"),
                                ("http_refer", "http.request.referrer"),
                                ("length", "http.response.body.bytes")):  # fmt: skip
                if key in http:
                    event[target] = http[key]
        dns = eve.get("dns")
        if isinstance(dns, dict):
            event["event.category"] = "network"
            name = dns.get("rrname") or (dns.get("queries") or [{}])[0].get("rrname")
            if name:
                event["dns.question.name"] = name
            if "rrtype" in dns:
                event["dns.question.type"] = dns["rrtype"]
        tls = eve.get("tls")
        if isinstance(tls, dict) and "sni" in tls:
            event["tls.client.server_name"] = tls["sni"]
        flow = eve.get("flow")
        if isinstance(flow, dict):
            for key, target in (("bytes_toserver", "source.bytes"),
                                ("bytes_toclient", "destination.bytes"),
                                ("pkts_toserver", "source.packets"),
                                ("pkts_toclient", "destination.packets")):  # fmt: skip
                count = parse_count(flow.get(key))
                if count is not None:
                    event[target] = count
            if "source.bytes" in event or "destination.bytes" in event:
                event["network.bytes"] = event.get("source.bytes", 0) + event.get(
                    "destination.bytes", 0
                )
            if kind == "flow":
                event["event.category"] = "network"
                if "state" in flow:
                    event["suricata.eve.flow.state"] = flow["state"]
        ssh = eve.get("ssh")
        if isinstance(ssh, dict):
            client = ssh.get("client") or {}
            if "software_version" in client:
                event["ssh.client.software"] = client["software_version"]
        event["event.original"] = line.rstrip("\n")
        return event


# ============================================================================ Zeek conn.log

_ZEEK_CONN = {
    "uid": "zeek.session_id", "id.orig_h": "source.ip", "id.orig_p": "source.port",
    "id.resp_h": "destination.ip", "id.resp_p": "destination.port", "proto": "network.transport",
    "service": "network.protocol", "orig_bytes": "source.bytes", "resp_bytes": "destination.bytes",
    "orig_pkts": "source.packets", "resp_pkts": "destination.packets",
    "conn_state": "zeek.conn.state", "history": "zeek.conn.history",
    "local_orig": "zeek.conn.local_orig", "missed_bytes": "zeek.conn.missed_bytes",
    "community_id": "network.community_id",
}  # fmt: skip
_PORTS = frozenset({"source.port", "destination.port"})
_INTEGER = frozenset({"source.bytes", "destination.bytes", "source.packets", "destination.packets",
                      "zeek.conn.missed_bytes"})  # fmt: skip


def _conn_event(record: dict[str, Any], line: str) -> Event:
    if "ts" not in record:
        raise ParseError("Zeek record without ts")
    event: Event = {
        "@timestamp": json_time(record["ts"], "Zeek ts invalid"),
        "event.module": "zeek", "event.dataset": "zeek.conn", "event.kind": "event",
        "event.category": "network",
    }  # fmt: skip
    for key, target in _ZEEK_CONN.items():
        value = record.get(key)
        if value is None or value in ("-", "(empty)", ""):
            continue
        if target in _PORTS:
            event[target] = parse_port(value)
        else:
            event[target] = parse_count(value) if target in _INTEGER else value
    duration = record.get("duration")
    if duration not in (None, "-", ""):
        event["event.duration"] = parse_duration_ns(duration)
    if "source.bytes" in event or "destination.bytes" in event:
        event["network.bytes"] = event.get("source.bytes", 0) + event.get("destination.bytes", 0)
    if "source.ip" not in event or "destination.ip" not in event:
        raise ParseError("Zeek conn record without addresses")
    event["event.original"] = line.rstrip("\n")
    return event


class ZeekParser:
    """Zeek ``conn.log`` as TSV (after its ``#fields`` header) or one JSON object a line."""

    name = "zeek"

    def __init__(self) -> None:
        self.fields: list[str] | None = None
        self.separator = "\t"

    def parse(self, line: str) -> Event | None:
        text = line.rstrip("\r\n")
        if not text.strip():
            return None
        if text.startswith("{"):
            return _conn_event(load_json_object(text), text)
        if text.startswith("#"):
            if text.startswith("#separator"):
                value = text.split(None, 1)[1] if " " in text else "\\x09"
                self.separator = value.encode().decode("unicode_escape")
            elif text.startswith("#fields"):
                self.fields = text.split(self.separator)[1:]
            return None
        if self.fields is None:
            raise ParseError("Zeek TSV line before the #fields header")
        cells = text.split(self.separator)
        if len(cells) != len(self.fields):
            raise ParseError("Zeek TSV column count differs from #fields")
        return _conn_event(dict(zip(self.fields, cells, strict=True)), text)


# ============================================================================ flow records

_FLOW_ALIASES = {
    "source.ip": ("sa", "srcaddr", "srcip", "sourceip", "srcipv4", "ipv4srcaddr", "src"),
    "destination.ip": ("da", "dstaddr", "dstip", "destinationip", "dstipv4", "ipv4dstaddr", "dst"),
    "source.port": ("sp", "srcport", "sport", "l4srcport", "sourceport"),
    "destination.port": ("dp", "dstport", "dport", "l4dstport", "destinationport"),
    "network.transport": ("pr", "proto", "protocol", "transport"),
    "network.bytes": ("ibyt", "bytes", "inbytes", "octets", "byt", "totbytes"),
    "network.packets": ("ipkt", "packets", "inpkts", "pkts", "totpkts"),
    "@timestamp": ("ts", "timestamp", "timereceived", "start", "firstswitched", "stime",
                   "timeflowstart", "starttime", "time"),  # fmt: skip
    "event.end": ("te", "end", "timeflowend", "lastswitched", "ltime", "endtime"),
    "event.duration": ("td", "duration", "dur"),
    "network.tcp_flags": ("flg", "tcpflags", "flags"),
}  # fmt: skip
_FLOW_KEY = {alias: target for target, names in _FLOW_ALIASES.items() for alias in names}
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "47": "gre"}


def _flow_key(name: str) -> str | None:
    return _FLOW_KEY.get(re.sub(r"[^a-z0-9]", "", name.lower()))


def _flow_event(record: dict[str, Any], line: str) -> Event:
    event: Event = {"event.module": "netflow", "event.dataset": "netflow.log",
                    "event.kind": "event", "event.category": "network"}  # fmt: skip
    for name, value in record.items():
        target = _flow_key(name)
        if target is None or value in (None, "", "-"):
            continue
        if target in ("@timestamp", "event.end"):
            event[target] = json_time(value, "flow time invalid")
        elif target == "event.duration":
            event[target] = parse_duration_ns(value)
        elif target in ("source.port", "destination.port"):
            event[target] = parse_port(value)
        elif target in ("network.bytes", "network.packets"):
            event[target] = parse_count(value)
        elif target == "network.transport":
            text = str(value).strip().lower()
            event[target] = _PROTOCOLS.get(text, text)
        else:
            event[target] = str(value).strip()
    if "source.ip" not in event or "destination.ip" not in event:
        raise ParseError("flow record without addresses")
    if "@timestamp" not in event:
        raise ParseError("flow record without time")
    event["event.original"] = line.rstrip("\n")
    return event


class FlowParser:
    """Flow records: JSON objects, or CSV lines after a header line naming the columns."""

    name = "flow"

    def __init__(self) -> None:
        self.header: list[str] | None = None

    def parse(self, line: str) -> Event | None:
        text = line.rstrip("\r\n")
        if not text.strip():
            return None
        if text.startswith("{"):
            return _flow_event(load_json_object(text), text)
        cells = next(csv.reader([text]))
        if is_flow_header(cells):
            self.header = cells
            return None
        if self.header is None:
            raise ParseError("flow CSV line before a header line")
        if len(cells) < len(self.header):
            if cells and cells[0].lower().startswith("summary"):
                self.header = None  # nfdump's trailing summary block
                return None
            raise ParseError("flow CSV row shorter than the header")
        return _flow_event(dict(zip(self.header, cells, strict=False)), text)


def is_flow_header(cells: list[str]) -> bool:
    keys = {_flow_key(c) for c in cells}
    return {"source.ip", "destination.ip"} <= keys
