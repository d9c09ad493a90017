"""HubClient: the one interface services, ingest and open data use to reach the hub.

Two implementations with the same methods: :class:`LocalHubClient` calls the broker in
the same process (no HTTP, no JSON round trip), :class:`HttpHubClient` talks to any
NGSI-LD broker by URL. Entities go in and come out in compact form under the caller's
@context (a URL, a term map or a list), so a service never handles expanded IRIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from smartseoul.hub.errors import NgsiError
from smartseoul.hub.jsonld import CORE_CONTEXT_URL, link_header
from smartseoul.hub.store.base import retry_conflicts

ContextValue = str | dict[str, Any] | list[Any] | None
_IDS_PER_REQUEST = 50  # entity ids in one temporal query URL


@dataclass
class Outcome:
    """What a batch write did: ids written, and per-entity errors as ProblemDetails."""

    written: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class HubClient(Protocol):
    async def upsert(
        self,
        entities: list[dict[str, Any]],
        *,
        context: ContextValue = None,
        tenant: str = "",
        replace: bool = False,
    ) -> Outcome:
        """Create or update entities (batch upsert, clause 5.6.8); ``update`` mode by default."""

    async def update_attrs(
        self,
        entity_id: str,
        attrs: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        """Add or replace attributes of one entity (append attributes, clause 5.6.3)."""

    async def delete(self, entity_id: str, *, tenant: str = "") -> None:
        """Delete one entity (clause 5.6.6); not found is ResourceNotFound, or HubError 404
        from a remote hub."""

    async def get(
        self,
        entity_id: str,
        *,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
    ) -> dict[str, Any]: ...

    async def query(
        self,
        *,
        type: str | None = None,
        q: str | None = None,
        attrs: list[str] | None = None,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Every matching entity (pages through the results)."""

    async def history(
        self,
        entity_ids: list[str],
        *,
        type: str | None = None,
        attrs: list[str] | None = None,
        time_at: str,
        end_time_at: str,
        context: ContextValue = None,
        tenant: str = "",
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Attribute instances observed in ``[time_at, end_time_at)`` (clause 5.7.4).

        ``{entity id: {attribute: [instances with instanceId]}}``; entities with no
        instance in the range are left out.
        """

    async def append_history(
        self,
        entity_id: str,
        type: str,
        attrs: dict[str, list[dict[str, Any]]],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        """Add instances to an entity's history only (upsert temporal entity, 5.6.11)."""

    async def replace_history_instance(
        self,
        entity_id: str,
        attr: str,
        instance_id: str,
        instance: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        """Replace one instance of an attribute's history (clause 5.6.14)."""

    async def subscribe(
        self, subscription: dict[str, Any], *, context: ContextValue = None, tenant: str = ""
    ) -> str:
        """Create a subscription (clause 5.8.1); returns its id."""

    async def unsubscribe(self, subscription_id: str, *, tenant: str = "") -> None:
        """Delete a subscription (clause 5.8.5)."""

    async def close(self) -> None: ...


class LocalHubClient:
    """The hub in this process: the broker and the context resolver of a running app."""

    def __init__(self, broker: Any, resolver: Any, *, page: int = 1000):
        self.broker, self.resolver, self.page = broker, resolver, page

    async def _context(self, context: ContextValue) -> Any:
        return await self.resolver.resolve(context)

    async def upsert(
        self,
        entities: list[dict[str, Any]],
        *,
        context: ContextValue = None,
        tenant: str = "",
        replace: bool = False,
    ) -> Outcome:
        expand = (await self._context(context)).expand
        items = [(e, expand) for e in entities]
        mode = "replace" if replace else "update"
        result, _ = await retry_conflicts(
            lambda: self.broker.batch_upsert(tenant, items, mode=mode)
        )
        return Outcome(
            written=list(result.success),
            errors=[{"entityId": i, "error": err.problem()} for i, err in result.errors],
        )

    async def update_attrs(
        self,
        entity_id: str,
        attrs: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        expand = (await self._context(context)).expand
        await retry_conflicts(lambda: self.broker.append_attrs(tenant, entity_id, attrs, expand))

    async def delete(self, entity_id: str, *, tenant: str = "") -> None:
        await retry_conflicts(lambda: self.broker.delete_entity(tenant, entity_id))

    async def get(
        self,
        entity_id: str,
        *,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
    ) -> dict[str, Any]:
        from smartseoul.hub.render import RenderOptions, render_entity

        ctx = await self._context(context)
        entity = await self.broker.retrieve_entity(tenant, entity_id)
        opts = RenderOptions(format="simplified" if key_values else "normalized")
        return render_entity(entity, ctx.compact, opts)

    async def query(
        self,
        *,
        type: str | None = None,
        q: str | None = None,
        attrs: list[str] | None = None,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        from smartseoul.hub.query import parse_q
        from smartseoul.hub.render import RenderOptions, render_entity
        from smartseoul.hub.selection import parse_type_expr
        from smartseoul.hub.store.base import EntityQuery

        ctx = await self._context(context)
        out: list[dict[str, Any]] = []
        opts = RenderOptions(format="simplified" if key_values else "normalized")
        offset = 0
        while len(out) < limit:
            query = EntityQuery(
                types=parse_type_expr(type, ctx.expand) if type else None,
                q=parse_q(q, ctx.expand) if q else None,
                attrs=[ctx.expand(a) for a in attrs] if attrs else None,
                limit=min(self.page, limit - len(out)),
                offset=offset,
            )
            rows, _ = await self.broker.query_entities(tenant, query)
            out.extend(render_entity(e, ctx.compact, opts) for e in rows)
            if len(rows) < query.limit:
                break
            offset += len(rows)
        return out

    async def history(
        self,
        entity_ids: list[str],
        *,
        type: str | None = None,
        attrs: list[str] | None = None,
        time_at: str,
        end_time_at: str,
        context: ContextValue = None,
        tenant: str = "",
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        from smartseoul.hub.entities import parse_time
        from smartseoul.hub.errors import NonexistentTenant
        from smartseoul.hub.selection import parse_type_expr
        from smartseoul.hub.store.base import EntityQuery
        from smartseoul.hub.temporal import TemporalQuerySpec
        from smartseoul.hub.temporal_render import render_temporal_entity

        ctx = await self._context(context)
        spec = TemporalQuerySpec(
            timerel="between",
            time_at=parse_time(time_at, field="timeAt").timestamp(),
            end_time_at=parse_time(end_time_at, field="endTimeAt").timestamp(),
        )
        query = EntityQuery(
            ids=entity_ids,
            types=parse_type_expr(type, ctx.expand) if type else None,
            limit=len(entity_ids),
        )
        try:
            result = await self.broker.query_temporal_entities(
                tenant,
                query,
                spec,
                attrs=[ctx.expand(a) for a in attrs] if attrs else None,
                max_instances=1 << 40,
            )
        except NonexistentTenant:
            return {}
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for entity, rows in result.found:
            rendered = render_temporal_entity(entity, rows, compact=ctx.compact, spec=spec)
            out[entity.entity_id] = {
                k: v for k, v in rendered.items() if k not in ("id", "type") and v
            }
        return out

    async def append_history(
        self,
        entity_id: str,
        type: str,
        attrs: dict[str, list[dict[str, Any]]],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        expand = (await self._context(context)).expand
        body = {"id": entity_id, "type": type, **attrs}
        await retry_conflicts(lambda: self.broker.upsert_temporal_entity(tenant, body, expand))

    async def replace_history_instance(
        self,
        entity_id: str,
        attr: str,
        instance_id: str,
        instance: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        expand = (await self._context(context)).expand
        await retry_conflicts(
            lambda: self.broker.modify_temporal_instance(
                tenant, entity_id, attr, instance_id, instance, expand
            )
        )

    async def subscribe(
        self, subscription: dict[str, Any], *, context: ContextValue = None, tenant: str = ""
    ) -> str:
        import time

        from smartseoul.hub.entities import now_iso
        from smartseoul.hub.errors import AlreadyExists
        from smartseoul.hub.subscriptions import parse_subscription

        ctx = await self._context(context)
        sub = parse_subscription(
            subscription, ctx.expand, source=context, now_text=now_iso(), now=time.time()
        )
        if not await self.broker.store.insert_subscription(tenant, sub):
            raise AlreadyExists(f"Subscription {sub['id']} already exists", instance=sub["id"])
        return str(sub["id"])

    async def unsubscribe(self, subscription_id: str, *, tenant: str = "") -> None:
        from smartseoul.hub.errors import ResourceNotFound

        if not await self.broker.store.delete_subscription(tenant, subscription_id):
            raise ResourceNotFound(f"Subscription {subscription_id} was not found")

    async def close(self) -> None:
        return None


class HubError(Exception):
    """An error answered by a remote hub, with its ProblemDetails body."""

    def __init__(self, status: int, problem: Any):
        super().__init__(f"{status}: {problem}")
        self.status, self.problem = status, problem


class HttpHubClient:
    """Any NGSI-LD broker by its base URL (``http://host:port/ngsi-ld/v1``)."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, http: httpx.AsyncClient | None = None
    ):
        self.http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._hosted: dict[bytes, str] = {}

    async def _context_url(self, context: ContextValue) -> str | None:
        """A URL for the context: inline term maps are hosted once on the broker (clause 5.13.2)."""
        if context is None or isinstance(context, str):
            return context
        key = orjson.dumps(context)
        url = self._hosted.get(key)
        if url is None:
            response = await self.http.post(
                "/jsonldContexts",
                content=orjson.dumps({"@context": context}),
                headers={"Content-Type": "application/json"},
            )
            self._check(response)
            location = response.headers["Location"]
            url = location if "://" in location else str(self.http.base_url.join(location))
            self._hosted[key] = url
        return url

    async def _headers(self, context: ContextValue, tenant: str, *, body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if tenant:
            headers["NGSILD-Tenant"] = tenant
        if body:
            headers["Content-Type"] = "application/json"
        url = await self._context_url(context)
        if url is not None and url != CORE_CONTEXT_URL:
            headers["Link"] = link_header(url)
        return headers

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = response.text
            raise HubError(response.status_code, problem)
        return response.json() if response.content else None

    async def upsert(
        self,
        entities: list[dict[str, Any]],
        *,
        context: ContextValue = None,
        tenant: str = "",
        replace: bool = False,
    ) -> Outcome:
        body = orjson.dumps(entities)
        response = await self.http.post(
            "/entityOperations/upsert",
            content=body,
            params={"options": "replace" if replace else "update"},
            headers=await self._headers(context, tenant, body=True),
        )
        result = self._check(response)
        if response.status_code == 207:
            return Outcome(written=result["success"], errors=result["errors"])
        return Outcome(written=[e["id"] for e in entities])

    async def update_attrs(
        self,
        entity_id: str,
        attrs: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        response = await self.http.post(
            f"/entities/{entity_id}/attrs",
            content=orjson.dumps(attrs),
            headers=await self._headers(context, tenant, body=True),
        )
        self._check(response)

    async def delete(self, entity_id: str, *, tenant: str = "") -> None:
        response = await self.http.delete(
            f"/entities/{entity_id}",
            headers=await self._headers(None, tenant, body=False),
        )
        self._check(response)

    async def get(
        self,
        entity_id: str,
        *,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
    ) -> dict[str, Any]:
        params = {"options": "keyValues"} if key_values else {}
        response = await self.http.get(
            f"/entities/{entity_id}",
            params=params,
            headers=await self._headers(context, tenant, body=False),
        )
        result: dict[str, Any] = self._check(response)
        return result

    async def query(
        self,
        *,
        type: str | None = None,
        q: str | None = None,
        attrs: list[str] | None = None,
        context: ContextValue = None,
        tenant: str = "",
        key_values: bool = False,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        if type:
            params["type"] = type
        if q:
            params["q"] = q
        if attrs:
            params["attrs"] = ",".join(attrs)
        if key_values:
            params["options"] = "keyValues"
        offset = 0
        while len(out) < limit:
            page = min(1000, limit - len(out))
            response = await self.http.get(
                "/entities",
                params={**params, "limit": page, "offset": offset},
                headers=await self._headers(context, tenant, body=False),
            )
            rows = self._check(response)
            out.extend(rows)
            if len(rows) < page:
                break
            offset += len(rows)
        return out

    async def history(
        self,
        entity_ids: list[str],
        *,
        type: str | None = None,
        attrs: list[str] | None = None,
        time_at: str,
        end_time_at: str,
        context: ContextValue = None,
        tenant: str = "",
    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
        out: dict[str, dict[str, list[dict[str, Any]]]] = {}
        headers = await self._headers(context, tenant, body=False)
        for start in range(0, len(entity_ids), _IDS_PER_REQUEST):
            ids = entity_ids[start : start + _IDS_PER_REQUEST]
            params: dict[str, Any] = {
                "id": ",".join(ids),
                "timerel": "between",
                "endTimeAt": end_time_at,
                "limit": len(ids),
            }
            params["type" if type else "local"] = type or "true"
            if attrs:
                params["attrs"] = ",".join(attrs)
            begin = time_at
            while True:
                response = await self.http.get(
                    "/temporal/entities", params={**params, "timeAt": begin}, headers=headers
                )
                if response.status_code == 404:
                    return out  # a tenant never written has no history
                for entity in self._check(response):
                    found = out.setdefault(entity["id"], {})
                    for key, value in entity.items():
                        if key not in ("id", "type", "@context") and isinstance(value, list):
                            found.setdefault(key, []).extend(value)
                # A 206 answer was cut at the DateTime in Content-Range (clause 6.3.10):
                # ask again from there; instances seen twice share their instanceId.
                span = response.headers.get("Content-Range", "")
                last = span.rsplit("/", 1)[0].split("Z-", 1)[-1]
                if response.status_code != 206 or "Z-" not in span or last == begin:
                    break
                begin = last
        for entity in out.values():
            for key, instances in entity.items():
                unique = {i.get("instanceId"): i for i in instances}
                entity[key] = list(unique.values())
        return out

    async def append_history(
        self,
        entity_id: str,
        type: str,
        attrs: dict[str, list[dict[str, Any]]],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        response = await self.http.post(
            "/temporal/entities",
            content=orjson.dumps({"id": entity_id, "type": type, **attrs}),
            headers=await self._headers(context, tenant, body=True),
        )
        self._check(response)

    async def replace_history_instance(
        self,
        entity_id: str,
        attr: str,
        instance_id: str,
        instance: dict[str, Any],
        *,
        context: ContextValue = None,
        tenant: str = "",
    ) -> None:
        response = await self.http.patch(
            f"/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}",
            content=orjson.dumps(instance),
            headers=await self._headers(context, tenant, body=True),
        )
        self._check(response)

    async def subscribe(
        self, subscription: dict[str, Any], *, context: ContextValue = None, tenant: str = ""
    ) -> str:
        response = await self.http.post(
            "/subscriptions",
            content=orjson.dumps(subscription),
            headers=await self._headers(context, tenant, body=True),
        )
        self._check(response)
        return str(response.headers["Location"]).rsplit("/subscriptions/", 1)[-1]

    async def unsubscribe(self, subscription_id: str, *, tenant: str = "") -> None:
        response = await self.http.delete(
            f"/subscriptions/{subscription_id}",
            headers=await self._headers(None, tenant, body=False),
        )
        self._check(response)

    async def close(self) -> None:
        await self.http.aclose()


def local_client(app: Any) -> LocalHubClient:
    """The in-process client of a running app (after its lifespan has started)."""
    return LocalHubClient(app.state.broker, app.state.resolver)


__all__ = [
    "HttpHubClient",
    "HubClient",
    "HubError",
    "LocalHubClient",
    "NgsiError",
    "Outcome",
    "local_client",
]
