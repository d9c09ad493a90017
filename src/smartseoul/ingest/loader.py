"""Load the demo city into a hub store: entities by batch upsert, history as temporal instances.

Re-running the load is idempotent: the demo entities are replaced and their history is
rewritten, never duplicated.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from smartseoul.config import Settings
from smartseoul.hub.broker import Broker, history_rows
from smartseoul.hub.entities import normalize_instance, now_iso
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.hub.store.base import Store
from smartseoul.ingest.demo_city import DEMO_CONTEXT, build_demo_city

DEMO_CONTEXT_ID = "smartseoul-demo"
SHARED_HAN_RIVER = Path("..") / "shared" / "data" / "han-river"


def default_han_river_dir() -> Path | None:
    """``../shared/data/han-river`` beside the checkout, when it exists."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = (base / SHARED_HAN_RIVER).resolve()
        if candidate.is_dir():
            return candidate
    return None


async def load_into(store: Store, settings: Settings, *, han_river_dir: Path | None, tenant: str = "") -> dict[str, Any]:
    """Write the demo city into an open store; returns counts for the CLI to print."""
    started = time.perf_counter()
    city = build_demo_city(han_river_dir=han_river_dir)
    resolver = ContextResolver(store, settings)
    try:
        await resolver.add(DEMO_CONTEXT, local_id=DEMO_CONTEXT_ID)
        context = await resolver.resolve(DEMO_CONTEXT)
    finally:
        await resolver.close()
    expand = context.expand
    broker = Broker(store)
    ids = [e["id"] for e in city.entities]
    async with store.transaction(tenant) as tx:
        for entity_id in ids:
            await tx.delete_history(entity_id)
    result, _ = await broker.batch_upsert(tenant, [(e, expand) for e in city.entities], mode="replace")
    if result.errors:
        first_id, err = result.errors[0]
        raise RuntimeError(f"demo entity {first_id} was refused: {err.detail}")
    now_text, now = now_iso(), time.time()
    instances = 0
    async with store.transaction(tenant) as tx:
        for item in city.history:
            # A time series: many instances of one attribute, each validated on its own.
            attrs = {}
            for term, series in item["attrs"].items():
                name = expand(term)
                attrs[name] = [normalize_instance(name, inst, expand, now=now_text) for inst in series]
            rows = history_rows(item["id"], attrs, now)
            instances += len(rows)
            await tx.append_history(rows)
    from smartseoul.opendata.demo import publish_demo

    published = await publish_demo(store, DEMO_CONTEXT)
    city.notes.append(f"open data: {', '.join(published)} at {settings.public_base_url}/opendata/")
    return {
        "entities": len(ids),
        "history_instances": instances,
        "seconds": round(time.perf_counter() - started, 2),
        "notes": city.notes,
        "context_url": resolver.hosted_url(DEMO_CONTEXT_ID),
    }


async def load_demo_city(settings: Settings, *, han_river_dir: Path | None = None) -> dict[str, Any]:
    """Open the configured SQLite store, load the demo city, close it again."""
    from smartseoul.app import make_store

    store = make_store(settings)
    await store.open()
    try:
        return await load_into(store, settings, han_river_dir=han_river_dir or default_han_river_dir())
    finally:
        await store.close()
