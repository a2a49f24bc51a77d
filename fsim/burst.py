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

Python: ``await burst(switch, calls, concurrency)``; ESL: ``api|bgapi fsim_burst <calls> [<concurrency>]``,
which answers ``+OK <events> events\\n`` once every event has been fired.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fsim.channels.cdr import set_timestamps
from fsim.channels.states import CallState, ChannelState, cause_q850

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
    try:
        while live or created < calls:
            while len(live) < concurrency and created < calls:
                live.append(_lifecycle(switch, created, destination, states))
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


# -- one synthetic call ------------------------------------------------------------------------------


def _lifecycle(switch: Switch, index: int, destination: str, states: bool) -> Iterator[None]:
    """Build call ``index`` and fire its events, yielding after each one."""
    number = str(1000 + index % 9000)
    call_uuid = str(uuidlib.uuid4())
    channel = switch.new_inbound_channel(
        destination,
        caller_id_name=f"Burst {index}",
        caller_id_number=number,
        variables=sip_variables(switch, index, number, destination),
        uuid=call_uuid,
    )
    registry = switch.channels
    registry.add(channel)
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
        registry.remove(channel)


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
