"""A channel's data and the events its state changes fire (``switch_channel.c``), without the async runtime.

Header order follows ``switch_channel_event_set_basic_data`` and the recordings: Channel-State,
Channel-Call-State, Channel-State-Number, Channel-Name, Unique-ID, Call-Direction, Presence-Call-Direction,
Channel-HIT-Dialplan, Channel-Call-UUID, Answer-State, [Hangup-Cause], codec headers, ``Caller-*``,
[Other-Type and ``Other-Leg-*``], then ``variable_*`` for the events that carry extended data.
Channel variables keep FreeSWITCH's order: setting a variable moves it to the end, as it does there.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fsim.channels.profile import CallerProfile, Headers
from fsim.channels.states import EXTENDED_EVENTS, ORIGINS, CallState, ChannelState, str2cause
from fsim.events import Event, Origin

if TYPE_CHECKING:
    from fsim.switch import Switch

INBOUND, OUTBOUND = "inbound", "outbound"


class ChannelBase:
    """Identity, states, caller profile, variables and event firing of one FreeSWITCH channel."""

    def __init__(
        self,
        switch: Switch,
        *,
        uuid: str,
        name: str,
        direction: str,
        profile: CallerProfile,
        codec: tuple[str, int, int] = ("L16", 8000, 128000),
        kind: str = "loopback",
    ) -> None:
        self.switch = switch
        self.uuid = uuid
        self.name = name
        self.direction = direction
        self.kind = kind  # "loopback", "sofia", ...: which endpoint module the channel belongs to
        self.profile = profile
        self.codec = codec
        name_, rate, bit_rate = codec
        self._codec_headers = [
            (f"Channel-{side}-Codec-{field}", value)
            for side in ("Read", "Write")
            for field, value in (("Name", name_), ("Rate", str(rate)), ("Bit-Rate", str(bit_rate)))
        ]
        self.running_state = ChannelState.CS_NONE
        self.state = ChannelState.CS_INIT
        self.callstate = CallState.DOWN
        self.hangup_cause: str | None = None
        self.answered = self.early_media = self.ring_ready = False
        self.hit_dialplan = direction == INBOUND
        self.other_type: str | None = None  # "originator" | "originatee"
        self.other_profile: CallerProfile | None = None
        self.variables: dict[str, str] = {}
        self.partner: ChannelBase | None = None  # the bridged channel
        self.bridge_role: str | None = None  # "originator" | "originatee" while bridged
        self.loopback_peer: ChannelBase | None = None  # the other half of a loopback pair
        self.dtmf_queue: deque[tuple[str, int]] = deque()
        self.dtmf_log: list[str] = []
        self.sent_dtmf: list[str] = []  # DTMF sent out of a simulated (non-loopback) endpoint
        self.app_log: list[tuple[str, str]] = []
        self.answered_event = asyncio.Event()
        self.hungup_event = asyncio.Event()
        self.destroyed_event = asyncio.Event()
        self._wake = asyncio.Event()
        self.session_id = switch.channels.next_session_id()
        now = switch.clock.now_us()
        profile.uuid = uuid
        profile.channel_name = name
        profile.times.created = profile.times.created or now
        profile.times.profile_created = profile.times.profile_created or now
        # show channels' initial_cid_name, initial_cid_num, initial_ip_addr, initial_dest, initial_dialplan,
        # initial_context
        self.initial = (
            profile.caller_id_name,
            profile.caller_id_number,
            profile.network_addr,
            profile.destination_number,
            profile.dialplan,
            profile.context,
        )

    # -- variables ---------------------------------------------------------------------------------

    def set_var(self, name: str, value: str | None) -> None:
        """``switch_channel_set_variable``: an empty value unsets; setting moves the variable to the end."""
        self.variables.pop(name, None)
        if value is not None and value != "":
            self.variables[name] = str(value)

    def get_var(self, name: str, default: str | None = None) -> str | None:
        return self.variables.get(name, default)

    def true_var(self, name: str) -> bool:
        """``switch_true`` on a variable: yes/on/true/t/enabled/active/allow or a non-zero number."""
        value = (self.variables.get(name) or "").strip().lower()
        return value in {"yes", "on", "true", "t", "enabled", "active", "allow"} or (
            value.isdigit() and int(value) != 0
        )

    def expand(self, text: str) -> str:
        """``${var}`` expansion (channel variables, then the switch's global variables); unknown: empty."""
        if "${" not in text:
            return text
        out, position = [], 0
        while (start := text.find("${", position)) >= 0:
            end = text.find("}", start)
            if end < 0:
                break
            out.append(text[position:start])
            name = text[start + 2 : end]
            out.append(self.variables.get(name, self.switch.global_vars.get(name, "")))
            position = end + 1
        out.append(text[position:])
        return "".join(out)

    # -- states ------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """``switch_channel_ready``: up and not hanging up."""
        return self.hangup_cause is None and self.state < ChannelState.CS_HANGUP

    @property
    def up(self) -> bool:
        return self.hangup_cause is None

    @property
    def answer_state(self) -> str:
        if self.hangup_cause is not None or self.state >= ChannelState.CS_HANGUP:
            return "hangup"
        if self.answered:
            return "answered"
        return "early" if self.early_media else "ringing"

    def set_state(self, state: ChannelState) -> None:
        """The requested state (Channel-State-Number); never goes back from a hangup."""
        if self.state < ChannelState.CS_HANGUP or state > self.state:
            self.state = state

    def set_running_state(self, state: ChannelState) -> None:
        """Enter a state and fire CHANNEL_STATE, as the state machine does."""
        self.set_state(state)
        self.running_state = state
        if self.direction == INBOUND and state < ChannelState.CS_HANGUP:
            if state == ChannelState.CS_ROUTING:
                self.set_callstate(CallState.RINGING)
            elif self.answered:
                self.set_callstate(CallState.ACTIVE)
            elif self.early_media:
                self.set_callstate(CallState.EARLY)
        self.fire("CHANNEL_STATE")

    def set_callstate(self, callstate: CallState) -> None:
        if callstate == self.callstate:
            return
        original, self.callstate = self.callstate, callstate
        self.fire(
            "CHANNEL_CALLSTATE",
            before=[
                ("Original-Channel-Call-State", original.name),
                ("Channel-Call-State-Number", str(int(callstate))),
            ],
        )

    def wake(self) -> None:
        """Interrupt whatever the channel waits for, so it looks at its state again."""
        self._wake.set()

    # -- answer, progress, hangup ------------------------------------------------------------------

    def mark_ring_ready(self) -> bool:
        """``switch_channel_perform_mark_ring_ready``: CHANNEL_PROGRESS, then call state RINGING."""
        if self.ring_ready or self.answered or not self.ready:
            return False
        self.ring_ready = True
        self.profile.times.progress = self.profile.times.progress or self.switch.clock.now_us()
        self.fire("CHANNEL_PROGRESS")
        self.set_callstate(CallState.RINGING)
        self.wake()
        return True

    def mark_pre_answered(self) -> bool:
        """``switch_channel_perform_mark_pre_answered``: CHANNEL_PROGRESS_MEDIA, then call state EARLY."""
        if self.early_media or self.answered or not self.ready:
            return False
        self.early_media = True
        self.set_var("endpoint_disposition", "EARLY MEDIA")
        self.profile.times.progress_media = self.switch.clock.now_us()
        self.fire("CHANNEL_PROGRESS_MEDIA")
        self.set_callstate(CallState.EARLY)
        self.wake()
        return True

    def mark_answered(self) -> bool:
        """``switch_channel_perform_mark_answered``: CHANNEL_ANSWER, then call state ACTIVE."""
        if not self.ready:
            return False
        if self.answered:
            return True
        self.profile.times.answered = self.switch.clock.now_us()
        self.answered = True
        self.fire("CHANNEL_ANSWER")
        self.set_callstate(CallState.ACTIVE)
        self.answered_event.set()
        self.wake()
        return True

    def hangup(self, cause: str | None = "NORMAL_CLEARING") -> bool:
        """``switch_channel_perform_hangup``: once only; fires CHANNEL_HANGUP and wakes the channel up."""
        if self.hangup_cause is not None or self.state >= ChannelState.CS_HANGUP:
            return False
        cause = str2cause(cause)
        self.state = ChannelState.CS_HANGUP
        self.hangup_cause = cause
        if self.partner is not None:
            self.partner.set_var("last_bridge_hangup_cause", cause)
        if self.bridge_role:
            self.set_var("last_bridge_role", self.bridge_role)
        self.fire("CHANNEL_HANGUP")
        self.hungup_event.set()
        self.wake()
        if self.partner is not None:
            self.partner.wake()
        return True

    # -- events ------------------------------------------------------------------------------------

    def basic_headers(self) -> Headers:
        """``switch_channel_event_set_basic_data``."""
        headers: Headers = [
            ("Channel-State", self.running_state.name),
            ("Channel-Call-State", self.callstate.name),
            ("Channel-State-Number", str(int(self.state))),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
        ]
        for var, header in (
            ("presence_id", "Channel-Presence-ID"),
            ("presence_data", "Channel-Presence-Data"),
        ):
            if var in self.variables:
                headers.append((header, self.variables[var]))
        headers.append(("Channel-Call-UUID", self.variables.get("call_uuid", self.uuid)))
        headers.append(("Answer-State", self.answer_state))
        if self.hangup_cause is not None:
            headers.append(("Hangup-Cause", self.hangup_cause))
        headers += self._codec_headers
        headers += self.profile.headers("Caller")
        if self.other_profile is not None and self.other_type:
            headers.append(("Other-Type", self.other_type))
            headers += self.other_profile.headers("Other-Leg")
        return headers

    def variable_headers(self) -> Headers:
        return [(f"variable_{name}", value) for name, value in self.variables.items()]

    def fire(
        self,
        name: str,
        *,
        before: Iterable[tuple[str, str]] = (),
        after: Iterable[tuple[str, str]] = (),
        leading: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        extended: bool | None = None,
        origin: Origin | None = None,
        subclass_name: str | None = None,
    ) -> Event:
        """Fire ``name`` with this channel's data: ``before`` + basic data + [variables] + ``after``."""
        headers = [*before, *self.basic_headers()]
        if extended if extended is not None else name in EXTENDED_EVENTS:
            headers += self.variable_headers()
        headers += after
        event = self.switch.events.make(
            name,
            origin or ORIGINS[subclass_name or name],
            headers,
            leading=leading,
            body=body,
            timestamp_us=self.switch.clock.now_us(),
        )
        self.switch.hub.fire(event)
        return event
