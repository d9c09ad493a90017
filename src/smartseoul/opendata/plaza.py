"""The Open Data Plaza of one running app: its catalog, its keys and how to read views."""

from __future__ import annotations

from typing import Any

from smartseoul.opendata.catalog import Catalog
from smartseoul.opendata.keys import SAMPLE_KEY, ApiKey, KeyStore
from smartseoul.opendata.views import Env


class Plaza:
    """Everything the open-data APIs share; built once per app, reads the app's hub."""

    def __init__(self, app: Any):
        settings = app.state.settings
        self.app = app
        self.settings = settings
        self.store = app.state.store
        self.catalog = Catalog(self.store)
        self.keys = KeyStore(
            self.store,
            daily_quota=settings.opendata_daily_quota,
            rate_limit=settings.opendata_rate_limit,
            cache_seconds=settings.auth_cache_seconds,
        )

    async def open(self) -> None:
        await self.catalog.open()

    def env(self) -> Env:
        from smartseoul.hub.client import local_client

        return Env(self.store, self.app.state.resolver, local_client(self.app))

    def sample_allowed(self, key: str) -> bool:
        return key == SAMPLE_KEY and self.settings.opendata_sample_key

    async def key(self, key: str) -> ApiKey | None:
        return await self.keys.lookup(key)


def plaza_of(app: Any) -> Plaza:
    """The app's Plaza, built on first use (after the app's lifespan has opened the store)."""
    plaza = getattr(app.state, "plaza", None)
    if plaza is None:
        plaza = app.state.plaza = Plaza(app)
    return plaza
