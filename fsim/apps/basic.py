"""Call-control applications of mod_dptools: answer, park, set/export/unset, hangup, transfer, DTMF..."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.channels.dialstring import split_args
from fsim.channels.flow import Transfer
from fsim.channels.states import ORIGINS, sip_cause

if TYPE_CHECKING:
    from fsim.channels.channel import Channel


@application("answer")
async def answer(channel: Channel, data: str) -> None:
    channel.answer()


@application("pre_answer")
async def pre_answer(channel: Channel, data: str) -> None:
    channel.pre_answer()


@application("ring_ready")
async def ring_ready(channel: Channel, data: str) -> None:
    channel.ring()


@application("hangup")
async def hangup(channel: Channel, data: str) -> None:
    channel.hangup(data.strip() or "NORMAL_CLEARING")


@application("park")
async def park(channel: Channel, data: str) -> None:
    """``switch_ivr_park``: CHANNEL_PARK, serve the channel until hangup or transfer, CHANNEL_UNPARK."""
    channel.parked = True
    channel.fire("CHANNEL_PARK")
    await channel.wait(None, breakable=False)
    channel.parked = False
    channel.fire("CHANNEL_UNPARK")


def _assignment(data: str) -> tuple[str, str]:
    name, _, value = data.partition("=")
    return name.strip(), value


@application("set")
async def set_(channel: Channel, data: str) -> None:
    name, value = _assignment(data)
    if name:
        channel.set_var(name, value)


@application("unset")
async def unset(channel: Channel, data: str) -> None:
    if data.strip():
        channel.set_var(data.strip(), None)


@application("export")
async def export(channel: Channel, data: str) -> None:
    """``export [nolocal:]var=value``: set it here (unless nolocal) and list it in ``export_vars``."""
    name, value = _assignment(data)
    local = True
    if name.startswith("nolocal:"):
        name, local = name[len("nolocal:") :], False
    if not name:
        return
    if local:
        channel.set_var(name, value)
    exported = [item for item in (channel.get_var("export_vars") or "").split(",") if item]
    if name not in exported:
        channel.set_var("export_vars", ",".join([*exported, name]))


@application("sleep")
async def sleep(channel: Channel, data: str) -> None:
    try:
        milliseconds = int(data.strip() or 0)
    except ValueError:
        milliseconds = 0
    await channel.wait(milliseconds / 1000)


@application("echo", media=True)
async def echo(channel: Channel, data: str) -> None:
    await channel.wait(None)


@application("send_dtmf")
async def send_dtmf(channel: Channel, data: str) -> None:
    """``send_dtmf <digits>[@<ms>]``: out of this channel (a loopback twin hears them as DTMF events)."""
    digits, _, duration = data.strip().partition("@")
    channel.send_dtmf(digits, int(duration) if duration.isdigit() else None)


@application("respond")
async def respond(channel: Channel, data: str) -> None:
    """``respond <code> [reason]``: 180/183/200 ring, pre-answer, answer; a failure code hangs up."""
    code_text = (split_args(data) or ["0"])[0]
    code = int(code_text) if code_text.isdigit() else 0
    if code in (180, 181):
        channel.ring()
    elif 182 <= code < 200:
        channel.pre_answer()
    elif 200 <= code < 300:
        channel.answer()
    elif code >= 300:
        channel.hangup(sip_cause(code))


@application("transfer")
async def transfer(channel: Channel, data: str) -> None:
    """``transfer [-bleg|-both] <exten> [<dialplan>] [<context>]``."""
    args = split_args(data)
    targets: list[Channel] = [channel]
    if args and args[0] in ("-bleg", "-both"):
        flag = args.pop(0)
        partner = channel.partner
        targets = [] if flag == "-bleg" else [channel]
        if partner is not None:
            targets.append(partner)  # type: ignore[arg-type]
    if not args:
        return
    destination = args[0]
    dialplan = args[1] if len(args) > 1 else "XML"
    context = args[2] if len(args) > 2 else channel.profile.context
    for target in targets:
        target.interrupt(Transfer(destination, dialplan, context))


@application("event")
async def event(channel: Channel, data: str) -> None:
    """``event Event-Name=CUSTOM,Event-Subclass=x,Key=Value``: fire an event with the channel's data."""
    name = "CHANNEL_APPLICATION"
    headers = []
    for item in data.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            continue
        if key.strip().lower() == "event-name":
            name = value.strip().upper()
            continue
        headers.append((key.strip(), value.strip()))
    channel.fire(name, leading=headers, extended=True, origin=ORIGINS["CHANNEL_APPLICATION"])


@application("log")
async def log_(channel: Channel, data: str) -> None:
    """``log [level] message``: nothing to simulate."""


@application("info")
async def info(channel: Channel, data: str) -> None:
    """``info``: prints channel data to the log; nothing to simulate."""
