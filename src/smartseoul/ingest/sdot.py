"""The S-DoT device profile: Seoul's roadside sensor, provisioned in one call.

S-DoT (Smart Seoul Data of Things) is Seoul's network of about 1,100 roadside sensors. Each
reports every 2 minutes: temperature, humidity, illuminance, UV, noise, vibration, wind
direction, wind speed, PM10, PM2.5 and a visitor count (Wi-Fi probe counting).

The readings go to two target entities so each lands where city tools look for it:
weather-like readings to an ``EnvironmentObserved``, particulates to an
``AirQualityObserved`` (the type of the official air stations, so the air-quality service
sees S-DoT next to them). Attribute names follow Smart Data Models where one exists; units
are UN/CEFACT common codes. ``docs/iot.md`` gives the table and the reasons.
"""

from __future__ import annotations

from typing import Any

from smartseoul.ingest.devices import MAIN, Device, Measure, Target

__all__ = ["SDOT_INTERVAL", "SDOT_MEASURES", "SDOT_PROFILE", "sdot_device"]

SDOT_PROFILE = "sdot"
SDOT_INTERVAL = 120.0
AIR = "air"

SDOT_MEASURES: dict[str, Measure] = {
    "t": Measure("temperature", "Number", "CEL"),  # degree Celsius
    # S-DoT reports percent; Smart Data Models suggests a 0..1 ratio, but P1 states the unit.
    "h": Measure("relativeHumidity", "Number", "P1"),
    "l": Measure("illuminance", "Number", "LUX"),
    "uv": Measure("uvIndex", "Number", "C62"),  # the UV index is a pure number (C62 = one)
    "n": Measure("LAeq", "Number", "2N"),  # decibel
    # The source does not state the vibration unit; no unitCode rather than a guessed one.
    "v": Measure("vibration", "Number", None),
    "wd": Measure("windDirection", "Number", "DD"),  # degree (angle)
    "ws": Measure("windSpeed", "Number", "MTS"),  # metre per second
    "pm10": Measure("pm10", "Number", "GQ", AIR),  # microgram per cubic metre
    "pm25": Measure("pm25", "Number", "GQ", AIR),
    "vc": Measure("peopleCount", "Integer", "C62"),
}
"""Short name -> target attribute, value type, unit code and target role."""


def sdot_device(
    device_id: str,
    apikey: str,
    *,
    tenant: str = "",
    location: dict[str, Any] | None = None,
    name: str | None = None,
    interval: float = SDOT_INTERVAL,
    silence_after: int = 3,
) -> Device:
    """An S-DoT device feeding ``EnvironmentObserved`` and ``AirQualityObserved`` targets.

    Parameters
    ----------
    device_id
        The sensor serial, e.g. ``V02Q1940043``; targets are
        ``urn:ngsi-ld:EnvironmentObserved:sdot:{device_id}`` and
        ``urn:ngsi-ld:AirQualityObserved:sdot:{device_id}``.
    location
        GeoJSON geometry (WGS84), copied to both targets at provisioning.

    Examples
    --------
    >>> device = sdot_device("V02Q1940043", "seoul")
    >>> device.targets["air"].id, device.measures["pm25"].unit_code
    ('urn:ngsi-ld:AirQualityObserved:sdot:V02Q1940043', 'GQ')
    """
    return Device(
        device_id=device_id,
        apikey=apikey,
        targets={
            MAIN: Target(
                f"urn:ngsi-ld:EnvironmentObserved:sdot:{device_id}", "EnvironmentObserved"
            ),
            AIR: Target(f"urn:ngsi-ld:AirQualityObserved:sdot:{device_id}", "AirQualityObserved"),
        },
        measures=dict(SDOT_MEASURES),
        tenant=tenant,
        profile=SDOT_PROFILE,
        name=name,
        interval=interval,
        silence_after=silence_after,
        location=location,
    )
