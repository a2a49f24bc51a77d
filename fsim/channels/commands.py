"""api commands of mod_commands (and ``sofia status``) with FreeSWITCH's output text.

``originate``, ``uuid_*``, ``show channels``, ``status``, ``hupall``, ``reloadxml``, ``sofia status``,
``global_getvar``/``global_setvar``. Bodies end with a newline except ``uuid_getvar`` and ``uuid_exists``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from fsim.apps import recording
from fsim.apps.bridge import UuidBridge
from fsim.channels.dialstring import split_args
from fsim.channels.flow import Execute, Transfer
from fsim.channels.originate import Originator
from fsim.channels.states import str2cause

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.switch import Switch

VERSION = "1.11.3-dev"
ORIGINATE_SYNTAX = (
    "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] "
    "[<timeout_sec>]"
)
COLUMNS = (
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,application_data,"
    "dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,write_bit_rate,secure,hostname,"
    "presence_id,presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,"
    "sent_callee_name,sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,"
    "initial_dialplan,initial_context"
).split(",")
NO_CHANNEL = "-ERR No such channel!\n"


def channel_row(switch: Switch, channel: Channel) -> dict[str, str]:
    """One row of the core ``channels`` table, as ``show channels`` prints it."""
    profile, created = channel.profile, channel.profile.times.created / 1_000_000
    app, app_data = channel.app_log[-1] if channel.app_log else ("", "")
    codec, rate, bit_rate = channel.codec
    initial = channel.initial
    values = [
        channel.uuid,
        channel.direction,
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)),
        str(int(created)),
        channel.name,
        channel.running_state.name,
        profile.caller_id_name,
        profile.caller_id_number,
        profile.network_addr,
        profile.destination_number,
        app,
        app_data,
        profile.dialplan,
        profile.context,
        codec,
        str(rate),
        str(bit_rate),
        codec,
        str(rate),
        str(bit_rate),
        "",
        switch.identity.hostname,
        channel.get_var("presence_id") or "",
        channel.get_var("presence_data") or "",
        channel.get_var("accountcode") or "",
        channel.callstate.name,
        profile.callee_id_name,
        profile.callee_id_number,
        "RECV" if channel.get_var("channel_cid_flipped") else "",
        channel.get_var("call_uuid") or channel.uuid,
        "",
        "",
        *initial,
    ]
    return dict(zip(COLUMNS, values, strict=True))


def uptime_text(seconds: float) -> str:
    """FreeSWITCH's uptime wording: ``0 years, 0 days, 0 hours, 2 minutes, 40 seconds, ...``."""
    us = int(seconds * 1_000_000)
    parts = [
        ("year", us // (365 * 86400 * 10**6)),
        ("day", us // (86400 * 10**6) % 365),
        ("hour", us // (3600 * 10**6) % 24),
        ("minute", us // (60 * 10**6) % 60),
        ("second", us // 10**6 % 60),
        ("millisecond", us // 1000 % 1000),
        ("microsecond", us % 1000),
    ]
    return ", ".join(f"{value} {name}{'' if value == 1 else 's'}" for name, value in parts)


def register(switch: Switch) -> None:
    """Register the commands on ``switch.api``."""
    channels = switch.channels
    commands: dict[str, Callable[[str], Awaitable[str]]] = {}

    def command(name: str) -> Callable[[Callable[[str], Awaitable[str]]], Callable[[str], Awaitable[str]]]:
        def add(handler: Callable[[str], Awaitable[str]]) -> Callable[[str], Awaitable[str]]:
            commands[name] = handler
            return handler

        return add

    def locate(argument: str) -> tuple[Channel | None, list[str]]:
        args = argument.split()
        return (channels.get(args[0]) if args else None), args

    @command("status")
    async def status(argument: str) -> str:
        registry = switch.channels
        registry.refresh()
        return (
            f"UP {uptime_text(switch.clock.now() - switch.started)}\n"
            f"FreeSWITCH (Version {VERSION}  64bit) is ready\n"
            f"{registry.since_startup} session(s) since startup\n"
            f"{len(registry)} session(s) - peak {registry.peak}, last 5min {registry.peak_fivemin} \n"
            f"{registry.last_per_second} session(s) per Sec out of max {switch.sessions_per_second}, peak "
            f"{registry.peak_per_second}, last 5min {registry.peak_per_second_fivemin} \n"
            f"{switch.max_sessions} session(s) max\n"
            "min idle cpu 0.00/100.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    @command("show")
    async def show(argument: str) -> str:
        args = argument.lower().split()
        if not args or args[0] not in ("channels", "calls"):
            return "-USAGE: calls [count]|channels [count] [as json]\n"
        rows = [channel_row(switch, channel) for channel in channels]
        if "count" in args[1:]:
            return f"\n{len(rows)} total.\n"
        if args[-2:] == ["as", "json"]:
            if not rows:
                return '{"row_count": 0}\n'
            return orjson.dumps({"row_count": len(rows), "rows": rows}).decode()
        lines = [",".join(COLUMNS)] if rows else []
        lines += [",".join(row.values()) for row in rows]
        return "\n".join(lines) + ("\n" if lines else "") + f"\n{len(rows)} total.\n"

    @command("originate")
    async def originate(argument: str) -> str:
        args = [None if arg == "undef" else arg for arg in split_args(argument)]
        if len(args) < 2 or not args[0] or not args[1]:
            return f"-USAGE: {ORIGINATE_SYNTAX}\n"
        url, exten = args[0], args[1]
        dialplan, context, cid_name, cid_num, timeout = (args[2:] + [None] * 5)[:5]
        outcome = await Originator(
            switch, url, timeout=float(timeout) if timeout else None, cid_name=cid_name, cid_num=cid_num
        ).run()
        channel = outcome.channel
        if channel is None:
            return f"-ERR {outcome.cause}\n"
        channel.flip_cid()
        if exten.startswith("&") and len(exten) > 1:
            app, _, app_arg = exten[1:].partition("(")
            channel.interrupt(Execute([(app, app_arg.rsplit(")", 1)[0])]))
        else:
            channel.interrupt(Transfer(exten, dialplan or "XML", context or "default"))
        return f"+OK {channel.uuid}\n"

    @command("uuid_kill")
    async def uuid_kill(argument: str) -> str:
        if not argument.strip():
            return "-USAGE: <uuid> [cause]\n"
        channel, args = locate(argument)
        if channel is None or not channel.up:
            return NO_CHANNEL
        channel.hangup(str2cause(args[1]) if len(args) > 1 else "NORMAL_CLEARING")
        return "+OK\n"

    @command("uuid_bridge")
    async def uuid_bridge(argument: str) -> str:
        args = argument.split()
        if len(args) < 2:
            return "-USAGE: <uuid> <other_uuid>\n"
        a, b = channels.get(args[0]), channels.get(args[1])
        if a is None or b is None or not a.ready or not b.ready:
            return "-ERR Invalid uuid\n"
        a.interrupt(UuidBridge(b))
        return f"+OK {b.uuid}\n"

    @command("uuid_transfer")
    async def uuid_transfer(argument: str) -> str:
        args = split_args(argument)
        if len(args) < 2:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
        channel = channels.get(args[0])
        if channel is None or not channel.ready:
            return NO_CHANNEL
        targets = [channel]
        rest = args[1:]
        if rest[0] in ("-bleg", "-both"):
            flag = rest.pop(0)
            partner = channel.partner
            targets = ([] if flag == "-bleg" else [channel]) + ([partner] if partner is not None else [])  # type: ignore[list-item]
        if not rest or not targets:
            return "-ERR\n"
        for target in targets:
            context = rest[2] if len(rest) > 2 else target.profile.context
            target.interrupt(Transfer(rest[0], rest[1] if len(rest) > 1 else "XML", context))
        return "+OK\n"

    @command("uuid_break")
    async def uuid_break(argument: str) -> str:
        channel, args = locate(argument)
        if not args:
            return "-USAGE: <uuid> [all]\n"
        if channel is None:
            return NO_CHANNEL
        channel.request_break(flush=len(args) > 1 and args[1] == "all")
        return "+OK\n"

    @command("uuid_setvar")
    async def uuid_setvar(argument: str) -> str:
        args = argument.split(" ", 2)
        if not args or not args[0]:
            return "-USAGE: <uuid> <var> [value]\n"
        channel = channels.get(args[0])
        if channel is None:
            return NO_CHANNEL
        if len(args) < 2 or not args[1]:
            return "-ERR No variable specified\n"
        channel.set_var(args[1], args[2] if len(args) > 2 else None)
        return "+OK\n"

    @command("uuid_getvar")
    async def uuid_getvar(argument: str) -> str:
        channel, args = locate(argument)
        if not args:
            return "-USAGE: <uuid> <var>\n"
        if channel is None:
            return NO_CHANNEL
        if len(args) < 2:
            return "-ERR No variable name specified!\n"
        value = channel.get_var(args[1])
        return "_undef_" if value is None else value

    @command("uuid_send_dtmf")
    async def uuid_send_dtmf(argument: str) -> str:
        channel, args = locate(argument)
        if len(args) < 2:
            return "-USAGE: <uuid> <dtmf_data>\n"
        if channel is None:
            return "-ERR Cannot locate session!\n"
        digits, _, duration = args[1].partition("@")
        channel.send_dtmf(digits, int(duration) if duration.isdigit() else None)
        return f"+OK {channel.uuid} sent DTMF {args[1]}.\n"

    @command("uuid_exists")
    async def uuid_exists(argument: str) -> str:
        return "true" if argument.strip() in channels else "false"

    @command("uuid_answer")
    async def uuid_answer(argument: str) -> str:
        channel, _ = locate(argument)
        if channel is None:
            return NO_CHANNEL
        return "+OK\n" if channel.answer() else "-ERR\n"

    @command("uuid_park")
    async def uuid_park(argument: str) -> str:
        channel, _ = locate(argument)
        if channel is None:
            return NO_CHANNEL
        channel.interrupt(Execute([("park", "")]))
        return "+OK\n"

    @command("uuid_broadcast")
    async def uuid_broadcast(argument: str) -> str:
        channel, args = locate(argument)
        if len(args) < 2:
            return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
        if channel is None:
            return "-ERR invalid uuid\n"
        app, sep, data = args[1].partition("::")
        app, data = (app, data) if sep else ("playback", args[1])
        legs = args[2] if len(args) > 2 else "aleg"
        targets = [channel] if legs in ("aleg", "both") else []
        if legs in ("bleg", "both") and channel.partner is not None:
            targets.append(channel.partner)  # type: ignore[arg-type]
        for target in targets:
            target.queue_message(
                [("call-command", "execute"), ("execute-app-name", app), ("execute-app-arg", data)], None
            )
        return "+OK Message sent\n"

    @command("uuid_record")
    async def uuid_record(argument: str) -> str:
        channel, args = locate(argument)
        if len(args) < 3:
            return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
        if channel is None:
            return "-ERR Cannot locate session!\n"
        action, path = args[1].lower(), args[2]
        if action == "start":
            limit = float(args[3]) if len(args) > 3 and args[3].isdigit() else None
            return (
                "+OK Success\n" if recording.start(channel, path, limit) else "-ERR Cannot record session!\n"
            )
        if action == "stop":
            return "+OK Success\n" if recording.stop(channel, path) else "-ERR Cannot stop record session!\n"
        return "+OK Success\n"

    @command("hupall")
    async def hupall(argument: str) -> str:
        args = argument.split()
        cause = str2cause(args[0]) if args else "MANAGER_REQUEST"
        var, value = (args[1], args[2]) if len(args) > 2 else (None, None)
        for channel in channels:
            if var is None or channel.get_var(var) == value:
                channel.hangup(cause)
        if var is None:
            return f"+OK hangup all channels with cause {cause}\n"
        return f"+OK hangup all channels matching [{var}]=[{value}] with cause: {cause}\n"

    @command("reloadxml")
    async def reloadxml(argument: str) -> str:
        return "+OK [Success]\n"

    @command("sofia")
    async def sofia(argument: str) -> str:
        if argument.strip().split()[:1] != ["status"]:
            return "Invalid Syntax!\n" if argument.strip() else "-USAGE: sofia status\n"
        line = "=" * 97
        in_use = sum(1 for channel in channels if channel.kind == "sofia")
        url = f"sip:mod_sofia@{switch.identity.ipv4}:5060"
        return (
            f"{'Name':>25}\t{'   Type'}\t  {'Data':>40}\t{'State'}\n{line}\n"
            f"{'internal':>25}\tprofile\t  {url:>40}\tRUNNING ({in_use})\n{line}\n1 profile 0 aliases\n"
        )

    @command("global_getvar")
    async def global_getvar(argument: str) -> str:
        if not argument.strip():
            return "".join(f"{name}={value}\n" for name, value in switch.global_vars.items())
        return switch.global_vars.get(argument.strip(), "")

    @command("global_setvar")
    async def global_setvar(argument: str) -> str:
        name, _, value = argument.partition("=")
        if not name.strip():
            return "-USAGE: <var>=<value>\n"
        switch.global_vars[name.strip()] = value.strip()
        return "+OK\n"

    for name, handler in commands.items():
        switch.api.register(name, handler)
