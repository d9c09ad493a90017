"""Device topics from the MQTT broker, handed to an asyncio callback.

paho-mqtt runs its network loop in its own thread. Messages go into a deque there and one
wake-up per burst (not per message) schedules a drain on the event loop, so ten thousand
messages a second cost ten thousand appends, not ten thousand loop wake-ups.

Acknowledgement: each message comes with a ``done`` callback, and its PUBACK goes to the
broker only once ``done`` is called (the agent calls it once the readings are written or
refused), in the order the messages came (MQTT 5 clause 4.6). With a session that outlives
the connection (``client_id`` and ``session_expiry``), a process killed with messages
received but not written gets them again when it reconnects under the same client id, with
what was published to it meanwhile (MQTT 5 clause 4.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

__all__ = ["DEVICE_TOPIC", "MqttListener", "claim_session"]

log = logging.getLogger("smartseoul.iot")
DEVICE_TOPIC = "smartseoul/+/+/attrs"
# Messages handled per loop turn: a long burst must not starve HTTP requests.
_DRAIN_CHUNK = 500

# Largest number of messages the broker may send before their PUBACKs (MQTT 5 Receive
# Maximum): acknowledgements wait for a batch write, so the default of Mosquitto (20 in
# flight) would cap ingestion at a few hundred messages per second.
RECEIVE_MAXIMUM = 65535

Done = Callable[[], None]
Feed = Callable[[str, bytes, float, Done], None]


def _nothing() -> None:
    return None


@dataclass(slots=True)
class _Unacked:
    """A received QoS 1/2 message whose PUBACK waits for ``done``."""

    mid: int
    qos: int
    connection: int  # the connection it came on: a packet id means nothing on the next one
    handled: bool = False


def claim_session(directory: Path, identity: str) -> tuple[str, IO[str]]:
    """A client id that is the same each time this worker starts and differs between the
    workers running now, so that a restarted worker takes up its session.

    Worker processes of one server take the first free slot, each holding a lock file in
    ``directory`` while they run (the kernel frees it when a process dies, even killed).
    ``identity`` (the store's location) and the host name tell servers apart.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{socket.gethostname()}\0{identity}".encode()).hexdigest()[:12]
    for slot in range(1024):
        handle = open(directory / f"mqtt-session-{slot}.lock", "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return f"smartseoul-iot-{digest}-{slot}", handle
    raise RuntimeError(f"no free MQTT session slot in {directory}")


class MqttListener:
    """Subscribe to device topics on ``mqtt://[user[:password]@]host[:port]`` and feed them.

    Parameters
    ----------
    feed
        Called on the event loop with (topic, payload, receive time in epoch seconds, done);
        the message is acknowledged to the broker once ``done`` has been called.
    url
        The broker; ``mqtts://`` uses TLS.
    shared_group
        An MQTT shared-subscription group (``$share/{group}/...``): workers in one group
        each get a share of the messages instead of all of them.
    qos
        Subscription QoS; 1 makes the broker redeliver what a dropped connection lost.
    client_id, session_expiry
        With a client id and a positive expiry (seconds), the session outlives the
        connection: messages not yet acknowledged, and those published while the process
        is gone, come again when a process reconnects under the same id within the expiry.
        :meth:`stop` ends the session. Without them, the session ends with the connection.
    """

    def __init__(
        self,
        feed: Feed,
        url: str,
        *,
        topic: str = DEVICE_TOPIC,
        shared_group: str | None = None,
        qos: int = 1,
        client_id: str | None = None,
        session_expiry: int = 0,
    ):
        self.feed, self.url, self.qos = feed, url, qos
        self.topic = f"$share/{shared_group}/{topic}" if shared_group else topic
        self.client_id = client_id or ""
        self.session_expiry = session_expiry if client_id else 0
        self.session_present = False  # the broker kept a session for this client id
        self._inbox: deque[tuple[str, bytes, float, Done]] = deque()
        self._unacked: deque[_Unacked] = deque()
        self._connection = 0
        self._scheduled = False
        self._closed = False  # unsubscribed: nothing more is fed
        self._lock = threading.Lock()
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, *, timeout: float = 10.0) -> None:
        """Connect and subscribe; raises if the broker cannot be reached in ``timeout``."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        host, port = parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)
        loop = self._loop = asyncio.get_running_loop()
        subscribed: asyncio.Future[None] = loop.create_future()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if tls:
            client.tls_set()

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if getattr(reason, "is_failure", False):
                log.warning("MQTT connection to %s refused: %s", self.url, reason)
                return
            with self._lock:
                self._connection += 1
            self.session_present = bool(getattr(flags, "session_present", False))
            # Subscribing here (not once) restores the subscription after a reconnect.
            c.subscribe(self.topic, qos=self.qos)

        def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            loop.call_soon_threadsafe(_settle, subscribed)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = self._on_message
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = self.session_expiry
        connect.ReceiveMaximum = RECEIVE_MAXIMUM
        # clean_start=False takes up the session a killed process left (MQTT 5 3.1.2.4).
        await asyncio.to_thread(
            client.connect, host, port, 30,
            clean_start=self.session_expiry == 0, properties=connect,
        )  # fmt: skip
        client.loop_start()
        self._client = client
        try:
            await asyncio.wait_for(subscribed, timeout)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "IoT agent listening on %s topic %s%s", self.url, self.topic,
            " (session taken up)" if self.session_present else "",
        )  # fmt: skip

    async def unsubscribe(self, *, timeout: float = 10.0) -> None:
        """Stop taking messages and feed all those received.

        After the broker's UNSUBACK nothing more is routed here; what it sent before is
        in the inbox by then (one connection keeps its order) and is fed now. A message
        that still arrives is left unacknowledged (the session, if kept, has it again).
        """
        client, loop = self._client, self._loop
        if client is not None and loop is not None and not self._closed:
            done: asyncio.Future[None] = loop.create_future()
            client.on_unsubscribe = lambda *args: loop.call_soon_threadsafe(_settle, done)
            client.unsubscribe(self.topic)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, timeout)
        with self._lock:
            self._closed = True
        while self._inbox:
            self._drain()

    async def stop(self) -> None:
        """Feed what was received, then disconnect and end the session.

        Call ``done`` for what was fed before (the agent writes first): PUBACKs sent
        after the disconnect are lost and the session with them.
        """
        await self.unsubscribe()
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(_stop, client)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        # paho's thread: queue and wake the loop once per burst.
        done: Done = _nothing
        with self._lock:
            if self._closed:
                return  # not acknowledged: the broker keeps it for the session
            if message.qos > 0:
                unacked = _Unacked(message.mid, message.qos, self._connection)
                self._unacked.append(unacked)
                done = lambda: self._handled(unacked)  # noqa: E731
            self._inbox.append((message.topic, message.payload, time.time(), done))
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _handled(self, unacked: _Unacked) -> None:
        """A message is handled: acknowledge it and every handled one before it, in order."""
        unacked.handled = True
        ready: list[_Unacked] = []
        with self._lock:
            while self._unacked and self._unacked[0].handled:
                ready.append(self._unacked.popleft())
            connection = self._connection
        client = self._client
        if client is None:
            return
        for item in ready:
            # A packet id of an earlier connection may name another message on this one;
            # the broker sends that message again instead.
            if item.connection == connection:
                client.ack(item.mid, item.qos)

    def _drain(self) -> None:
        with self._lock:
            self._scheduled = False
        for _ in range(_DRAIN_CHUNK):
            try:
                topic, payload, received, done = self._inbox.popleft()
            except IndexError:
                return
            try:
                self.feed(topic, payload, received, done)
            except Exception:  # one bad message must not stop the rest
                log.exception("IoT message on %s failed", topic)
                done()
        with self._lock:
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
        self._loop.call_soon(self._drain)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _stop(client: Any) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    # Queued behind the PUBACKs already given to paho, so they reach the broker first;
    # an expiry of 0 ends the session (MQTT 5 3.14.2.2.2).
    end = Properties(PacketTypes.DISCONNECT)
    end.SessionExpiryInterval = 0
    with contextlib.suppress(Exception):
        client.disconnect(properties=end)
        client.loop_stop()
