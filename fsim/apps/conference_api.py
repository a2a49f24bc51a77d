"""The ``conference`` api command: list, json_list, kick, hup, mute/unmute, deaf/undeaf, lock/unlock, record.

Outputs are mod_conference's (``conference_api.c``), e.g. ``+OK kicked 3\\n`` or the ``list`` member lines
``<id>;<channel>;<uuid>;<cid name>;<cid num>;<flags>;<vol in>;<vol out>;<energy>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from fsim.apps.conference import Conference, Member

if TYPE_CHECKING:
    from fsim.switch import Switch

RATE = 8000


def cjson(value: object, depth: int = 0) -> str:
    """``cJSON_Print``: tabs for indentation, ``"key":\\tvalue``, arrays joined by ``, ``."""
    if isinstance(value, dict):
        if not value:
            return "{\n" + "\t" * depth + "}"
        items = [
            f"{chr(9) * (depth + 1)}{json.dumps(key)}:\t{cjson(item, depth + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "\t" * depth + "}"
    if isinstance(value, list):
        return "[" + ", ".join(cjson(item, depth + 1) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return json.dumps("" if value is None else str(value))


def member_flags(room: Conference, member: Member) -> str:
    flags = [
        name
        for name, on in (
            ("hear", member.can_hear),
            ("speak", member.can_speak),
            ("floor", member.id == room.floor),
            ("moderator", member.moderator),
            ("ghost", member.ghost),
        )
        if on
    ]
    return "|".join(flags)


def member_line(room: Conference, member: Member, delim: str = ";") -> str:
    profile = member.channel.profile
    fields = [
        str(member.id),
        member.channel.name,
        member.channel.uuid,
        profile.caller_id_name,
        profile.caller_id_number,
        member_flags(room, member),
        str(member.volume_in),
        str(member.volume_out),
        str(member.energy),
    ]
    return delim.join(fields) + "\n"


def room_summary(room: Conference) -> str:
    count = len(room.members)
    flags = "|".join(
        [
            *(["locked"] if room.locked else []),
            "running",
            "answered",
            "enforce_min",
            "dynamic",
            "exit_sound",
            "enter_sound",
            *(["recording"] if room.recordings else []),
        ]
    )
    locked = " locked" if room.locked else ""
    members = f"{count} member{'' if count == 1 else 's'}"
    return f"+OK Conference {room.name} ({members} rate: {RATE}{locked} flags: {flags})\n"


def room_json(room: Conference, now: float) -> dict[str, object]:
    members = [
        {
            "type": "caller",
            "id": member.id,
            "flags": {
                "can_hear": member.can_hear,
                "can_see": True,
                "can_speak": member.can_speak,
                "hold": False,
                "mute_detect": False,
                "talking": False,
                "has_video": False,
                "video_bridge": False,
                "has_floor": member.id == room.floor,
                "is_moderator": member.moderator,
                "end_conference": False,
                "mandatory_member_end_conference": False,
                "pass_digits": False,
            },
            "uuid": member.channel.uuid,
            "caller_id_name": member.channel.profile.caller_id_name,
            "caller_id_number": member.channel.profile.caller_id_number,
            "join_time": int(now - member.join_time),
            "last_talking": 0,
            "energy": member.energy,
            "volume_in": member.volume_in,
            "volume_out": member.volume_out,
            "output-volume": member.volume_out,
            "input-volume": member.volume_in,
        }
        for member in room.members
    ]
    return {
        "conference_name": room.name,
        "member_count": len(room.members),
        "ghost_count": sum(m.ghost for m in room.members),
        "rate": RATE,
        "run_time": int(now - room.created),
        "conference_uuid": room.uuid,
        "canvas_count": 0,
        "max_bw_in": 0,
        "force_bw_in": 0,
        "video_floor_packets": 0,
        "locked": room.locked,
        "destruct": False,
        "wait_mod": False,
        "audio_always": False,
        "running": True,
        "answered": True,
        "enforce_min": True,
        "bridge_to": False,
        "dynamic": True,
        "exit_sound": True,
        "enter_sound": True,
        "recording": bool(room.recordings),
        "video_bridge": False,
        "video_floor_only": False,
        "video_rfc4579": False,
        "variables": {},
        "members": members,
    }


def _targets(room: Conference, which: str) -> list[Member] | None:
    if which == "all":
        return list(room.members)
    if which == "last":
        return room.members[:1]
    if which == "non_moderator":
        return [member for member in room.members if not member.moderator]
    member = room.member(int(which)) if which.isdigit() else None
    return [member] if member is not None else None


MemberAction = Callable[[Conference, Member], str]
MEMBER_ACTIONS: dict[str, MemberAction] = {
    "kick": lambda room, m: (room.kick(m), f"+OK kicked {m.id}\n")[1],
    "hup": lambda room, m: (
        room.kick(m, "hup-member"),
        m.channel.hangup("NORMAL_CLEARING"),
        f"+OK hup {m.id}\n",
    )[2],
    "mute": lambda room, m: (room.mute(m, True), f"+OK mute {m.id}\n")[1],
    "unmute": lambda room, m: (room.mute(m, False), f"+OK unmute {m.id}\n")[1],
    "deaf": lambda room, m: (room.deaf(m, True), f"+OK deaf {m.id}\n")[1],
    "undeaf": lambda room, m: (room.deaf(m, False), f"+OK undeaf {m.id}\n")[1],
}


def register(switch: Switch) -> None:
    """Register the ``conference`` api command on the switch."""

    async def conference_api(argument: str) -> str:
        args = argument.split()
        manager = switch.conferences
        now = switch.clock.now()
        if not args or args[0] == "list":
            if not manager.rooms:
                return "+OK No active conferences.\n"
            return "".join(
                room_summary(r) + "".join(member_line(r, m) for m in r.members)
                for r in manager.rooms.values()
            )
        if args[0] == "json_list":
            return cjson([room_json(room, now) for room in manager.rooms.values()])
        room = manager.get(args[0])
        if room is None:
            return f"-ERR Conference {args[0]} not found\n"
        command = args[1] if len(args) > 1 else "list"
        rest = args[2:]
        if command == "list":
            delim = rest[1] if len(rest) > 1 and rest[0] == "delim" else ";"
            return "".join(member_line(room, member, delim) for member in room.members)
        if command == "json_list":
            return cjson([room_json(room, now)])
        if command in ("lock", "unlock"):
            room.locked = command == "lock"
            room.fire(command)
            return f"+OK {room.name} {command}ed\n"
        if command == "record":
            if not rest:
                return "-ERR Conference command 'record' needs a path.\n"
            room.start_recording(rest[0])
            return f"+OK Record file {rest[0]}\n"
        if command == "norecord":
            paths = list(room.recordings) if not rest or rest[0] == "all" else [rest[0]]
            stopped = sum(room.stop_recording(path) for path in paths)
            return f"+OK Stopped recording {stopped} file{'' if stopped == 1 else 's'}\n"
        action = MEMBER_ACTIONS.get(command)
        if action is None:
            return f"-ERR Conference command '{command}' not found.\n"
        which = rest[0] if rest else "all"
        members = _targets(room, which)
        if members is None:
            return f"-ERR Non-Existant ID {which}\n"
        return "".join(action(room, member) for member in members)

    switch.api.register("conference", conference_api)
