"""Device topics from the MQTT broker, handed to an asyncio callback.

paho-mqtt runs its network loop in its own thread. Messages go into a deque there and one
wake-up per burst (not per message) schedules a drain on the event loop, so ten thousand
messages a second cost ten thousand appends, not ten thousand loop wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["DEVICE_TOPIC", "MqttListener"]

log = logging.getLogger("smartseoul.iot")
DEVICE_TOPIC = "smartseoul/+/+/attrs"
# Messages handled per loop turn: a long burst must not starve HTTP requests.
_DRAIN_CHUNK = 500

Feed = Callable[[str, bytes, float], None]


class MqttListener:
    """Subscribe to device topics on ``mqtt://[user[:password]@]host[:port]`` and feed them.

    Parameters
    ----------
    feed
        Called on the event loop with (topic, payload, receive time in epoch seconds).
    url
        The broker; ``mqtts://`` uses TLS.
    shared_group
        An MQTT shared-subscription group (``$share/{group}/...``): workers in one group
        each get a share of the messages instead of all of them.
    qos
        Subscription QoS; 1 makes the broker redeliver what a dropped connection lost.
    """

    def __init__(
        self,
        feed: Feed,
        url: str,
        *,
        topic: str = DEVICE_TOPIC,
        shared_group: str | None = None,
        qos: int = 1,
    ):
        self.feed, self.url, self.qos = feed, url, qos
        self.topic = f"$share/{shared_group}/{topic}" if shared_group else topic
        self._inbox: deque[tuple[str, bytes, float]] = deque()
        self._scheduled = False
        self._lock = threading.Lock()
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, *, timeout: float = 10.0) -> None:
        """Connect and subscribe; raises if the broker cannot be reached in ``timeout``."""
        import paho.mqtt.client as mqtt

        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        host, port = parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)
        loop = self._loop = asyncio.get_running_loop()
        subscribed: asyncio.Future[None] = loop.create_future()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if tls:
            client.tls_set()

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if getattr(reason, "is_failure", False):
                log.warning("MQTT connection to %s refused: %s", self.url, reason)
                return
            # Subscribing here (not once) restores the subscription after a reconnect.
            c.subscribe(self.topic, qos=self.qos)

        def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            loop.call_soon_threadsafe(_settle, subscribed)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = self._on_message
        await asyncio.to_thread(client.connect, host, port, 30)
        client.loop_start()
        self._client = client
        try:
            await asyncio.wait_for(subscribed, timeout)
        except BaseException:
            await self.stop()
            raise
        log.info("IoT agent listening on %s topic %s", self.url, self.topic)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_stop, client)
        # All of it, not one chunk: paho acknowledged these (QoS 1), the broker won't resend.
        while self._inbox:
            self._drain()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        # paho's thread: queue and wake the loop once per burst.
        self._inbox.append((message.topic, message.payload, time.time()))
        with self._lock:
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        for _ in range(_DRAIN_CHUNK):
            try:
                topic, payload, received = self._inbox.popleft()
            except IndexError:
                return
            try:
                self.feed(topic, payload, received)
            except Exception:  # one bad message must not stop the rest
                log.exception("IoT message on %s failed", topic)
        with self._lock:
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon(self._drain)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _stop(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
        client.loop_stop()
