"""The Seoul OpenAPI, as Seoul Open Data Plaza answers it.

``GET /{KEY}/{json|xml}/{SERVICE}/{START_INDEX}/{END_INDEX}/[filters...]``: SERVICE is a
dataset's name, indexes are 1-based and inclusive, at most 1,000 rows a call (5 with the
``sample`` key), and positional filters match the dataset's ``seoul_filters`` columns in
order (a blank segment skips one). Every outcome is a result code inside the envelope with
HTTP 200, as the original does; only an exhausted quota or rate limit also answers HTTP
429 with ``Retry-After`` (a smartseoul addition, code ``ERROR-429``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import orjson

from smartseoul.opendata.catalog import CatalogError, NotFound
from smartseoul.opendata.keys import LimitExceeded
from smartseoul.opendata.plaza import Plaza
from smartseoul.opendata.views import UnreadableFile, ViewError, open_table

log = logging.getLogger("smartseoul.opendata")

MAX_ROWS = 1000
SAMPLE_ROWS = 5

# The messages as Seoul Open Data Plaza's API documentation gives them, to the character
# (spacing and final full stops included); not compared with the live service.
MESSAGES = {
    "INFO-000": "정상 처리되었습니다",
    "INFO-100": "인증키가 유효하지 않습니다. 인증키가 없는 경우, 열린 데이터 광장 홈페이지에서 인증키를 신청하십시오.",
    "INFO-200": "해당하는 데이터가 없습니다.",
    "ERROR-300": "필수 값이 누락되어 있습니다. 요청인자를 참고 하십시오.",
    "ERROR-301": "파일타입 값이 누락 혹은 유효하지 않습니다. 요청인자 중 TYPE을 확인하십시오.",
    "ERROR-310": "해당하는 서비스를 찾을 수 없습니다. 요청인자 중 SERVICE를 확인하십시오",
    "ERROR-331": "요청시작위치 값을 확인하십시오. 요청인자 중 START_INDEX를 확인하십시오",
    "ERROR-332": "요청종료위치 값을 확인하십시오. 요청인자 중 END_INDEX를 확인하십시오",
    "ERROR-333": "요청위치 값의 타입이 유효하지 않습니다. 요청위치 값은 정수를 입력하세요.",
    "ERROR-334": "요청종료위치 보다 요청시작위치가 더 큽니다. 요청시작조회건수는 정수를 입력하세요.",
    "ERROR-335": "sample데이터(샘플키:sample) 는 한번에 최대 5건을 넘을 수 없습니다. 요청시작위치와 요청종료위치 값은 1 ~ 5 사이만 가능합니다.",
    "ERROR-336": "데이터요청은 한번에 최대 1000건을 넘을 수 없습니다. 요청시작위치와 요청종료위치 값은 1000 이하만 가능합니다.",
    "ERROR-500": "서버 오류입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
    "ERROR-600": "데이터베이스 연결 오류입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
    "ERROR-601": "SQL 문장 오류 입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
    # smartseoul's addition: the original has no code for an exhausted daily quota or rate
    # limit. Answered with HTTP 429 and Retry-After (seconds), where every code above is 200.
    "ERROR-429": "일일 호출 한도 또는 분당 호출 한도를 초과했습니다. Retry-After 후 다시 요청하십시오.",
}
FORMATS = ("json", "xml")


@dataclass
class SeoulAnswer:
    """What the API answers: the result code, the rows and their total."""

    service: str
    code: str
    fmt: str = "xml"
    total: int = 0
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    def body(self) -> bytes:
        return render_xml(self) if self.fmt == "xml" else render_json(self)

    @property
    def media_type(self) -> str:
        return "application/xml;charset=UTF-8" if self.fmt == "xml" else "application/json;charset=UTF-8"


def render_json(answer: SeoulAnswer) -> bytes:
    result = {"CODE": answer.code, "MESSAGE": answer.message}
    if answer.code != "INFO-000":
        return orjson.dumps({"RESULT": result})
    rows = [dict(zip(answer.columns, row, strict=True)) for row in answer.rows]
    return orjson.dumps(
        {answer.service: {"list_total_count": answer.total, "RESULT": result, "row": rows}}
    )


def _name_char(c: str, first: bool) -> bool:
    """A character every XML parser takes in an element name: the letters (and, after the
    first, digits, marks and "-") of the basic plane that XML 1.0's fourth edition, which
    expat still follows, and its fifth both allow. ``str.isalnum`` let "²" or "Ⅳ" through,
    which made the whole document unreadable."""
    if c.isascii():
        return c.isalpha() or c == "_" or (not first and (c.isdigit() or c == "-"))
    if ord(c) > 0xFFFF:
        return False
    kind = unicodedata.category(c)
    return kind in ("Ll", "Lu", "Lo") or (not first and kind in ("Mn", "Mc"))


def _xml_name(name: str) -> str:
    """A column name as an XML element name: other characters become "_".

    Examples
    --------
    >>> _xml_name("측정소명"), _xml_name("PM2.5"), _xml_name("m²"), _xml_name("2nd")
    ('측정소명', 'PM2_5', 'm_', '_2nd')
    """
    out = "".join(c if _name_char(c, False) else "_" for c in name)
    if not out or not _name_char(out[0], True):
        out = "_" + out
    return out


# Characters XML 1.0 forbids in a document (control characters, surrogates, U+FFFE/F): a
# cell holding one would make the whole answer unreadable, so each becomes U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = orjson.dumps(value).decode()
    elif isinstance(value, bool):
        return "true" if value else "false"
    else:
        text = str(value)
    return escape(_NOT_XML.sub("\ufffd", text))


def render_xml(answer: SeoulAnswer) -> bytes:
    result = f"<RESULT><CODE>{answer.code}</CODE><MESSAGE>{escape(answer.message)}</MESSAGE></RESULT>"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    if answer.code != "INFO-000":
        return (head + result).encode()
    names = [_xml_name(c) for c in answer.columns]
    parts = [head, f"<{_xml_name(answer.service)}>",
             f"<list_total_count>{answer.total}</list_total_count>", result]  # fmt: skip
    for row in answer.rows:
        cells = "".join(f"<{n}>{_xml_text(v)}</{n}>" for n, v in zip(names, row, strict=True))
        parts.append(f"<row>{cells}</row>")
    parts.append(f"</{_xml_name(answer.service)}>")
    return "".join(parts).encode()


_INDEX = re.compile(r"-?[0-9]+")


def _index(text: str) -> int | None:
    """An index written in ASCII digits (not ``1_000``, ``+5`` or ``５``), else None."""
    if not _INDEX.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        return None


async def answer(plaza: Plaza, key: str, fmt: str, service: str, rest: list[str]) -> SeoulAnswer:
    """Answer one call; nothing is counted or changed unless the call is served."""
    kind = fmt.lower()
    out = SeoulAnswer(service=service, code="INFO-000", fmt=kind if kind in FORMATS else "xml")
    if kind not in FORMATS:
        out.code = "ERROR-301"
        return out
    sample = plaza.sample_allowed(key)
    record = None if sample else await plaza.key(key)
    if not sample and record is None:
        out.code = "INFO-100"
        return out
    try:
        dataset = await plaza.catalog.get(service)
    except NotFound:
        out.code = "ERROR-310"
        return out
    if len(rest) < 2 or not rest[0].strip() or not rest[1].strip():
        out.code = "ERROR-300"
        return out
    start, end = _index(rest[0].strip()), _index(rest[1].strip())
    if start is None or end is None:
        out.code = "ERROR-333"
        return out
    if start < 1:
        out.code = "ERROR-331"
        return out
    if end < 1:
        out.code = "ERROR-332"
        return out
    if start > end:
        out.code = "ERROR-334"
        return out
    if sample and end > SAMPLE_ROWS:
        out.code = "ERROR-335"
        return out
    if end - start + 1 > MAX_ROWS:
        out.code = "ERROR-336"
        return out
    resource = dataset.primary()
    if resource is None:
        out.code = "INFO-200"
        return out
    filters = {
        column: value.strip()
        for column, value in zip(dataset.seoul_filters, rest[2:], strict=False)
        if value.strip()
    }
    if record is not None:
        try:
            await plaza.keys.consume(record)
        except LimitExceeded as exc:
            out.code, out.status = "ERROR-429", 429
            out.headers["Retry-After"] = str(exc.retry_after)
            return out
    try:
        table = await open_table(plaza.env(), dataset, resource, filters=filters)
        out.total = await table.count()
        out.columns = table.columns
        async for page in table.pages(start - 1, end - start + 1):
            out.rows.extend(page)
    except NotFound:  # a file resource whose file was never uploaded: no rows
        out.code = "INFO-200"
    except UnreadableFile as exc:
        log.warning("service %s: %s", service, exc)
        out.code = "ERROR-500"
    except (ViewError, CatalogError) as exc:
        log.warning("service %s: %s", service, exc)
        out.code = "ERROR-601"
    except Exception as exc:
        out.code = _failure_code(exc)
        log.exception("service %s failed", service)
    else:
        if not out.rows:
            out.code = "INFO-200"
    await plaza.keys.record_usage(
        dataset=dataset.name, key_id=record.id if record else key, api="seoul", rows=len(out.rows)
    )
    return out


def _failure_code(exc: Exception) -> str:
    """ERROR-600 for a lost database connection, ERROR-601 for a failed statement, else 500."""
    try:
        import psycopg
        import psycopg_pool

        if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
            return "ERROR-600"
        if isinstance(exc, psycopg.ProgrammingError | psycopg.DataError):
            return "ERROR-601"
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    if isinstance(exc, sqlite3.OperationalError) and "no such" not in str(exc):
        return "ERROR-600"
    if isinstance(exc, sqlite3.DatabaseError):
        return "ERROR-601"
    return "ERROR-500"
