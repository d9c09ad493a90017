"""JSON-LD @contexts for NGSI-LD: term expansion and compaction (clause 5.5.7).

The hub runs no general JSON-LD processor on the request path. Each distinct
@context value becomes a :class:`Context`: a term -> IRI map and its inverse,
built once and cached, so expanding or compacting a name is one dict lookup.
The core @context (clause 4.4) is built in and never fetched; it is protected,
so its terms win over user definitions wherever it sits in the array.

Remote @contexts are fetched by :class:`ContextResolver`, kept in memory and in
the store's ``contexts`` table as kind "Cached" (clause 5.13.1). A record is
``{"id", "url", "kind", "data": {"@context": ...}, "created_at", "last_usage",
"hits"}`` with times in epoch seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import unquote, urljoin

import httpx
import orjson

from smartseoul.hub.errors import BadRequestData, LdContextNotAvailable
from smartseoul.hub.limits import check_name_length, value_problem

log = logging.getLogger(__name__)

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
CONTEXTS_PATH = "/ngsi-ld/v1/jsonldContexts/"
LOCAL_ID_PREFIX = "urn:ngsi-ld:jsonldContext:"
KINDS = ("Cached", "Hosted", "ImplicitlyCreated")
CACHED_TTL = 24 * 3600.0  # heuristic expiry of "Cached" @contexts, which clause 5.13.1 asks for
RECHECK_INTERVAL = 300.0  # a worker re-reads the store after this, to see other workers' deletes
FLUSH_INTERVAL = 60.0  # usage counters are written at most this often: not once per request
MAX_DEPTH = 8  # remote @contexts that include remote @contexts
MAX_DOCUMENT_BYTES = 4 << 20
_MISS_LIMIT = 4096  # names outside the term map remembered per Context: clients choose them
_ACCEPT = {"Accept": "application/ld+json, application/json;q=0.9, */*;q=0.1"}

_CORE_URL_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(-v\d+(\.\d+)*)?\.jsonld$"
)
_GEN_DELIMS = frozenset(":/?#[]@")


def is_core_context_url(url: object) -> bool:
    """Whether ``url`` names any version of the core @context (served built in, never fetched)."""
    return isinstance(url, str) and _CORE_URL_RE.match(url) is not None


@dataclass(frozen=True, slots=True)
class Term:
    """One term definition: its IRI and the coercions NGSI-LD cares about."""

    iri: str
    type: str | None = None  # "@vocab", "@id", "@json" or a datatype IRI
    container: Any = None  # "@list", "@set", "@language", "@index" (or a list of them)
    prefix: bool = False  # may build compact IRIs "term:suffix" when compacting


def _process_local(
    local: dict[str, Any],
    terms: dict[str, Term],
    vocab: str | None,
    core: dict[str, Term],
    *,
    core_pass: bool = False,
) -> str | None:
    """Apply one local context object to ``terms`` and return the new ``@vocab``.

    A trimmed JSON-LD 1.1 "create term definition": terms may refer to each other in
    any order; core terms are never redefined (clause 5.5.7); scoped contexts are
    refused in user @contexts (clauses 4.4 and 5.5.7). ``@import`` is ignored: it
    would need a fetch and JSON-LD 1.1 processing NGSI-LD user @contexts do not use.
    """
    if "@vocab" in local:
        value = local["@vocab"]
        if value is not None and not isinstance(value, str):
            raise BadRequestData(f"@vocab must be a string or null, not {value!r}")
        vocab = value or None
    done: set[str] = set()
    active: set[str] = set()

    def lookup(name: str) -> Term | None:
        if name in local and name not in core and name not in done and not name.startswith("@"):
            define(name)
        return core.get(name) or terms.get(name)

    def expand(value: str, *, self_term: str | None = None) -> str:
        if value.startswith("@"):
            return value
        if value != self_term and (term := lookup(value)) is not None:
            return term.iri
        if ":" in value[1:]:
            prefix, _, suffix = value.partition(":")
            term = None if prefix in ("_", self_term) or suffix.startswith("//") else lookup(prefix)
            if term is not None and not term.iri.startswith("@"):
                return term.iri + suffix
            return value
        return (vocab or DEFAULT_VOCAB) + value

    def define(name: str) -> None:
        if name in active:
            raise BadRequestData(f"@context: cyclic IRI mapping for term {name!r}")
        active.add(name)
        value = local[name]
        if isinstance(value, str):
            iri = expand(value, self_term=name)
            terms[name] = Term(iri, prefix=iri[-1] in _GEN_DELIMS)
        elif isinstance(value, dict):
            if "@context" in value and not core_pass:
                raise BadRequestData(
                    f"@context: term {name!r} has a scoped context, not allowed in user @contexts"
                )
            ident = value.get("@id", value.get("@reverse", name))
            if ident is None:
                terms.pop(name, None)
            elif not isinstance(ident, str):
                raise BadRequestData(f"@context: @id of term {name!r} must be a string")
            else:
                kind = value.get("@type")
                if kind is not None and not isinstance(kind, str):
                    raise BadRequestData(f"@context: @type of term {name!r} must be a string")
                terms[name] = Term(
                    expand(ident, self_term=name),
                    None if kind is None else expand(kind),
                    value.get("@container"),
                    value.get("@prefix") is True,
                )
        elif value is None:
            terms.pop(name, None)  # explicitly unmapped: falls back to @vocab
        else:
            raise BadRequestData(f"@context: invalid definition of term {name!r}: {value!r}")
        active.discard(name)
        done.add(name)

    for name in local:
        if name and not name.startswith("@") and name not in core and name not in done:
            define(name)
    return vocab


class Context:
    """An active @context: the core terms plus a request's user terms.

    Immutable once built and compared by ``key`` (the JSON of ``source``).
    ``source`` is the @context value as given, to echo back in responses.

    Examples
    --------
    >>> ctx = Context.from_local({"Road": "https://ex.org/Road", "ex": "https://ex.org/"})
    >>> ctx.expand("Road"), ctx.expand("ex:width"), ctx.expand("speed")
    ('https://ex.org/Road', 'https://ex.org/width', 'https://uri.etsi.org/ngsi-ld/default-context/speed')
    >>> ctx.compact("https://ex.org/width"), ctx.compact(DEFAULT_VOCAB + "speed")
    ('ex:width', 'speed')
    """

    __slots__ = (
        "source", "key", "vocab", "terms", "record_ids", "expires_at",
        "_expanded", "_compacted", "_prefixes", "_misses",
    )  # fmt: skip

    def __init__(
        self,
        source: Any,
        terms: dict[str, Term],
        vocab: str = DEFAULT_VOCAB,
        *,
        record_ids: tuple[str, ...] = (),
        expires_at: float = math.inf,
    ):
        self.source = source
        self.key = orjson.dumps(source).decode()
        self.vocab = vocab
        self.terms = terms
        self.record_ids = record_ids  # stored @contexts used: their hits are counted
        self.expires_at = expires_at
        self._expanded = {name: term.iri for name, term in terms.items()}
        # JSON-LD term selection: the shortest term wins, ties lexicographically; a term
        # coercing its values (@type, @container) only if no plain one maps the IRI.
        self._compacted: dict[str, str] = {}
        ranked = sorted(
            terms.items(),
            key=lambda t: (t[1].type is not None or t[1].container is not None, len(t[0]), t[0]),
        )
        for name, term in ranked:
            self._compacted.setdefault(term.iri, name)
        self._prefixes = sorted(
            ((t.iri, n) for n, t in terms.items() if t.prefix and ":" not in n),
            key=lambda p: -len(p[0]),
        )
        self._misses = 0

    @classmethod
    def from_local(
        cls, source: Any, local_contexts: list[dict[str, Any] | None] | None = None, **kw: Any
    ) -> Context:
        """Build from local context objects (no URLs); ``None`` entries reset user terms."""
        if local_contexts is None:
            local_contexts = source if isinstance(source, list) else [source]
        terms: dict[str, Term] = {}
        vocab: str | None = None
        for local in local_contexts:
            if local is None:
                terms.clear()
                vocab = None
            elif isinstance(local, dict):
                vocab = _process_local(local, terms, vocab, CORE.terms)
            else:
                raise BadRequestData(f"invalid @context entry: {local!r}")
        # A user @vocab is honoured, although the core placed last would override it.
        return cls(source, {**terms, **CORE.terms}, vocab or DEFAULT_VOCAB, **kw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Context({self.key[:80]})"

    @property
    def urls(self) -> tuple[str, ...]:
        """The URLs listed at the top level of ``source``."""
        items = self.source if isinstance(self.source, list) else [self.source]
        return tuple(i for i in items if isinstance(i, str))

    def definition(self, term: str) -> Term | None:
        """The term's definition (to see ``@type: @vocab`` or ``@container``), if defined."""
        return self.terms.get(term)

    def expand(self, term: str) -> str:
        """Expand an attribute name or entity type to an IRI (clause 5.5.7)."""
        iri = self._expanded.get(term)
        if iri is None:
            iri = self._expand_new(term)
            if self._misses < _MISS_LIMIT:
                self._misses += 1
                self._expanded[term] = iri
        return iri

    def _expand_new(self, term: str) -> str:
        if ":" in term[1:]:
            prefix, _, suffix = term.partition(":")
            if prefix != "_" and not suffix.startswith("//"):
                defined = self.terms.get(prefix)
                if defined is not None and not defined.iri.startswith("@"):
                    return defined.iri + suffix
            return term  # an absolute IRI (http://..., urn:...)
        if term.startswith("@"):
            return term
        return self.vocab + term

    def expand_value(self, value: str) -> str:
        """Expand a value of a term typed ``@vocab`` (VocabProperty ``vocab``, clause 4.5.20)."""
        iri = self.expand(value)
        return self.vocab + value if iri.startswith("@") and not value.startswith("@") else iri

    def compact(self, iri: str) -> str:
        """Compact an IRI to the term the active @context gives it, else the IRI itself."""
        term = self._compacted.get(iri)
        if term is None:
            term = self._compact_new(iri)
            if self._misses < _MISS_LIMIT:
                self._misses += 1
                self._compacted[iri] = term
        return term

    def _compact_new(self, iri: str) -> str:
        if iri.startswith(self.vocab):
            suffix = iri[len(self.vocab) :]
            if suffix and ":" not in suffix and suffix not in self.terms:
                return suffix
        best: str | None = None
        for base, prefix in self._prefixes:
            if len(iri) > len(base) and iri.startswith(base):
                suffix = iri[len(base) :]
                candidate = f"{prefix}:{suffix}"
                if suffix.startswith("//") or (
                    candidate in self.terms and self.terms[candidate].iri != iri
                ):
                    continue
                if best is None or (len(candidate), candidate) < (len(best), best):
                    best = candidate
        return best or iri

    compact_value = compact  # values typed @vocab compact exactly like names (JSON-LD vocab=true)


def _load_core() -> Context:
    text = (
        resources.files("smartseoul").joinpath("data/ngsi-ld-core-context-v1.8.jsonld").read_bytes()
    )
    terms: dict[str, Term] = {}
    vocab = _process_local(orjson.loads(text)["@context"], terms, None, {}, core_pass=True)
    return Context(CORE_CONTEXT_URL, terms, vocab or DEFAULT_VOCAB)


CORE = _load_core()


def check_context(value: Any) -> None:
    """Validate an @context value without fetching anything (clause 5.5.4): BadRequestData."""
    _check_nesting(value)
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            _process_local(item, {}, None, CORE.terms)
        elif item is not None and not isinstance(item, str):
            raise BadRequestData(f"invalid @context entry: {item!r}")


def _check_nesting(value: Any) -> None:
    """An @context nested deeper than the hub can store or key (see ``hub.limits``)."""
    problem = value_problem(value)
    if problem is not None:
        raise BadRequestData(f"The @context has {problem}")


def cached_context_id(url: str) -> str:
    """The local id of a downloaded @context: derived from its URL, so every worker agrees."""
    return LOCAL_ID_PREFIX + hashlib.sha256(url.encode()).hexdigest()[:32]


@dataclass(slots=True)
class _Document:
    url: str
    record_id: str
    context: Any  # the document's "@context" value
    fresh_until: float


def _lru_put(cache: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


class ContextResolver:
    """Turns @context values into :class:`Context` objects, fetching and caching remote ones.

    Parameters
    ----------
    store
        The hub store; its ``contexts`` table keeps hosted and downloaded @contexts.
    settings
        ``context_fetch_timeout``, ``context_cache_size`` and ``public_base_url`` are used.
    http_client
        An ``httpx.AsyncClient`` to fetch with; one is created (and closed) when omitted.
    """

    def __init__(self, store: Any, settings: Any, http_client: httpx.AsyncClient | None = None):
        self.store = store
        self.timeout = settings.context_fetch_timeout
        self.hosted_prefix = settings.public_base_url + CONTEXTS_PATH
        self._size = max(1, settings.context_cache_size)
        self._client = http_client
        self._own_client = http_client is None
        self._documents: OrderedDict[str, _Document] = OrderedDict()
        self._contexts: OrderedDict[str, Context] = OrderedDict()
        self._loading: dict[str, asyncio.Task[_Document]] = {}
        self._implicit: set[str] = set()
        self._hits: dict[str, int] = {}
        self._used: dict[str, float] = {}
        self._last_flush = time.time()

    async def close(self) -> None:
        await self.flush_usage()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def hosted_url(self, local_id: str) -> str:
        """The URL at which this broker serves a hosted @context (clause 5.13.4)."""
        return self.hosted_prefix + local_id

    async def resolve(self, value: Any = None) -> Context:
        """The active @context for a request's @context value (``None``: the core only).

        Raises BadRequestData for an invalid @context and LdContextNotAvailable when a
        remote one cannot be fetched (clause 5.5.6).
        """
        if value is None:
            return CORE
        _check_nesting(value)
        key = orjson.dumps(value).decode()
        now = time.time()
        context = self._contexts.get(key)
        if context is not None and now < context.expires_at:
            self._contexts.move_to_end(key)
            for record_id in context.record_ids:
                self._hit(record_id, now)
            if context.record_ids and now - self._last_flush > FLUSH_INTERVAL:
                await self.flush_usage()
            return context
        local_contexts: list[dict[str, Any] | None] = []
        documents: list[_Document] = []
        await self._collect(value, (), local_contexts, documents)
        context = Context.from_local(
            value,
            local_contexts,
            record_ids=tuple(d.record_id for d in documents),
            expires_at=min((d.fresh_until for d in documents), default=math.inf),
        )
        _lru_put(self._contexts, key, context, self._size)
        return context

    async def _collect(
        self,
        value: Any,
        chain: tuple[str, ...],
        local_contexts: list[Any],
        documents: list[_Document],
    ) -> None:
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):
                if item is not None and not isinstance(item, dict):
                    raise BadRequestData(f"invalid @context entry: {item!r}")
                local_contexts.append(item)
                continue
            url = urljoin(chain[-1], item) if chain else item  # nested references may be relative
            if is_core_context_url(url):
                continue  # built in, and always applied anyway
            if not url.startswith(("http://", "https://")):
                raise BadRequestData(f"@context entry {item!r} is not an http(s) URL")
            check_name_length(url, "An @context URL")  # kept, and indexed, as a Cached record
            if url in chain or len(chain) >= MAX_DEPTH:
                raise BadRequestData(f"@context {url} includes itself or nests too deeply")
            document = await self._document(url)
            documents.append(document)
            await self._collect(document.context, (*chain, url), local_contexts, documents)

    async def _document(self, url: str) -> _Document:
        document = self._documents.get(url)
        if document is not None and time.time() < document.fresh_until:
            self._documents.move_to_end(url)
            self._hit(document.record_id)
            return document
        task = self._loading.get(url)
        if task is None:
            # One load per URL however many requests want it; a task (not the first caller)
            # owns it, so a caller's cancellation does not fail the others.
            task = asyncio.create_task(self._load(url))
            self._loading[url] = task
            task.add_done_callback(lambda t: self._loaded(url, t))
        document = await asyncio.shield(task)
        _lru_put(self._documents, url, document, self._size)
        return document

    def _loaded(self, url: str, task: asyncio.Task[_Document]) -> None:
        if self._loading.get(url) is task:
            del self._loading[url]
        if not task.cancelled():
            task.exception()  # retrieved here, in case every waiter has gone

    async def _load(self, url: str) -> _Document:
        now = time.time()
        record = await self.find_record(url)
        if record is not None:
            # Hosted and ImplicitlyCreated @contexts are ours and never expire.
            cached = record["kind"] == "Cached"
            expires = (record.get("created_at") or 0) + CACHED_TTL if cached else math.inf
            if now < expires:
                self._hit(record["id"], now)
                fresh = min(expires, now + RECHECK_INTERVAL)
                return _Document(url, record["id"], _context_of(record), fresh)
        elif url.startswith(self.hosted_prefix):
            raise LdContextNotAvailable(f"@context {url} is not hosted by this broker")
        try:
            value = await self.download(url)
        except LdContextNotAvailable:
            if record is None:
                raise
            # An expired copy beats failing every request while the origin is down.
            log.warning("@context %s could not be refreshed; using the stored copy", url)
            return _Document(url, record["id"], _context_of(record), now + RECHECK_INTERVAL)
        record = await self._save_cached(url, value, record)
        return _Document(url, record["id"], value, now + RECHECK_INTERVAL)

    async def _save_cached(
        self, url: str, value: Any, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = time.time()
        record = {
            "id": old["id"] if old else cached_context_id(url),
            "url": url,
            "kind": "Cached",
            "data": {"@context": value},
            "created_at": now,
            "last_usage": now,
            "hits": (old.get("hits") or 0) if old else 0,
        }
        if old is not None:  # put_context keeps created_at of an existing row; a refresh resets it
            await self.store.delete_context(old["id"])
        await self.store.put_context(record)
        return record

    async def download(self, url: str) -> Any:
        """Fetch a remote @context document and return its validated ``@context`` value."""
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=True)
        # The body is read as it comes, up to MAX_DOCUMENT_BYTES, and the whole fetch has one
        # deadline: httpx's timeout bounds each read, so a server sending a byte a second (or
        # an endless body, read whole before the size was checked) held the request forever.
        content = bytearray()
        try:
            async with asyncio.timeout(self.timeout):
                request = self._client.build_request(
                    "GET", url, headers=_ACCEPT, timeout=self.timeout
                )
                response = await self._client.send(request, stream=True, follow_redirects=True)
                try:
                    if not response.is_success:
                        raise LdContextNotAvailable(
                            f"@context {url} answered HTTP {response.status_code}"
                        )
                    async for chunk in response.aiter_bytes():
                        content += chunk
                        if len(content) > MAX_DOCUMENT_BYTES:
                            raise BadRequestData(
                                f"@context {url} is larger than {MAX_DOCUMENT_BYTES} bytes"
                            )
                finally:
                    await response.aclose()
        except TimeoutError:
            raise LdContextNotAvailable(
                f"@context {url} could not be fetched within {self.timeout:g} s"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise LdContextNotAvailable(f"@context {url} could not be fetched: {exc!r}") from exc
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            # JSON-LD 1.1 API 4.1.2 step 5.2.5.1: a document that cannot be parsed as JSON is
            # "loading remote context failed", so not available (clause 5.5.6); a JSON one
            # without a top-level @context is an "invalid remote context": BadRequestData.
            raise LdContextNotAvailable(f"@context {url} is not a JSON document") from exc
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"@context {url} is not a JSON object with a top-level @context")
        check_context(document["@context"])
        return document["@context"]

    async def find_record(self, context_id: str) -> dict[str, Any] | None:
        """A stored @context by local id, original URL (Cached) or hosted URL (clause 5.13.4.3)."""
        record = await self.store.get_context(context_id)
        if record is None and CONTEXTS_PATH in context_id:
            # Our own hosted URL, possibly reached under another host name.
            record = await self.store.get_context(unquote(context_id.rsplit(CONTEXTS_PATH, 1)[1]))
        return record

    async def add(
        self, value: Any, *, kind: str = "Hosted", local_id: str | None = None
    ) -> dict[str, Any]:
        """Store an @context given by a client (clause 5.13.2) and return its record."""
        check_context(value)
        local_id = local_id or LOCAL_ID_PREFIX + uuid.uuid4().hex
        record = {
            "id": local_id,
            "url": self.hosted_url(local_id),
            "kind": kind,
            "data": {"@context": value},
            "created_at": time.time(),
            "last_usage": None,
            "hits": 0,
        }
        await self.store.put_context(record)
        return record

    async def context_url(self, context: Context) -> str:
        """A URL for ``context`` to send in a Link header, hosting it as ImplicitlyCreated if needed."""
        if context.key == CORE.key:
            return CORE_CONTEXT_URL
        if isinstance(context.source, str):
            return context.source
        local_id = LOCAL_ID_PREFIX + hashlib.sha256(context.key.encode()).hexdigest()[:32]
        if local_id not in self._implicit:
            if await self.store.get_context(local_id) is None:
                await self.add(context.source, kind="ImplicitlyCreated", local_id=local_id)
            self._implicit.add(local_id)
        return self.hosted_url(local_id)

    async def reload(self, record: dict[str, Any]) -> dict[str, Any]:
        """Re-download a Cached @context and replace the stored copy (clause 5.13.5.4)."""
        if record["kind"] != "Cached":
            raise BadRequestData(
                f"@context {record['id']} is {record['kind']}, only Cached ones reload"
            )
        try:
            value = await self.download(record["url"])
        except BadRequestData as exc:
            raise LdContextNotAvailable(exc.detail) from exc
        self.forget(record)
        return await self._save_cached(record["url"], value, record)

    async def delete(self, record: dict[str, Any]) -> None:
        """Remove a stored @context (clause 5.13.5); contexts built on it are rebuilt."""
        await self.store.delete_context(record["id"])
        self.forget(record)

    def forget(self, record: dict[str, Any]) -> None:
        """Drop in-memory copies of a stored @context and every Context built from it."""
        record_id = record["id"]
        self._implicit.discard(record_id)
        for url in [u for u, d in self._documents.items() if d.record_id == record_id]:
            del self._documents[url]
        for key in [k for k, c in self._contexts.items() if record_id in c.record_ids]:
            del self._contexts[key]

    def _hit(self, record_id: str, now: float | None = None) -> None:
        self._hits[record_id] = self._hits.get(record_id, 0) + 1
        self._used[record_id] = now or time.time()

    async def flush_usage(self) -> None:
        """Add the hits counted in memory to the stored records (numberOfHits, lastUsage)."""
        hits, used = self._hits, self._used
        self._hits, self._used, self._last_flush = {}, {}, time.time()
        for record_id, count in hits.items():
            # Read-modify-write: two workers flushing at once may lose a few counts,
            # an acceptable price for statistics that cost no write per request.
            record = await self.store.get_context(record_id)
            if record is not None:
                record["hits"] = (record.get("hits") or 0) + count
                record["last_usage"] = used[record_id]
                await self.store.put_context(record)


def _context_of(record: dict[str, Any]) -> Any:
    data = record.get("data")
    return data.get("@context") if isinstance(data, dict) else data


_LINK_RE = re.compile(
    r"\s*<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:\"(?:[^\"\\]|\\.)*\"|[^;,\s]*))?)*)\s*(?:,|$)"
)
_PARAM_RE = re.compile(r";\s*([^;,=\s]+)(?:\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^;,\s]*))?")


def parse_link_header(value: str | None) -> str | None:
    """The @context URL of a JSON-LD Link header (clause 6.3.5), or None if it has none.

    Links with other relations are ignored; a malformed header or several @context
    links (JSON-LD 1.1 "multiple context link headers") raise BadRequestData.

    Examples
    --------
    >>> parse_link_header('<https://ex.org/c.jsonld>; rel="http://www.w3.org/ns/json-ld#context"')
    'https://ex.org/c.jsonld'
    """
    if not value or not value.strip():
        return None
    found: list[str] = []
    position = 0
    while position < len(value):
        match = _LINK_RE.match(value, position)
        if match is None or match.end() == position:
            raise BadRequestData(f"malformed Link header: {value!r}")
        position = match.end()
        params = {k.lower(): (v or "").strip('"') for k, v in _PARAM_RE.findall(match.group(2))}
        if JSONLD_CONTEXT_REL in params.get("rel", "").split():
            url = match.group(1).strip()
            if not url:
                raise BadRequestData("the JSON-LD Link header has an empty URL")
            found.append(url)
    if len(found) > 1:
        raise BadRequestData("more than one JSON-LD @context Link header")
    return found[0] if found else None


def link_header(url: str) -> str:
    """A JSON-LD Link header value pointing at the @context ``url`` (clause 6.3.5)."""
    return f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
