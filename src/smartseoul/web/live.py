"""What changed in the hub, for the map's live feed (Server-Sent Events), read from the store.

Every write stamps the entity's temporal record with its ``modifiedAt``, and the store
keeps those stamps indexed (``Store.changed_entities``): "which entities changed since T"
is one index range read, however large the history. The feed asks the store, not this
process's memory, so an SSE client connected to one worker sees writes made through any
other worker or process.

A write that commits after a poll has passed its ``modifiedAt`` would be missed by a plain
"after the last poll" window, so each poll looks back ``lag`` seconds and skips the
changes it has already reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.render import RenderOptions, render_entity
from smartseoul.hub.store.base import EntityQuery

POLL_SECONDS = 0.5
LAG_SECONDS = 2.0
HEARTBEAT_SECONDS = 15.0
IDS_PER_READ = 1000  # far below the stores' 30,000 SQL parameters (TooComplexQuery)


@dataclass(slots=True)
class Changes:
    """Entities as they are now (normalized, core @context) and the ids deleted."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entities or self.deleted)


class ChangeFeed:
    """Polls one tenant of the hub for entities changed since the feed was opened.

    Parameters
    ----------
    broker, resolver
        The app's broker and context resolver (``app.state``).
    tenant
        The NGSI-LD tenant to watch ("" is the default one).
    lag
        Seconds each poll looks back for writes that committed late.
    clock
        A ``time.time`` stand-in for tests.
    """

    def __init__(
        self,
        broker: Any,
        resolver: Any,
        *,
        tenant: str = "",
        lag: float = LAG_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.broker, self.resolver, self.tenant = broker, resolver, tenant
        self.lag, self.clock = lag, clock
        self.opened = clock()
        self._last_poll = self.opened
        self._seen: dict[str, float] = {}  # entity id -> modifiedAt reported, within the lag

    async def poll(self) -> Changes:
        """Entities written since the last poll (each change reported once)."""
        now = self.clock()
        since = max(self.opened, self._last_poll - self.lag)
        self._last_poll = now
        changed: list[str] = []
        for entity_id, modified in await self.broker.store.changed_entities(self.tenant, since):
            if self._seen.get(entity_id) != modified:
                self._seen[entity_id] = modified
                changed.append(entity_id)
        horizon = now - 2 * self.lag
        self._seen = {key: at for key, at in self._seen.items() if at >= horizon}
        return await self._current(changed)

    async def _current(self, ids: list[str]) -> Changes:
        if not ids:
            return Changes()
        compact = (await self.resolver.resolve(None)).compact
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_READ):
            part = ids[start : start + IDS_PER_READ]
            found, _ = await self.broker.query_entities(
                self.tenant, EntityQuery(ids=part, limit=len(part))
            )
            rows.extend(found)
        entities = [render_entity(row, compact, RenderOptions()) for row in rows]
        found = {entity["id"] for entity in entities}
        return Changes(entities, [i for i in ids if i not in found])


async def change_events(
    feed: ChangeFeed,
    *,
    disconnected: Callable[[], Any],
    poll: float = POLL_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[tuple[str, Any]]:
    """``(event name, data)`` pairs: ``hello`` first, then ``changes`` as they happen and a
    ``ping`` when nothing happened for ``heartbeat`` seconds; ends when the client leaves."""
    yield "hello", {"opened": feed.opened}
    quiet = 0.0
    while not await disconnected():
        changes = await feed.poll()
        if changes:
            quiet = 0.0
            yield "changes", {"entities": changes.entities, "deleted": changes.deleted}
        elif quiet >= heartbeat:
            quiet = 0.0
            yield "ping", {}
        await asyncio.sleep(poll)
        quiet += poll
