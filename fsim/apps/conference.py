"""mod_conference, simulated: rooms, members, mute/deaf/kick/lock/record, conference::maintenance events.

Floor (simplified from the recordings): a member who joins a room that then has two or more members and no
floor holder gets the floor; when the holder leaves, ``floor-change`` to none comes before its
``del-member`` and the floor then goes to the newest remaining member. DTMF (the default caller-controls):
``0`` toggles mute, ``*`` toggles deaf-mute, ``#`` leaves the conference.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fsim.apps import application
from fsim.apps.media import RATE, write_wav
from fsim.events import Origin

if TYPE_CHECKING:
    from fsim.channels.channel import Channel
    from fsim.switch import Switch

SUBCLASS = "conference::maintenance"
_API, _MEMBER, _MOD = "conference_api.c", "conference_member.c", "mod_conference.c"
ORIGINS = {
    "conference-create": Origin(_MOD, "conference_new", 3848),
    "conference-destroy": Origin(_MOD, "conference_thread_run", 863),
    "add-member": Origin(_MEMBER, "conference_member_add", 962),
    "del-member": Origin(_MEMBER, "conference_member_del", 1355),
    "floor-change": Origin(_MEMBER, "conference_member_set_floor_holder", 1158),
    "kick-member": Origin(_API, "conference_api_sub_kick", 902),
    "hup-member": Origin(_API, "conference_api_sub_hup", 871),
    "mute-member": Origin(_API, "conference_api_sub_mute", 339),
    "unmute-member": Origin(_API, "conference_api_sub_unmute", 492),
    "deaf-member": Origin(_API, "conference_api_sub_deaf", 797),
    "undeaf-member": Origin(_API, "conference_api_sub_undeaf", 839),
    "lock": Origin(_API, "conference_api_sub_lock", 3474),
    "unlock": Origin(_API, "conference_api_sub_unlock", 3496),
    "start-recording": Origin("conference_record.c", "conference_record_thread_run", 319),
    "stop-recording": Origin("conference_record.c", "conference_record_thread_run", 427),
}


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class Member:
    """A channel in a conference."""

    id: int
    channel: Channel
    join_time: float
    can_hear: bool = True
    can_speak: bool = True
    moderator: bool = False
    ghost: bool = False
    kicked: bool = False
    energy: int = 100
    volume_in: int = 0
    volume_out: int = 0


@dataclass
class Conference:
    """One room."""

    switch: Switch
    name: str
    profile: str = "default"
    domain: str = "127.0.0.1"
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    members: list[Member] = field(default_factory=list)  # newest first, as mod_conference lists them
    floor: int | None = None
    locked: bool = False
    created: float = 0.0
    recordings: dict[str, float] = field(default_factory=dict)

    def data(self) -> list[tuple[str, str]]:
        """``conference_event_add_data``."""
        return [
            ("Conference-Name", self.name),
            ("Conference-Domain", self.domain),
            ("Conference-Size", str(len(self.members))),
            ("Conference-Ghosts", str(sum(member.ghost for member in self.members))),
            ("Conference-Profile-Name", self.profile),
            ("Conference-Unique-ID", self.uuid),
        ]

    def member_data(self, member: Member) -> list[tuple[str, str]]:
        """``conference_member_add_event_data`` (basic channel data, as members are not verbose)."""
        return [
            *self.data(),
            ("Floor", _flag(member.id == self.floor)),
            *member.channel.basic_headers(),
            ("Video", "false"),
            ("Hear", _flag(member.can_hear)),
            ("See", "true"),
            ("Speak", _flag(member.can_speak)),
            ("Talking", "false"),
            ("Mute-Detect", "false"),
            ("Hold", "false"),
            ("Member-ID", str(member.id)),
            ("Member-Type", "moderator" if member.moderator else "member"),
            ("Member-Ghost", _flag(member.ghost)),
            ("Energy-Level", str(member.energy)),
            ("Current-Energy", "0"),
        ]

    def fire(
        self, action: str, member: Member | None = None, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """A conference::maintenance event: Event-Subclass first, conference/member data, then Action."""
        headers = self.member_data(member) if member is not None else self.data()
        headers = [*headers, ("Action", action), *(extra or [])]
        switch = self.switch
        event = switch.events.make(
            "CUSTOM",
            ORIGINS[action],
            headers,
            leading=[("Event-Subclass", SUBCLASS)],
            timestamp_us=switch.clock.now_us(),
        )
        switch.hub.fire(event)

    def set_floor(self, member: Member | None) -> None:
        """``conference_member_set_floor_holder``."""
        if member is not None and member.id == self.floor:
            return
        self.floor = member.id if member is not None else None
        extra = [("Old-ID", "none")]
        if member is None:
            self.fire("floor-change", None, [*extra, ("New-ID", "none")])
            return
        headers = [*self.data(), ("Action", "floor-change"), *extra, *self.member_data(member)]
        headers.append(("New-ID", str(member.id)))
        switch = self.switch
        switch.hub.fire(
            switch.events.make(
                "CUSTOM",
                ORIGINS["floor-change"],
                headers,
                leading=[("Event-Subclass", SUBCLASS)],
                timestamp_us=switch.clock.now_us(),
            )
        )

    def member(self, member_id: int) -> Member | None:
        return next((member for member in self.members if member.id == member_id), None)

    def add(self, channel: Channel) -> Member:
        manager = self.switch.conferences
        member = Member(manager.next_member_id(), channel, self.switch.clock.now())
        self.members.insert(0, member)
        channel.set_var("conference_name", self.name)
        channel.set_var("app_session_uuid", self.uuid)
        channel.set_var("read_codec", channel.codec[0])  # mod_conference sets its own read codec (CODEC)
        channel.set_var("read_rate", str(channel.codec[1]))
        for name, value in (
            ("conference_member_id", str(member.id)),
            ("conference_moderator", "false"),
            ("conference_ghost", "false"),
            ("conference_uuid", self.uuid),
        ):
            channel.set_var(name, value)
        if not channel.get_var("conference_call_key"):
            number = channel.get_var("caller_id_number") or channel.profile.caller_id_number
            channel.set_var("conference_call_key", f"conference_{self.name}_{self.domain}_{number}")
        self.fire("add-member", member)
        if len(self.members) >= 2 and self.floor is None:
            self.set_floor(member)
        return member

    def remove(self, member: Member) -> None:
        had_floor = member.id == self.floor
        if had_floor:
            self.set_floor(None)
        if member in self.members:
            self.members.remove(member)
        self.fire("del-member", member)
        member.channel.set_var("conference_call_key", None)
        if had_floor and self.members:
            self.set_floor(self.members[0])
        if not self.members:
            self.destroy()

    def destroy(self) -> None:
        for path in list(self.recordings):
            self.stop_recording(path)
        self.switch.conferences.rooms.pop(self.name, None)
        self.fire("conference-destroy")

    # -- member controls (api and DTMF) -------------------------------------------------------------

    def mute(self, member: Member, muted: bool = True) -> None:
        member.can_speak = not muted
        self.fire("mute-member" if muted else "unmute-member", member)

    def deaf(self, member: Member, deaf: bool = True) -> None:
        member.can_hear = not deaf
        self.fire("deaf-member" if deaf else "undeaf-member", member)

    def kick(self, member: Member, action: str = "kick-member") -> None:
        member.kicked = True
        self.fire(action, member)
        member.channel.wake()

    def start_recording(self, path: str) -> None:
        self.recordings[path] = self.switch.clock.now()
        self.fire("start-recording", None, [("Path", path)])

    def stop_recording(self, path: str) -> bool:
        started = self.recordings.pop(path, None)
        if started is None:
            return False
        elapsed = self.switch.clock.now() - started
        write_wav(path, elapsed)
        samples = int(elapsed * RATE)
        self.fire(
            "stop-recording",
            None,
            [
                ("Path", path),
                ("Other-Recordings", _flag(bool(self.recordings))),
                ("Samples-Out", str(samples)),
                ("Samplerate", str(RATE)),
                ("Milliseconds-Elapsed", str(samples // (RATE // 1000))),
            ],
        )
        return True

    def on_dtmf(self, member: Member, digit: str) -> None:
        member.channel.set_var("conference_last_matching_digits", digit)
        if digit == "0":
            self.mute(member, member.can_speak)
        elif digit == "*":
            muted = member.can_speak or member.can_hear
            self.mute(member, muted)
            self.deaf(member, muted)
        elif digit == "#":
            member.kicked = True


class ConferenceManager:
    """The switch's conference rooms by name; member ids are global, as in mod_conference."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.rooms: dict[str, Conference] = {}
        self._member_id = 0

    def next_member_id(self) -> int:
        self._member_id += 1
        return self._member_id

    def get(self, name: str) -> Conference | None:
        return self.rooms.get(name)

    def join_target(self, name: str, profile: str) -> Conference:
        """The room ``name``, created (conference-create) if it does not exist."""
        room = self.rooms.get(name)
        if room is None:
            room = Conference(self.switch, name, profile, self.switch.domain, created=self.switch.clock.now())
            self.rooms[name] = room
            room.fire("conference-create")
        return room


@application("conference", media=True)
async def conference(channel: Channel, data: str) -> None:
    """``conference <name>[@<profile>][+flags{...}]``: join until kicked, hung up or transferred."""
    target = data.split("+", 1)[0].strip()
    name, _, profile = target.partition("@")
    if not name:
        return
    room = channel.switch.conferences.join_target(name, profile or "default")
    if room.locked:
        channel.set_var("conference_locked", "true")
        return
    member = room.add(channel)
    channel.app_state["conference_member"] = member
    channel.dtmf_listener = lambda digit: room.on_dtmf(member, digit)
    await channel.wait(None, breakable=False, until=lambda: member.kicked)
    channel.dtmf_listener = None
    channel.app_state.pop("conference_member", None)
    room.remove(member)
    channel.set_var("read_codec", channel.codec[0])
    channel.set_var("read_rate", str(channel.codec[1]))
