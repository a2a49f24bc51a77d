"""ecallmgr's hot path: FreeSWITCH events in, bus messages out.

::

    publisher = EventPublisher(bus)
    await publisher.handle("fs1", event.headers)   # for every event of node fs1, in order
    await publisher.close()                        # waits for the CDRs still being confirmed

* channel events -> ``call_event`` on ``callevt`` as ``call.<Event-Name>.<Call-ID>``, without confirms
  (awaited inline: the order of one node's events is kept);
* CHANNEL_HANGUP_COMPLETE -> ``cdr`` on ``callevt`` as ``cdr.<Call-ID>`` WITH confirms and persistent (the
  catalogue's ``x-confirm``): the confirm is awaited in a task of this publisher, so the reader of the
  node's socket does not stop for one broker round trip per hangup; at most ``max_pending_cdrs`` are in
  flight (then ``handle`` waits for one to finish: backpressure, nothing dropped);
* CUSTOM sofia::register -> ``registration_success``; sofia::unregister and sofia::expire ->
  ``registration_flush`` (both on ``callmgr``, validated and sent through ``Bus.send``).

A bad event (a translation that raises, an invalid message, a failed publish) is logged with the node's
name and the Call-ID and counted in :attr:`EventPublisher.stats`; the next event goes on.

Validation: with ``validate=True`` (the default) call events go through ``Bus.send`` (catalogue
validation, routing key from the schema). ``validate=False`` skips the schema check on call events only
(the translations are tested against the schemas) and publishes the encoded message straight on the
transport; the benchmark measures both (see ``benchmarks/ecallmgr_events.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecallmgr.cdr_spool import CdrSpool
from ecallmgr.translate import call_event, cdr, registration
from ecallmgr.translate._fields import envelope, seconds
from whistle_common import codec
from whistle_common.api.catalogue import Origin
from whistle_common.bus import Bus, PublishFailed
from whistle_common.routing import escape_word

log = logging.getLogger("ecallmgr.publisher")

CDR_RETRY_FIRST = 0.5  # seconds before the first retry of an unconfirmed CDR; doubles up to CDR_RETRY_MAX
CDR_RETRY_MAX = 30.0

CALL_EVENT_EXCHANGE = "callevt"
REGISTER = "sofia::register"
FLUSHES = {"sofia::unregister": "unregister", "sofia::expire": "expire"}
DEFAULT_MAX_PENDING_CDRS = 1000

# (sofia::unregister / sofia::expire header, registration_flush header), copied when present, not empty.
_FLUSH_COPY: tuple[tuple[str, str], ...] = (
    ("contact", "Contact"),
    ("call-id", "Call-ID"),
    ("network-ip", "Network-IP"),
    ("network-port", "Network-Port"),
    ("profile-name", "Profile-Name"),
    ("user-agent", "User-Agent"),
)


@dataclass
class PublisherStats:
    """What the publisher did since it started (all counters)."""

    events: int = 0  # events handled
    call_events: int = 0  # call_event messages published
    cdrs: int = 0  # cdr messages confirmed by the broker
    registrations: int = 0  # registration_success / registration_flush published
    ignored: int = 0  # events with nothing to publish
    errors: int = 0  # events that could not be translated or published


def registration_flush(
    fs: Mapping[str, str], *, origin: Origin, msg_id: str | None = None
) -> dict[str, Any] | None:
    """The ``registration_flush`` for a sofia::unregister or sofia::expire event, or None (any other event,
    or no realm/username)."""
    get = fs.get
    reason = FLUSHES.get(get("Event-Subclass") or "")
    if reason is None:
        return None
    realm = get("realm") or get("to-host") or get("from-host") or get("host")
    username = get("username") or get("to-user") or get("from-user") or get("user")
    if not realm or not username:
        return None
    timestamp = get("Event-Date-Timestamp")
    message = envelope(
        origin, "directory", "reg_flush", msg_id or f"{timestamp or '0'}-{get('Event-Sequence') or '0'}"
    )
    message["Realm"] = realm
    message["Username"] = username
    message["Reason"] = reason
    if (when := seconds(timestamp)) is not None:
        message["Event-Timestamp"] = when
    for source, target in _FLUSH_COPY:
        if value := get(source):
            message[target] = value
    return message


class EventPublisher:
    """Translates and publishes the events of every node of this ecallmgr over one ``bus``."""

    def __init__(
        self,
        bus: Bus,
        *,
        validate: bool = True,
        max_pending_cdrs: int = DEFAULT_MAX_PENDING_CDRS,
        spool: CdrSpool | None = None,
    ) -> None:
        self.bus = bus
        self.spool = spool  # CDRs on disk until confirmed (None: in memory only)
        self.origin = bus.origin
        self.validate = validate
        self.max_pending_cdrs = max(1, max_pending_cdrs)
        self.stats = PublisherStats()
        self._cdr_tasks: set[asyncio.Task[None]] = set()
        self._cdr_slot: asyncio.Future[None] | None = None  # resolved when a CDR in flight ends
        self._closed = False

    async def handle(self, node: str, fs: Mapping[str, str]) -> None:
        """Publish what event ``fs`` (headers, values decoded) of node ``node`` becomes. Never raises
        (except CancelledError)."""
        self.stats.events += 1
        try:
            name = fs.get("Event-Name")
            if name == "CHANNEL_HANGUP_COMPLETE":
                await self._cdr(node, fs)
                return
            if name == "CUSTOM":
                subclass = fs.get("Event-Subclass")
                if subclass == REGISTER or subclass in FLUSHES:
                    await self._registration(node, fs, subclass)
                    return
            message = call_event(fs, origin=self.origin)
            if message is None:
                self.stats.ignored += 1
                return
            if self.validate:
                await self.bus.send(message, confirm=False)
            else:
                bus = self.bus
                await bus.transport.publish(
                    CALL_EVENT_EXCHANGE,
                    f"call.{message['Event-Name']}.{escape_word(message['Call-ID'])}",
                    codec.encode(message, bus.content_type),
                    content_type=bus.content_type,
                )
            self.stats.call_events += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed(node, fs, "event")

    def _failed(self, node: str, fs: Mapping[str, str] | Any, what: str) -> None:
        self.stats.errors += 1
        call_id = name = None
        if isinstance(fs, Mapping):
            call_id = fs.get("Unique-ID") or fs.get("Call-ID") or fs.get("call-id")
            name = fs.get("Event-Subclass") or fs.get("Event-Name")
        log.exception(
            "node %s: could not publish the %s of %s (Call-ID %s); skipped",
            node,
            what,
            name,
            call_id,
            extra={"call_id": call_id, "node": node},
        )

    async def _registration(self, node: str, fs: Mapping[str, str], subclass: str | None) -> None:
        if subclass == REGISTER:
            message = registration(fs, origin=self.origin)
        else:
            message = registration_flush(fs, origin=self.origin)
        if message is None:
            log.warning(
                "node %s: %s without contact, realm, username or expires; not published", node, subclass
            )
            self.stats.ignored += 1
            return
        await self.bus.send(message)
        self.stats.registrations += 1

    async def _cdr(self, node: str, fs: Mapping[str, str]) -> None:
        message = cdr(fs, origin=self.origin)
        self.bus.catalogue.validate(message)  # an invalid CDR is reported now, with this event
        loop = asyncio.get_running_loop()
        while len(self._cdr_tasks) >= self.max_pending_cdrs:
            # One future woken by whichever CDR ends first: asyncio.wait on the whole set would add and
            # remove a callback on each of up to max_pending_cdrs tasks, per CDR.
            if self._cdr_slot is None or self._cdr_slot.done():
                self._cdr_slot = loop.create_future()
            await asyncio.shield(self._cdr_slot)
        self._start_cdr(node, message, None)

    def _start_cdr(self, node: str, message: dict[str, Any], kept: Path | None) -> None:
        """Send ``message`` in a task of its own (written to the spool first, unless ``kept`` already)."""
        task = asyncio.get_running_loop().create_task(
            self._send_cdr(node, message, kept), name=f"cdr-{message['Call-ID']}"
        )
        self._cdr_tasks.add(task)
        task.add_done_callback(self._cdr_done)

    def replay_spool(self) -> int:
        """Publish again the CDRs a previous run left in the spool (before any new one); how many."""
        if self.spool is None:
            return 0
        kept = self.spool.kept()
        for path, message in kept:
            log.warning("CDR of %s from the spool: publishing it again", message["Call-ID"],
                        extra={"call_id": message["Call-ID"]})  # fmt: skip
            self._start_cdr("spool", message, path)
        return len(kept)

    def _cdr_done(self, task: asyncio.Task[None]) -> None:
        self._cdr_tasks.discard(task)
        if self._cdr_slot is not None and not self._cdr_slot.done():
            self._cdr_slot.set_result(None)

    async def _send_cdr(self, node: str, message: dict[str, Any], kept: Path | None) -> None:
        """Publish until the broker confirms: a CDR is billing, so an outage delays it, never drops it.

        The spool write happens here, not on the node's event reader: its fsync would hold up every
        other event of the node. A spool that cannot be written (disk full...) is logged and the CDR
        is still published from memory."""
        if kept is None and self.spool is not None:
            try:
                kept = await self.spool.keep(message)
            except OSError as error:
                log.error("CDR of %s not spooled (%s): publishing it from memory only", message["Call-ID"],
                          error, extra={"call_id": message["Call-ID"]})  # fmt: skip
        delay = CDR_RETRY_FIRST
        while True:
            try:
                await self.bus.send(message)  # x-confirm: confirmed and persistent
                self.stats.cdrs += 1
                if kept is not None and self.spool is not None:
                    await self.spool.done(kept)
                return
            except asyncio.CancelledError:
                log.error(
                    "CDR of %s not confirmed before shutdown%s",
                    message["Call-ID"],
                    "; it stays in the spool for the next start" if kept is not None else "",
                    extra={"call_id": message["Call-ID"]},
                )
                raise
            except PublishFailed as exc:
                log.warning(
                    "CDR of %s not confirmed (%s); retrying in %.1fs",
                    message["Call-ID"],
                    exc,
                    delay,
                    extra={"call_id": message["Call-ID"], "node": node},
                )
                await asyncio.sleep(delay)  # back-off while the broker is away
                delay = min(delay * 2, CDR_RETRY_MAX)
            except Exception:
                self._failed(node, message, "cdr")
                return

    @property
    def pending_cdrs(self) -> int:
        return len(self._cdr_tasks)

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until every CDR in flight is confirmed (or failed); TimeoutError after ``timeout``."""
        if self._cdr_tasks:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*list(self._cdr_tasks), return_exceptions=True)

    async def close(self, timeout: float = 10.0) -> None:
        """Give the CDRs in flight ``timeout`` seconds to be confirmed, then cancel the rest."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.error("%d CDRs not confirmed at shutdown; cancelled", len(self._cdr_tasks))
        tasks = list(self._cdr_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
