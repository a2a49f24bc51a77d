"""``bridge`` and the bridge loop shared with ``uuid_bridge`` (``switch_ivr_multi_threaded_bridge``).

The A leg (originator) fires CHANNEL_BRIDGE and, when it ends, CHANNEL_UNBRIDGE; the B leg (originatee)
sits in CS_EXCHANGE_MEDIA. DTMF received on one side is sent out of the other. After the bridge the A leg
follows ``park_after_bridge``, ``transfer_after_bridge`` or ``hangup_after_bridge``, else goes on.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.channels.flow import Bridged, Execute, Instruction, Transfer
from fsim.channels.originate import Originator
from fsim.channels.states import CallState, ChannelState

if TYPE_CHECKING:
    from fsim.channels.channel import Channel

CONTINUE_CAUSES = frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"})


def _restore_callstate(channel: Channel) -> None:
    if channel.ready:
        if channel.answered:
            channel.set_callstate(CallState.ACTIVE)
        elif channel.early_media:
            channel.set_callstate(CallState.EARLY)
        else:
            channel.set_callstate(CallState.RINGING)


def handle_cause(channel: Channel, cause: str) -> None:
    """``switch_channel_handle_cause``: hang up after a failed bridge unless told to continue."""
    if not channel.ready:
        return
    continue_on_fail = channel.get_var("continue_on_fail")
    if continue_on_fail is not None:
        if channel.true_var("continue_on_fail") or cause in continue_on_fail.upper().split(","):
            return
    elif cause in CONTINUE_CAUSES:
        return
    transfer_on_fail = channel.get_var("transfer_on_fail")
    if transfer_on_fail:
        parts = transfer_on_fail.split()
        channel.interrupt(Transfer(*(parts[1:] if len(parts) > 1 else parts)))
        return
    channel.hangup(cause)


async def run_bridge(a: Channel, b: Channel) -> None:
    """Bridge ``a`` (originator, this task) with ``b`` (originatee) until either side leaves."""
    clock = a.switch.clock
    if not a.answered:
        a.answer()
    a.partner, b.partner = b, a
    a.bridge_role, b.bridge_role = "originator", "originatee"
    a.other_type, a.other_profile = "originatee", b.profile.snapshot()
    b.other_type, b.other_profile = "originator", a.profile.snapshot()
    a.set_callstate(CallState.ACTIVE)
    now = clock.now_us()
    a.profile.times.bridged = b.profile.times.bridged = now
    a.set_var("signal_bond", b.uuid)
    ids = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
    a.fire("CHANNEL_BRIDGE", before=ids)
    for channel, other, callee in ((a, b, b.profile), (b, a, a.profile)):
        if channel is b:
            channel.set_var("call_uuid", a.uuid)
            channel.set_var("bridge_to", a.uuid)
        channel.set_var("last_bridge_to", other.uuid)
        channel.set_var("bridge_channel", other.name)
        channel.set_var("bridge_uuid", other.uuid)
        channel.set_var("signal_bond", other.uuid)
        name = callee.callee_id_name if channel is a else callee.caller_id_name
        number = callee.callee_id_number if channel is a else callee.caller_id_number
        channel.set_var("last_sent_callee_id_name", name)
        channel.set_var("last_sent_callee_id_number", number)
    b.interrupt(Bridged(a))
    a.dtmf_listener = b.send_dtmf
    await a.wait(None, breakable=False, until=lambda: not b.ready or a.partner is not b or b.partner is not a)
    a.dtmf_listener = None
    cause = b.hangup_cause or "NORMAL_CLEARING"
    a.partner = b.partner = None
    a.bridge_role = b.bridge_role = None
    a.set_var("bridge_hangup_cause", cause)
    b.wake()
    a.fire("CHANNEL_UNBRIDGE", before=ids)
    if a.ready and a.instruction is None:
        after_bridge(a, cause)


def after_bridge(a: Channel, cause: str) -> None:
    """park_after_bridge, transfer_after_bridge, hangup_after_bridge."""
    if a.true_var("park_after_bridge"):
        a.interrupt(Execute([("park", "")]))
    elif a.get_var("transfer_after_bridge"):
        target = (a.get_var("transfer_after_bridge") or "").replace(":", " ").split()
        a.interrupt(Transfer(*target[:3]))
    elif a.true_var("hangup_after_bridge"):
        a.hangup(cause)


@application("bridge")
async def bridge(channel: Channel, data: str) -> None:
    """``bridge <dial string>``: originate the B leg(s) from this channel and bridge the one that answers."""
    if not data.strip():
        return
    channel.set_callstate(CallState.RING_WAIT)
    outcome = await Originator(channel.switch, data, caller=channel).run()
    if outcome.channel is None:
        _restore_callstate(channel)
        channel.set_var("originate_failed_cause", outcome.cause)
        handle_cause(channel, outcome.cause)
        return
    await run_bridge(channel, outcome.channel)


@dataclass
class UuidBridge:
    """``uuid_bridge``: this channel leaves what it does and bridges ``peer`` as the originator."""

    peer: Channel

    async def run(self, channel: Channel) -> Instruction | None:
        channel.set_running_state(ChannelState.CS_SOFT_EXECUTE)
        for side, other in ((channel, self.peer), (self.peer, channel)):
            side.fire(
                "CHANNEL_EXECUTE",
                after=[
                    ("Application", "uuid_bridge"),
                    ("Application-Data", other.uuid),
                    ("Application-UUID", str(uuidlib.uuid4())),
                ],
            )
        await run_bridge(channel, self.peer)
        if channel.ready and channel.instruction is None:
            channel.hangup(self.peer.hangup_cause or "NORMAL_CLEARING")
        return None
