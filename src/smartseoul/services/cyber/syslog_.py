"""Syslog lines, RFC 5424 and RFC 3164, as ECS events (pure).

Login messages of sshd and PAM become authentication events with the user, the source
address and the outcome, so brute-force rules can count them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from smartseoul.services.cyber.logline import Event, ParseError, iso_utc

__all__ = ["SyslogParser"]

_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
               "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
               *(f"local{i}" for i in range(8)))  # fmt: skip
_SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice",
               "informational", "debug")  # fmt: skip
_AUTH_PROGRAMS = frozenset({"sshd", "sudo", "su", "login", "passwd", "systemd-logind",
                            "vsftpd", "dovecot", "proftpd", "pam"})  # fmt: skip
_RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\S+) "
    r"([^\s:\[]+)(?:\[(\d+)\])?: ?(.*)", re.S,
)  # fmt: skip
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_SD_ELEMENT = re.compile(r'\[([^\s\]=]+)((?:\s+[^\s=\]]+="(?:[^"\\\]]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^\s=\]]+)="((?:[^"\\]|\\.)*)"')
# sshd and friends: who tried to log in, from where, and how it went.
_AUTH_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(
            r"Failed (?:password|publickey|keyboard-interactive/pam|none) for "
            r"(?:invalid user )?(\S*) from (\S+) port (\d+)"
        ),
        "failure",
        "ssh_login",
    ),  # fmt: skip
    (
        re.compile(
            r"Accepted (?:password|publickey|keyboard-interactive/pam) for (\S+) from "
            r"(\S+) port (\d+)"
        ),
        "success",
        "ssh_login",
    ),  # fmt: skip
    (re.compile(r"Invalid user (\S*) from (\S+)(?: port (\d+))?"), "failure", "ssh_login"),
    (re.compile(r"authentication failure;.*?rhost=(\S*)(?:\s+user=(\S+))?"), "failure", "pam_auth"),
)


def _syslog_base(pri: str | None) -> Event:
    event: Event = {"event.module": "syslog", "event.kind": "event"}
    if pri is not None:
        value = int(pri)
        if value > 191:
            raise ParseError("syslog PRI out of range")
        facility, severity = divmod(value, 8)
        event["log.syslog.priority"] = value
        event["log.syslog.facility.code"] = facility
        event["log.syslog.facility.name"] = _FACILITIES[facility]
        event["log.syslog.severity.code"] = severity
        event["log.syslog.severity.name"] = _SEVERITIES[severity]
    return event


def _enrich_auth(event: Event, program: str, message: str) -> None:
    """The dataset, and for login messages the user, source and outcome."""
    facility = event.get("log.syslog.facility.name")
    auth = program in _AUTH_PROGRAMS or facility in ("auth", "authpriv")
    event["event.dataset"] = "system.auth" if auth else "system.syslog"
    if not auth:
        return
    for pattern, outcome, action in _AUTH_PATTERNS:
        found = pattern.search(message)
        if found is None:
            continue
        event["event.category"] = "authentication"
        event["event.outcome"] = outcome
        event["event.action"] = action
        if action == "pam_auth":
            rhost, user = found.groups()
            if rhost:
                event["source.ip"] = rhost
            if user:
                event["user.name"] = user
        else:
            user, address, port = found.groups()
            event["user.name"] = user
            event["source.ip"] = address
            if port and len(port) <= 5 and int(port) <= 65535:  # else no port: left out
                event["source.port"] = int(port)
        return


class SyslogParser:
    """RFC 5424 and RFC 3164 lines (the format is told by the version digit after ``<PRI>``).

    RFC 3164 timestamps carry no year or zone: the year is the one that puts the time
    closest before ``now`` and the zone is ``timezone`` (UTC by default).
    """

    name = "syslog"

    def __init__(self, *, now: Callable[[], datetime] | None = None,
                 timezone: Any = UTC):  # fmt: skip
        self.now = now or (lambda: datetime.now(UTC))
        self.timezone = timezone

    def parse(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        if line.startswith("<"):
            close = line.find(">", 1, 5)
            if close < 0:
                raise ParseError("syslog PRI not closed")
            if line[close + 1 : close + 3] == "1 ":
                return self._rfc5424(line[1:close], line[close + 3 :], line)
        return self._rfc3164(line)

    def _rfc5424(self, pri: str, rest: str, line: str) -> Event:
        if not pri.isdigit():
            raise ParseError("syslog PRI not a number")
        parts = rest.split(" ", 5)
        if len(parts) < 6:
            raise ParseError("RFC 5424 header incomplete")
        stamp, host, app, procid, msgid, tail = parts
        event = _syslog_base(pri)
        event["log.syslog.version"] = 1
        if stamp == "-":
            event["@timestamp"] = iso_utc(self.now())
        else:
            try:
                event["@timestamp"] = iso_utc(datetime.fromisoformat(stamp))
            except ValueError:
                raise ParseError("RFC 5424 timestamp invalid") from None
        if host != "-":
            event["host.hostname"] = host
        if app != "-":
            event["process.name"] = app
        if procid != "-":
            if procid.isdigit() and len(procid) <= 18:  # a pid within 64 bits
                event["process.pid"] = int(procid)
            else:
                event["log.syslog.procid"] = procid
        if msgid != "-":
            event["log.syslog.msgid"] = msgid
        if tail.startswith("-"):
            message = tail[2:]
        elif tail.startswith("["):
            at = 0
            while at < len(tail) and tail[at] == "[":
                found = _SD_ELEMENT.match(tail, at)
                if found is None:
                    raise ParseError("RFC 5424 structured data malformed")
                sd_id = found.group(1)
                for name, value in _SD_PARAM.findall(found.group(2)):
                    event[f"log.syslog.structured_data.{sd_id}.{name}"] = re.sub(
                        r'\\([\\"\]])', r"\1", value
                    )
                at = found.end()
            message = tail[at + 1 :]
        else:
            raise ParseError("RFC 5424 structured data malformed")
        message = message.removeprefix("\ufeff")
        event["message"] = message
        event["event.original"] = line
        _enrich_auth(event, app, message)
        return event

    def _rfc3164(self, line: str) -> Event:
        found = _RFC3164.match(line)
        if found is None:
            raise ParseError("not syslog (RFC 3164 or 5424)")
        pri, month, day, hh, mm, ss, host, program, pid, message = found.groups()
        now = self.now().astimezone(self.timezone)
        try:
            moment = datetime(now.year, _MONTHS[month], int(day), int(hh), int(mm), int(ss),
                              tzinfo=self.timezone)  # fmt: skip
        except (KeyError, ValueError):
            raise ParseError("RFC 3164 timestamp invalid") from None
        if moment - now > timedelta(days=1):  # December's lines read in January
            moment = moment.replace(year=now.year - 1)
        event = _syslog_base(pri)
        event["@timestamp"] = iso_utc(moment)
        event["host.hostname"] = host
        event["process.name"] = program
        if pid and len(pid) <= 18:  # a longer one cannot be a pid (64 bits at most)
            event["process.pid"] = int(pid)
        event["message"] = message
        event["event.original"] = line
        _enrich_auth(event, program, message)
        return event
