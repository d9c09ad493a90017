"""The Seoul OpenAPI: envelopes, every result code, filters, and nothing changed on errors."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import orjson
import pytest
from opendata_city import GU, HOURS, OVER_QUOTA, start_city

from smartseoul.opendata.seoul_api import MESSAGES, SeoulAnswer, _failure_code

# Seoul Open Data Plaza's documented MESSAGE of each result code, written out here (not
# taken from the code under test) so that any drift of a character fails.
DOCUMENTED = {
    "INFO-000": "정상 처리되었습니다",
    "INFO-100": "인증키가 유효하지 않습니다. 인증키가 없는 경우, 열린 데이터 광장 홈페이지에서 "
    "인증키를 신청하십시오.",
    "INFO-200": "해당하는 데이터가 없습니다.",
    "ERROR-300": "필수 값이 누락되어 있습니다. 요청인자를 참고 하십시오.",
    "ERROR-301": "파일타입 값이 누락 혹은 유효하지 않습니다. 요청인자 중 TYPE을 확인하십시오.",
    "ERROR-310": "해당하는 서비스를 찾을 수 없습니다. 요청인자 중 SERVICE를 확인하십시오",
    "ERROR-331": "요청시작위치 값을 확인하십시오. 요청인자 중 START_INDEX를 확인하십시오",
    "ERROR-332": "요청종료위치 값을 확인하십시오. 요청인자 중 END_INDEX를 확인하십시오",
    "ERROR-333": "요청위치 값의 타입이 유효하지 않습니다. 요청위치 값은 정수를 입력하세요.",
    "ERROR-334": "요청종료위치 보다 요청시작위치가 더 큽니다. 요청시작조회건수는 정수를 입력하세요.",
    "ERROR-335": "sample데이터(샘플키:sample) 는 한번에 최대 5건을 넘을 수 없습니다. "
    "요청시작위치와 요청종료위치 값은 1 ~ 5 사이만 가능합니다.",
    "ERROR-336": "데이터요청은 한번에 최대 1000건을 넘을 수 없습니다. "
    "요청시작위치와 요청종료위치 값은 1000 이하만 가능합니다.",
    "ERROR-500": "서버 오류입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
    "ERROR-600": "데이터베이스 연결 오류입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
    "ERROR-601": "SQL 문장 오류 입니다. 지속적으로 발생시 열린 데이터 광장으로 문의(Q&A) 바랍니다.",
}


def test_messages_are_the_documented_ones():
    assert MESSAGES == {**DOCUMENTED, "ERROR-429": OVER_QUOTA}


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_every_code_renders_its_message(code):
    """Both envelopes carry the code and its exact message (ERROR-600 has no HTTP trigger)."""
    answer = SeoulAnswer(service="StationAir", code=code, fmt="json", total=1,
                         columns=["A"], rows=[("x",)])  # fmt: skip
    body = orjson.loads(answer.body())
    result = body["StationAir"]["RESULT"] if code == "INFO-000" else body["RESULT"]
    assert result == {"CODE": code, "MESSAGE": DOCUMENTED[code]}
    answer.fmt = "xml"
    root = ET.fromstring(answer.body())
    found = root if code != "INFO-000" else root.find("RESULT")
    assert (found.findtext("CODE"), found.findtext("MESSAGE")) == (code, DOCUMENTED[code])
    assert answer.status == 200 and answer.headers == {}


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def call(city, path):
    response = city.http.get(path)
    assert response.status_code == 200, response.text
    return response


def result_code(response):
    body = response.json()
    if "RESULT" in body:
        return body["RESULT"]["CODE"], body
    (service,) = body.values()
    return service["RESULT"]["CODE"], service


def test_json_envelope_rows_and_total(city):
    r = call(city, f"/{city.reader}/json/StationAir/1/3")
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()["StationAir"]
    assert body["RESULT"] == {"CODE": "INFO-000", "MESSAGE": "정상 처리되었습니다"}
    assert body["list_total_count"] == len(GU) * HOURS
    assert body["row"] == [
        {"TIME": f"2026-01-01T0{h}:00:00Z", "NAME": "측정소1", "GU": "강남구", "PM10": 10 + h}
        for h in range(3)
    ]
    # 1-based and inclusive: rows 11..12 are station 2's first two hours.
    rows = call(city, f"/{city.reader}/json/StationAir/11/12").json()["StationAir"]["row"]
    assert [(row["NAME"], row["PM10"]) for row in rows] == [("측정소2", 20), ("측정소2", 21)]


def test_xml_envelope(city):
    r = call(city, f"/{city.reader}/xml/StationAir/1/2")
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "StationAir"
    assert root.findtext("list_total_count") == str(len(GU) * HOURS)
    assert root.findtext("RESULT/CODE") == "INFO-000"
    assert [row.findtext("PM10") for row in root.findall("row")] == ["10", "11"]
    assert root.find("row/NAME").text == "측정소1"
    error = ET.fromstring(call(city, f"/{city.reader}/xml/Nope/1/2").content)
    assert error.tag == "RESULT" and error.findtext("CODE") == "ERROR-310"
    assert error.findtext("MESSAGE") == DOCUMENTED["ERROR-310"]


def test_positional_filters(city):
    body = call(city, f"/{city.reader}/json/StationAir/1/100/종로구").json()["StationAir"]
    assert body["list_total_count"] == HOURS
    assert {row["NAME"] for row in body["row"]} == {"측정소2"}
    # A blank segment skips a filter; the second filter is TIME.
    body = call(city, f"/{city.reader}/json/StationAir/1/100/ /2026-01-01T05:00:00Z").json()
    rows = body["StationAir"]["row"]
    assert [row["PM10"] for row in rows] == [15, 25, 35]
    body = call(city, f"/{city.reader}/json/StationAir/1/100/강남구/2026-01-01T05:00:00Z").json()
    assert [row["PM10"] for row in body["StationAir"]["row"]] == [15, 35]
    code, _ = result_code(call(city, f"/{city.reader}/json/StationAir/1/5/서초구"))
    assert code == "INFO-200"


def test_file_resource_served(city):
    body = call(city, "/sample/json/CctvFile/1/5").json()["CctvFile"]
    assert body["list_total_count"] == 3
    assert body["row"][0] == {"기관명": "강남구", "소계": 2780, "2016년": 932}
    body = call(city, "/sample/json/CctvFile/1/5/중구").json()["CctvFile"]
    assert body["row"] == [{"기관명": "중구", "소계": 671, "2016년": 348}]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/{key}/json/StationAir/1/1", "INFO-000"),
        ("/not-a-key/json/StationAir/1/5", "INFO-100"),
        ("/{key}/json/NoStations/1/5", "INFO-200"),
        ("/{key}/json/StationAir/31/40", "INFO-200"),
        ("/{key}/json/StationAir", "ERROR-300"),
        ("/{key}/json/StationAir/1", "ERROR-300"),
        ("/{key}/yaml/StationAir/1/5", "ERROR-301"),
        ("/{key}/json/NoSuchService/1/5", "ERROR-310"),
        ("/{key}/json/StationAir/0/5", "ERROR-331"),
        ("/{key}/json/StationAir/1/0", "ERROR-332"),
        ("/{key}/json/StationAir/a/5", "ERROR-333"),
        ("/{key}/json/StationAir/1/5.5", "ERROR-333"),
        ("/{key}/json/StationAir/6/5", "ERROR-334"),
        ("/sample/json/StationAir/1/6", "ERROR-335"),
        ("/{key}/json/StationAir/1/1001", "ERROR-336"),
        ("/{key}/json/StationAir/5/1005", "ERROR-336"),
    ],
)
def test_result_codes(city, path, code):
    before = city.usage()
    response = call(city, path.format(key=city.reader))
    if code == "ERROR-301":
        root = ET.fromstring(response.content)  # an unknown TYPE is answered in XML
        assert (root.findtext("CODE"), root.findtext("MESSAGE")) == (code, DOCUMENTED[code])
        assert city.usage() == before
        return
    got, body = result_code(response)
    assert got == code
    assert body["RESULT"]["MESSAGE"] == DOCUMENTED[code]
    if code == "INFO-000":
        assert len(body["row"]) == 1
    elif code != "INFO-200":
        assert "row" not in body
        assert city.usage() == before  # refused calls count nothing


def test_max_and_sample_bounds(city):
    body = call(city, f"/{city.reader}/json/StationAir/1/1000").json()["StationAir"]
    assert len(body["row"]) == len(GU) * HOURS
    body = call(city, "/sample/json/StationAir/1/5").json()["StationAir"]
    assert len(body["row"]) == 5


def test_statement_and_server_errors(city):
    # ERROR-601: the service's query is refused by the hub (an invalid q).
    bad = {
        "name": "BrokenView", "title": {"en": "broken"}, "description": {"en": "bad q"},
        "resources": [{"id": "broken", "kind": "query", "name": {"en": "x"},
                       "query": {"type": "Station", "q": "pm10>>>", "context": {}}}],
    }  # fmt: skip
    assert city.put_dataset(bad).status_code == 200
    code, body = result_code(call(city, f"/{city.reader}/json/BrokenView/1/5"))
    assert (code, body["RESULT"]["MESSAGE"]) == ("ERROR-601", DOCUMENTED["ERROR-601"])
    # ERROR-500: an uploaded JSON file that is not JSON.
    junk = {
        "name": "JunkFile", "title": {"en": "junk"}, "description": {"en": "not JSON"},
        "resources": [{"id": "junk", "kind": "file", "name": {"en": "x"}}],
    }  # fmt: skip
    assert city.put_dataset(junk).status_code == 200
    r = city.http.put("/opendata/admin/resources/junk/file?filename=junk.json",
                      content=b"{not json", headers=city.auth())  # fmt: skip
    assert r.status_code == 200
    code, body = result_code(call(city, f"/{city.reader}/json/JunkFile/1/5"))
    assert (code, body["RESULT"]["MESSAGE"]) == ("ERROR-500", DOCUMENTED["ERROR-500"])


def test_database_failure_codes():
    import psycopg
    import psycopg_pool

    assert _failure_code(sqlite3.OperationalError("unable to open database file")) == "ERROR-600"
    assert _failure_code(psycopg.OperationalError("connection refused")) == "ERROR-600"
    assert _failure_code(psycopg_pool.PoolTimeout("no connection")) == "ERROR-600"
    assert _failure_code(sqlite3.OperationalError("no such table: history")) == "ERROR-601"
    assert _failure_code(psycopg.errors.SyntaxError("syntax error")) == "ERROR-601"
    assert _failure_code(ValueError("x")) == "ERROR-500"


def test_other_paths_are_not_seoul_calls(city):
    response = city.http.get("/a/b/c/d")
    assert response.status_code == 404
    assert response.json()["type"].endswith("ResourceNotFound")


def test_indexes_are_ascii_integers(city):
    """Python's int() also reads "1_0", "+1" and other scripts' digits; the API does not."""
    before = city.usage()
    for start, end in [("1_0", "15"), ("+1", "5"), ("%EF%BC%91", "5"), ("1", "%D9%A5")]:
        code, body = result_code(call(city, f"/{city.reader}/json/StationAir/{start}/{end}"))
        assert (code, body["RESULT"]["MESSAGE"]) == ("ERROR-333", DOCUMENTED["ERROR-333"])
    assert city.usage() == before
    code, body = result_code(call(city, f"/{city.reader}/json/StationAir/{10**25}/{10**25}"))
    assert code == "INFO-200"


def test_xml_replaces_characters_xml_forbids(city):
    """A cell holding a control character or U+FFFE (which XML 1.0 forbids) would make the
    whole answer unreadable; each such character becomes U+FFFD."""
    city.file_dataset("A,B\r\nx\x01y\x1f,\ufffe\tz<\r\n".encode())
    root = ET.fromstring(call(city, f"/{city.reader}/xml/Files/1/5").content)
    row = root.find("row")
    assert (row.findtext("A"), row.findtext("B")) == ("x\ufffdy\ufffd", "\ufffd\tz<")
    body = call(city, f"/{city.reader}/json/Files/1/5").json()["Files"]
    assert body["row"] == [{"A": "x\x01y\x1f", "B": "\ufffe\tz<"}]  # JSON escapes them


def test_xml_element_names_are_names_every_parser_reads(city):
    # str.isalnum() kept "²" and "Ⅳ" in element names, which no XML parser accepts: the
    # whole answer was unreadable.
    city.file_dataset("면적(m²),단계Ⅳ,2차,측정소명\r\n1,2,3,종로\r\n".encode())
    row = ET.fromstring(call(city, f"/{city.reader}/xml/Files/1/5").content).find("row")
    assert [(child.tag, child.text) for child in row] == [
        ("면적_m__", "1"), ("단계_", "2"), ("_2차", "3"), ("측정소명", "종로")
    ]
