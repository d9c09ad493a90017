"""Tests for hub/jsonld.py and the /jsonldContexts routes (hub/api/contexts.py).

Remote @contexts come from a real HTTP server on 127.0.0.1; records go to the real
store backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from conftest import make_store
from smartseoul.config import Settings
from smartseoul.hub.api.contexts import routes
from smartseoul.hub.errors import BadRequestData, LdContextNotAvailable, NgsiError
from smartseoul.hub.jsonld import (
    CORE,
    CORE_CONTEXT_URL,
    DEFAULT_VOCAB,
    Context,
    ContextResolver,
    cached_context_id,
    is_core_context_url,
    link_header,
    parse_link_header,
)

NGSI = "https://uri.etsi.org/ngsi-ld/"
EX = "https://ex.org/"
JSON = {"Content-Type": "application/json"}  # clause 6.3.4: a POST says what it sends
USER = {
    "Road": EX + "Road",
    "speed": EX + "speed",
    "category": {"@id": EX + "category", "@type": "@vocab"},
}


# -- a real HTTP server serving @context documents ------------------------------------


class ContextServer:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, bytes, float]] = {}
        self.requests: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests[self.path] += 1
                status, body, delay = server.documents.get(self.path, (404, b"not found", 0.0))
                time.sleep(delay)
                if status == 302:
                    self.send_response(status)
                    self.send_header("Location", body.decode())
                    body = b""
                else:
                    self.send_response(status)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # A client that timed out has closed the connection.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, document: Any, *, status: int = 200, delay: float = 0.0) -> str:
        body = document if isinstance(document, bytes) else orjson.dumps(document)
        self.documents[path] = (status, body, delay)
        return self.base + path


@pytest.fixture
def server() -> Iterator[ContextServer]:
    srv = ContextServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    srv.serve("/ctx.jsonld", {"@context": USER})
    srv.serve(
        "/nested.jsonld", {"@context": ["ctx.jsonld", {"Lane": EX + "Lane"}, CORE_CONTEXT_URL]}
    )
    srv.serve("/text", b"hello, not json")
    srv.serve("/nocontext.json", {"Road": EX + "Road"})
    srv.serve("/scoped.jsonld", {"@context": {"a": {"@id": EX + "a", "@context": {"b": EX + "b"}}}})
    srv.serve("/loop-a.jsonld", {"@context": "loop-b.jsonld"})
    srv.serve("/loop-b.jsonld", {"@context": "loop-a.jsonld"})
    srv.serve("/slow.jsonld", {"@context": USER}, delay=2.0)
    srv.serve("/moved", b"/ctx.jsonld", status=302)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        context_fetch_timeout=0.5,
        context_cache_size=8,
        base_url="http://broker.test:1026",
    )


@pytest.fixture
async def store(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    store = make_store(backend, tmp_path)
    await store.open()
    yield store
    if backend == "postgres":
        await store.drop()
    await store.close()


@pytest.fixture
async def resolver(store: Any, settings: Settings) -> AsyncIterator[ContextResolver]:
    resolver = ContextResolver(store, settings)
    yield resolver
    await resolver.close()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- Context: expansion and compaction ------------------------------------------------


def test_core_terms_expand_and_compact_back() -> None:
    assert CORE.expand("location") == NGSI + "location"
    assert CORE.expand("value") == NGSI + "hasValue"
    assert CORE.expand("type") == "@type"
    assert CORE.expand("geojson:Point") == "https://purl.org/geojson/vocab#Point"
    assert CORE.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert CORE.expand("urn:ngsi-ld:Thing:1") == "urn:ngsi-ld:Thing:1"
    assert CORE.expand("https://ex.org/a") == "https://ex.org/a"
    assert CORE.compact(NGSI + "hasObject") == "object"
    assert CORE.compact(DEFAULT_VOCAB + "temperature") == "temperature"
    assert CORE.compact(NGSI + "somethingElse") == "ngsi-ld:somethingElse"
    assert CORE.compact("https://other.org/x") == "https://other.org/x"
    assert CORE.definition("vocab").type == "@vocab"
    assert CORE.definition("observedAt").type == NGSI + "DateTime"
    assert CORE.definition("coordinates").container == "@list"


def test_user_terms_prefixes_and_core_protection() -> None:
    ctx = Context.from_local(
        [
            {
                "ex": EX,
                "Road": "ex:Road",
                "width": {"@id": "ex:width", "@type": "xsd:float"},
                "location": EX + "myLocation",  # the core term is protected: ignored
                "loc": NGSI + "location",
            },
            {"Road": EX + "Road2"},  # later definitions win over earlier ones
        ]
    )
    assert ctx.expand("Road") == EX + "Road2"
    assert ctx.expand("ex:lanes") == EX + "lanes"
    assert ctx.expand("width") == EX + "width"
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.compact(EX + "Road2") == "Road"
    assert ctx.compact(EX + "lanes") == "ex:lanes"
    assert ctx.compact(EX + "width") == "width"
    assert ctx.compact(NGSI + "location") == "loc"  # JSON-LD term selection: the shortest term
    assert ctx.compact(DEFAULT_VOCAB + "speed") == "speed"
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"


def test_terms_may_refer_to_later_terms_and_to_themselves() -> None:
    ctx = Context.from_local(
        {"Road": "ex:Road", "ex": EX, "self": "self", "other": {"@type": "@id"}}
    )
    assert ctx.expand("Road") == EX + "Road"
    assert ctx.expand("self") == DEFAULT_VOCAB + "self"
    assert ctx.expand("other") == DEFAULT_VOCAB + "other"
    assert ctx.definition("other").type == "@id"


def test_user_vocab_and_null_context() -> None:
    ctx = Context.from_local({"@vocab": "https://vocab.org/", "Road": EX + "Road"})
    assert ctx.expand("speed") == "https://vocab.org/speed"
    assert ctx.compact("https://vocab.org/speed") == "speed"
    reset = Context.from_local([{"Road": EX + "Road"}, None, {"Lane": EX + "Lane"}])
    assert reset.expand("Road") == DEFAULT_VOCAB + "Road"
    assert reset.expand("Lane") == EX + "Lane"


def test_vocab_values() -> None:
    ctx = Context.from_local({"Urban": EX + "Urban"})
    assert ctx.expand_value("Urban") == EX + "Urban"
    assert ctx.expand_value("Rural") == DEFAULT_VOCAB + "Rural"
    assert ctx.expand_value("type") == DEFAULT_VOCAB + "type"  # a keyword alias is no vocab value
    assert ctx.compact_value(EX + "Urban") == "Urban"


def test_context_identity_and_echo() -> None:
    source = ["https://ex.org/a.jsonld", {"Road": EX + "Road"}]
    a = Context.from_local(source, [{"Road": EX + "Road"}])
    b = Context.from_local(source, [{"Road": EX + "Road"}])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.source == source
    assert a.urls == ("https://ex.org/a.jsonld",)
    assert CORE.source == CORE_CONTEXT_URL


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {"@id": EX + "a", "@context": {"b": EX + "b"}}},  # scoped context, clause 5.5.7
        {"a": 42},
        {"a": {"@id": 42}},
        {"a": "b:x", "b": "a:y"},  # cyclic
        {"@vocab": 3},
        [[{"a": EX + "a"}]],
        7,
    ],
)
def test_invalid_local_contexts_are_bad_request_data(bad: Any) -> None:
    with pytest.raises(BadRequestData):
        Context.from_local(bad)


# -- core context URLs and Link headers -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "core"),
    [
        (CORE_CONTEXT_URL, True),
        ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld", True),
        ("http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", True),
        ("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.1.jsonld", True),
        ("https://uri.etsi.org/ngsi-ld/v1/other.jsonld", False),
        ("https://evil.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", False),
        (None, False),
    ],
)
def test_is_core_context_url(url: Any, core: bool) -> None:
    assert is_core_context_url(url) is core


def test_link_header_round_trip_and_parsing() -> None:
    url = "https://ex.org/ctx.jsonld"
    assert parse_link_header(link_header(url)) == url
    other = '<https://ex.org/next>; rel="next", '
    assert parse_link_header(other + link_header(url)) == url
    assert parse_link_header(f"<{url}>; rel=http://www.w3.org/ns/json-ld#context") == url
    assert (
        parse_link_header(f'<{url}>; rel="alternate http://www.w3.org/ns/json-ld#context"') == url
    )
    assert parse_link_header('<https://ex.org/next>; rel="next"') is None
    assert parse_link_header(None) is None and parse_link_header("  ") is None
    for bad in [
        "https://ex.org/ctx.jsonld",
        f"<{url}; rel=x",
        link_header(url) + ", " + link_header(url),
    ]:
        with pytest.raises(BadRequestData):
            parse_link_header(bad)


# -- ContextResolver: remote @contexts ------------------------------------------------


@pytest.mark.anyio
async def test_remote_context_fetched_once_and_recorded(
    resolver: ContextResolver, server: ContextServer, store: Any, settings: Settings
) -> None:
    url = server.serve("/once.jsonld", {"@context": USER})
    ctx = await resolver.resolve(url)
    assert ctx.expand("Road") == EX + "Road"
    assert ctx.definition("category").type == "@vocab"
    assert ctx.source == url and ctx.urls == (url,)
    assert await resolver.resolve(url) is ctx
    mixed = await resolver.resolve([url, {"Lane": EX + "Lane"}, CORE_CONTEXT_URL])
    assert (mixed.expand("Road"), mixed.expand("Lane")) == (EX + "Road", EX + "Lane")
    assert server.requests["/once.jsonld"] == 1

    record = await store.get_context(url)
    assert record["id"] == cached_context_id(url)
    assert (record["kind"], record["url"], record["data"]) == ("Cached", url, {"@context": USER})
    assert record["hits"] == 0

    # Another worker (a fresh resolver on the same store) uses the stored copy.
    other = ContextResolver(store, settings)
    assert (await other.resolve(url)).expand("speed") == EX + "speed"
    await other.close()
    assert server.requests["/once.jsonld"] == 1
    await resolver.flush_usage()
    assert (await store.get_context(url))["hits"] == 3  # two hits here, one in the other worker


@pytest.mark.anyio
async def test_nested_relative_and_redirected_contexts(
    resolver: ContextResolver, server: ContextServer
) -> None:
    before = server.requests["/ctx.jsonld"]
    ctx = await resolver.resolve(server.base + "/nested.jsonld")
    assert (ctx.expand("Road"), ctx.expand("Lane")) == (EX + "Road", EX + "Lane")
    moved = await resolver.resolve(server.base + "/moved")
    assert moved.expand("speed") == EX + "speed"
    assert server.requests["/ctx.jsonld"] == before + 2  # once nested, once behind the redirect


@pytest.mark.anyio
async def test_concurrent_requests_share_one_fetch(
    resolver: ContextResolver, server: ContextServer
) -> None:
    url = server.serve("/shared.jsonld", {"@context": USER}, delay=0.2)
    contexts = await asyncio.gather(
        *(resolver.resolve([url, {"n": f"{EX}{i}"}]) for i in range(10))
    )
    assert [c.expand("n") for c in contexts] == [f"{EX}{i}" for i in range(10)]
    assert server.requests["/shared.jsonld"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/missing.jsonld", LdContextNotAvailable),
        ("/slow.jsonld", LdContextNotAvailable),
        ("/text", LdContextNotAvailable),  # not JSON: "loading remote context failed"
        ("/nocontext.json", BadRequestData),
        ("/scoped.jsonld", BadRequestData),
        ("/loop-a.jsonld", BadRequestData),
    ],
)
async def test_remote_failures(
    resolver: ContextResolver, server: ContextServer, store: Any, path: str, error: type[NgsiError]
) -> None:
    with pytest.raises(error):
        await resolver.resolve(server.base + path)
    if error is LdContextNotAvailable:
        assert await store.get_context(server.base + path) is None


@pytest.mark.anyio
async def test_unreachable_and_invalid_references(resolver: ContextResolver) -> None:
    with pytest.raises(LdContextNotAvailable):
        await resolver.resolve(f"http://127.0.0.1:{unused_port()}/ctx.jsonld")
    for bad in ["not-a-url", "urn:ngsi-ld:ctx", 42, [["x"]]]:
        with pytest.raises(BadRequestData):
            await resolver.resolve(bad)


@pytest.mark.anyio
async def test_core_context_urls_are_never_fetched(store: Any, settings: Settings) -> None:
    fetched: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(500)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        resolver = ContextResolver(store, settings, http_client=client)
        assert await resolver.resolve() is CORE
        for url in [
            CORE_CONTEXT_URL,
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
            "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
        ]:
            ctx = await resolver.resolve([url, {"Road": EX + "Road"}])
            assert ctx.expand("location") == NGSI + "location" and ctx.expand("Road") == EX + "Road"
            assert (await resolver.resolve(url)).expand("observedAt") == NGSI + "observedAt"
        await resolver.close()
    assert fetched == []
    assert await store.list_contexts() == []


@pytest.mark.anyio
async def test_hosted_contexts_resolve_from_the_store(
    resolver: ContextResolver, server: ContextServer
) -> None:
    record = await resolver.add({"Bridge": EX + "Bridge"})
    assert (
        record["kind"] == "Hosted"
        and record["url"] == "http://broker.test:1026/ngsi-ld/v1/jsonldContexts/" + record["id"]
    )
    # broker.test does not resolve: success proves no HTTP request was made.
    assert (await resolver.resolve(record["url"])).expand("Bridge") == EX + "Bridge"
    elsewhere = f"{server.base}/ngsi-ld/v1/jsonldContexts/{record['id']}"
    assert (await resolver.resolve(elsewhere)).expand("Bridge") == EX + "Bridge"
    assert server.requests[f"/ngsi-ld/v1/jsonldContexts/{record['id']}"] == 0
    await resolver.delete(record)
    with pytest.raises(LdContextNotAvailable):
        await resolver.resolve(record["url"])


@pytest.mark.anyio
async def test_context_url_hosts_inline_contexts(resolver: ContextResolver, store: Any) -> None:
    assert await resolver.context_url(CORE) == CORE_CONTEXT_URL
    inline = Context.from_local([{"Road": EX + "Road"}])
    url = await resolver.context_url(inline)
    assert url == await resolver.context_url(inline)
    record = await resolver.find_record(url)
    assert (record["kind"], record["data"]) == (
        "ImplicitlyCreated",
        {"@context": [{"Road": EX + "Road"}]},
    )
    assert (await resolver.resolve(url)).expand("Road") == EX + "Road"


@pytest.mark.anyio
async def test_expired_cached_context_is_refreshed_or_kept(
    store: Any, settings: Settings, server: ContextServer
) -> None:
    url = server.serve("/expiring.jsonld", {"@context": {"Road": EX + "Road"}})
    stale = {"id": cached_context_id(url), "url": url, "kind": "Cached", "data": {"@context": {"Road": EX + "Old"}},
             "created_at": time.time() - 2 * 86400, "last_usage": None, "hits": 5}  # fmt: skip
    await store.put_context(stale)
    resolver = ContextResolver(store, settings)
    assert (await resolver.resolve(url)).expand("Road") == EX + "Road"
    record = await store.get_context(url)
    assert record["created_at"] > time.time() - 60 and record["hits"] == 5
    await resolver.close()

    gone = server.base + "/gone.jsonld"
    await store.put_context({**stale, "id": cached_context_id(gone), "url": gone})
    resolver = ContextResolver(store, settings)
    assert (await resolver.resolve(gone)).expand("Road") == EX + "Old"  # origin down: stored copy
    await resolver.close()


# -- /jsonldContexts routes -----------------------------------------------------------


@pytest.fixture
async def api(resolver: ContextResolver, store: Any) -> AsyncIterator[httpx.AsyncClient]:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NgsiError)
        return Response(
            orjson.dumps(exc.problem()), status_code=exc.status, media_type="application/json"
        )

    app = Starlette(
        routes=[Mount("/ngsi-ld/v1", routes=routes)], exception_handlers={NgsiError: problem}
    )
    app.state.resolver, app.state.store = resolver, store
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://broker.test:1026/ngsi-ld/v1"
    ) as client:
        yield client


def error_type(response: httpx.Response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


@pytest.mark.anyio
async def test_add_serve_list_and_delete_hosted(api: httpx.AsyncClient) -> None:
    body = {"@context": {"Bridge": EX + "Bridge"}, "ignored": 1}
    created = await api.post("/jsonldContexts", content=orjson.dumps(body), headers=JSON)
    assert created.status_code == 201
    local_id = created.headers["Location"].rsplit("/", 1)[1]
    assert created.headers["Location"] == "/ngsi-ld/v1/jsonldContexts/" + local_id
    location = f"/jsonldContexts/{local_id}"

    served = await api.get(location)
    assert served.status_code == 200 and served.json() == {"@context": {"Bridge": EX + "Bridge"}}
    assert served.headers["content-type"] == "application/json"
    url = "http://broker.test:1026/ngsi-ld/v1" + location
    assert (await api.get("/jsonldContexts")).json() == [url]
    assert (await api.get("/jsonldContexts/?kind=Hosted")).json() == [url]
    assert (await api.get("/jsonldContexts", params={"kind": "Cached"})).json() == []

    [info] = (await api.get("/jsonldContexts", params={"details": "true"})).json()
    assert {k: info[k] for k in ("URL", "localId", "kind", "numberOfHits")} == {
        "URL": url, "localId": local_id, "kind": "Hosted", "numberOfHits": 0,
    }  # fmt: skip
    assert info["createdAt"].endswith("Z") and "expiresAt" not in info
    detail = await api.get(location, params={"details": "true"})
    assert detail.json()["localId"] == local_id

    assert (await api.delete(location)).status_code == 204
    assert (await api.get(location)).status_code == 404
    assert (await api.delete(location)).status_code == 404
    assert (await api.get("/jsonldContexts")).json() == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 400, "InvalidRequest"),
        (b'{"context": {}}', 400, "BadRequestData"),
        (b'["x"]', 400, "BadRequestData"),
        (
            b'{"@context": {"a": {"@id": "https://ex.org/a", "@context": {}}}}',
            400,
            "BadRequestData",
        ),
        (b'{"@context": 5}', 400, "BadRequestData"),
    ],
)
async def test_add_rejects_invalid_bodies(
    api: httpx.AsyncClient, content: bytes, status: int, error: str
) -> None:
    response = await api.post("/jsonldContexts", content=content, headers=JSON)
    assert (response.status_code, error_type(response)) == (status, error)


@pytest.mark.anyio
async def test_cached_contexts_are_listed_not_served_and_reload(
    api: httpx.AsyncClient, resolver: ContextResolver, server: ContextServer
) -> None:
    url = server.serve("/reload.jsonld", {"@context": {"Road": EX + "Road"}})
    await resolver.resolve(url)
    await resolver.resolve(url)
    local_id = cached_context_id(url)
    assert (await api.get("/jsonldContexts", params={"kind": "Cached"})).json() == [url]
    refused = await api.get(f"/jsonldContexts/{local_id}")
    assert (refused.status_code, error_type(refused)) == (422, "OperationNotSupported")
    info = (await api.get(f"/jsonldContexts/{url}", params={"details": "true"})).json()
    assert (info["URL"], info["kind"], info["numberOfHits"]) == (url, "Cached", 1)
    assert info["expiresAt"] > info["createdAt"] and "lastUsage" in info

    server.serve("/reload.jsonld", {"@context": {"Road": EX + "Road2"}})
    assert (
        await api.delete(f"/jsonldContexts/{local_id}", params={"reload": "true"})
    ).status_code == 204
    assert server.requests["/reload.jsonld"] == 2
    assert (await resolver.resolve(url)).expand("Road") == EX + "Road2"

    server.serve("/reload.jsonld", b"gone", status=404)
    failed = await api.delete(f"/jsonldContexts/{local_id}", params={"reload": "true"})
    assert (failed.status_code, error_type(failed)) == (504, "LdContextNotAvailable")
    assert (
        await api.get(f"/jsonldContexts/{local_id}", params={"details": "true"})
    ).status_code == 200
    assert (await api.delete(f"/jsonldContexts/{url}")).status_code == 204
    assert (await api.get("/jsonldContexts")).json() == []


@pytest.mark.anyio
async def test_delete_and_parameter_errors(api: httpx.AsyncClient) -> None:
    created = await api.post("/jsonldContexts", content=b'{"@context": {}}', headers=JSON)
    hosted = "/jsonldContexts/" + created.headers["Location"].rsplit("/", 1)[1]
    cases = [
        (api.delete(hosted, params={"reload": "true"}), 400, "BadRequestData"),
        (api.delete(f"/jsonldContexts/{CORE_CONTEXT_URL}"), 400, "BadRequestData"),
        (api.delete("/jsonldContexts"), 400, "BadRequestData"),
        (api.delete("/jsonldContexts/urn:ngsi-ld:jsonldContext:nope"), 404, "ResourceNotFound"),
        (api.get("/jsonldContexts/urn:ngsi-ld:jsonldContext:nope"), 404, "ResourceNotFound"),
        (api.get("/jsonldContexts", params={"kind": "Other"}), 400, "BadRequestData"),
        (api.get("/jsonldContexts", params={"details": "yes"}), 400, "BadRequestData"),
    ]
    for request, status, error in cases:
        response = await request
        assert (response.status_code, error_type(response)) == (status, error), response.request.url


def test_routes_served_by_the_app(hub: Any) -> None:
    created = hub.http.post("/jsonldContexts", json={"@context": {"Bridge": EX + "Bridge"}})
    assert created.status_code == 201
    location = created.headers["Location"]
    assert hub.http.get(hub.base + location).json() == {"@context": {"Bridge": EX + "Bridge"}}
    assert hub.http.get("/jsonldContexts").json() == [hub.base + location]
    missing = hub.http.get("/jsonldContexts/urn:ngsi-ld:jsonldContext:nope")
    assert missing.status_code == 404 and error_type(missing) == "ResourceNotFound"
    assert hub.http.delete(hub.base + location).status_code == 204
