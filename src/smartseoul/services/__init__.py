"""City services: one package each, registered here by name.

A service package ``smartseoul.services.<name>`` (or any package named by an entry point
in the ``smartseoul.services`` group) provides ``cli.command``, a click command or group
that becomes ``smartseoul <name>``, and ``routes.routes``, its HTTP routes mounted under
``/<name>``. An unknown name is an :class:`UnknownService` error listing the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "SERVICES",
    "Service",
    "UnknownService",
    "get_service",
    "service_commands",
    "service_names",
    "service_routes",
]

ENTRY_POINT_GROUP = "smartseoul.services"
SERVICES: dict[str, str] = {
    "flood": "smartseoul.services.flood",
    "cyber": "smartseoul.services.cyber",
    "safety": "smartseoul.services.safety",
}
"""Built-in services: name -> package."""


class UnknownService(LookupError):
    """No service by that name; the message lists the registered ones."""


@dataclass(frozen=True)
class Service:
    """A registered service: its name and package."""

    name: str
    package: str

    def command(self) -> Any:
        """The click command of ``smartseoul <name>``."""
        return import_module(f"{self.package}.cli").command

    def routes(self) -> list[Any]:
        """The service's routes, relative to ``/<name>``."""
        return list(import_module(f"{self.package}.routes").routes)


def _registry() -> dict[str, str]:
    found = dict(SERVICES)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


def service_names() -> list[str]:
    """Every registered service name, sorted."""
    return sorted(_registry())


def get_service(name: str) -> Service:
    """The service called ``name``.

    Examples
    --------
    >>> get_service("flood").package
    'smartseoul.services.flood'
    >>> get_service("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    smartseoul.services.UnknownService: unknown service 'nope'; valid names: ...
    """
    registry = _registry()
    if name not in registry:
        raise UnknownService(
            f"unknown service {name!r}; valid names: {', '.join(sorted(registry))}"
        )
    return Service(name, registry[name])


def service_commands() -> dict[str, Any]:
    """``{name: click command}`` for the CLI."""
    return {name: get_service(name).command() for name in service_names()}


def service_routes() -> list[Any]:
    """One ``Mount("/<name>")`` per service, for the app."""
    from starlette.routing import Mount

    return [Mount(f"/{name}", routes=get_service(name).routes()) for name in service_names()]
