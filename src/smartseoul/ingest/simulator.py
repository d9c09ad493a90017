"""The demo city's S-DoT network: simulated roadside sensors in the 25 gu, reporting live.

:func:`sdot_fleet` places sensors inside each gu's boundary and gives each the gu's real
particulate level (the mean of the last 30 days at the gu's air station in the shipped
2019 file). :func:`sdot_reading` is pure: plausible readings for a sensor at a moment,
with the daily cycles of the real network (cool dawns and warm afternoons, daylight for
illuminance and UV, traffic peaks for noise and vibration, foot traffic for the visitor
count, a morning particulate peak). :class:`SdotSimulator` provisions the sensors through
the IoT agent (the ``sdot`` profile, so they are ordinary Device entities) and sends their
readings the way real devices do, over MQTT (:class:`MqttTransport`) or, without a
broker, ``POST /iot/{apikey}/{device_id}/attrs`` (:class:`HttpTransport`).

:func:`attach_simulator` runs it inside an app's lifespan: that is what ``smartseoul demo``
does, so the demo city changes while you watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from smartseoul.ingest.devices import Device
from smartseoul.ingest.sdot import sdot_device

__all__ = [
    "DEFAULT_MQTT_URL",
    "SIM_APIKEY",
    "HttpTransport",
    "MqttTransport",
    "SdotSimulator",
    "SimulatedSensor",
    "attach_simulator",
    "mqtt_reachable",
    "sdot_fleet",
    "sdot_reading",
]

log = logging.getLogger("smartseoul.simulator")
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
SIM_APIKEY = "sdot-sim"
_KST = timezone(timedelta(hours=9))
# Seoul's monthly mean temperature (°C) and relative humidity (%), 1991-2020 normals
# (KMA), rounded; and the clear-sky noon UV index by month.
_MONTH_TEMP = (-1.9, 0.7, 6.1, 12.6, 18.2, 22.7, 25.3, 26.1, 21.6, 14.9, 7.5, 0.2)
_MONTH_HUMIDITY = (56, 55, 57, 57, 62, 68, 78, 75, 69, 64, 62, 58)
_MONTH_UV = (2, 3, 5, 7, 8, 9, 9, 8, 7, 5, 3, 2)
# Seoul-wide 2019 means, used when a gu has no station data.
_CITY_PM = (42.0, 25.0)


@dataclass(frozen=True, slots=True)
class SimulatedSensor:
    """A simulated S-DoT sensor: id, gu, position and the gu's typical PM10/PM2.5 (µg/m³)."""

    device_id: str
    gu_code: str
    lon: float
    lat: float
    pm10: float
    pm25: float
    # Per-sensor offsets: a street canyon runs warmer and louder than a park.
    warmth: float = 0.0
    loudness: float = 0.0


def sdot_fleet(per_gu: int = 2, *, seed: int = 7) -> list[SimulatedSensor]:
    """``per_gu`` sensors in each of the 25 gu, at reproducible points inside its boundary."""
    from shapely.geometry import Point

    from smartseoul.datasets.boundaries import read_districts

    rng = random.Random(seed)
    levels = _gu_air_levels()
    sensors = []
    for district in read_districts():
        west, south, east, north = district.shape.bounds
        for n in range(per_gu):
            lon, lat = district.representative_point
            for _ in range(50):  # rejection sampling: keep the first point inside the gu
                x, y = rng.uniform(west, east), rng.uniform(south, north)
                if district.shape.contains(Point(x, y)):
                    lon, lat = x, y
                    break
            pm10, pm25 = levels.get(district.code, _CITY_PM)
            sensors.append(
                SimulatedSensor(
                    device_id=f"SIM{district.code}{n + 1:02d}",
                    gu_code=district.code,
                    lon=round(lon, 6),
                    lat=round(lat, 6),
                    pm10=pm10,
                    pm25=pm25,
                    warmth=round(rng.uniform(-0.8, 1.2), 2),
                    loudness=round(rng.uniform(-4, 4), 1),
                )
            )
    return sensors


def _gu_air_levels(days: int = 30) -> dict[str, tuple[float, float]]:
    """Mean PM10 and PM2.5 of the last ``days`` days at each gu's own station."""
    from smartseoul.datasets import shipped_file
    from smartseoul.datasets.air import read_daily_by_station
    from smartseoul.datasets.boundaries import GU
    from smartseoul.ingest.demo_city import DEMO_AIR_FILE

    codes = {gu.name_ko: gu.code for gu in GU}
    records = [r for r in read_daily_by_station(shipped_file(DEMO_AIR_FILE)) if r.station in codes]
    if not records:
        return {}
    last = max(r.date for r in records)
    sums: dict[str, list[float]] = {}
    for r in records:
        if (last - r.date).days < days and r.pm10 is not None and r.pm25 is not None:
            acc = sums.setdefault(codes[r.station], [0.0, 0.0, 0.0])
            acc[0] += r.pm10
            acc[1] += r.pm25
            acc[2] += 1
    return {code: (round(a / n, 1), round(b / n, 1)) for code, (a, b, n) in sums.items() if n}


def sdot_reading(sensor: SimulatedSensor, moment: float, rng: random.Random) -> dict[str, Any]:
    """Plausible S-DoT readings (short names of the ``sdot`` profile) at epoch ``moment``.

    Examples
    --------
    >>> from datetime import UTC
    >>> sensor = SimulatedSensor("S1", "11110", 126.98, 37.57, pm10=40.0, pm25=24.0)
    >>> noon = datetime(2026, 7, 1, 3, tzinfo=UTC).timestamp()  # 12:00 KST
    >>> night = datetime(2026, 7, 1, 18, tzinfo=UTC).timestamp()  # 03:00 KST
    >>> day = sdot_reading(sensor, noon, random.Random(1))
    >>> dark = sdot_reading(sensor, night, random.Random(1))
    >>> day["t"] > dark["t"], day["l"] > 10_000 > dark["l"], dark["uv"], day["vc"] > dark["vc"]
    (True, True, 0.0, True)
    """
    local = datetime.fromtimestamp(moment, _KST)
    hour = local.hour + local.minute / 60 + local.second / 3600
    month = local.month - 1
    weekend = local.weekday() >= 5
    # Warmest about 15:00, coolest about 05:00; humidity runs the other way.
    cycle = math.cos(2 * math.pi * (hour - 15) / 24)
    temperature = _MONTH_TEMP[month] + 4.0 * cycle + sensor.warmth + rng.gauss(0, 0.3)
    humidity = _MONTH_HUMIDITY[month] - 12 * cycle + rng.gauss(0, 2)
    sun = _daylight(hour, month)
    clouds = 0.55 + 0.45 * rng.random()
    # Roadside sensors see street lighting at night.
    illuminance = 90_000 * sun**1.3 * clouds + 15 + rng.uniform(0, 10)
    uv = _MONTH_UV[month] * sun**2 * clouds
    traffic = _traffic(hour, weekend)
    noise = 50 + 18 * traffic + sensor.loudness + rng.gauss(0, 1.5)
    vibration = 0.01 + 0.12 * traffic * (0.7 + 0.6 * rng.random())
    # The monsoon brings south-westerlies in summer; north-westerlies rule the rest of the year.
    prevailing = 225 if 5 <= month <= 7 else 315
    wind_direction = (prevailing + 50 * math.sin(moment / 5400 + sensor.lon * 50)) % 360
    wind_speed = 1.2 + 1.6 * max(0.0, cycle) + abs(rng.gauss(0, 0.6))
    # Particulates: a morning rush-hour peak around the gu's real monthly level.
    smog = (1 + 0.25 * math.cos(2 * math.pi * (hour - 9) / 24)) * rng.lognormvariate(0, 0.12)
    people = 8 + 260 * _footfall(hour, weekend)
    return {
        "t": round(temperature, 1),
        "h": round(min(100.0, max(10.0, humidity)), 1),
        "l": round(illuminance),
        "uv": round(uv, 1),
        "n": round(noise, 1),
        "v": round(vibration, 3),
        "wd": round(wind_direction),
        "ws": round(wind_speed, 1),
        "pm10": round(sensor.pm10 * smog, 1),
        "pm25": round(sensor.pm25 * smog, 1),
        "vc": max(0, round(people * (0.8 + 0.4 * rng.random()))),
    }


def _daylight(hour: float, month: int) -> float:
    """Sun height as 0..1: zero at night, 1 at solar noon (about 12:30 KST in Seoul)."""
    # Day length in Seoul: about 9.6 h at the winter solstice, 14.8 h at the summer one.
    length = 12.2 - 2.6 * math.cos(2 * math.pi * (month + 0.5) / 12)
    x = (hour - 12.5) / (length / 2)
    return math.cos(x * math.pi / 2) if abs(x) < 1 else 0.0


def _traffic(hour: float, weekend: bool) -> float:
    """Road traffic as 0..1: low at night, morning and evening rush peaks on weekdays."""
    day = _bump(hour, 14, 6.5)
    if weekend:
        return 0.15 + 0.7 * day
    return min(1.0, 0.15 + 0.5 * day + 0.35 * (_bump(hour, 8, 1.2) + _bump(hour, 18.5, 1.5)))


def _footfall(hour: float, weekend: bool) -> float:
    """People passing as 0..1: lunch and evening peaks, later and broader at weekends."""
    if weekend:
        return min(1.0, 0.1 + 0.9 * _bump(hour, 15, 4))
    return min(
        1.0,
        0.05 + 0.5 * _bump(hour, 12.5, 1.2) + 0.7 * _bump(hour, 19, 2) + 0.3 * _bump(hour, 8.5, 1),
    )


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


# -- transports -------------------------------------------------------------------------


class Transport(Protocol):
    """How simulated devices send a message: the way real devices would."""

    name: str

    async def start(self) -> None: ...

    async def send(self, apikey: str, device_id: str, payload: bytes) -> None: ...

    async def close(self) -> None: ...


def mqtt_reachable(url: str, *, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to the broker of ``mqtt[s]://host[:port]`` succeeds."""
    parts = urlsplit(url)
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout).close()
    except OSError:
        return False
    return True


class MqttTransport:
    """Publishes to ``{topic_prefix}/{apikey}/{device_id}/attrs`` on an MQTT broker."""

    name = "MQTT"

    def __init__(self, url: str, *, topic_prefix: str = "smartseoul", qos: int = 1):
        self.url, self.topic_prefix, self.qos = url, topic_prefix, qos
        self._client: Any = None

    async def start(self) -> None:
        import paho.mqtt.client as mqtt

        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if parts.username:
            client.username_pw_set(parts.username, parts.password or "")
        if tls:
            client.tls_set()
        port = parts.port or (8883 if tls else 1883)
        await asyncio.to_thread(client.connect, parts.hostname or "127.0.0.1", port, 30)
        client.loop_start()
        self._client = client

    async def send(self, apikey: str, device_id: str, payload: bytes) -> None:
        if self._client is not None:
            self._client.publish(
                f"{self.topic_prefix}/{apikey}/{device_id}/attrs", payload, self.qos
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:

            def stop() -> None:
                client.disconnect()
                client.loop_stop()

            await asyncio.to_thread(stop)


class HttpTransport:
    """Posts to ``{base_url}/iot/{apikey}/{device_id}/attrs``; waits for the hub to answer."""

    name = "HTTP"

    def __init__(self, base_url: str, *, ready_timeout: float = 30.0):
        self.base_url, self.ready_timeout = base_url.rstrip("/"), ready_timeout
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=10.0)

    async def ready(self) -> None:
        """Wait until the server answers (in a lifespan it starts listening after us)."""
        assert self._http is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if (await self._http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no hub answering at {self.base_url}")
            await asyncio.sleep(0.1)

    async def send(self, apikey: str, device_id: str, payload: bytes) -> None:
        assert self._http is not None
        response = await self._http.post(
            f"/iot/{apikey}/{device_id}/attrs",
            content=payload,
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            log.warning(
                "simulated %s refused: %s %s", device_id, response.status_code, response.text
            )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


# -- the simulator ----------------------------------------------------------------------


class SdotSimulator:
    """Provisions simulated S-DoT sensors and sends their readings every ``interval`` s.

    Parameters
    ----------
    agent
        The IoT agent that provisions the devices (anything with ``async provision(devices)``).
    transport
        :class:`MqttTransport` or :class:`HttpTransport`.
    sensors
        The fleet (:func:`sdot_fleet`).
    interval
        Seconds between two reports of one sensor; reports are spread over the interval so
        the city changes continuously, not in bursts.
    """

    def __init__(
        self,
        agent: Any,
        transport: Transport,
        sensors: list[SimulatedSensor],
        *,
        interval: float = 10.0,
        apikey: str = SIM_APIKEY,
        tenant: str = "",
        seed: int = 1,
    ):
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.agent, self.transport, self.sensors = agent, transport, sensors
        self.interval, self.apikey, self.tenant = interval, apikey, tenant
        self.rng = random.Random(seed)
        self.sent = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    def devices(self) -> list[Device]:
        """The sensors as S-DoT Device provisionings (expected interval = ours)."""
        return [
            sdot_device(
                s.device_id,
                self.apikey,
                tenant=self.tenant,
                location={"type": "Point", "coordinates": [s.lon, s.lat]},
                name=f"Simulated S-DoT {s.device_id}",
                interval=self.interval,
            )
            for s in self.sensors
        ]

    async def start(self) -> None:
        """Provision the sensors, open the transport, start reporting in the background."""
        await self.agent.provision(self.devices())
        await self.transport.start()
        self._task = asyncio.create_task(self._run(), name="sdot-simulator")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.transport.close()

    async def report(self, sensor: SimulatedSensor, moment: float | None = None) -> None:
        """Send one reading of ``sensor`` stamped ``moment`` (default: now)."""
        moment = time.time() if moment is None else moment
        body = sdot_reading(sensor, moment, self.rng)
        body["ts"] = round(moment * 1000)  # epoch milliseconds: the observation time
        try:
            await self.transport.send(self.apikey, sensor.device_id, orjson.dumps(body))
            self.sent += 1
        except Exception as err:  # a hiccup of the transport must not stop the city
            self.failed += 1
            log.warning("simulated %s not sent: %s", sensor.device_id, err)

    async def _run(self) -> None:
        ready = getattr(self.transport, "ready", None)
        if ready is not None:
            await ready()
        step = self.interval / max(1, len(self.sensors))
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            for i, sensor in enumerate(self.sensors):
                delay = start + i * step - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.report(sensor)
            start += self.interval
            # A round that ran late (a busy hub) starts the next one now, not in a burst.
            start = max(start, loop.time())


def attach_simulator(
    app: Any,
    *,
    interval: float = 10.0,
    per_gu: int = 2,
    mqtt_url: str | None = None,
    base_url: str | None = None,
) -> None:
    """Run an :class:`SdotSimulator` inside ``app``'s lifespan, after the hub has started.

    With ``mqtt_url`` the sensors publish there (the app's IoT agent must listen on the same
    broker); otherwise they post to ``base_url`` (the app's own address). The simulator
    stops before the hub does.
    """
    inner = app.router.lifespan_context
    sensors = sdot_fleet(per_gu)

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            transport: Transport
            if mqtt_url:
                transport = MqttTransport(mqtt_url)
            else:
                transport = HttpTransport(base_url or a.state.settings.public_base_url)
            simulator = SdotSimulator(a.state.iot_agent, transport, sensors, interval=interval)
            await simulator.start()
            a.state.simulator = simulator
            try:
                yield state
            finally:
                await simulator.stop()

    app.router.lifespan_context = lifespan
