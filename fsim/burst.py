"""Burst mode: the full event lifecycles of many synthetic calls, as fast as the ESL clients read them.

For benchmarks of ecallmgr (or any ESL consumer). Each synthetic call is an inbound SIP-like channel built
by :meth:`Switch.new_inbound_channel` with the variables a real SIP INVITE gives (``sip_*``, SDP, codecs),
registered while it lives (``show channels``, HEARTBEAT's Session-Count, ``uuid_getvar`` see it), and fires
its events through the channel's own ``fire`` (the same header code as real channels)::

    CHANNEL_CREATE, CHANNEL_EXECUTE (answer), CHANNEL_ANSWER, CHANNEL_EXECUTE_COMPLETE (answer),
    CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY

(``states=True`` adds the CHANNEL_STATE and CHANNEL_CALLSTATE events a real call fires in between: 16 a
call). No session task runs: the events come straight one after the other, ``concurrency`` calls at a
time, interleaved round-robin, each call's events in order.

Backpressure: after every event the producer checks the hub's flow-controlled consumers (ESL connections);
when one holds more than ``high_water`` queued messages it waits until that one is down to ``low_water``.
A connection therefore never reaches its 100,000-message limit and loses nothing. The exception is the
connection whose own ``api fsim_burst`` is running: FreeSWITCH holds its events until the command returns,
so it cannot be waited for; use ``bgapi fsim_burst`` there.

Templates (the producer's fast path): firing every event through the channel code costs about 100 µs
and rendering it again 35 µs, more than the ESL clients under test spend reading it. So the channel code
runs the whole lifecycle once per template (``TEMPLATES`` of them: the caller numbers and SIP variables
of calls 0, 1, ... of the burst), its events captured instead of fired; every call then fires
:class:`BurstEvent` copies of its template's events that differ in the call's Unique-ID (wherever the
template's appears), Event-Sequence (from the switch's one counter) and Event-Date-Timestamp (now). Each
format is rendered once per template event and split around those three values, so the wire form of a
burst event is one join; its header list is built only if a listener reads it. The header set of every
event is the channel code's; Application-UUID, the other times and the SIP variables repeat per template.

Python: ``await burst(switch, calls, concurrency)``; ESL: ``api|bgapi fsim_burst <calls> [<concurrency>]``,
which answers ``+OK <events> events\\n`` once every event has been fired.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fsim.channels.cdr import set_timestamps
from fsim.channels.states import CallState, ChannelState, cause_q850
from fsim.events import Event
from fsim.hub import EventHub

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.switch import Switch

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 100
HIGH_WATER = 10_000  # messages queued on one connection before the producer waits (its limit: 100,000)
YIELD_EVERY = 512  # events between two chances for the rest of the loop to run, without backpressure
USAGE = "-USAGE: fsim_burst <calls> [<concurrency>]\n"
EVENTS_PER_CALL = 7
EVENTS_PER_CALL_WITH_STATES = 16
TEMPLATES = 16  # distinct template calls (caller numbers, SIP variables) per burst
# Alphanumeric placeholders: no event format encodes them, so they can be found in any rendering.
_SEQUENCE_MARK = "fsimburstsequencemark"
_TIMESTAMP_MARK = "fsimbursttimestampmark"
_MARKS = {"Event-Sequence": _SEQUENCE_MARK, "Event-Date-Timestamp": _TIMESTAMP_MARK}
_UUID, _SEQUENCE, _TIMESTAMP = 0, 1, 2


@dataclass
class BurstResult:
    """What a burst did: ``events`` fired for ``calls`` calls in ``seconds`` (real time)."""

    calls: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


async def burst(
    switch: Switch,
    calls: int,
    concurrency: int = DEFAULT_CONCURRENCY,
    *,
    high_water: int | None = None,
    low_water: int | None = None,
    states: bool = False,
    destination: str = "burst",
) -> BurstResult:
    """Fire the lifecycles of ``calls`` synthetic calls, ``concurrency`` at a time, with backpressure.

    ``high_water`` (default :data:`HIGH_WATER`) and ``low_water`` (default half of it): see the module
    docstring. Raises ValueError for a negative ``calls`` or a ``concurrency`` below 1. Cancelling it
    stops at once: the calls in progress leave the registry without further events.
    """
    high_water = HIGH_WATER if high_water is None else high_water
    if calls < 0 or concurrency < 1 or high_water < 1:
        raise ValueError("a burst needs calls >= 0, concurrency >= 1 and high_water >= 1")
    hub = switch.hub
    started = time.perf_counter()
    fired = created = 0
    live: deque[Iterator[None]] = deque()
    templates: list[list[TemplateEvent]] = []
    try:
        while live or created < calls:
            while len(live) < concurrency and created < calls:
                if len(templates) < TEMPLATES:
                    templates.append(_template(switch, len(templates), destination, states))
                template = templates[created % TEMPLATES]
                live.append(_templated_call(switch, created, destination, template))
                created += 1
            call = live.popleft()
            if next(call, StopIteration) is StopIteration:
                continue
            live.append(call)
            fired += 1
            if hub.backlog() > high_water:
                await hub.drain(high_water, low_water)
            elif fired % YIELD_EVERY == 0:
                await asyncio.sleep(0)
    finally:
        for call in live:
            call.close()
    result = BurstResult(calls, fired, time.perf_counter() - started)
    log.info("fsim burst: %d calls, %d events, %.0f events/s", calls, fired, result.events_per_second)
    return result


def register(switch: Switch) -> None:
    """Add ``fsim_burst <calls> [<concurrency>]`` to ``switch.api``."""

    async def fsim_burst(argument: str) -> str:
        words = argument.split()
        if not 1 <= len(words) <= 2 or not all(word.isdigit() for word in words):
            return USAGE
        concurrency = int(words[1]) if len(words) > 1 else DEFAULT_CONCURRENCY
        if concurrency < 1:
            return USAGE
        result = await burst(switch, int(words[0]), concurrency)
        return f"+OK {result.events} events\n"

    switch.api.register("fsim_burst", fsim_burst)


# -- templates: one lifecycle through the channel code, replayed by every call ---------------------------


class TemplateEvent:
    """One event of a template call, and its renderings split around the per-call values."""

    __slots__ = ("_parts", "_uuid", "first", "headers", "name", "subclass")

    def __init__(self, event: Event, call_uuid: str) -> None:
        self.headers = [(name, _MARKS.get(name, value)) for name, value in event.headers]
        self.name = event.name
        self.subclass = event.subclass
        self._uuid = call_uuid
        self._parts: dict[str, tuple[bytes, list[bytes], list[int]]] = {}
        # The first value of each name (Event.get's answer), for listeners that look up a header or two
        # (fsim's scenario adapter reads Unique-ID of every event) without building the whole list.
        self.first: dict[str, str] = {}
        for name, value in reversed(self.headers):
            self.first[name] = value

    def get(self, name: str, call_uuid: str, sequence: str, timestamp: str) -> str | None:
        """Event.get of one copy (``None`` when absent)."""
        value = self.first.get(name)
        if value is None:
            return None
        if value == _SEQUENCE_MARK:
            return sequence
        if value == _TIMESTAMP_MARK:
            return timestamp
        return value.replace(self._uuid, call_uuid) if self._uuid in value else value

    def headers_for(self, call_uuid: str, sequence: str, timestamp: str) -> list[tuple[str, str]]:
        """The header list of one copy (what a listener reading ``headers`` gets)."""
        old = self._uuid
        values = {_SEQUENCE_MARK: sequence, _TIMESTAMP_MARK: timestamp}
        return [
            (name, values.get(value) or (value.replace(old, call_uuid) if old in value else value))
            for name, value in self.headers
        ]

    def render(self, fmt: str, values: tuple[bytes, bytes, bytes]) -> bytes:
        """The ESL message in ``fmt`` with ``values`` (uuid, sequence, timestamp as bytes) put in."""
        parts = self._parts.get(fmt)
        if parts is None:
            parts = self._parts[fmt] = self._split(fmt)
        content_type, segments, slots = parts
        out = [segments[0]]
        for slot, segment in zip(slots, segments[1:], strict=True):
            out.append(values[slot])
            out.append(segment)
        payload = b"".join(out)
        return b"Content-Length: %d\nContent-Type: %s\n\n%s" % (len(payload), content_type, payload)

    def _split(self, fmt: str) -> tuple[bytes, list[bytes], list[int]]:
        envelope, _, payload = Event(list(self.headers)).render(fmt).partition(b"\n\n")
        content_type = envelope.rpartition(b"Content-Type: ")[2]
        marks = {
            self._uuid.encode(): _UUID,
            _SEQUENCE_MARK.encode(): _SEQUENCE,
            _TIMESTAMP_MARK.encode(): _TIMESTAMP,
        }
        pieces = re.split(b"(" + b"|".join(map(re.escape, marks)) + b")", payload)
        return content_type, pieces[0::2], [marks[mark] for mark in pieces[1::2]]


class BurstEvent(Event):
    """A burst call's copy of a template event: rendered from the template, headers built when read."""

    def __init__(self, template: TemplateEvent, call_uuid: str, sequence: int, timestamp: int) -> None:
        # Event's dataclass __init__ is not called: ``headers`` is a lazy property here.
        self._template = template
        self._values = (call_uuid.encode(), b"%d" % sequence, b"%d" % timestamp)
        self._headers: list[tuple[str, str]] | None = None
        self.body = None

    @property  # type: ignore[override]
    def headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            call_uuid, sequence, timestamp = (value.decode() for value in self._values)
            self._headers = self._template.headers_for(call_uuid, sequence, timestamp)
        return self._headers

    @headers.setter
    def headers(self, value: list[tuple[str, str]]) -> None:
        self._headers = value

    @property
    def name(self) -> str:
        return self._template.name

    @property
    def subclass(self) -> str | None:
        return self._template.subclass

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._headers is not None:
            return super().get(name, default)
        call_uuid, sequence, timestamp = (value.decode() for value in self._values)
        value = self._template.get(name, call_uuid, sequence, timestamp)
        return default if value is None else value

    def render(self, fmt: str) -> bytes:
        if self._headers is not None:  # the headers were read (and may have been changed): use them
            return super().render(fmt)
        return self._template.render(fmt, self._values)


def _template(switch: Switch, index: int, destination: str, states: bool) -> list[TemplateEvent]:
    """The events of call ``index``'s lifecycle through the channel code, captured instead of fired."""
    captured: list[Event] = []
    capture = EventHub()
    capture.subscribe(captured.append)
    real_hub, switch.hub = switch.hub, capture  # no await until restored: nothing else fires meanwhile
    try:
        channel = _new_channel(switch, index, destination)
        for _ in _lifecycle(channel, states):
            pass
    finally:
        switch.hub = real_hub
    return [TemplateEvent(event, channel.uuid) for event in captured]


def _templated_call(
    switch: Switch, index: int, destination: str, template: list[TemplateEvent]
) -> Iterator[None]:
    """Call ``index``: a registered channel while it lives, its template's events with its own values."""
    channel = _new_channel(switch, index, destination, variables=False)
    registry, hub, now_us = switch.channels, switch.hub, switch.clock.now_us
    # The switch's one Event-Sequence counter (EventFactory.make draws from it too): sequences stay
    # strictly increasing across burst events and everything else fsim fires meanwhile.
    sequence = switch.events._sequence
    registry.add(channel)
    try:
        for event in template:
            hub.fire(BurstEvent(event, channel.uuid, next(sequence), now_us()))
            yield
    finally:
        channel.set_state(ChannelState.CS_DESTROY)
        registry.remove(channel)
        channel.hungup_event.set()
        channel.destroyed_event.set()


# -- one synthetic call ------------------------------------------------------------------------------


def _new_channel(switch: Switch, index: int, destination: str, *, variables: bool = True) -> Channel:
    """Call ``index``'s inbound SIP channel, built but not registered. Its SIP variables go in through
    ``set_var`` for a template, and in one dict update for a templated call (about 60 calls fewer; the
    names are new, so the order is the same)."""
    number = str(1000 + index % 9000)
    sip = sip_variables(switch, index, number, destination)
    channel = switch.new_inbound_channel(
        destination,
        caller_id_name=f"Burst {index}",
        caller_id_number=number,
        variables=sip if variables else (),
        uuid=str(uuidlib.uuid4()),
    )
    if not variables:
        channel.variables.update(sip)
    return channel


def _lifecycle(channel: Channel, states: bool) -> Iterator[None]:
    """Fire the events of ``channel``'s lifecycle through the channel code, yielding after each one."""
    try:
        yield from _running(channel, ChannelState.CS_INIT, states)
        channel.set_state(ChannelState.CS_ROUTING)
        channel.fire("CHANNEL_CREATE")
        yield
        yield from _running(channel, ChannelState.CS_ROUTING, states)
        yield from _callstate(channel, CallState.RINGING, states)
        channel.hit_dialplan = True
        yield from _running(channel, ChannelState.CS_EXECUTE, states)
        if channel.ready:
            yield from _answer(channel, states)
        if channel.hangup("NORMAL_CLEARING"):
            yield
        yield from _finish(channel, states)
    finally:
        channel.switch.channels.remove(channel)


def _running(channel: Channel, state: ChannelState, states: bool) -> Iterator[None]:
    """Enter ``state``; with ``states``, fire its CHANNEL_STATE (the call state is set apart)."""
    channel.set_state(state)
    channel.running_state = state
    if states:
        channel.fire("CHANNEL_STATE")
        yield


def _callstate(channel: Channel, callstate: CallState, states: bool) -> Iterator[None]:
    if not states:
        channel.callstate = callstate
    elif callstate != channel.callstate:
        channel.set_callstate(callstate)  # fires CHANNEL_CALLSTATE
        yield


def _answer(channel: Channel, states: bool) -> Iterator[None]:
    """The ``answer`` application: EXECUTE, ANSWER (and call state ACTIVE), EXECUTE_COMPLETE."""
    app_uuid = str(uuidlib.uuid4())
    channel.set_var("current_application", "answer")
    channel.fire("CHANNEL_EXECUTE", after=[("Application", "answer"), ("Application-UUID", app_uuid)])
    yield
    channel.app_log.append(("answer", ""))
    channel.profile.times.answered = channel.switch.clock.now_us()
    channel.answered = True
    channel.fire("CHANNEL_ANSWER")
    yield
    yield from _callstate(channel, CallState.ACTIVE, states)
    channel.set_var("endpoint_disposition", "ANSWER")
    channel.fire(
        "CHANNEL_EXECUTE_COMPLETE",
        after=[("Application", "answer"), ("Application-Response", "_none_"), ("Application-UUID", app_uuid)],
    )
    yield


def _finish(channel: Channel, states: bool) -> Iterator[None]:
    """``Channel._finish`` without the task: CDR variables, HANGUP_COMPLETE, DESTROY."""
    cause = channel.hangup_cause or "NORMAL_CLEARING"
    yield from _running(channel, ChannelState.CS_HANGUP, states)
    channel.profile.times.hungup = channel.switch.clock.now_us()
    channel.set_var("hangup_cause", cause)
    channel.set_var("hangup_cause_q850", str(cause_q850(cause)))
    set_timestamps(channel)
    yield from _callstate(channel, CallState.HANGUP, states)
    yield from _running(channel, ChannelState.CS_REPORTING, states)
    channel.fire("CHANNEL_HANGUP_COMPLETE", before=[("Hangup-Cause", cause)])
    yield
    channel.set_state(ChannelState.CS_DESTROY)
    channel.fire("CHANNEL_DESTROY")
    channel.switch.channels.remove(channel)
    channel.hungup_event.set()
    channel.destroyed_event.set()
    yield
    yield from _running(channel, ChannelState.CS_DESTROY, states)


def sip_variables(switch: Switch, index: int, number: str, destination: str) -> list[tuple[str, str]]:
    """The channel variables mod_sofia sets for an INVITE from ``number`` (names and order as recorded)."""
    domain, port = switch.domain, str(5070 + index % 1000)
    tag = f"{index}BurstTag{index % 97:03d}"
    sdp = (
        f"v=0\r\no=burst {index} {index} IN IP4 {domain}\r\ns=-\r\nc=IN IP4 {domain}\r\nt=0 0\r\n"
        f"m=audio {16384 + index % 16384 * 2} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    )
    return [
        ("sip_from_user", number),
        ("sip_from_uri", f"{number}@{domain}"),
        ("sip_from_host", domain),
        ("video_media_flow", "disabled"),
        ("text_media_flow", "disabled"),
        ("sip_call_id", f"{index}-burst@{domain}"),
        ("sip_local_network_addr", domain),
        ("sip_network_ip", domain),
        ("sip_network_port", port),
        ("sip_invite_stamp", str(switch.clock.now_us())),
        ("sip_received_ip", domain),
        ("sip_received_port", port),
        ("sip_via_protocol", "udp"),
        ("sip_from_user_stripped", number),
        ("sip_from_tag", tag),
        ("sofia_profile_name", "internal"),
        ("sofia_profile_url", f"sip:mod_sofia@{domain}:5060"),
        ("recovery_profile_name", "internal"),
        ("sip_full_via", f"SIP/2.0/UDP {domain}:{port};branch=z9hG4bK-burst-{index};rport={port}"),
        ("sip_from_display", f"Burst {index}"),
        ("sip_full_from", f'"Burst {index}" <sip:{number}@{domain}>;tag={tag}'),
        ("sip_full_to", f"<sip:{destination}@{domain}:5060>"),
        ("sip_req_user", destination),
        ("sip_req_port", "5060"),
        ("sip_req_uri", f"{destination}@{domain}:5060"),
        ("sip_req_host", domain),
        ("sip_to_user", destination),
        ("sip_to_port", "5060"),
        ("sip_to_uri", f"{destination}@{domain}:5060"),
        ("sip_to_host", domain),
        ("sip_contact_user", number),
        ("sip_contact_port", port),
        ("sip_contact_uri", f"{number}@{domain}:{port}"),
        ("sip_contact_host", domain),
        ("sip_user_agent", "fsim-burst"),
        ("sip_via_host", domain),
        ("sip_via_port", port),
        ("sip_via_rport", port),
        ("max_forwards", "70"),
        ("switch_r_sdp", sdp),
        ("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b"),
        ("rtp_use_codec_string", "PCMU,PCMA"),
        ("remote_video_media_flow", "inactive"),
        ("remote_text_media_flow", "inactive"),
        ("remote_audio_media_flow", "sendrecv"),
        ("audio_media_flow", "sendrecv"),
        ("remote_media_ip", domain),
        ("remote_media_port", str(16384 + index % 16384 * 2)),
        ("rtp_audio_recv_pt", "0"),
        ("rtp_use_codec_name", "PCMU"),
        ("rtp_use_codec_rate", "8000"),
        ("rtp_use_codec_ptime", "20"),
        ("rtp_use_codec_channels", "1"),
        ("rtp_last_audio_codec_string", "PCMU@8000h@20i@1c"),
        ("read_codec", "PCMU"),
        ("original_read_codec", "PCMU"),
        ("read_rate", "8000"),
        ("original_read_rate", "8000"),
        ("write_codec", "PCMU"),
        ("write_rate", "8000"),
        ("dtmf_type", "rfc2833"),
        ("endpoint_disposition", "RECEIVED"),
    ]
