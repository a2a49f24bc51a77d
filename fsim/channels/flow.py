"""What a channel's session task does next: route, execute an extension, wait for its originator, be bridged.

An :class:`Instruction` runs in the channel's task and returns the next one (or None: the channel is done and
hangs up with NORMAL_CLEARING). Another party redirects a channel with ``channel.interrupt(instruction)``:
the running applications return (park fires CHANNEL_UNPARK, EXECUTE_COMPLETE follows) and the task runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fsim.channels.states import ChannelState

if TYPE_CHECKING:
    from fsim.channels.channel import Channel

Extension = list[tuple[str, str]]  # (application, data) in order


class Instruction(Protocol):
    async def run(self, channel: Channel) -> Instruction | None: ...


@dataclass
class Route:
    """CS_ROUTING: ask the switch's dialplan hook for an extension, then execute it."""

    async def run(self, channel: Channel) -> Instruction | None:
        channel.set_running_state(ChannelState.CS_ROUTING)
        extension = await channel.switch.route_call(channel)
        if not channel.ready or channel.instruction is not None:
            return None
        if extension is None:
            channel.hangup("NO_ROUTE_DESTINATION")
            return None
        return Execute(extension)


@dataclass
class Execute:
    """CS_EXECUTE: run the applications one after another (an empty extension just hangs up)."""

    applications: Extension = field(default_factory=list)

    async def run(self, channel: Channel) -> Instruction | None:
        channel.hit_dialplan = True
        channel.set_running_state(ChannelState.CS_EXECUTE)
        channel.set_var("call_uuid", channel.get_var("call_uuid") or channel.uuid)
        for application, data in self.applications:
            if not channel.ready or channel.instruction is not None:
                break
            await channel.execute(application, data)
        return None


@dataclass
class Consume:
    """An originated leg: CS_ROUTING, then CS_CONSUME_MEDIA until its originator says what comes next."""

    async def run(self, channel: Channel) -> Instruction | None:
        channel.set_running_state(ChannelState.CS_ROUTING)
        channel.set_running_state(ChannelState.CS_CONSUME_MEDIA)
        await channel.wait(None, breakable=False)
        return None


@dataclass
class Bridged:
    """The originatee of a bridge: CS_EXCHANGE_MEDIA while bridged; DTMF goes to the other side."""

    peer: Channel

    async def run(self, channel: Channel) -> Instruction | None:
        channel.set_running_state(ChannelState.CS_EXCHANGE_MEDIA)
        channel.dtmf_listener = self.peer.send_dtmf
        await channel.wait(None, breakable=False, until=lambda: channel.partner is not self.peer)
        channel.dtmf_listener = None
        if channel.partner is self.peer:  # we leave (hangup, transfer): the originator unbridges
            channel.partner = None
            self.peer.wake()
        channel.set_var("bridge_to", None)
        channel.set_var("call_uuid", channel.uuid)
        if channel.ready and channel.instruction is None:
            if channel.true_var("park_after_bridge"):
                return Execute([("park", "")])
            channel.hangup(self.peer.hangup_cause or "NORMAL_CLEARING")
        return None


@dataclass
class Transfer:
    """``switch_ivr_session_transfer``: a new caller profile for ``destination``, then route again."""

    destination: str
    dialplan: str = "XML"
    context: str = "default"

    async def run(self, channel: Channel) -> Instruction | None:
        now = channel.switch.clock.now_us()
        old = channel.profile
        old.times.transferred = now
        profile = old.snapshot()
        profile.destination_number = self.destination
        profile.dialplan = self.dialplan.lower() if self.dialplan else "xml"
        profile.context = self.context or "default"
        profile.profile_index = str(int(old.profile_index or "1") + 1)
        target = f"{self.destination}/{profile.context}/{profile.dialplan.upper()}"
        profile.transfer_source = f"{now // 1_000_000}:{channel.uuid}:bl_xfer:{target}"
        profile.times.profile_created = now
        profile.times.transferred = 0
        channel.profile = profile
        channel.set_var("transfer_source", profile.transfer_source)
        return Route()
