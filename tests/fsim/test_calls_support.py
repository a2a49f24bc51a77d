"""Support for the call-model tests (no tests here): a fast switch, an event log to wait on, sendmsg helpers,
and the replay of the ``call-lifecycle`` recording's scenario in-process.
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections.abc import Callable, Mapping

from fsim.channels.channel import Channel
from fsim.events import Event, SwitchIdentity
from fsim.switch import Switch

TIMEOUT = 5.0
SCALE = 0.002  # 500 simulated seconds per real second
RECORDED_IDENTITY = dict(
    core_uuid="a6d6f13d-0e79-4c1c-a688-fb834e534d9e", hostname="vm", ipv4="192.0.2.2", ipv6="fd00::2"
)


def make_switch(scale: float = SCALE, **options: object) -> Switch:
    """A switch with the recording's identity, running ``1/scale`` times faster than real time.

    Originates ring for an hour of simulated time unless a test says otherwise: on a fast clock the
    default minute is a fraction of a real second, too short for a loaded test machine."""
    options.setdefault("originate_timeout", 3600.0)
    return Switch(identity=SwitchIdentity(**RECORDED_IDENTITY), scale=scale, **options)  # type: ignore[arg-type]


class EventLog:
    """Every event the switch fires, in firing order; ``wait`` finds a past or future one."""

    def __init__(self, switch: Switch) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        switch.hub.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def mark(self) -> int:
        return len(self.events)

    def find(
        self, name: str | None = None, match: Mapping[str, str] | None = None, since: int = 0
    ) -> list[Event]:
        return [event for event in self.events[since:] if _matches(event, name, match)]

    async def wait(
        self,
        name: str | None = None,
        match: Mapping[str, str] | None = None,
        *,
        since: int = 0,
        timeout: float = TIMEOUT,
        predicate: Callable[[Event], bool] | None = None,
    ) -> Event:
        """The first event from index ``since`` on with Event-Name ``name`` and the ``match`` headers."""
        position = since
        async with asyncio.timeout(timeout):
            while True:
                while position < len(self.events):
                    event = self.events[position]
                    position += 1
                    if _matches(event, name, match) and (predicate is None or predicate(event)):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def names(self, uuid: str) -> list[str]:
        """Event names (CUSTOM as ``CUSTOM <Action>``) of channel ``uuid``, in firing order."""
        return [label(event) for event in self.events if event.get("Unique-ID") == uuid]


def label(event: Event | object) -> str:
    name = event.get("Event-Name") or ""  # type: ignore[attr-defined]
    if name == "CUSTOM":
        return f"CUSTOM {event.get('Action') or event.get('Event-Subclass')}"  # type: ignore[attr-defined]
    return name


def _matches(event: Event, name: str | None, match: Mapping[str, str] | None) -> bool:
    if name is not None and event.name != name:
        return False
    return all(event.get(key) == value for key, value in (match or {}).items())


def execute(
    app: str,
    arg: str | None = None,
    *,
    lock: bool = True,
    event_uuid: str | None = None,
    asynchronous: bool = False,
) -> list[tuple[str, str]]:
    """sendmsg headers for ``call-command: execute``."""
    headers = [("call-command", "execute"), ("execute-app-name", app)]
    if lock:
        headers.append(("event-lock", "true"))
    if asynchronous:
        headers.append(("async", "true"))
    if event_uuid:
        headers.append(("Event-UUID", event_uuid))
    if arg is not None:
        headers.append(("execute-app-arg", arg))
    return headers


async def run_app(
    switch: Switch, log: EventLog, uuid: str, app: str, arg: str | None = None, **kw: object
) -> Event:
    """sendmsg an application and wait for its CHANNEL_EXECUTE_COMPLETE."""
    event_uuid = str(uuidlib.uuid4())
    assert await switch.sendmsg(uuid, execute(app, arg, event_uuid=event_uuid, **kw), None) == "+OK"  # type: ignore[arg-type]
    return await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Application-UUID": event_uuid})


def by_name(switch: Switch, name: str) -> Channel:
    return next(channel for channel in switch.channels if channel.name == name)


async def originate_parked(switch: Switch, log: EventLog, dest: str = "answer_park", **variables: str) -> str:
    """``originate {...}loopback/<dest>/default &park()``; returns the A leg's uuid once it is parked."""
    a_uuid = variables.pop("origination_uuid", str(uuidlib.uuid4()))
    extra = "".join(f",{name}={value}" for name, value in variables.items())
    reply = await switch.api.execute(
        "originate", f"{{origination_uuid={a_uuid}{extra}}}loopback/{dest}/default &park()"
    )
    assert reply == f"+OK {a_uuid}\n", reply
    await log.wait("CHANNEL_PARK", {"Unique-ID": a_uuid})
    return a_uuid


async def replay_call_lifecycle(switch: Switch, log: EventLog) -> dict[str, str]:
    """The scenario of ``call-lifecycle-control``, step by step; returns the uuids by channel name."""
    a_uuid, c_uuid, d_uuid = (str(uuidlib.uuid4()) for _ in range(3))
    originate = asyncio.create_task(
        switch.api.execute(
            "originate",
            f"{{origination_uuid={a_uuid},origination_caller_id_number=1000,"
            f"origination_caller_id_name='Fixture Caller'}}loopback/park_me/default &park()",
        )
    )
    await log.wait("CHANNEL_PARK", {"Channel-Name": "loopback/park_me-b"})
    b_uuid = by_name(switch, "loopback/park_me-b").uuid
    await run_app(switch, log, b_uuid, "answer")
    assert await originate == f"+OK {a_uuid}\n"
    await log.wait("CHANNEL_PARK", {"Unique-ID": a_uuid})
    await run_app(switch, log, b_uuid, "set", "fixture_var=hello world")
    body = b"fixture_body_var=value with spaces; and: colons"
    event_uuid = str(uuidlib.uuid4())
    headers = [
        *execute("set", event_uuid=event_uuid),
        ("content-type", "text/plain"),
        ("content-length", str(len(body))),
    ]
    assert await switch.sendmsg(b_uuid, headers, body) == "+OK"
    await log.wait("CHANNEL_EXECUTE_COMPLETE", {"Application-UUID": event_uuid})
    await run_app(switch, log, b_uuid, "export", "fixture_export=exported")
    await run_app(switch, log, b_uuid, "playback", "tone_stream://%(200,100,440);loops=3")
    mark = log.mark()
    pagd = asyncio.create_task(
        run_app(
            switch, log, b_uuid, "play_and_get_digits",
            r"1 4 1 5000 # tone_stream://%(200,100,440) silence_stream://250 fixture_digits \d+",
        )
    )  # fmt: skip
    await log.wait("PLAYBACK_STOP", {"Unique-ID": b_uuid}, since=mark)
    assert await switch.api.execute("uuid_send_dtmf", f"{a_uuid} 123#") == f"+OK {a_uuid} sent DTMF 123#.\n"
    await pagd
    await run_app(switch, log, a_uuid, "send_dtmf", "45@200")
    await log.wait("DTMF", {"Unique-ID": b_uuid, "DTMF-Digit": "5"})
    await run_app(switch, log, b_uuid, "record", "/tmp/fsim-fixture-record.wav 3")
    await run_app(switch, log, b_uuid, "record_session", "/tmp/fsim-fixture-record-session.wav")
    await run_app(switch, log, b_uuid, "playback", "silence_stream://1500")
    await run_app(switch, log, b_uuid, "stop_record_session", "/tmp/fsim-fixture-record-session.wav")
    await run_app(
        switch, log, b_uuid, "playback", "tone_stream://%(100,50,600);loops=2", lock=False, asynchronous=True
    )
    await run_app(switch, log, b_uuid, "set", "hangup_after_bridge=false")
    mark = log.mark()
    bridge = asyncio.create_task(
        run_app(switch, log, b_uuid, "bridge", f"{{origination_uuid={c_uuid}}}loopback/answer_park/default")
    )
    await log.wait("CHANNEL_BRIDGE", {"Unique-ID": b_uuid}, since=mark)
    await log.wait("CHANNEL_PARK", {"Channel-Name": "loopback/answer_park-b"}, since=mark)
    await log.wait("CHANNEL_STATE", {"Unique-ID": c_uuid, "Channel-State": "CS_EXCHANGE_MEDIA"}, since=mark)
    assert await switch.api.execute("uuid_kill", c_uuid) == "+OK\n"
    await bridge
    await log.wait("CHANNEL_DESTROY", {"Channel-Name": "loopback/answer_park-b"}, since=mark)
    mark = log.mark()
    conference = asyncio.create_task(run_app(switch, log, b_uuid, "conference", "fixture_room@default"))
    await log.wait("CUSTOM", {"Action": "add-member", "Unique-ID": b_uuid}, since=mark)
    reply = await switch.api.execute(
        "originate",
        f"{{origination_uuid={d_uuid},origination_caller_id_number=2000}}"
        "loopback/conf_fixture_room/default &park()",
    )
    assert reply == f"+OK {d_uuid}\n"
    await log.wait("CHANNEL_PARK", {"Unique-ID": d_uuid})
    assert await switch.api.execute("uuid_send_dtmf", f"{a_uuid} 0") == f"+OK {a_uuid} sent DTMF 0.\n"
    await log.wait("CUSTOM", {"Action": "mute-member", "Unique-ID": b_uuid})
    names = {channel.name: channel.uuid for channel in switch.channels}
    assert await switch.api.execute("uuid_kill", d_uuid) == "+OK\n"
    conf_b = names["loopback/conf_fixture_room-b"]
    await log.wait("CUSTOM", {"Action": "del-member", "Unique-ID": conf_b})
    member_id = by_name(switch, "loopback/park_me-b").get_var("conference_member_id")
    assert (
        await switch.api.execute("conference", f"fixture_room kick {member_id}")
        == f"+OK kicked {member_id}\n"
    )
    await conference
    assert (
        await switch.sendmsg(b_uuid, [("call-command", "hangup"), ("hangup-cause", "NORMAL_CLEARING")], None)
        == "+OK"
    )
    await asyncio.wait_for(switch.channels.wait_empty(), TIMEOUT)
    names.update({"loopback/answer_park-a": c_uuid})
    names["loopback/answer_park-b"] = next(
        event.get("Unique-ID")
        for event in log.events
        if event.get("Channel-Name") == "loopback/answer_park-b"
    )
    return names
