"""Originating calls (``switch_ivr_originate``) for the ``originate`` api and the ``bridge`` application.

Endpoints: ``loopback/<exten>[/<context>[/<dialplan>]]`` creates the ``-a`` (outbound) and ``-b``
(inbound, routed by the dialplan) pair as mod_loopback does; ``user/<id>[@<domain>]`` and
``sofia/<profile>/<dest>`` become one outbound channel whose far end the switch's endpoint directory
simulates; ``error/<cause>`` fails at once. Legs of a group ring at once (``,``), groups are tried in turn
(``|``). The first leg to answer wins (the others hang up with LOSE_RACE); a timeout gives NO_ANSWER.
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fsim.channels.base import INBOUND, OUTBOUND
from fsim.channels.channel import Channel
from fsim.channels.dialstring import DialLeg, parse_dial_string, sanitize_number
from fsim.channels.endpoints import drive_endpoint
from fsim.channels.flow import Consume, Route
from fsim.channels.profile import CallerProfile
from fsim.channels.states import str2cause

if TYPE_CHECKING:
    from fsim.switch import Switch

L16 = ("L16", 8000, 128000)
PCMU = ("PCMU", 8000, 64000)
DIALSTATUS = {
    "ORIGINATOR_CANCEL": "CANCEL",
    "USER_BUSY": "BUSY",
    "NO_ANSWER": "NOANSWER",
    "DESTINATION_OUT_OF_ORDER": "INVALIDARGS",
    "INVALID_PROFILE": "INVALIDARGS",
    "CALL_REJECTED": "DONTCALL",
}


@dataclass
class Outcome:
    """The result of an originate: the answered leg, or the cause it failed with."""

    channel: Channel | None
    cause: str
    legs: list[Channel]


def _array(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "ARRAY::" + "|:".join(values)


class Originator:
    """One originate: builds the legs of a dial string and rings them."""

    def __init__(
        self,
        switch: Switch,
        dial: str,
        *,
        caller: Channel | None = None,
        timeout: float | None = None,
        cid_name: str | None = None,
        cid_num: str | None = None,
    ) -> None:
        self.switch = switch
        self.dial = parse_dial_string(dial)
        self.caller = caller
        self.cid_name = cid_name
        self.cid_num = cid_num
        variables = self.dial.variables
        default = caller.get_var("call_timeout") if caller is not None else None
        self.timeout = float(
            variables.get("originate_timeout") or timeout or default or switch.originate_timeout
        )

    async def run(self) -> Outcome:
        """Ring the groups in turn until a leg answers; set the caller's originate variables."""
        legs: list[Channel] = []
        cause = "NO_ROUTE_DESTINATION" if not self.dial.groups else "NONE"
        winner: Channel | None = None
        for group in self.dial.groups:
            created, failures = self._create_group(group)
            legs += created
            if not created:
                cause = failures[0] if failures else cause
                continue
            winner, cause = await self._ring(created, self._group_timeout(group))
            if winner is not None or (self.caller is not None and not self.caller.ready):
                break
        self._report(winner, cause, legs)
        return Outcome(winner, "SUCCESS" if winner else cause, legs)

    def _group_timeout(self, group: list[DialLeg]) -> float:
        for leg in group:
            if leg.variables.get("leg_timeout"):
                return float(leg.variables["leg_timeout"])
        return float(self.dial.variables.get("leg_timeout") or self.timeout)

    def _create_group(self, group: list[DialLeg]) -> tuple[list[Channel], list[str]]:
        created, failures = [], []
        for leg in group:
            result = self.create_leg(leg)
            if isinstance(result, str):
                failures.append(result)
            else:
                created.append(result)
        return created, failures

    async def _ring(self, legs: list[Channel], timeout: float) -> tuple[Channel | None, str]:
        clock = self.switch.clock
        deadline = clock.now() + timeout
        while True:
            winner = next((leg for leg in legs if leg.answered and leg.ready), None)
            if winner is not None:
                for leg in legs:
                    if leg is not winner:
                        leg.hangup("LOSE_RACE")
                return winner, "SUCCESS"
            if self.caller is not None and not self.caller.ready:
                self._cancel(legs, "ORIGINATOR_CANCEL")
                return None, "ORIGINATOR_CANCEL"
            if all(not leg.up for leg in legs):
                return None, next((leg.hangup_cause for leg in legs if leg.hangup_cause), "NORMAL_CLEARING")
            remaining = deadline - clock.now()
            if remaining <= 0:
                self._cancel(legs, "NO_ANSWER")
                return None, "NO_ANSWER"
            waiters = [leg.answered_event.wait() for leg in legs] + [leg.hungup_event.wait() for leg in legs]
            if self.caller is not None:
                waiters.append(self.caller.hungup_event.wait())
            await _first(waiters, clock.real(remaining))

    @staticmethod
    def _cancel(legs: Iterable[Channel], cause: str) -> None:
        for leg in legs:
            leg.hangup(cause)

    def _report(self, winner: Channel | None, cause: str, legs: list[Channel]) -> None:
        caller = self.caller
        if caller is None:
            return
        if winner is not None:
            name, number = winner.profile.callee_id_name, winner.profile.callee_id_number
            caller.set_var("originated_legs", f"{winner.uuid};{name};{number}")
            caller.set_var("originate_disposition", "SUCCESS")
            caller.set_var("DIALSTATUS", "SUCCESS")
        else:
            caller.set_var("originate_disposition", cause)
            caller.set_var("DIALSTATUS", DIALSTATUS.get(cause, cause))
        if legs:
            causes = [f"{leg.uuid};{'NONE' if leg is winner else leg.hangup_cause or 'NONE'}" for leg in legs]
            caller.set_var("originate_causes", _array(causes))

    # -- legs --------------------------------------------------------------------------------------

    def create_leg(self, leg: DialLeg) -> Channel | str:
        """The outbound channel for ``leg`` (started), or the cause it cannot be created with."""
        if len(self.switch.channels) >= self.switch.max_sessions:
            return "SWITCH_CONGESTION"
        module = leg.module
        if module == "loopback":
            return self._loopback(leg)
        if module in ("user", "sofia"):
            return self._simulated(leg)
        if module == "error":
            return str2cause(leg.data or "NORMAL_CLEARING")
        return "CHAN_NOT_IMPLEMENTED"

    def _variables(self, leg: DialLeg) -> dict[str, str]:
        return {**self.dial.variables, **leg.variables}

    def _profile(
        self,
        variables: dict[str, str],
        *,
        direction: str,
        dest: str,
        context: str,
        source: str,
        callee_number: str,
    ) -> CallerProfile:
        caller = self.caller.profile if self.caller is not None else None
        name = variables.get("origination_caller_id_name") or self.cid_name
        number = variables.get("origination_caller_id_number") or self.cid_num
        if name is None:
            name = caller.caller_id_name if caller else ""
        if number is None:
            number = caller.caller_id_number if caller else "0000000000"
        logical = caller.logical_direction if caller else direction
        return CallerProfile(
            direction=direction,
            logical_direction=logical,
            caller_id_name=name,
            caller_id_number=number,
            orig_caller_id_name=name,
            orig_caller_id_number=number,
            callee_id_name="Outbound Call",
            callee_id_number=callee_number,
            ani=number,
            destination_number=dest,
            source=source,
            context=context,
        )

    def _outbound(
        self,
        leg: DialLeg,
        *,
        name: str,
        kind: str,
        codec: tuple[str, int, int],
        profile: CallerProfile,
        endpoint: str,
        extra: dict[str, str],
    ) -> Channel:
        variables = self._variables(leg)
        uuid = variables.get("origination_uuid") or str(uuidlib.uuid4())
        channel = Channel(
            self.switch, uuid=uuid, name=name, direction=OUTBOUND, profile=profile, codec=codec, kind=kind
        )
        channel.set_var("direction", OUTBOUND)
        channel.set_var("is_outbound", "true")
        channel.set_var("session_id", str(channel.session_id))
        _codec_vars(channel)
        caller = self.caller
        if caller is not None and kind == "loopback":
            channel.set_var("loopback_from_uuid", caller.uuid)
        channel.set_var("channel_name", name)
        channel.set_var("uuid", uuid)
        channel.set_var("call_uuid", uuid)
        self.switch.channels.add(channel)
        if "origination_uuid" in variables:
            channel.fire("CHANNEL_UUID", before=[("Old-Unique-ID", str(uuidlib.uuid4()))])
        if caller is not None:
            channel.other_type, channel.other_profile = "originator", caller.profile.snapshot()
        channel.fire("CHANNEL_OUTGOING", extended=False)
        if caller is not None:
            channel.set_var("max_forwards", "70")
            channel.set_var("originator_codec", f"{caller.codec[0]}@{caller.codec[1]}h@20i")
            channel.set_var("originator", caller.uuid)
            channel.set_var("signal_bond", caller.uuid)
            channel.set_var("call_uuid", caller.uuid)
        for var, value in [*_exported(caller), *variables.items()]:
            channel.set_var(var, value)
        channel.set_var("originate_early_media", "true")
        if caller is not None:
            channel.set_var("originating_leg_uuid", caller.uuid)
        channel.set_var("originate_endpoint", endpoint)
        for var, value in extra.items():
            channel.set_var(var, value)
        return channel

    def _loopback(self, leg: DialLeg) -> Channel:
        parts = leg.data.split("/")
        exten = parts[0]
        context = parts[1] if len(parts) > 1 and parts[1] else "default"
        dialplan = parts[2] if len(parts) > 2 and parts[2] else "xml"
        variables = self._variables(leg)
        profile = self._profile(
            variables,
            direction=OUTBOUND,
            dest=exten,
            context=context,
            source="mod_loopback",
            callee_number=sanitize_number(leg.data),
        )
        b_uuid = str(uuidlib.uuid4())
        a = self._outbound(
            leg,
            name=f"loopback/{exten}-a",
            kind="loopback",
            codec=L16,
            profile=profile,
            endpoint="loopback",
            extra={"other_loopback_leg_uuid": b_uuid, "loopback_leg": "A"},
        )
        b_profile = CallerProfile(
            direction=INBOUND,
            logical_direction=INBOUND,
            dialplan=dialplan,
            caller_id_name=profile.caller_id_name,
            caller_id_number=profile.caller_id_number,
            orig_caller_id_name=profile.caller_id_name,
            orig_caller_id_number=profile.caller_id_number,
            callee_id_name=profile.callee_id_name,
            callee_id_number=profile.callee_id_number,
            ani=profile.ani,
            destination_number=exten,
            source="mod_loopback",
            context=context,
        )
        b = Channel(
            self.switch,
            uuid=b_uuid,
            name=f"loopback/{exten}-b",
            direction=INBOUND,
            profile=b_profile,
            codec=L16,
            kind="loopback",
        )
        b.set_var("direction", INBOUND)
        b.set_var("uuid", b_uuid)
        b.set_var("call_uuid", b_uuid)
        b.set_var("session_id", str(b.session_id))
        b.set_var("channel_name", b.name)
        _codec_vars(b)
        for var, value in [*_exported(self.caller), *variables.items()]:
            b.set_var(var, value)
        b.set_var("other_loopback_leg_uuid", a.uuid)
        if self.caller is not None:
            b.set_var("other_loopback_from_uuid", self.caller.uuid)
        b.set_var("loopback_leg", "B")
        a.loopback_peer, b.loopback_peer = b, a
        self.switch.channels.add(b)
        a.start(Consume())
        b.start(Route())
        return a

    def _simulated(self, leg: DialLeg) -> Channel | str:
        if leg.module == "user":
            user, _, domain = leg.data.partition("@")
            domain = domain or self.switch.domain
            target, name, dest = f"user/{user}@{domain}", f"sofia/internal/{user}@{domain}", user
        else:
            target = name = leg.target
            dest = sanitize_number(leg.data)
        endpoint = self.switch.endpoints.lookup(target)
        if endpoint is None:
            return "USER_NOT_REGISTERED" if leg.module == "user" else "NO_ROUTE_DESTINATION"
        variables = self._variables(leg)
        context = self.caller.profile.context if self.caller is not None else "default"
        profile = self._profile(
            variables,
            direction=OUTBOUND,
            dest=dest,
            context=context,
            source="mod_sofia",
            callee_number=sanitize_number(leg.data),
        )
        channel = self._outbound(
            leg,
            name=name,
            kind="sofia",
            codec=PCMU,
            profile=profile,
            endpoint="sofia",
            extra={"dialed_user": dest} if leg.module == "user" else {},
        )
        channel.start(Consume())
        self.switch.spawn(drive_endpoint(channel, endpoint))
        return channel


def _codec_vars(channel: Channel) -> None:
    name, rate, _ = channel.codec
    for side in ("read", "write"):
        channel.set_var(f"{side}_codec", name)
        channel.set_var(f"{side}_rate", str(rate))


def _exported(caller: Channel | None) -> list[tuple[str, str]]:
    """``export_vars`` of the originating channel and the values it names."""
    if caller is None or not caller.get_var("export_vars"):
        return []
    names = [name.strip() for name in (caller.get_var("export_vars") or "").split(",") if name.strip()]
    pairs = [("export_vars", caller.get_var("export_vars") or "")]
    return pairs + [(name, caller.get_var(name) or "") for name in names if caller.get_var(name)]


async def _first(awaitables: list, timeout: float | None) -> None:  # type: ignore[type-arg]
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
