"""Context information consumption over real HTTP, on SQLite and PostgreSQL.

Retrieve entity (5.7.1, 6.5.3.1), query entities (5.7.2, 6.4.3.2, 6.23), representations
(4.5.1 to 4.5.24, 6.3.7), GeoJSON (4.5.16, 4.5.17, 6.3.15), language filter (4.15),
projection (4.21), pagination and counting (5.5.9, 6.3.10, 6.3.13).
"""

from __future__ import annotations

import re

import pytest

from conftest import problem

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
B1 = "urn:ngsi-ld:Building:b1"
GEO = {"Accept": "application/geo+json"}


def create(hub, body: dict) -> None:
    response = hub.http.post("/entities", json=body)
    assert response.status_code == 201, response.text


def get(hub, entity_id: str = B1, headers=None, **params):
    response = hub.http.get(f"/entities/{entity_id}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def query(hub, headers=None, **params) -> list:
    response = hub.http.get("/entities", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ids(entities: list) -> list[str]:
    return [e["id"] for e in entities]


ENTITY = {
    "id": B1,
    "type": "Building",
    "scope": "/Seoul/Jung",
    "name": {"type": "Property", "value": "City Hall"},
    "height": {"type": "Property", "value": 42, "unitCode": "MTR"},
    "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p1"},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [126.978, 37.566]},
    },
    "street": {"type": "LanguageProperty", "languageMap": {"ko": "세종대로", "en": "Sejong-daero"}},
    "category": {"type": "VocabProperty", "vocab": "Office"},
    "config": {"type": "JsonProperty", "json": {"id": "raw"}},
    "floors": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "route": {
        "type": "ListRelationship",
        "objectList": [{"object": "urn:ngsi-ld:Stop:1"}, {"object": "urn:ngsi-ld:Stop:2"}],
    },
}


@pytest.fixture
def city(hub):
    create(hub, ENTITY)
    return hub


# -- retrieve: representations (6.3.7, 4.5.x) -----------------------------------------------
def test_retrieve_normalized_with_link_header(city):
    response = city.http.get(f"/entities/{B1}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["link"] == (
        f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )
    assert response.json() == ENTITY
    assert get(city, format="normalized") == ENTITY


SIMPLIFIED = {
    "id": B1,
    "type": "Building",
    "scope": "/Seoul/Jung",
    "name": "City Hall",
    "height": 42,
    "owner": "urn:ngsi-ld:Person:p1",
    "location": {"type": "Point", "coordinates": [126.978, 37.566]},
    "street": {"languageMap": {"ko": "세종대로", "en": "Sejong-daero"}},
    "category": {"vocab": "Office"},
    "config": {"json": {"id": "raw"}},
    "floors": [1, 2, 3],
    "route": ["urn:ngsi-ld:Stop:1", "urn:ngsi-ld:Stop:2"],
}


@pytest.mark.parametrize(
    "params",
    [{"options": "keyValues"}, {"options": "simplified"}, {"format": "keyValues"},
     {"format": "simplified"}, {"format": "simplified", "options": "concise"}],
)  # fmt: skip
def test_retrieve_simplified(city, params):
    """Clause 4.5.4, with format taking precedence over options."""
    assert get(city, **params) == SIMPLIFIED


def test_retrieve_concise(city):
    """Clauses 4.5.2.3 to 4.5.24.3: no attribute types, bare values without sub-attributes."""
    expected = {
        "id": B1,
        "type": "Building",
        "scope": "/Seoul/Jung",
        "name": "City Hall",
        "height": {"value": 42, "unitCode": "MTR"},
        "owner": {"object": "urn:ngsi-ld:Person:p1"},
        "location": {"type": "Point", "coordinates": [126.978, 37.566]},
        "street": {"languageMap": {"ko": "세종대로", "en": "Sejong-daero"}},
        "category": {"vocab": "Office"},
        "config": {"json": {"id": "raw"}},
        "floors": {"valueList": [1, 2, 3]},
        "route": {
            "objectList": [{"object": "urn:ngsi-ld:Stop:1"}, {"object": "urn:ngsi-ld:Stop:2"}]
        },
    }
    assert get(city, options="concise") == expected
    assert get(city, format="concise") == expected
    # Concise output is valid input: it reads back to the same entity.
    city.http.delete(f"/entities/{B1}")
    create(city, expected)
    assert get(city) == ENTITY


def test_concise_keeps_value_wrapper_when_a_bare_object_would_be_misread(hub):
    create(
        hub,
        {
            "id": B1,
            "type": "Building",
            "a": {"type": "Property", "value": {"type": "Box", "size": 1}},
            "b": {"type": "Property", "value": {"object": "x"}},
            "c": {"type": "Property", "value": {"size": 1}},
        },
    )
    out = get(hub, format="concise")
    assert out["a"] == {"value": {"type": "Box", "size": 1}}
    assert out["b"] == {"value": {"object": "x"}}
    assert out["c"] == {"size": 1}


def test_retrieve_sys_attrs(city):
    out = get(city, options="sysAttrs")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
    assert stamp.match(out["createdAt"]) and stamp.match(out["modifiedAt"])
    for name in ("name", "owner", "location", "street", "route"):
        assert stamp.match(out[name]["createdAt"]) and stamp.match(out[name]["modifiedAt"])
    assert get(city, options="sysAttrs,keyValues")["name"] == "City Hall"


def test_retrieve_bad_format_and_options(city):
    problem(city.http.get(f"/entities/{B1}", params={"format": "fancy"}), 400, "BadRequestData")
    # Clause 6.3.20: options the operation does not support.
    problem(
        city.http.get(f"/entities/{B1}", params={"options": "noOverwrite"}), 400, "InvalidRequest"
    )


# -- retrieve: projection (4.21) and attrs ----------------------------------------------------
def test_retrieve_attrs(city):
    assert get(city, attrs="name,height") == {
        "id": B1,
        "type": "Building",
        "scope": "/Seoul/Jung",
        "name": ENTITY["name"],
        "height": ENTITY["height"],
    }
    # Clause 5.7.1.4: none of the attributes present is a ResourceNotFound.
    problem(city.http.get(f"/entities/{B1}", params={"attrs": "ghost"}), 404, "ResourceNotFound")


def test_retrieve_pick_and_omit(city):
    assert get(city, pick="id,name") == {"id": B1, "name": ENTITY["name"]}
    assert get(city, pick="name|height") == {"name": ENTITY["name"], "height": ENTITY["height"]}
    assert get(city, pick="type,scope") == {"type": "Building", "scope": "/Seoul/Jung"}
    out = get(city, omit="id,scope,name,location")
    assert out == {k: v for k, v in ENTITY.items() if k not in ("id", "scope", "name", "location")}
    assert get(city, pick="id,name,height", omit="height", options="keyValues") == {
        "id": B1,
        "name": "City Hall",
    }


def test_retrieve_projection_errors(city):
    path = f"/entities/{B1}"
    problem(city.http.get(path, params={"attrs": "name", "pick": "name"}), 400, "BadRequestData")
    # A linked-entity projection needs join (clause 5.7.1.4).
    problem(city.http.get(path, params={"pick": "owner{name}"}), 400, "BadRequestData")
    problem(city.http.get(path, params={"pick": "name,"}), 400, "BadRequestData")


# -- retrieve: language filter (4.15, 5.7.1.5) ------------------------------------------------
def test_retrieve_lang_converts_language_property(city):
    assert get(city, lang="en", attrs="street")["street"] == {
        "type": "Property",
        "value": "Sejong-daero",
        "lang": "en",
    }
    assert get(city, lang="ko", options="keyValues")["street"] == "세종대로"
    assert get(city, lang="en", options="concise", attrs="street")["street"] == {
        "value": "Sejong-daero",
        "lang": "en",
    }
    fallback = get(city, lang="fr", attrs="street")["street"]
    assert fallback["type"] == "Property"
    assert (fallback["lang"], fallback["value"]) in (("ko", "세종대로"), ("en", "Sejong-daero"))
    ranked = get(city, lang="fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5", attrs="street")["street"]
    assert (ranked["lang"], ranked["value"]) == ("en", "Sejong-daero")
    # Without lang nothing is converted; other attributes are untouched by lang.
    assert get(city, attrs="street")["street"] == ENTITY["street"]
    assert get(city, lang="en")["name"] == ENTITY["name"]


def test_lang_prefers_none_key(hub):
    create(
        hub,
        {
            "id": B1,
            "type": "Building",
            "street": {"type": "LanguageProperty", "languageMap": {"ko": "가", "@none": "default"}},
        },
    )
    assert get(hub, lang="fr")["street"] == {
        "type": "Property",
        "value": "default",
        "lang": "@none",
    }


# -- retrieve: GeoJSON (4.5.16, 4.5.17, 6.3.15) -----------------------------------------------
def test_retrieve_geojson_feature(city):
    response = city.http.get(f"/entities/{B1}", headers=GEO, params={"attrs": "name,location"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert "link" not in response.headers
    assert response.json() == {
        "id": B1,
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [126.978, 37.566]},
        "properties": {
            "type": "Building",
            "scope": "/Seoul/Jung",
            "name": ENTITY["name"],
            "location": ENTITY["location"],
        },
        "@context": CORE,
    }


def test_retrieve_simplified_geojson_and_prefer_body_json(city):
    response = city.http.get(
        f"/entities/{B1}",
        headers={**GEO, "Prefer": "body=json"},
        params={"format": "keyValues", "pick": "name"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert CORE in response.headers["link"]
    assert response.json() == {
        "id": B1,
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [126.978, 37.566]},
        "properties": {"name": "City Hall"},
    }


def test_geometry_property_selection(hub):
    create(
        hub,
        {
            "id": B1,
            "type": "Building",
            "entrance": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
        },
    )
    feature = get(hub, headers=GEO)
    assert feature["geometry"] is None  # clause 4.5.16.1: no location
    feature = get(hub, headers=GEO, geometryProperty="entrance")
    assert feature["geometry"] == {"type": "Point", "coordinates": [1, 2]}
    # Clause 5.7.1.4: geometryProperty without GeoJSON.
    problem(
        hub.http.get(f"/entities/{B1}", params={"geometryProperty": "entrance"}),
        400,
        "BadRequestData",
    )


# -- retrieve: multi-attributes (4.5.5) and datasetId ----------------------------------------
def test_multi_attribute_representations_and_dataset_filter(hub):
    speeds = [
        {"type": "Property", "value": 10},
        {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:d:gps"},
    ]
    create(hub, {"id": B1, "type": "Building", "speed": speeds, "name": "A"})
    assert get(hub)["speed"] == speeds
    assert get(hub, options="keyValues")["speed"] == {
        "dataset": {"@none": 10, "urn:ngsi-ld:d:gps": 11}
    }
    assert get(hub, datasetId="urn:ngsi-ld:d:gps")["speed"] == speeds[1]
    assert "name" not in get(hub, datasetId="urn:ngsi-ld:d:gps")
    assert get(hub, datasetId="@none")["speed"] == speeds[0]
    problem(hub.http.get(f"/entities/{B1}", params={"datasetId": "bad id"}), 400, "BadRequestData")


# -- retrieve: errors ---------------------------------------------------------------------------
def test_retrieve_errors(city):
    problem(city.http.get("/entities/urn:ngsi-ld:Building:none"), 404, "ResourceNotFound")
    problem(city.http.get("/entities/no-uri"), 400, "BadRequestData")
    problem(city.http.get(f"/entities/{B1}", params={"type": "Vehicle"}), 404, "ResourceNotFound")
    assert get(city, type="Vehicle|Building")["id"] == B1


# -- query entities (5.7.2, 6.4.3.2) --------------------------------------------------------
def seed(hub):
    """Five entities, created in this order (the stable query order)."""
    rows = [
        ("urn:ngsi-ld:Building:1", ["Building"], 10, "Seoul", [126.978, 37.566], "/Seoul/Jung"),
        ("urn:ngsi-ld:Building:2", ["Building", "Office"], 20, "Seoul", [126.99, 37.57], "/Seoul/Jongno"),
        ("urn:ngsi-ld:Building:3", ["Office"], 30, "Busan", [129.07, 35.18], "/Busan"),
        ("urn:ngsi-ld:Vehicle:4", ["Vehicle"], 40, "Seoul", [127.0, 37.5], None),
        ("urn:ngsi-ld:Vehicle:5", ["Vehicle"], 50, "Incheon", [126.7, 37.45], None),
    ]  # fmt: skip
    for entity_id, types, height, city, point, scope in rows:
        body = {
            "id": entity_id,
            "type": types if len(types) > 1 else types[0],
            "height": {
                "type": "Property",
                "value": height,
                "quality": {"type": "Property", "value": "good" if height < 30 else "poor"},
            },
            "address": {"type": "Property", "value": {"city": city, "zip": str(height)}},
            "name": f"Entity {height}",
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": point}},
        }
        if scope:
            body["scope"] = scope
        create(hub, body)


@pytest.fixture
def seeded(hub):
    seed(hub)
    return hub


ALL = [
    "urn:ngsi-ld:Building:1",
    "urn:ngsi-ld:Building:2",
    "urn:ngsi-ld:Building:3",
    "urn:ngsi-ld:Vehicle:4",
    "urn:ngsi-ld:Vehicle:5",
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "Building"}, [0, 1]),
        ({"type": "Vehicle"}, [3, 4]),
        ({"type": "Building,Vehicle"}, [0, 1, 3, 4]),
        ({"type": "Building|Vehicle"}, [0, 1, 3, 4]),
        ({"type": "Building;Office"}, [1]),
        ({"type": "(Building;Office)|Vehicle"}, [1, 3, 4]),
        ({"type": DEFAULT + "Office"}, [1, 2]),
        ({"type": "Nothing"}, []),
        ({"type": "*"}, [0, 1, 2, 3, 4]),
        ({"local": "true"}, [0, 1, 2, 3, 4]),
        ({"type": "Building,Office", "id": f"{ALL[0]},{ALL[2]},{ALL[3]}"}, [0, 2]),
        ({"type": "Building,Office,Vehicle", "idPattern": r"^urn:ngsi-ld:Vehicle:\d$"}, [3, 4]),
        ({"attrs": "height"}, [0, 1, 2, 3, 4]),
        ({"attrs": "ghost"}, []),
        ({"type": "*", "scopeQ": "/Seoul/#"}, [0, 1]),
        ({"type": "*", "scopeQ": "/Busan"}, [2]),
        ({"type": "*", "scopeQ": "/Seoul/Jung,/Busan"}, [0, 2]),
    ],
)
def test_query_selectors(seeded, params, expected):
    assert ids(query(seeded, **params)) == [ALL[i] for i in expected]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("height==20", [1]),
        ("height!=20", [0, 2, 3, 4]),
        ("height>20", [2, 3, 4]),
        ("height>=20;height<=40", [1, 2, 3]),
        ("height==20..40", [1, 2, 3]),
        ("height==10,50", [0, 4]),
        ("height<15|height>45", [0, 4]),
        ('name=="Entity 30"', [2]),
        ('name~=".*[13]0$"', [0, 2]),
        ('height.quality=="good"', [0, 1]),
        ('address[city]=="Seoul"', [0, 1, 3]),
        ('address[city]=="Seoul";height>15', [1, 3]),
        ('(height<20|height>40);address[city]!="Incheon"', [0]),
        ("height", [0, 1, 2, 3, 4]),
        ("ghost", []),
    ],
)
def test_query_q(seeded, q, expected):
    assert ids(query(seeded, type="Building,Office,Vehicle", q=q)) == [ALL[i] for i in expected]


def test_query_q_alone_is_enough(seeded):
    assert ids(query(seeded, q="height>=40")) == ALL[3:]


@pytest.mark.parametrize(
    ("geo", "expected"),
    [
        ({"georel": "near;maxDistance==2000", "geometry": "Point",
          "coordinates": "[126.978,37.566]"}, [0, 1]),
        ({"georel": "near;minDistance==100000", "geometry": "Point",
          "coordinates": "[126.978,37.566]"}, [2]),
        ({"georel": "within", "geometry": "Polygon",
          "coordinates": "[[[126.5,37.3],[127.2,37.3],[127.2,37.7],[126.5,37.7],[126.5,37.3]]]"},
         [0, 1, 3, 4]),
        ({"georel": "intersects", "geometry": "Polygon",
          "coordinates": "[[[129,35],[130,35],[130,36],[129,36],[129,35]]]"}, [2]),
        ({"georel": "disjoint", "geometry": "Polygon",
          "coordinates": "[[[129,35],[130,35],[130,36],[129,36],[129,35]]]"}, [0, 1, 3, 4]),
    ],
)  # fmt: skip
def test_query_geo(seeded, geo, expected):
    assert ids(query(seeded, **geo)) == [ALL[i] for i in expected]
    assert ids(query(seeded, type="Vehicle", **geo)) == [ALL[i] for i in expected if i >= 3]


def test_query_attrs_projects(seeded):
    out = query(seeded, type="Vehicle", attrs="name")
    assert out == [
        {"id": ALL[3], "type": "Vehicle", "name": {"type": "Property", "value": "Entity 40"}},
        {"id": ALL[4], "type": "Vehicle", "name": {"type": "Property", "value": "Entity 50"}},
    ]
    assert query(seeded, type="Vehicle", pick="id", omit="id") == [{}, {}]
    assert query(seeded, type="Vehicle", pick="name", format="keyValues") == [
        {"name": "Entity 40"},
        {"name": "Entity 50"},
    ]


def test_query_pick_is_not_a_filter(seeded):
    """Clause 4.21: pick only projects; it does not select entities nor satisfy 5.7.2.4."""
    problem(seeded.http.get("/entities", params={"pick": "name"}), 400, "BadRequestData")
    create(seeded, {"id": "urn:ngsi-ld:Vehicle:6", "type": "Vehicle"})
    assert query(seeded, type="Vehicle", pick="id,name") == [
        {"id": ALL[3], "name": {"type": "Property", "value": "Entity 40"}},
        {"id": ALL[4], "name": {"type": "Property", "value": "Entity 50"}},
        {"id": "urn:ngsi-ld:Vehicle:6"},
    ]


# -- pagination and count (5.5.9, 6.3.10, 6.3.13) ----------------------------------------------
def links(response) -> dict[str, str]:
    """The rel -> target of the non-@context Link header values."""
    out = {}
    for value in response.headers.get_list("link"):
        for part in value.split(", <"):
            match = re.search(r'<?([^>]*)>; rel="(next|prev)"; type="([^"]+)"', part)
            if match:
                out[match.group(2)] = match.group(1)
                assert match.group(3) == response.headers["content-type"]
    return out


def test_limit_offset_pages_in_a_stable_order(seeded):
    params = {"type": "Building,Office,Vehicle", "limit": "2"}
    first = seeded.http.get("/entities", params=params)
    assert ids(first.json()) == ALL[:2]
    assert links(first) == {
        "next": "/ngsi-ld/v1/entities?type=Building%2COffice%2CVehicle&limit=2&offset=2"
    }
    assert CORE in first.headers.get_list("link")[0]
    second = seeded.http.get(links(first)["next"].removeprefix("/ngsi-ld/v1"))
    assert ids(second.json()) == ALL[2:4]
    assert set(links(second)) == {"prev", "next"}
    last = seeded.http.get(links(second)["next"].removeprefix("/ngsi-ld/v1"))
    assert ids(last.json()) == ALL[4:]
    assert set(links(last)) == {"prev"}
    back = seeded.http.get(links(last)["prev"].removeprefix("/ngsi-ld/v1"))
    assert ids(back.json()) == ALL[2:4]
    assert ids(query(seeded, **params, offset="4")) == ALL[4:]
    assert query(seeded, **params, offset="10") == []
    assert links(seeded.http.get("/entities", params={**params, "limit": "5"})) == {}


def test_count(seeded):
    response = seeded.http.get("/entities", params={"type": "Building,Office", "count": "true"})
    assert response.headers["ngsild-results-count"] == "3"
    assert len(response.json()) == 3
    response = seeded.http.get(
        "/entities", params={"type": "Building,Office", "count": "true", "limit": "0"}
    )
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["ngsild-results-count"] == "3"
    response = seeded.http.get(
        "/entities", params={"type": "Vehicle", "count": "true", "limit": "1"}
    )
    assert response.headers["ngsild-results-count"] == "2" and len(response.json()) == 1
    response = seeded.http.get("/entities", params={"type": "Vehicle"})
    assert "ngsild-results-count" not in response.headers
    response = seeded.http.get("/entities", params={"type": "Nothing", "count": "true"})
    assert response.headers["ngsild-results-count"] == "0" and response.json() == []


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({}, 400, "BadRequestData"),
        ({"id": ALL[0]}, 400, "BadRequestData"),
        ({"idPattern": ".*"}, 400, "BadRequestData"),
        ({"scopeQ": "/Seoul"}, 400, "BadRequestData"),
        ({"type": "Building", "limit": "1001"}, 403, "TooManyResults"),
        ({"type": "Building", "limit": "0"}, 400, "BadRequestData"),
        ({"type": "Building", "limit": "-1"}, 400, "BadRequestData"),
        ({"type": "Building", "limit": "ten"}, 400, "BadRequestData"),
        ({"type": "Building", "offset": "-1"}, 400, "BadRequestData"),
        ({"type": "Building", "count": "yes"}, 400, "BadRequestData"),
        ({"type": "Building", "local": "maybe"}, 400, "BadRequestData"),
        ({"type": "Building", "id": "not a uri"}, 400, "BadRequestData"),
        ({"type": "Building", "idPattern": "(["}, 400, "BadRequestData"),
        ({"type": "Building("}, 400, "BadRequestData"),
        ({"q": "height>>3"}, 400, "BadRequestData"),
        ({"q": "height==20;"}, 400, "BadRequestData"),
        ({"q": "(height==20"}, 400, "BadRequestData"),
        ({"type": "Building", "scopeQ": "Seoul"}, 400, "BadRequestData"),
        ({"georel": "near;maxDistance==10", "geometry": "Point"}, 400, "BadRequestData"),
        ({"georel": "close", "geometry": "Point", "coordinates": "[1,2]"}, 400, "BadRequestData"),
        ({"georel": "within", "geometry": "Circle", "coordinates": "[1,2]"}, 400, "BadRequestData"),
        ({"georel": "within", "geometry": "Polygon", "coordinates": "[1,2]"}, 400, "BadRequestData"),
        ({"georel": "near", "geometry": "Point", "coordinates": "[1,2]"}, 400, "BadRequestData"),
        ({"georel": "near;maxDistance==5", "geometry": "Point", "coordinates": "x"}, 400,
         "BadRequestData"),
        ({"type": "Building", "geometryProperty": "location"}, 400, "BadRequestData"),
        ({"type": "Building", "options": "update"}, 400, "InvalidRequest"),
        ({"type": "Building", "format": "pretty"}, 400, "BadRequestData"),
    ],
)  # fmt: skip
def test_query_errors(seeded, params, status, kind):
    problem(seeded.http.get("/entities", params=params), status, kind)


def test_query_geojson_feature_collection(seeded):
    response = seeded.http.get(
        "/entities",
        headers=GEO,
        params={"type": "Vehicle", "options": "keyValues", "attrs": "name"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.json() == {
        "type": "FeatureCollection",
        "features": [
            {
                "id": ALL[3],
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [127.0, 37.5]},
                "properties": {"type": "Vehicle", "name": "Entity 40"},
            },
            {
                "id": ALL[4],
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [126.7, 37.45]},
                "properties": {"type": "Vehicle", "name": "Entity 50"},
            },
        ],
        "@context": CORE,
    }


def test_query_on_empty_broker_is_an_empty_array(hub):
    response = hub.http.get("/entities", params={"type": "Building"})
    assert response.status_code == 200 and response.json() == []


# -- query via POST (6.23, 5.2.23) ----------------------------------------------------------
def post_query(hub, body, params=None, headers=None):
    return hub.http.post("/entityOperations/query", json=body, params=params, headers=headers)


def test_post_query_matches_get(seeded):
    body = {
        "type": "Query",
        "entities": [{"type": "Building"}, {"type": "Vehicle"}],
        "q": "height>15",
        "attrs": ["height", "name"],
    }
    response = post_query(seeded, body, params={"count": "true", "limit": "2"})
    assert response.status_code == 200, response.text
    assert response.headers["ngsild-results-count"] == "3"
    assert CORE in response.headers["link"]
    got = response.json()
    assert got == query(
        seeded, type="Building,Vehicle", q="height>15", attrs="height,name", limit="2"
    )
    assert ids(got) == [ALL[1], ALL[3]]


def test_post_query_selectors_geo_scope_and_projection(seeded):
    body = {
        "type": "Query",
        "entities": [{"type": "Building", "idPattern": ".*:2$"}, {"type": "Office", "id": ALL[2]}],
    }
    assert ids(post_query(seeded, body).json()) == [ALL[1], ALL[2]]
    geo = {
        "type": "Query",
        "geoQ": {
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": [126.978, 37.566],
        },
        "pick": ["id", "name"],
    }
    assert post_query(seeded, geo, params={"format": "keyValues"}).json() == [
        {"id": ALL[0], "name": "Entity 10"},
        {"id": ALL[1], "name": "Entity 20"},
    ]
    scoped = {"type": "Query", "entities": [{"type": "*"}], "scopeQ": "/Seoul/#", "omit": ["id"]}
    assert [e["name"]["value"] for e in post_query(seeded, scoped).json()] == [
        "Entity 10",
        "Entity 20",
    ]


def test_post_query_ld_json_and_geojson(seeded):
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "@context": CORE}
    response = seeded.http.post(
        "/entityOperations/query",
        json=body,
        headers={"Content-Type": "application/ld+json", "Accept": "application/ld+json"},
        params={"options": "keyValues", "pick": "id"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json()[0]["@context"] == CORE
    inline = seeded.http.post(
        "/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "V"}],
              "@context": {"V": DEFAULT + "Vehicle", "nm": DEFAULT + "name"}},
        headers={"Content-Type": "application/ld+json"},
        params={"options": "keyValues", "pick": "nm"},
    )  # fmt: skip
    assert inline.status_code == 200, inline.text
    assert inline.json() == [{"nm": "Entity 40"}, {"nm": "Entity 50"}]
    # The inline @context is served by the broker and linked (clause 5.13, 6.3.6).
    hosted = re.match(r"<([^>]+)>", inline.headers["link"]).group(1)
    assert "/ngsi-ld/v1/jsonldContexts/" in hosted
    served = seeded.http.get(hosted.split("/ngsi-ld/v1", 1)[1])
    assert served.status_code == 200
    assert served.json()["@context"]["nm"] == DEFAULT + "name"
    geo = seeded.http.post(
        "/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Vehicle"}]},
        headers=GEO,
    )
    assert geo.status_code == 200 and geo.json()["type"] == "FeatureCollection"


@pytest.mark.parametrize(
    "body",
    [
        {"entities": [{"type": "Building"}]},
        {"type": "Subscription", "entities": [{"type": "Building"}]},
        {"type": "Query"},
        {"type": "Query", "entities": []},
        {"type": "Query", "entities": [{"id": ALL[0]}]},
        {"type": "Query", "entities": [{"type": "Building"}], "q": "height>"},
        {"type": "Query", "geoQ": {"georel": "near", "geometry": "Point"}},
        {"type": "Query", "entities": [{"type": "Building"}], "attrs": []},
        [{"type": "Query"}],
        # members typed String in clauses 5.2.23 and 5.2.13 (these used to give a 500)
        {"type": "Query", "entities": [{"type": "Building"}], "q": ["height>1"]},
        {"type": "Query", "entities": [{"type": "Building"}], "join": ["inline"]},
        {
            "type": "Query",
            "geoQ": {"georel": ["near"], "geometry": "Point", "coordinates": [127, 37.5]},
        },  # fmt: skip
        {"type": "Query", "entities": [{"type": ["Building"]}]},
    ],
)
def test_post_query_errors(seeded, body):
    problem(post_query(seeded, body), 400, "BadRequestData")


def test_deeply_nested_q_is_answered_not_crashed(hub):
    """SQLite parses about a hundred nested levels: a q deeper than its store can compile is
    403 TooComplexQuery there (PostgreSQL answers it); never a 500."""
    create(
        hub,
        {
            "id": "urn:ngsi-ld:Thing:t1",
            "type": "Thing",
            "name": {"type": "Property", "value": "a b"},
        },
    )
    q = 'name=="a b"'
    for i in range(12):
        q = f'(name=="x{i} y"{"|" if i % 2 == 0 else ";"}{q})'
    response = hub.http.get("/entities", params={"type": "Thing", "q": q})
    if hub.backend == "sqlite":
        problem(response, 403, "TooComplexQuery")
    else:
        assert response.status_code == 200, response.text
    # Four nested groups of string terms work on both (they overflowed SQLite before).
    q = '((name=="a b"|(name=="c d";(name=="e f"|name=="g h"))))'
    assert ids(query(hub, type="Thing", q=q)) == ["urn:ngsi-ld:Thing:t1"]


def test_numbers_past_what_the_stores_take_are_refused(city):
    """An offset past 64 bits, or a query needing more values than a statement takes
    (PostgreSQL 65,535, SQLite 32,766 by default), used to fail with a 500."""
    huge = str(10**20)
    for path in ("/entities", "/temporal/entities", "/subscriptions"):
        params = {"type": "Building", "offset": huge}
        if path == "/temporal/entities":
            params |= {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}
        body = problem(city.http.get(path, params=params), 400, "BadRequestData")
        assert "offset must be at most 9223372036854775807" in body["detail"]
    edge = {"type": "Building", "offset": str(2**63 - 1)}
    assert city.http.get("/entities", params=edge).json() == []

    names = [f"a{i}" for i in range(40_000)]
    many = [
        {"type": "Query", "entities": [{"type": "Building"}], "attrs": names},
        {"type": "Query", "entities": [{"type": "Building"}], "q": "height==" + ",".join(names)},
    ]
    for body in many:
        for path in ("/entityOperations/query", "/temporal/entityOperations/query"):
            if path.startswith("/temporal"):
                body = body | {"temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}}
            response = city.http.post(path, json=body)
            if path.startswith("/temporal") and "q" in body:
                # The temporal API tests q on the entities it read: no SQL list to refuse.
                assert response.status_code == 200, response.text
                continue
            detail = problem(response, 403, "TooComplexQuery")["detail"]
            assert "more than the 30000 a statement takes" in detail
    # A query at the limit's scale of the common case still works.
    body = {"type": "Query", "entities": [{"type": "Building"}], "attrs": names[:1000] + ["name"]}
    found = city.http.post("/entityOperations/query", json=body).json()
    assert [e["name"]["value"] for e in found] == ["City Hall"]


def test_a_pattern_that_backtracks_does_not_stall_the_hub(hub):
    """On SQLite a ~= or idPattern runs in Python inside the store's database thread: with
    re, (a+)+$ on this value would have run for days, and every request with it. Searches
    are now bounded; PostgreSQL's own engine answers both patterns at once."""
    value = "a" * 40 + "!"
    create(hub, {"id": "urn:ngsi-ld:Thing:" + value, "type": "Thing", "name": value})
    create(hub, {"id": "urn:ngsi-ld:Thing:2", "type": "Thing", "name": "aaaa"})
    assert ids(query(hub, type="Thing", q="name~=(a+)+$")) == ["urn:ngsi-ld:Thing:2"]
    assert ids(query(hub, type="Thing", idPattern="(a+)+$")) == []
    slow = {"type": "Thing", "q": "name~=(a|aa)+$"}
    response = hub.http.get("/entities", params=slow)
    if hub.backend == "sqlite":
        assert "takes more than" in problem(response, 403, "TooComplexQuery")["detail"]
    else:
        assert ids(response.json()) == ["urn:ngsi-ld:Thing:2"]
    # The temporal API tests q in Python on both backends.
    temporal = slow | {
        "timerel": "after",
        "timeAt": "2000-01-01T00:00:00Z",
        "timeproperty": "modifiedAt",
    }
    response = hub.http.get("/temporal/entities", params=temporal)
    assert "takes more than" in problem(response, 403, "TooComplexQuery")["detail"]
    # The hub goes on answering.
    assert len(query(hub, type="Thing")) == 2
