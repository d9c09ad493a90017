"""Provisioned devices: what a device's short measurement names mean, kept as Device entities.

A :class:`Device` maps each short name a device sends (``t``) to an attribute of a target
entity (``temperature``), with its value type and UN/CEFACT unit code. It lives in the hub as
a FIWARE Smart Data Models ``Device`` entity (:func:`device_entity`), so provisioning is
visible to every agent process and every NGSI-LD tool; :class:`DeviceRegistry` caches it.

A device may feed several target entities ("roles"): an S-DoT sensor writes its weather
readings to an EnvironmentObserved and its particulate readings to an AirQualityObserved.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartseoul.hub.client import HubClient, HubError
from smartseoul.hub.entities import ENTITY_MEMBERS, GEO_ATTRS, check_name
from smartseoul.hub.errors import BadRequestData, NgsiError
from smartseoul.hub.jsonld import DEFAULT_VOCAB
from smartseoul.hub.limits import check_name_length
from smartseoul.ingest.payloads import TIME_KEYS

__all__ = [
    "DEVICE_PREFIX",
    "IOT_CONTEXT",
    "MAIN",
    "Device",
    "DeviceRegistry",
    "DeviceSpecError",
    "Measure",
    "Target",
    "device_entity",
    "device_from_entity",
    "device_from_spec",
    "device_urn",
]

_SDM = "https://smartdatamodels.org/"
_DEVICE = _SDM + "dataModel.Device/"
_ENV = _SDM + "dataModel.Environment/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

IOT_CONTEXT: dict[str, str] = {
    "Device": _DEVICE + "Device",
    "EnvironmentObserved": _ENV + "EnvironmentObserved",
    "AirQualityObserved": _ENV + "AirQualityObserved",
    "name": _SDM + "name",
    # Smart Data Models Device attributes.
    "controlledProperty": _DEVICE + "controlledProperty",
    "deviceState": _DEVICE + "deviceState",
    "dateLastValueReported": _DEVICE + "dateLastValueReported",
    "dateInstalled": _DEVICE + "dateInstalled",
    # Observed attributes (Smart Data Models where one exists; see docs/iot.md).
    "temperature": _ENV + "temperature",
    "relativeHumidity": _ENV + "relativeHumidity",
    "illuminance": _ENV + "illuminance",
    "windDirection": _ENV + "windDirection",
    "windSpeed": _ENV + "windSpeed",
    "LAeq": _ENV + "LAeq",
    "pm10": _ENV + "pm10",
    "pm25": _ENV + "pm25",
    "peopleCount": _SDM + "dataModel.Transportation/peopleCount",
    # Agent terms with no Smart Data Models equivalent.
    "apikey": _DEFAULT + "apikey",
    "deviceProfile": _DEFAULT + "deviceProfile",
    "refTarget": _DEFAULT + "refTarget",
    "targets": _DEFAULT + "targets",
    "measurementMap": _DEFAULT + "measurementMap",
    "expectedInterval": _DEFAULT + "expectedInterval",
    "silenceAfter": _DEFAULT + "silenceAfter",
    "silentSince": _DEFAULT + "silentSince",
    "uvIndex": _DEFAULT + "uvIndex",
    "vibration": _DEFAULT + "vibration",
}
"""The @context the agent reads and writes Device and target entities under."""

DEVICE_PREFIX = "urn:ngsi-ld:Device:"
MAIN = "main"
DEFAULT_INTERVAL = 120.0
DEFAULT_SILENCE_AFTER = 3
VALUE_TYPES = ("Number", "Integer", "Text", "Boolean")
# Attribute names a reading cannot be written to: entity members and the GeoProperties.
_NOT_MEASURES = ENTITY_MEMBERS | GEO_ATTRS | {"location", "observationSpace", "operationSpace"}
# Device ids travel in MQTT topics and URNs: keep them to characters safe in both.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class DeviceSpecError(ValueError):
    """A provisioning request the caller must fix; ``field`` names the offending member."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(slots=True, frozen=True)
class Measure:
    """Where one short measurement name goes: attribute, value type, unit, target role."""

    attr: str
    kind: str = "Number"
    unit_code: str | None = None
    target: str = MAIN

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attr": self.attr, "type": self.kind, "target": self.target}
        if self.unit_code:
            out["unitCode"] = self.unit_code
        return out


@dataclass(slots=True, frozen=True)
class Target:
    id: str
    type: str


@dataclass(slots=True)
class Device:
    """A provisioned device and what the agent knows of it at run time.

    ``interval`` is the expected seconds between reports; the device is silent after
    ``silence_after`` intervals without data. ``last_seen`` and ``state`` are the run-time
    view the agent keeps in step with the Device entity.
    """

    device_id: str
    apikey: str
    targets: dict[str, Target]
    measures: dict[str, Measure]
    tenant: str = ""
    profile: str | None = None
    name: str | None = None
    interval: float = DEFAULT_INTERVAL
    silence_after: int = DEFAULT_SILENCE_AFTER
    location: dict[str, Any] | None = None
    installed_at: str | None = None
    last_seen: str | None = None
    state: str = "provisioned"
    silent_since: str | None = None
    # Epoch seconds of the last report (else of installation or loading): the silence clock.
    seen_epoch: float = field(default_factory=time.time)

    @property
    def urn(self) -> str:
        return device_urn(self.device_id)

    def check(self) -> None:
        """Raise :class:`DeviceSpecError` if the mapping is inconsistent."""
        if not _DEVICE_ID.match(self.device_id):
            raise DeviceSpecError("id", f"{self.device_id!r} is not a valid device id")
        if not self.apikey:
            raise DeviceSpecError("apikey", "an apikey is required")
        if not _DEVICE_ID.match(self.apikey):  # it travels in MQTT topics and URLs too
            raise DeviceSpecError(
                "apikey", "up to 128 letters, digits, '.', '_', ':' or '-' (no '/', '+', '#')"
            )
        if MAIN not in self.targets:
            raise DeviceSpecError("entityId", "a main target entity is required")
        for short, measure in self.measures.items():
            # UltraLight splits on | and #, and TimeInstant / ts are the payload's time.
            if not short or "|" in short or "#" in short or short in TIME_KEYS:
                raise DeviceSpecError(
                    f"measures.{short}", "a measure name: not empty, without | or #, not a time key"
                )
            if measure.kind not in VALUE_TYPES:
                raise DeviceSpecError(f"measures.{short}.type", f"one of {', '.join(VALUE_TYPES)}")
            if measure.target not in self.targets:
                raise DeviceSpecError(
                    f"measures.{short}.target", f"no target role {measure.target!r}"
                )
            # A name the hub refuses would fail every reading of the measure (write_failed);
            # an entity member (id, type...) or JSON-LD keyword would be dropped or worse, and
            # location and the other GeoProperties hold only GeoJSON.
            if measure.attr in _NOT_MEASURES or measure.attr.startswith("@"):
                raise DeviceSpecError(
                    f"measures.{short}.attr", f"{measure.attr!r} cannot hold a measurement"
                )
            try:
                check_name(measure.attr)
                check_name_length(DEFAULT_VOCAB + measure.attr, "The attribute name")
            except BadRequestData as exc:
                raise DeviceSpecError(f"measures.{short}.attr", exc.detail) from None
        if self.interval <= 0 or self.silence_after < 1:
            raise DeviceSpecError("interval", "interval > 0 and silenceAfter >= 1 required")


def device_urn(device_id: str) -> str:
    return device_id if device_id.startswith(DEVICE_PREFIX) else DEVICE_PREFIX + device_id


def device_entity(device: Device) -> dict[str, Any]:
    """The Device entity (normalized, compact under :data:`IOT_CONTEXT`) that provisions it."""
    entity: dict[str, Any] = {
        "id": device.urn,
        "type": "Device",
        "apikey": {"type": "Property", "value": device.apikey},
        "controlledProperty": {
            "type": "Property",
            "value": sorted({m.attr for m in device.measures.values()}),
        },
        "refTarget": {"type": "Relationship", "object": device.targets[MAIN].id},
        "targets": {
            "type": "JsonProperty",
            "json": {role: {"id": t.id, "type": t.type} for role, t in device.targets.items()},
        },
        "measurementMap": {
            "type": "JsonProperty",
            "json": {short: m.as_json() for short, m in device.measures.items()},
        },
        "expectedInterval": {"type": "Property", "value": device.interval, "unitCode": "SEC"},
        "silenceAfter": {"type": "Property", "value": device.silence_after},
        "deviceState": {"type": "Property", "value": device.state},
    }
    if device.installed_at:
        entity["dateInstalled"] = {"type": "Property", "value": device.installed_at}
    if device.profile:
        entity["deviceProfile"] = {"type": "Property", "value": device.profile}
    if device.name:
        entity["name"] = {"type": "Property", "value": device.name}
    if device.location:
        entity["location"] = {"type": "GeoProperty", "value": device.location}
    return entity


def device_from_entity(entity: dict[str, Any], *, tenant: str = "") -> Device:
    """A :class:`Device` from its entity as the hub returns it (normalized, compact)."""

    def value(name: str, default: Any = None) -> Any:
        attr = entity.get(name)
        if isinstance(attr, list):  # a multi-attribute: the default instance is enough here
            attr = attr[0] if attr else None
        if not isinstance(attr, dict):
            return default if attr is None else attr
        for key in ("value", "json", "object"):
            if key in attr:
                return attr[key]
        return default

    targets = {
        role: Target(str(t["id"]), str(t["type"])) for role, t in (value("targets") or {}).items()
    }
    measures = {
        short: Measure(
            attr=str(m["attr"]),
            kind=str(m.get("type", "Number")),
            unit_code=m.get("unitCode"),
            target=str(m.get("target", MAIN)),
        )
        for short, m in (value("measurementMap") or {}).items()
    }
    device_id = entity["id"].removeprefix(DEVICE_PREFIX)
    device = Device(
        device_id=device_id,
        apikey=str(value("apikey", "")),
        targets=targets,
        measures=measures,
        tenant=tenant,
        profile=value("deviceProfile"),
        name=value("name"),
        interval=float(value("expectedInterval", DEFAULT_INTERVAL)),
        silence_after=int(value("silenceAfter", DEFAULT_SILENCE_AFTER)),
        location=value("location"),
        installed_at=value("dateInstalled"),
        last_seen=value("dateLastValueReported"),
        state=str(value("deviceState", "provisioned")),
        silent_since=value("silentSince"),
    )
    for stamp in (device.last_seen, device.installed_at):
        if stamp:
            with contextlib.suppress(ValueError):
                device.seen_epoch = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                break
    return device


def device_from_spec(spec: Any, *, tenant: str = "") -> Device:
    """A :class:`Device` from a provisioning request (the body of ``POST /iot/devices``).

    ``{"id", "apikey", "entityId", "entityType", "measures": {short: attr or {"attr",
    "type", "unitCode", "target"}}, "targets": {role: {"id", "type"}}, "interval",
    "silenceAfter", "name", "location"}``; ``"profile": "sdot"`` fills targets and measures
    from the S-DoT profile, and members given beside it override it.

    Raises
    ------
    DeviceSpecError
        Naming the member to fix.
    """
    from smartseoul.ingest.sdot import SDOT_PROFILE, sdot_device

    if not isinstance(spec, dict):
        raise DeviceSpecError("body", "a device is a JSON object")
    device_id = str(spec.get("id") or spec.get("deviceId") or "").removeprefix(DEVICE_PREFIX)
    apikey = str(spec.get("apikey") or "")
    profile = spec.get("profile")
    if profile == SDOT_PROFILE:
        device = sdot_device(device_id, apikey, tenant=tenant)
    elif profile is None:
        device = Device(device_id, apikey, targets={}, measures={}, tenant=tenant)
    else:
        raise DeviceSpecError("profile", f"unknown profile {profile!r}; known: {SDOT_PROFILE}")
    if "entityId" in spec or "entityType" in spec:
        if not spec.get("entityId") or not spec.get("entityType"):
            raise DeviceSpecError("entityId", "entityId and entityType go together")
        device.targets[MAIN] = Target(str(spec["entityId"]), str(spec["entityType"]))
    targets = spec.get("targets") or {}
    if not isinstance(targets, dict):
        raise DeviceSpecError("targets", "an object of role -> {id, type}")
    for role, target in targets.items():
        if not isinstance(target, dict) or not target.get("id") or not target.get("type"):
            raise DeviceSpecError(f"targets.{role}", "needs an id and a type")
        device.targets[role] = Target(str(target["id"]), str(target["type"]))
    measures = spec.get("measures") or {}
    if not isinstance(measures, dict):
        raise DeviceSpecError("measures", "an object of short name -> attribute")
    for short, m in measures.items():
        if isinstance(m, str):
            m = {"attr": m}
        if not isinstance(m, dict) or not m.get("attr"):
            raise DeviceSpecError(f"measures.{short}", "needs an attr")
        if not isinstance(m.get("unitCode", ""), str):  # the hub refuses it on every reading
            raise DeviceSpecError(f"measures.{short}.unitCode", "a text code (UN/CEFACT)")
        device.measures[short] = Measure(
            str(m["attr"]),
            str(m.get("type", "Number")),
            m.get("unitCode"),
            str(m.get("target", MAIN)),
        )
    try:
        device.interval = float(spec.get("interval", device.interval))
        device.silence_after = int(spec.get("silenceAfter", device.silence_after))
    except (TypeError, ValueError):
        raise DeviceSpecError("interval", "interval and silenceAfter are numbers") from None
    device.name = spec.get("name", device.name)
    device.location = spec.get("location", device.location)
    if not device.measures:
        raise DeviceSpecError("measures", "at least one measure (or a profile) is required")
    device.check()
    return device


def is_not_found(err: Exception) -> bool:
    return getattr(err, "status", None) == 404


class DeviceRegistry:
    """The agent's cache of Device entities, across the tenants it serves.

    Provisioning through the agent updates the cache at once; devices provisioned
    elsewhere (another worker, a direct NGSI-LD write) are found on a cache miss and on the
    periodic :meth:`reload`. Misses are remembered for ``miss_ttl`` seconds so a flood of
    messages from an unknown device costs one hub lookup, not one per message.
    """

    def __init__(
        self, client: HubClient, *, tenants: tuple[str, ...] = ("",), miss_ttl: float = 10.0
    ):
        self.client, self.tenants, self.miss_ttl = client, tenants, miss_ttl
        self._devices: dict[str, Device] = {}
        self._misses: dict[str, float] = {}

    def __iter__(self) -> Iterator[Device]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    def cached(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def put(self, device: Device) -> None:
        self._devices[device.device_id] = device
        self._misses.pop(device.device_id, None)

    def forget(self, device_id: str) -> None:
        """Drop a deprovisioned device: its messages are unknown_device from now on."""
        self._devices.pop(device_id, None)
        self._misses[device_id] = time.monotonic()

    async def reload(self) -> None:
        """Read every Device of every served tenant, keeping run-time state of known ones."""
        fresh: dict[str, Device] = {}
        for tenant in self.tenants:
            try:
                rows = await self.client.query(
                    type="Device", context=IOT_CONTEXT, tenant=tenant, limit=1_000_000
                )
            except (NgsiError, HubError) as err:
                if is_not_found(err):  # a tenant nobody has written to yet
                    continue
                raise
            for row in rows:
                device = device_from_entity(row, tenant=tenant)
                if device.targets and device.apikey:
                    fresh[device.device_id] = self._merge(device)
        self._devices = fresh
        self._misses.clear()

    async def lookup(self, device_id: str) -> Device | None:
        """The device, from the cache or else the hub; None if it is not provisioned."""
        device = self._devices.get(device_id)
        if device is not None:
            return device
        missed = self._misses.get(device_id)
        if missed is not None and time.monotonic() - missed < self.miss_ttl:
            return None
        if not _DEVICE_ID.match(device_id):
            return None
        for tenant in self.tenants:
            try:
                row = await self.client.get(
                    device_urn(device_id), context=IOT_CONTEXT, tenant=tenant
                )
            except (NgsiError, HubError) as err:
                if is_not_found(err):
                    continue
                raise
            device = device_from_entity(row, tenant=tenant)
            if device.targets and device.apikey:
                self.put(device)
                return device
        self._misses[device_id] = time.monotonic()
        return None

    def _merge(self, device: Device) -> Device:
        known = self._devices.get(device.device_id)
        if (
            known is not None
            and known.last_seen
            and (device.last_seen is None or known.last_seen > device.last_seen)
        ):
            # This process saw a report the hub has not been told of yet (batch in flight).
            device.last_seen, device.seen_epoch = known.last_seen, known.seen_epoch
        return device
