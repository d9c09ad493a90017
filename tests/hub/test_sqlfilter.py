"""build_where must select exactly what the Python evaluators accept, on real SQLite and PostgreSQL.

The centrepiece is a differential test: varied stored-form entities go into a SQLite file and
a PostgreSQL schema (entities plus the attr_index rows of ``index_rows``), and every query
below must return the same ids from both databases as ``matches_q`` (and friends) in Python.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import POSTGRES_URL, postgres_available, service_missing
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.query import matches_q, parse_q
from smartseoul.hub.selection import matches_scope, matches_types, parse_scope_q, parse_type_expr
from smartseoul.hub.store.base import EntityQuery
from smartseoul.hub.store.sqlfilter import build_where, index_rows

E = "https://example.org/"


def expand(name: str) -> str:
    return name if ":" in name else E + name


def prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def rel(obj: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj}


def thing(n: int, *types: str, scope: list[str] | None = None, **attrs: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Thing:{n:02d}",
        "type": [E + t for t in types or ("Sensor",)],
        "attrs": {E + k: v if isinstance(v, list) else [v] for k, v in attrs.items()},
    }
    if scope:
        entity["scope"] = scope
    return entity


def acc(value: Any) -> dict[str, Any]:
    return {E + "accuracy": prop(value)}


PARK = E + "Park"
# 1,000 Hangul syllables that do not compress (PostgreSQL compresses index entries), then
# one more: 3,003 bytes of UTF-8, of which the index keeps 666 characters.
HANGUL = "".join(chr(0xAC00 + i * 7919 % 11172) for i in range(1000))
LONG_A, LONG_B, CUT = HANGUL + "끝", HANGUL + "힣", HANGUL[:666]
LONG_OBJECT = "urn:ngsi-ld:Parking:" + "x" * 2100
ENTITIES = [
    thing(1, "Sensor", scope=["/Seoul/Jongno"], temperature=prop(20, unitCode="CEL",
          observedAt="2024-01-01T10:00:00Z", **acc(0.5)), name=prop("Alpha"), flag=prop(True)),
    thing(2, temperature=prop(20.0, unitCode="FAH"), name=prop("Beta"), flag=prop(False)),
    thing(3, "Sensor", "Device", temperature=[prop(5, datasetId="urn:ngsi-ld:Dataset:a"),
          prop(35, datasetId="urn:ngsi-ld:Dataset:b", observedAt="2024-03-01T00:00:00.5Z")],
          name=prop("Gamma"), flag=prop("true")),
    thing(4, "Device", scope=["/Seoul/Gangnam/Yeoksam"], temperature=prop(-3.5, **acc(0.95)),
          brand=prop(["red", "blue"])),
    thing(5, "Vehicle", scope=["/Busan"], temperature=prop("hot"), brand=prop("red"),
          isParked=rel("urn:ngsi-ld:Parking:1")),
    thing(6, "Vehicle", "Home", isParked=rel("urn:ngsi-ld:Parking:2"), brand=prop(["green"]),
          name=prop("alpha")),
    thing(7, "Home", scope=["/Seoul/Jongno/Sajik", "/Busan/Haeundae"],
          isParked={"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Parking:1"},
                                                               {"object": "urn:ngsi-ld:Parking:3"}]}),
    thing(8, category={"type": "VocabProperty", "vocab": PARK}, name=prop("Delta")),
    thing(9, category={"type": "VocabProperty", "vocab": [E + "Garden", PARK]}),
    thing(10, category={"type": "VocabProperty", "vocab": E + "Garden"}, name=prop(PARK)),
    thing(11, label={"type": "LanguageProperty", "languageMap": {"en": "red", "fr": "rouge"}}),
    thing(12, label={"type": "LanguageProperty",
                     "languageMap": {"en": ["coal", "black"], "fr": ["red", "noir"]}}),
    thing(13, label={"type": "LanguageProperty", "languageMap": {"@none": "rot"}}, name=prop("")),
    thing(14, tags={"type": "ListProperty", "valueList": [1, "a", True]}, temperature=prop(12)),
    thing(15, tags={"type": "ListProperty", "valueList": [2, "b", {"@value": 7}]}),
    thing(16, address=prop({"city": "Seoul", "gu": {"code": 11110, "name": "Jongno"}})),
    thing(17, address=prop({"city": "Busan", "gu": {"code": 26350}}), temperature=prop(30)),
    thing(18, address=prop({"city": None, "gu": "Mapo"}), name=prop("Seoul")),
    thing(19, payload={"type": "JsonProperty", "json": {"value": "Overstay 60 minutes", "n": 3}}),
    thing(20, payload={"type": "JsonProperty", "json": {"value": "Paid", "n": 1}},
          dateObserved=prop("2024-01-01T12:00:00Z")),
    thing(21, dateObserved=prop("2024-01-01T12:00:00.5Z"), openingTime=prop("08:00:00Z")),
    thing(22, dateObserved=prop("2024-01-01T12:00:00,25Z"), openingTime=prop("09:30:00.5Z")),
    thing(23, dateObserved=prop("2024-02-29"), openingTime=prop("not a time")),
    thing(24, dateObserved=[prop("2023-12-31T23:59:59.999999Z"), prop("yesterday")],
          typed=prop({"@type": "DateTime", "@value": "2024-05-01T00:00:00Z"})),
    thing(25, dateObserved=prop(["2024-06-01T00:00:00Z", "2024-07-01T00:00:00Z"]),
          temperature=prop([10, 40])),
    thing(26, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127, 37.5]}},
          temperature=prop(None), name=prop("Épée")),
    thing(27, temperature=prop(25, **{E + "accuracy": prop("high")}), flag=prop([True, False])),
    thing(28, "Sensor", name=prop("zeta"), temperature=prop({"@value": 21}),
          brand=prop("Red"), isParked=rel("urn:ngsi-ld:Parking:10")),
    thing(29, "Device", temperature=prop(1e3), name=prop("M")),
    thing(30, "Building", scope=["/Seoul"], owner={"type": "Relationship",
          "object": "urn:ngsi-ld:Person:1", E + "since": prop("2020-01-01T00:00:00Z")}),
    thing(31, "Building", name=prop("Line\nbreak"), temperature=prop(19.999)),
    thing(32, "Building"),
    thing(33, tags={"type": "ListProperty", "valueList": [True, "1"]}, flag=prop(1)),
    thing(34, brand=prop(7), name=prop({"first": "Kim"}), label=prop("plain")),
    # Strings longer than the index keeps (INDEXED_TEXT_BYTES): 35 and 36 share their kept
    # prefix, which 37 is, whole (1,998 bytes); 38 is short. A relationship object too.
    thing(35, note=prop(LONG_A)), thing(36, note=prop(LONG_B)), thing(37, note=prop(CUT)),
    thing(38, note=prop("가나"), isParked=rel(LONG_OBJECT)),
]  # fmt: skip

QUERIES = [
    # existence
    "temperature", "temperature.accuracy", "temperature.observedAt", "owner.since",
    "address[city]", "address[gu.code]", "label[en]", "label[*]", "payload[value]", "nothing",
    # numbers
    "temperature==20", "temperature==20.0", "temperature!=20", "temperature>20",
    "temperature>=20", "temperature<15.5", "temperature<=-3.5", "temperature==10..25",
    "temperature!=10..25", "temperature==1,20,30", "temperature!=1,20,30",
    "temperature.accuracy>0.5", "temperature.accuracy==0.1..0.9", "temperature.accuracy!=0.5",
    "tags==1", "tags>1", "tags==7", "address[gu.code]==11110", "address[gu.code]>11000",
    "payload[n]>=3", "temperature==1e3",
    # strings
    'name=="Alpha"', 'name!="Alpha"', 'name>"M"', 'name<="Beta"', 'name=="A".."Gz"',
    'name=="Alpha","Gamma"', 'brand=="red"', 'brand!="red"', 'name~="^A"', "name!~=^[A-Z]",
    "name~=(?i)alpha", 'brand~="^r"', 'brand!~="^r"', 'tags=="a"', 'address[city]=="Seoul"',
    'address[city]!="Seoul"', 'address[city]~="^Se"', 'payload[value]=="Overstay 60 minutes"',
    'temperature.unitCode=="CEL"', 'temperature.unitCode!="CEL"',
    "temperature.datasetId==urn:ngsi-ld:Dataset:b", 'name=="Épée"', "name~=break$", 'name<"B"',
    'address[gu]=="Mapo"', 'temperature=="hot"', 'name==""',
    # booleans
    "flag==true", "flag==false", "flag!=true", 'flag=="true"', "tags==true", "flag==true,false",
    # dates and times
    "dateObserved>=2024-01-01T00:00:00Z", "dateObserved>2024-01-01T12:00:00.3Z",
    "dateObserved<2024-01-01T12:00:00,25Z", "dateObserved<=2024-01-01T12:00:00.25Z",
    "dateObserved==2024-01-01T12:00:00.000Z",
    "dateObserved==2024-01-01T00:00:00Z..2024-06-01T00:00:00Z",
    "dateObserved!=2024-01-01T12:00:00Z", "dateObserved>2024-02-01", "dateObserved==2024-02-29",
    "openingTime<09:00:00Z", "openingTime>=09:30:00.5Z",
    "temperature.observedAt>=2024-01-01T00:00:00Z", "typed>2024-01-01T00:00:00Z",
    'dateObserved=="2024-01-01T12:00:00Z"', "owner.since<2021-01-01T00:00:00Z",
    # relationships
    'isParked=="urn:ngsi-ld:Parking:1"', "isParked==urn:ngsi-ld:Parking:1",
    "isParked!=urn:ngsi-ld:Parking:1", 'isParked>"urn"', 'isParked~="Parking"',
    "isParked!~=Parking", 'isParked=="urn:ngsi-ld:Parking:1".."urn:ngsi-ld:Parking:2"',
    # vocab
    "category==Park", "category!=Park", f'category=="{PARK}"', "category==Park,Garden",
    "name==Park", 'name=="Park"',
    # languages
    'label=="red"', 'label[en]=="red"', 'label[fr]=="red"', 'label[*]!="red"',
    'label[en]!="red"', 'label~="^ro"', 'label[fr]~="^no"', "label[de]",
    # combinations
    "(temperature>20|flag==true);name~=A", "temperature>20;name~=A|flag==false",
    "((temperature>10;temperature<30)|isParked);brand",
    # string terms nested in groups: each also tries VocabProperty IRIs, and the SQL must
    # stay within SQLite's parser stack (four levels gave "parser stack overflow" once)
    '((name=="Delta"|(brand=="Red";(name=="zeta"|category==Park))))',
    '(name=="Delta"|(brand=="Red";(name=="zeta"|(category==Park;label=="red"))))',
    '(name=="Delta"|(brand=="Red";(name=="zeta"|(category==Park;(label=="red"|name=="M")))))',
    "category==Park|name~=^Z", "(temperature>10;name~=a)|flag==true",
    "temperature.observedAt|label[en]|address[gu.code]>0", "(tags;flag)|(owner;owner.since)",
    "flag!=true;(brand|tags==1)", "name!=\"Alpha\"|(temperature>=30;temperature<=35)",
    # strings the index keeps a prefix of
    f'note=="{LONG_A}"', f'note=="{CUT}"', f'note!="{CUT}"', f'note>"{CUT}"', f'note<"{LONG_B}"',
    f'note=="{CUT}","가나"', f'note=="{CUT}".."{LONG_A}"', 'note=="가".."갛"', 'note>"가나"',
    'note<="가나"', 'note~="끝$"', 'note~="^[가-힣]+$"', "note!~=나$", f'isParked=="{LONG_OBJECT}"',
]  # fmt: skip

TENANT = ""


def _python_ids(predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {entity["id"] for entity in ENTITIES if predicate(entity)}


def _store_select(store: Any) -> Iterator[Callable[..., set[str]]]:
    """Load the entities through the real store (its own index writer) and query through it."""
    with asyncio.Runner() as runner:
        runner.run(store.open())
        try:

            async def load() -> None:
                by_tenant: dict[str, list[dict[str, Any]]] = {}
                for tenant, entity in _rows():
                    stamped = {
                        **entity,
                        "createdAt": "2026-01-01T00:00:00Z",
                        "modifiedAt": "2026-01-01T00:00:00Z",
                    }
                    by_tenant.setdefault(tenant, []).append(stamped)
                for tenant, entities in by_tenant.items():
                    async with store.transaction(tenant) as tx:
                        await tx.insert_entities(entities)

            runner.run(load())

            def select(query: EntityQuery) -> set[str]:
                query.limit = 10_000
                rows, _ = runner.run(store.query_entities(TENANT, query))
                return {row["id"] for row in rows}

            yield select
        finally:
            runner.run(store.close())
            if hasattr(store, "drop"):
                runner.run(store.drop())


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., set[str]]]:
    from smartseoul.hub.store.sqlite import SqliteStore

    yield from _store_select(SqliteStore(Path(tmp_path_factory.mktemp("sqlfilter")) / "hub.db"))


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[Callable[..., set[str]]]:
    if not postgres_available():
        service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}")
    from smartseoul.hub.store.postgres import PostgresStore

    yield from _store_select(
        PostgresStore(POSTGRES_URL, schema=f"sqlfilter_{uuid.uuid4().hex[:12]}")
    )


def _rows() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every entity in the default tenant, and a renamed copy in another tenant."""
    for entity in ENTITIES:
        yield TENANT, entity
        yield "other", {**entity, "id": entity["id"] + ":other"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def select(request: pytest.FixtureRequest) -> Callable[[EntityQuery], set[str]]:
    return request.getfixturevalue(f"{request.param}_db")


@pytest.mark.parametrize("text", QUERIES)
def test_q_selects_what_matches_q_accepts(select: Callable[..., set[str]], text: str) -> None:
    tree = parse_q(text, expand)
    expected = _python_ids(lambda entity: matches_q(entity, tree))
    assert select(EntityQuery(q=tree)) == expected


def test_queries_discriminate() -> None:
    """The differential test means something only if most queries pick a proper subset."""
    trees = [parse_q(text, expand) for text in QUERIES]
    sizes = [sum(matches_q(entity, tree) for entity in ENTITIES) for tree in trees]
    proper = [0 < size < len(ENTITIES) for size in sizes]
    assert sum(proper) >= 0.9 * len(QUERIES)


def test_expected_semantics_on_samples() -> None:
    """Hand-checked answers, so that Python and SQL cannot agree on a wrong reading."""

    def ids(text: str) -> list[int]:
        tree = parse_q(text, expand)
        return sorted(int(e["id"][-2:]) for e in ENTITIES if matches_q(e, tree))

    assert ids("temperature==20") == [1, 2]
    assert ids("temperature>20") == [3, 17, 25, 27, 28, 29]
    assert ids("temperature!=20") == [3, 4, 5, 14, 17, 25, 26, 27, 28, 29, 31]
    assert ids("temperature.accuracy>0.5") == [4]
    assert ids('name~="^A"') == [1]
    assert ids('label[*]!="red"') == [13]
    assert ids('address[city]!="Seoul"') == [17, 18]
    assert ids("isParked==urn:ngsi-ld:Parking:1") == [5, 7]
    assert ids('isParked~="Parking"') == []
    assert ids("category==Park") == [8, 9]
    assert ids('label[en]=="red"') == [11]
    assert ids('label=="red"') == [11, 12]
    assert ids("dateObserved>2024-01-01T12:00:00.3Z") == [21, 25]
    assert ids("dateObserved<2024-01-01T12:00:00,25Z") == [20, 24]
    assert ids("flag==true") == [1, 27]
    assert ids('flag=="true"') == [3]
    assert ids(f'note=="{CUT}"') == [37]
    assert ids(f'note>"{CUT}"') == [35, 36]
    assert ids(f'note<"{LONG_B}"') == [35, 37, 38]
    assert ids('note=="가".."갛"') == [35, 36, 37, 38]
    assert ids('note~="끝$"') == [35]
    assert ids(f'isParked=="{LONG_OBJECT}"') == [38]


TYPE_AND_SCOPE = [
    ("Sensor", None),
    ("Sensor,Vehicle", None),
    ("(Sensor;Device)|Home", None),
    ("(Vehicle;Home)", None),
    ("Unknown", None),
    (None, "/Seoul"),
    (None, "/Seoul/#"),
    (None, "/Seoul/+"),
    (None, "/+/Jongno/#"),
    (None, "/#"),
    (None, "(/Seoul/#;/Busan/#)"),
    (None, "/Busan,/Seoul/Jongno"),
    ("Home", "/Busan/#"),
]


@pytest.mark.parametrize(("types", "scope"), TYPE_AND_SCOPE)
def test_types_and_scopes(select: Callable[..., set[str]], types: str | None, scope: str | None):
    type_tree = parse_type_expr(types, expand) if types else None
    scope_tree = parse_scope_q(scope) if scope else None

    def accepts(entity: dict[str, Any]) -> bool:
        return (type_tree is None or matches_types(entity["type"], type_tree)) and (
            scope_tree is None or matches_scope(entity.get("scope", []), scope_tree)
        )

    assert select(EntityQuery(types=type_tree, scope_q=scope_tree)) == _python_ids(accepts)


def test_ids_pattern_and_attrs(select: Callable[..., set[str]]) -> None:
    first = ENTITIES[0]["id"]
    assert select(EntityQuery(ids=[first, "urn:ngsi-ld:Thing:99"])) == {first}
    assert select(EntityQuery(ids=[])) == set()
    assert select(EntityQuery(id_pattern=r"Thing:0[1-3]$")) == {
        f"urn:ngsi-ld:Thing:0{n}" for n in (1, 2, 3)
    }
    assert select(EntityQuery(attrs=[E + "owner", E + "payload"])) == {
        "urn:ngsi-ld:Thing:19",
        "urn:ngsi-ld:Thing:20",
        "urn:ngsi-ld:Thing:30",
    }
    everything = select(EntityQuery(types=parse_type_expr("*", expand)))
    assert everything == _python_ids(lambda e: True)  # and nothing of the other tenant


def test_invalid_id_pattern() -> None:
    with pytest.raises(BadRequestData, match="idPattern"):
        build_where(EntityQuery(id_pattern="(unclosed"), "", "sqlite")


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="sqlite"):
        build_where(EntityQuery(), "", "mysql")


def test_placeholders() -> None:
    query = EntityQuery(q=parse_q("temperature>3", expand))
    pg, params = build_where(query, "", "postgres")
    assert "%s" in pg and "?" not in pg
    assert pg.count("%s") == len(params)
    rewritten, _ = build_where(query, "", "postgres", placeholder="?")
    assert rewritten.count("?") == len(params)


def test_index_rows_convention() -> None:
    rows = index_rows(ENTITIES[0])
    assert (("@type", None, E + "Sensor")) in rows
    assert ("@scope", None, "/Seoul/Jongno") in rows
    assert (E + "temperature", 20.0, None) in rows
    assert (E + "flag", 1.0, "true") in rows
    assert (E + "name", None, "Alpha") in rows
    tags = [row for row in index_rows(ENTITIES[13]) if row[0] == E + "tags"]
    assert tags == [(E + "tags", 1.0, None), (E + "tags", None, "a"), (E + "tags", 1.0, "true")]
    location = [row for row in index_rows(ENTITIES[25]) if row[0] == E + "location"]
    assert location == [(E + "location", None, None)]
    languages = {row[2] for row in index_rows(ENTITIES[11]) if row[0] == E + "label"}
    assert languages == {"coal", "black", "red", "noir"}
