"""Log parsers on real-looking lines and malformed ones (counted with reasons, never fatal)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartseoul.services.cyber.parsers import (
    ParseStats,
    SyslogParser,
    detect_format,
    event_time,
    make_parser,
    parse_lines,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def syslog(line: str) -> dict:
    event = SyslogParser(now=lambda: NOW).parse(line)
    assert event is not None
    return event


def test_rfc5424_with_structured_data_and_bom():
    e = syslog(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 "
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][ex@1 q="a\\"b"] '
        "\ufeffAn application event log entry..."
    )
    assert e["@timestamp"] == "2003-10-11T22:14:15.003Z"
    assert (e["log.syslog.facility.code"], e["log.syslog.severity.code"]) == (20, 5)
    assert e["log.syslog.facility.name"] == "local4" and e["log.syslog.severity.name"] == "notice"
    assert (e["host.hostname"], e["process.name"], e["process.pid"], e["log.syslog.msgid"]) == (
        "mymachine.example.com",
        "evntslog",
        8710,
        "ID47",
    )
    assert e["log.syslog.structured_data.exampleSDID@32473.eventID"] == "1011"
    assert e["log.syslog.structured_data.ex@1.q"] == 'a"b'
    assert e["message"] == "An application event log entry..."
    assert e["event.dataset"] == "system.syslog"


def test_rfc5424_nil_values_and_offset_time():
    e = syslog("<34>1 2026-11-28T21:14:15+09:00 - - - - - hello")
    assert e["@timestamp"] == "2026-11-28T12:14:15.000Z"
    assert "host.hostname" not in e and e["message"] == "hello"


def test_rfc3164_sshd_failure_is_an_authentication_event():
    e = syslog(
        "<38>Nov 28 09:41:02 gw-1 sshd[2211]: Failed password for invalid user admin "
        "from 203.0.113.9 port 52344 ssh2"
    )
    assert e["@timestamp"] == "2026-11-28T09:41:02.000Z"
    assert e["event.dataset"] == "system.auth" and e["event.category"] == "authentication"
    assert (e["event.action"], e["event.outcome"], e["user.name"]) == (
        "ssh_login",
        "failure",
        "admin",
    )
    assert (e["source.ip"], e["source.port"], e["process.pid"]) == ("203.0.113.9", 52344, 2211)


def test_rfc3164_without_pri_as_in_auth_log_and_year_rollover():
    e = syslog(
        "Dec 31 23:59:59 gw-2 sshd[9]: Accepted publickey for kim from 10.0.0.8 port 2200 ssh2"
    )
    assert e["@timestamp"].startswith("2025-12-31")  # read on 2026-11-28: last year's December
    assert e["event.outcome"] == "success" and "log.syslog.priority" not in e
    e = syslog(
        "<86>Nov  3 01:02:03 gw-2 su: pam_unix(su:auth): authentication failure; logname=kim "
        "uid=1000 euid=0 tty=pts/0 ruser=kim rhost=  user=root"
    )
    assert (e["event.action"], e["user.name"]) == ("pam_auth", "root") and "source.ip" not in e


EVE_HTTP = (
    '{"timestamp":"2026-11-28T09:41:00.123456+0900","flow_id":1,"in_iface":"eth0",'
    '"event_type":"http","src_ip":"198.51.100.7","src_port":5555,"dest_ip":"10.0.0.5",'
    '"dest_port":80,"proto":"TCP","http":{"hostname":"city.example","url":"/a.php?id=1",'
    '"http_user_agent":"curl/8","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":9}}'
)
EVE_ALERT = (
    '{"timestamp":"2026-11-28T00:00:01.000000+0000","event_type":"alert","src_ip":"203.0.113.1",'
    '"src_port":4000,"dest_ip":"10.0.0.5","dest_port":22,"proto":"TCP","alert":{"action":"allowed",'
    '"gid":1,"signature_id":2001219,"rev":20,"signature":"ET SCAN Potential SSH Scan",'
    '"category":"Attempted Information Leak","severity":2},"flow":{"pkts_toserver":1,'
    '"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0}}'
)


def test_suricata_eve_http_and_alert():
    e = make_parser("eve").parse(EVE_HTTP)
    assert e["@timestamp"] == "2026-11-28T00:41:00.123Z"
    assert (e["source.ip"], e["destination.port"], e["network.transport"]) == (
        "198.51.100.7",
        80,
        "tcp",
    )
    assert (e["url.path"], e["url.query"], e["http.response.status_code"]) == (
        "/a.php",
        "id=1",
        404,
    )
    assert e["user_agent.original"] == "curl/8" and e["event.dataset"] == "suricata.eve"
    a = make_parser("eve").parse(EVE_ALERT)
    assert (a["event.kind"], a["rule.id"], a["event.severity"]) == ("alert", "2001219", 2)
    assert a["rule.name"] == "ET SCAN Potential SSH Scan" and a["network.bytes"] == 60


ZEEK_TSV = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1795000000.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.102\t68\t192.168.1.1\t67\tudp\tdhcp\t0.163820\t301\t300\tSF\t-\t-\t0\tDd\t1\t329\t1\t328\t(empty)
1795000001.5\tC4J4Th3PJpwUYZZ6gc\t203.0.113.4\t52100\t10.0.0.5\t23\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t60\t0\t0\t(empty)
1795000002.0\tbroken\tline
#close\t2026-11-28-00-00-00
"""


def test_zeek_conn_tsv_with_header_and_a_broken_line():
    stats = ParseStats()
    events = list(parse_lines(ZEEK_TSV.splitlines(), make_parser("zeek"), stats))
    assert len(events) == 2 and stats.skipped == {"Zeek TSV column count differs from #fields": 1}
    first, second = events
    assert first["@timestamp"] == "2026-11-18T11:06:40.123Z"
    assert (first["source.ip"], first["destination.port"], first["network.protocol"]) == (
        "192.168.1.102",
        67,
        "dhcp",
    )
    assert (first["source.bytes"], first["network.bytes"], first["event.duration"]) == (
        301,
        601,
        163820000,
    )
    assert second["zeek.conn.state"] == "S0" and "network.protocol" not in second


def test_zeek_conn_json():
    line = (
        '{"ts":"2026-11-28T00:00:00.5Z","uid":"Cx","id.orig_h":"10.0.0.1","id.orig_p":5000,'
        '"id.resp_h":"10.0.0.2","id.resp_p":443,"proto":"tcp","conn_state":"SF","orig_bytes":10,"resp_bytes":20}'
    )
    e = make_parser("zeek").parse(line)
    assert (e["destination.port"], e["network.bytes"], e["zeek.session_id"]) == (443, 30, "Cx")


def test_flow_records_nfdump_csv_and_goflow_json():
    lines = [
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt",
        "2026-11-28 00:00:00,2026-11-28 00:00:01,1.0,203.0.113.4,10.0.0.5,40000,22,TCP,....S.,0,0,1,60",
        "2026-11-28 00:00:02,2026-11-28 00:00:02,0.0,10.0.0.5",
        "Summary: total flows: 1",
    ]
    stats = ParseStats()
    events = list(parse_lines(lines, make_parser("flow"), stats))
    assert len(events) == 1 and stats.skipped == {"flow CSV row shorter than the header": 1}
    e = events[0]
    assert (e["source.ip"], e["destination.port"], e["network.transport"]) == (
        "203.0.113.4",
        22,
        "tcp",
    )
    assert (e["network.tcp_flags"], e["network.bytes"], e["event.duration"]) == (
        "....S.",
        60,
        1_000_000_000,
    )
    g = make_parser("flow").parse(
        '{"TimeReceived":1795000000,"SrcAddr":"10.0.0.1","DstAddr":"10.0.0.2",'
        '"SrcPort":1,"DstPort":53,"Proto":17,"Bytes":80,"Packets":1}'
    )
    assert (g["network.transport"], g["destination.port"], g["network.packets"]) == ("udp", 53, 1)


@pytest.mark.parametrize(
    ("fmt", "line", "reason"),
    [
        ("syslog", "just some text", "not syslog (RFC 3164 or 5424)"),
        ("syslog", "<999>1 2026-01-01T00:00:00Z h a - - - x", "syslog PRI out of range"),
        ("syslog", "<13>1 yesterday h a - - - x", "RFC 5424 timestamp invalid"),
        ("syslog", "<13>1 2026-01-01T00:00:00Z h a - - [bad", "RFC 5424 structured data malformed"),
        ("syslog", "<13>1 2026-01-01T00:00:00Z h", "RFC 5424 header incomplete"),
        ("syslog", "<13>Feb 30 00:00:00 h app: x", "RFC 3164 timestamp invalid"),
        ("eve", '{"timestamp": "2026-01-01T00:00:00Z"', "invalid JSON"),
        ("eve", "[1, 2]", "JSON line is not an object"),
        ("eve", '{"timestamp": "2026-01-01T00:00:00Z"}', "EVE record without event_type"),
        ("eve", '{"event_type": "dns"}', "EVE record without timestamp"),
        ("eve", '{"event_type": "dns", "timestamp": "soon"}', "EVE timestamp invalid"),
        ("eve", '{"event_type": "flow", "timestamp": 1, "src_port": "x"}', "bad port"),
        ("zeek", "1.0\tC\t1.1.1.1", "Zeek TSV line before the #fields header"),
        ("zeek", '{"uid": "C"}', "Zeek record without ts"),
        ("zeek", '{"ts": 1, "uid": "C"}', "Zeek conn record without addresses"),
        ("flow", "1,2,3", "flow CSV line before a header line"),
        ("flow", '{"SrcAddr": "1.1.1.1"}', "flow record without addresses"),
        ("flow", '{"SrcAddr": "1.1.1.1", "DstAddr": "2.2.2.2"}', "flow record without time"),
        # Numbers a 64-bit JSON integer cannot hold: the event store would fail its batch.
        (
            "zeek",
            '{"ts": 1, "id.orig_h": "1.1.1.1", "id.resp_h": "2.2.2.2", "duration": 1e300}',
            "bad duration",
        ),
        (
            "zeek",
            '{"ts": 1, "id.orig_h": "1.1.1.1", "id.resp_h": "2.2.2.2", "duration": "inf"}',
            "bad duration",
        ),
        (
            "zeek",
            '{"ts": 1, "id.orig_h": "1.1.1.1", "id.resp_h": "2.2.2.2", "orig_bytes": 1e300}',
            "bad number",
        ),
        ("eve", '{"event_type": "flow", "timestamp": 1, "src_port": 70000}', "bad port"),
        (
            "zeek",
            '{"ts": 1, "id.orig_h": "1.1.1.1", "id.resp_h": "2.2.2.2", "id.resp_p": 65536}',
            "bad port",
        ),
    ],
)
def test_malformed_lines_are_counted_with_a_reason_and_skipped(fmt, line, reason):
    stats = ParseStats()
    good = {
        "syslog": "<13>Nov 28 00:00:00 h app: ok",
        "eve": EVE_HTTP,
        "zeek": '{"ts": 1, "id.orig_h": "1.1.1.1", "id.resp_h": "2.2.2.2"}',
        "flow": '{"ts": 1, "sa": "1.1.1.1", "da": "2.2.2.2"}',
    }[fmt]
    events = list(parse_lines([line, good, "", line], make_parser(fmt), stats))
    assert len(events) == 1  # the pipeline went on after the bad line
    assert stats.skipped == {reason: 2} and stats.examples[reason] == line
    assert (stats.lines, stats.events) == (4, 1)


def test_detect_format_and_unknown_format():
    assert detect_format(EVE_HTTP) == "eve"
    assert detect_format(ZEEK_TSV.splitlines()[0]) == "zeek"
    assert detect_format('{"ts": 1, "uid": "C", "id.orig_h": "1.1.1.1"}') == "zeek"
    assert detect_format("ts,te,td,sa,da,sp,dp") == "flow"
    assert detect_format('{"SrcAddr": "1.1.1.1"}') == "flow"
    assert detect_format("<13>Nov 28 00:00:00 h app: ok") == "syslog"
    with pytest.raises(ValueError, match="valid formats: syslog, eve, zeek, flow"):
        make_parser("cef")


def test_event_time():
    assert event_time({"@timestamp": "1970-01-01T00:01:00.000Z"}) == 60.0


def test_nul_characters_are_escaped_as_rsyslog_does():
    """U+0000 (which PostgreSQL text cannot hold) becomes #000; the rest of the line stays."""
    stats = ParseStats()
    line = "<34>Oct 11 22:14:15 mymachine su\x00: 'su root' failed for lon\x00vick on /dev/pts/8"
    (event,) = parse_lines([line], SyslogParser(now=lambda: NOW), stats)
    assert event["process.name"] == "su#000"
    assert event["message"] == "'su root' failed for lon#000vick on /dev/pts/8"
    assert stats.events == 1 and not stats.skipped


def test_oversized_numbers_in_syslog_are_left_out_and_the_line_is_stored(tmp_path):
    """A crafted syslog line (anyone who can reach the listener can send one) with a pid and
    port of thirty digits is kept without them; it used to fail its whole batch in the store."""
    from smartseoul.services.cyber.store import EventStore

    big = "9" * 30
    lines = [
        f"<38>1 2026-12-02T00:00:00Z gw sshd {big} - - Failed password for root from "
        f"192.0.2.1 port {big} ssh2",
        f"<38>Dec  2 00:00:00 gw sshd[{big}]: Failed password for root from 192.0.2.1 "
        f"port {'9' * 5000} ssh2",
        "<38>1 2026-12-02T00:00:01Z gw sshd 77 - - Failed password for root from 192.0.2.1 "
        "port 22 ssh2",
    ]
    stats = ParseStats()
    events = list(parse_lines(lines, make_parser("syslog"), stats))
    assert len(events) == 3 and not stats.skipped
    assert "process.pid" not in events[0] and events[0]["log.syslog.procid"] == big
    assert "source.port" not in events[0] and "source.port" not in events[1]
    assert (events[2]["process.pid"], events[2]["source.port"]) == (77, 22)
    store = EventStore(tmp_path / "events.db", retention_days=36500)
    try:
        assert store.add(events) == 3
        # A value the parsers let through anyway is kept as text, not a failed batch.
        assert store.add([{**events[2], "network.bytes": 2**70}]) == 1
        kept = store.search(filters={"network.bytes": str(2**70)})
        assert [e["network.bytes"] for e in kept] == [str(2**70)]
    finally:
        store.close()
