"""Simulated devices registering: events and directory requests against the recorded REGISTER runs."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import unquote

import pytest

from fsim import digest
from fsim.directory import DirectoryUser
from fsim.events import Event, EventFactory
from fsim.hub import EventHub
from fsim.registrations import Registrar, SofiaProfile, xml_curl_directory
from fsim.xml_curl import SIP_AUTH_ORIGIN, NotFound, XmlCurlClient
from tests.fsim.recordings import RecordedEvent, events
from tests.fsim.test_xml_curl import RECORDED_IDENTITY, app, recorded, recorded_answer  # noqa: F401

T = TypeVar("T")
VOLATILE = {"Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp"}
DEVICE = {  # sipp's REGISTER in the recordings
    "user": "1000", "realm": "127.0.0.1", "password": "1234", "contact": "<sip:1000@127.0.0.1:5070>",
    "user_agent": "SIPp-fixture", "network_ip": "127.0.0.1", "network_port": 5070,
    "digest_uri": "sip:127.0.0.1:5060",
}  # fmt: skip


async def settle() -> None:
    """Let every task that can run, run (the fakes here do no I/O)."""
    for _ in range(50):
        await asyncio.sleep(0)


class VirtualClock:
    """fsim.clock.Clock's interface in virtual time: ``advance`` wakes sleepers in deadline order."""

    def __init__(self, start: float = 1_795_380_001.0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.t

    def now_us(self) -> int:
        return round(self.t * 1_000_000)

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), next(self._order), future))
        await future

    def _next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        target = self.t + seconds
        await settle()
        while (deadline := self._next_deadline()) is not None and deadline <= target:
            _, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, deadline)
            future.set_result(None)
            await settle()
        self.t = target

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, jumping the clock whenever everything waits for it."""
        task = asyncio.ensure_future(awaitable)
        await settle()
        while not task.done():
            deadline = self._next_deadline()
            if deadline is None:
                task.cancel()
                raise AssertionError("stuck: the task waits for something that is not the clock")
            await self.advance(deadline - self.t)
        return task.result()


class Collector:
    """A hub listener keeping every fired event."""

    def __init__(self, hub: EventHub) -> None:
        self.events: list[Event] = []
        hub.subscribe(self.events.append)

    def named(self) -> list[str]:
        return [event.subclass or event.name for event in self.events]


def recorded_registration_events(recording: str) -> list[RecordedEvent]:
    """The REGISTER/un-REGISTER events of a recording (CUSTOM sofia::*, PRESENCE_IN, MESSAGE_QUERY)."""
    wanted = {"CUSTOM", "PRESENCE_IN", "MESSAGE_QUERY"}
    return [event for event in events(recording) if event.name in wanted]


def assert_matches_recording(fired: list[Event], expected: list[RecordedEvent]) -> None:
    """Same events, same header names in the same order, same values except the dates."""
    assert [event.subclass or event.name for event in fired] == [
        event.subclass or event.name for event in expected
    ]
    for ours, theirs in zip(fired, expected, strict=True):
        assert [name for name, _ in ours.headers] == [name for name, _ in theirs.headers], theirs.subclass
        differing = [
            (name, mine, recorded_value)
            for (name, mine), (_, recorded_value) in zip(ours.headers, theirs.headers, strict=True)
            if mine != recorded_value and name not in VOLATILE
        ]
        assert differing == [], theirs.subclass or theirs.name


def make_registrar(
    directory_fetch, first_sequence: int, **profile
) -> tuple[Registrar, Collector, VirtualClock]:
    hub, clock = EventHub(), VirtualClock()
    factory = EventFactory(RECORDED_IDENTITY, first_sequence=first_sequence)
    registrar = Registrar(factory, hub, directory_fetch, clock, SofiaProfile(**profile))
    return registrar, Collector(hub), clock


async def test_register_and_unregister_through_xml_curl_reproduce_the_recorded_events(app):  # noqa: F811
    """xml-curl-sip-events-plain, Event-Sequence included: the directory request takes 1291 and 1295."""
    app.answers += [(200, recorded_answer("xml-curl-directory-response.txt"))] * 2
    async with XmlCurlClient(f"{app.url}/xml_curl/directory", 5) as client:
        # That run fired no MESSAGE_QUERY (debounced), so this profile sends none either.
        registrar, fired, _ = make_registrar(
            xml_curl_directory(client), 1290, message_query_on_first_register=False
        )
        client.events = registrar.events
        registered = await registrar.register(expires=300, call_id="1-7221@127.0.0.1", **DEVICE)
        unregistered = await registrar.unregister(call_id="1-7221@127.0.0.1", **DEVICE)

    assert (registered.status, registered.auth_result) == (200, "RENEWED")
    assert (unregistered.status, unregistered.auth_result) == (200, "RENEWED")
    assert_matches_recording(fired.events, recorded_registration_events("xml-curl-sip-events-plain"))
    # The directory requests: FreeSWITCH's fields, in its order; only the nonce/cnonce/response differ.
    for sent, name in zip(app.requests, ["", "-unregister"], strict=True):
        expected = recorded(f"xml-curl-directory-request{name}.txt")
        assert sent.names == expected.names
        pairs = zip(sent.pairs, expected.pairs, strict=True)
        changes = {key for (key, ours), (_, theirs) in pairs if ours != theirs}
        assert changes <= VOLATILE | {"sip_auth_nonce", "sip_auth_cnonce", "sip_auth_response"}
        fields = dict(sent.decoded())
        names = ["username", "realm", "nonce", "uri", "response", "method", "qop", "nc", "cnonce"]
        credentials = digest.Credentials(*(fields[f"sip_auth_{name}"] for name in names))
        assert digest.check(credentials, password="1234")  # a real answer to the challenge was sent


def static_directory(factory_holder: list[EventFactory], variables: list[tuple[str, str]]):
    """A static-XML directory: FreeSWITCH still creates the REQUEST_PARAMS event, using a sequence number."""

    async def fetch(fields):
        factory_holder[0].make("REQUEST_PARAMS", SIP_AUTH_ORIGIN, fields)
        values = dict(fields)
        if values["user"] != "1000":
            return None
        return DirectoryUser("1000", values["domain"], [("password", "1234")], variables)

    return fetch


async def test_register_and_unregister_with_a_static_directory_reproduce_sip_call_plain():
    """Including the MESSAGE_QUERY of a first registration and the PRESENCE_IN of the un-REGISTER."""
    expected = recorded_registration_events("sip-call-plain")
    register_event = next(event for event in expected if event.subclass == "sofia::register")
    names = [name for name, _ in register_event.headers]
    user_variables = register_event.headers[names.index("domain_name") + 1 :]
    holder: list[EventFactory] = []
    registrar, fired, _ = make_registrar(static_directory(holder, user_variables), 1518)
    holder.append(registrar.events)

    await registrar.register(expires=300, call_id="1-7812@127.0.0.1", **DEVICE)
    await registrar.unregister(call_id="1-7812@127.0.0.1", **DEVICE)

    assert_matches_recording(fired.events, expected)


async def test_a_wrong_password_is_forbidden_and_never_registers():
    holder: list[EventFactory] = []
    registrar, fired, _ = make_registrar(static_directory(holder, []), 1)
    holder.append(registrar.events)

    result = await registrar.register(**{**DEVICE, "password": "4321"}, expires=300)

    assert (result.status, result.auth_result, result.registration) == (403, "FORBIDDEN", None)
    assert fired.named() == ["sofia::pre_register", "sofia::register_attempt", "sofia::register_failure"]
    attempt, failure = fired.events[1], fired.events[2]
    assert attempt.get("auth-result") == "FORBIDDEN"
    assert [name for name, _ in failure.headers[14:]] == [
        "profile-name", "to-user", "to-host", "network-ip", "user-agent", "profile-name", "network-port",
        "registration-type",
    ]  # fmt: skip
    assert failure.get("registration-type") == "REGISTER"
    assert registrar.registrations == []


@pytest.mark.parametrize("answer", [None, NotFound("not found")], ids=["no-such-user", "no-such-domain"])
async def test_an_unknown_user_is_forbidden(answer):
    async def fetch(fields):
        return answer

    registrar, fired, _ = make_registrar(fetch, 1)
    result = await registrar.register(**DEVICE, expires=300)
    assert (result.status, fired.named()[-1]) == (403, "sofia::register_failure")


@pytest.mark.parametrize(("a1_password", "status"), [("1234", 200), ("nope", 403)])
async def test_an_a1_hash_in_the_directory_is_checked_with_a_real_digest(a1_password, status):
    async def fetch(fields):
        a1 = digest.ha1("1000", "127.0.0.1", a1_password)
        return DirectoryUser("1000", "127.0.0.1", [("a1-hash", a1)], [("user_context", "default")])

    registrar, _, _ = make_registrar(fetch, 1)
    assert (await registrar.register(**DEVICE, expires=300)).status == status


async def test_pointer_users_and_sip_forbid_register_are_refused():
    users = [
        DirectoryUser("1000", "127.0.0.1", [("password", "1234")], attributes={"type": "pointer"}),
        DirectoryUser("1000", "127.0.0.1", [("password", "1234"), ("sip-forbid-register", "true")]),
    ]

    async def fetch(fields):
        return users.pop(0)

    registrar, _, _ = make_registrar(fetch, 1)
    assert (await registrar.register(**DEVICE, expires=300)).status == 403
    assert (await registrar.register(**DEVICE, expires=300)).status == 403


async def test_the_registration_table_and_the_sofia_contact():
    holder: list[EventFactory] = []
    registrar, _, clock = make_registrar(static_directory(holder, [("user_context", "default")]), 1)
    holder.append(registrar.events)

    first = await registrar.register(**DEVICE, expires=300)
    again = await registrar.register(**DEVICE, expires=600)

    [entry] = registrar.registrations
    assert (
        entry is again.registration and entry.call_id == first.registration.call_id
    )  # one device, one Call-ID
    assert registrar.lookup("1000", "127.0.0.1") is entry
    assert (entry.contact, entry.status, entry.expires) == (
        '"" <sip:1000@127.0.0.1:5070>',
        "Registered(UDP)",
        600,
    )
    assert entry.expires_at == int(clock.now()) + 600 + 60
    assert entry.dial_url == "sofia/internal/sip:1000@127.0.0.1:5070"
    assert ("user_context", "default") in entry.variables


async def test_a_registration_not_refreshed_expires_after_expires_plus_the_late_margin():
    holder: list[EventFactory] = []
    registrar, fired, clock = make_registrar(static_directory(holder, []), 1)
    holder.append(registrar.events)
    registrar.start()
    try:
        await registrar.register(**DEVICE, expires=300)
        registered_at = int(clock.now())
        await clock.advance(359)
        assert "sofia::expire" not in fired.named()
        await clock.advance(1)  # the check every 30 s runs at +360, when expires + 60 s margin is reached

        assert fired.named()[-2:] == ["sofia::expire", "PRESENCE_IN"]
        expire, presence = fired.events[-2:]
        assert [name for name, _ in expire.headers[14:]] == [
            "profile-name", "call-id", "user", "username", "host", "contact", "expires", "user-agent",
            "realm", "network-ip", "network-port",
        ]  # fmt: skip
        assert expire.get("expires") == str(registered_at + 360)  # the absolute time, as sofia stores it
        assert (expire.get("Event-Calling-Function"), expire.get("Event-Calling-Line-Number")) == (
            "sofia_reg_del_callback", "726"
        )  # fmt: skip
        assert (presence.get("rpid"), presence.get("status"), presence.get("from")) == (
            "away", "Unregistered", "1000@127.0.0.1"
        )  # fmt: skip
        assert registrar.registrations == []
    finally:
        await registrar.aclose()


async def test_a_refreshed_registration_does_not_expire_and_an_unregistered_one_cannot():
    holder: list[EventFactory] = []
    registrar, fired, clock = make_registrar(static_directory(holder, []), 1)
    holder.append(registrar.events)
    registrar.start()
    try:
        await registrar.register(**DEVICE, expires=300)
        await clock.advance(200)
        await registrar.register(**DEVICE, expires=300)  # refreshed: now due at 200 + 360 = 560
        await clock.advance(339)  # t = 539
        assert "sofia::expire" not in fired.named()
        await clock.advance(31)  # the check at 570 finds it
        assert fired.named().count("sofia::expire") == 1

        await registrar.register(**DEVICE, expires=300)
        await registrar.unregister(**{key: value for key, value in DEVICE.items() if key != "expires"})
        await clock.advance(1000)
        assert fired.named().count("sofia::expire") == 1
        assert fired.named().count("sofia::unregister") == 1
    finally:
        await registrar.aclose()


def test_recorded_directory_requests_are_what_sip_auth_fields_build():
    """The field builder on its own, with the recorded nonce and cnonce."""
    from fsim.registrations import Device, sip_auth_fields

    expected = recorded("xml-curl-directory-request.txt").decoded()
    start = [name for name, _ in expected].index("action")
    values = dict(expected)
    device = Device(**{**DEVICE, "call_id": "1-7221@127.0.0.1"})  # type: ignore[arg-type]
    credentials = digest.answer_challenge(
        "1000", "1234", realm="127.0.0.1", nonce=values["sip_auth_nonce"], method="REGISTER",
        uri=values["sip_auth_uri"], cnonce=values["sip_auth_cnonce"],
    )  # fmt: skip
    assert sip_auth_fields(device, credentials, "internal") == expected[start:]
    assert unquote("sip%3A127.0.0.1%3A5060") == values["sip_auth_uri"]


async def test_xml_curl_failures_and_not_found_fall_back_to_the_static_directory(app):  # noqa: F811
    """Like switch_xml_locate: a failed binding or "not found" leads to the static XML, here a callable."""
    static_calls: list[dict[str, str]] = []

    async def static(fields):
        static_calls.append(dict(fields))
        return DirectoryUser("1000", "127.0.0.1", [("password", "1234")])

    not_found = '<document><section name="result"><result status="not found"/></section></document>'
    accepted = recorded_answer("xml-curl-directory-response.txt")
    app.answers += [(500, "oops"), (200, not_found), (200, accepted)]
    async with XmlCurlClient(app.url, 5) as client:
        registrar, fired, _ = make_registrar(xml_curl_directory(client, static), 1)
        results = [(await registrar.register(**DEVICE, expires=60)).status for _ in range(3)]
        assert results == [200, 200, 200]
        assert len(static_calls) == 2  # the third answer was used as it is
        registers = [event for event in fired.events if event.subclass == "sofia::register"]
        # Only the xml_curl user has this variable.
        assert [event.get("xml_curl_user") for event in registers] == [None, None, "true"]

        registrar_without_static, _, _ = make_registrar(xml_curl_directory(client), 1)
        app.answers.append((200, not_found))
        assert (await registrar_without_static.register(**DEVICE, expires=60)).status == 403
