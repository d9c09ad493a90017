"""Thin HTTP routes for /ngsi-ld/v1: each module adds its ``routes`` list."""

from __future__ import annotations

import importlib

from starlette.routing import BaseRoute

# Order matters only where paths overlap; each module owns a distinct prefix.
MODULES = ("entities", "discovery", "contexts", "temporal", "subscriptions", "info")


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for name in MODULES:
        module = importlib.import_module(f"smartseoul.hub.api.{name}")
        out.extend(module.routes)
    return out
