"""Which events a connection receives: event/nixevent/noevents, CUSTOM subclasses, filters, formats."""

from __future__ import annotations

import orjson

from fsim.esl.subscriptions import Subscriptions
from fsim.events import Event, EventFactory, Origin
from tests.fsim.test_esl_support import EslClient, FakeSwitch, esl_server

ORIGIN = Origin("test.c", "test", 1)
FACTORY = EventFactory()


def event(name: str, *headers: tuple[str, str], subclass: str | None = None) -> Event:
    leading = [("Event-Subclass", subclass)] if subclass else []
    return FACTORY.make(name, ORIGIN, headers, leading=leading)


def received(subs: Subscriptions, *events: Event) -> list[str]:
    return [f"{e.name}/{e.subclass or ''}" for e in events if subs.wants(e, None)]


def test_event_names_accumulate_and_custom_takes_subclasses():
    subs = Subscriptions()
    assert subs.event_command(" plain CHANNEL_CREATE") == "+OK event listener enabled plain"
    assert subs.event_command(" CUSTOM sofia::register CHANNEL_ANSWER") == "+OK event listener enabled plain"
    events = (
        event("CHANNEL_CREATE"),
        event("CHANNEL_ANSWER"),  # after CUSTOM, CHANNEL_ANSWER was taken as a subclass name
        event("CUSTOM", subclass="sofia::register"),
        event("CUSTOM", subclass="conference::maintenance"),
        event("HEARTBEAT"),
    )
    assert received(subs, *events) == ["CHANNEL_CREATE/", "CUSTOM/sofia::register"]


def test_all_then_nixevent_keeps_everything_else():
    subs = Subscriptions()
    subs.event_command(" ALL")
    assert subs.nixevent_command(" HEARTBEAT") == "+OK events nixed"
    assert subs.nixevent_command(" CUSTOM conference::maintenance") == "+OK events nixed"
    events = (
        event("HEARTBEAT"),
        event("API"),
        event("CUSTOM", subclass="conference::maintenance"),
        event("CUSTOM", subclass="sofia::register"),
    )
    assert received(subs, *events) == ["API/", "CUSTOM/sofia::register"]
    assert subs.nixevent_command(" ALL") == "+OK events nixed"
    assert received(subs, *events) == []


def test_replies_without_keywords_and_noevents_twice():
    subs = Subscriptions()
    assert subs.event_command(" json") == "-ERR no keywords supplied"
    assert subs.format == "json"  # the format word still counts
    assert subs.event_command("") == "-ERR no keywords supplied"
    assert subs.event_command(" NOT_AN_EVENT") == "-ERR no keywords supplied"
    assert subs.nixevent_command(" NOPE") == "-ERR no keywords supplied"
    assert subs.noevents_command() == "-ERR not listening for events"
    assert subs.event_command("s xml SWITCH_EVENT_CHANNEL_CREATE") == "+OK event listener enabled xml"
    assert received(subs, event("CHANNEL_CREATE")) == ["CHANNEL_CREATE/"]
    assert subs.noevents_command() == "+OK no longer listening for events"
    assert received(subs, event("CHANNEL_CREATE")) == []


def test_filters_positive_negative_regex_and_case_insensitive():
    subs = Subscriptions()
    subs.event_command(" ALL")
    calls = [event("CHANNEL_ANSWER", ("Unique-ID", u), ("Caller-Caller-ID-Name", n)) for u, n in
             [("u1", "Alice"), ("u2", "Bob Smith"), ("u3", "bob")]]  # fmt: skip
    assert subs.filter_command("unique-id U1") == "+OK filter added. [unique-id]=[U1]"
    assert received(subs, *calls, event("HEARTBEAT")) == ["CHANNEL_ANSWER/"]
    assert subs.filter_command("add Caller-Caller-ID-Name Bob Smith") == (
        "+OK filter added. [Caller-Caller-ID-Name]=[Bob Smith]"
    )
    assert len(received(subs, *calls)) == 2
    assert subs.filter_command("delete all") == "+OK filter deleted. [all][]"
    assert (
        subs.filter_command("Caller-Caller-ID-Name /^bob/i")
        == "+OK filter added. [Caller-Caller-ID-Name]=[/^bob/i]"
    )
    assert subs.filter_command("Unique-ID -u3") == "+OK filter added. [Unique-ID]=[-u3]"
    assert [e.get("Unique-ID") for e in calls if subs.wants(e, None)] == ["u2"]
    assert (
        subs.filter_command("delete Caller-Caller-ID-Name") == "+OK filter deleted. [Caller-Caller-ID-Name][]"
    )
    assert subs.filter_command("Unique-ID") == "-ERR invalid syntax"
    assert subs.filter_command("delete") == "-ERR invalid syntax"
    # Only a negative filter left: nothing is ever positively matched, so nothing passes.
    assert [e.get("Unique-ID") for e in calls if subs.wants(e, None)] == []


async def test_filters_over_the_socket_deliver_only_matching_events():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command("event plain ALL")
        await client.command("filter Event-Name CHANNEL_ANSWER")
        switch.add_channel("u1", "loopback/a")  # CHANNEL_CREATE: filtered out
        switch.fire_channel_event("CHANNEL_ANSWER", "u1")
        assert (await client.event()).name == "CHANNEL_ANSWER"
        await client.command("filter delete all")
        switch.fire_channel_event("CHANNEL_PARK", "u1")
        assert (await client.event()).name == "CHANNEL_PARK"
        await client.close()


async def test_a_new_event_command_switches_the_format_of_what_follows():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        await client.command("event plain CHANNEL_CREATE")
        switch.add_channel("u1", "loopback/a")
        assert (await client.message()).content_type == "text/event-plain"
        assert (await client.command("event json CHANNEL_CREATE")).header("Reply-Text") == (
            "+OK event listener enabled json"
        )
        switch.add_channel("u2", "loopback/b")
        message = await client.message()
        assert message.content_type == "text/event-json"
        assert orjson.loads(message.body)["Unique-ID"] == "u2"
        await client.command("event xml CHANNEL_CREATE")
        switch.add_channel("u3", "loopback/c")
        assert (await client.message()).content_type == "text/event-xml"
        await client.close()


async def test_each_client_has_its_own_subscriptions_and_sendevent_reaches_every_subscriber():
    switch = FakeSwitch()
    async with esl_server(switch) as server:
        everything = await EslClient.connect(server.port)
        await everything.command("event plain ALL")
        creates = await EslClient.connect(server.port)
        await creates.command("event json CHANNEL_CREATE CUSTOM my::thing")
        quiet = await EslClient.connect(server.port)
        await quiet.command("event plain HEARTBEAT")

        reply = await quiet.command("sendevent CUSTOM\nEvent-Subclass: my::thing\nX: 1")
        switch.add_channel("u1", "loopback/a")
        event_uuid = reply.header("Reply-Text").removeprefix("+OK ")
        first = await everything.event()
        assert (first.subclass, first.get("Event-UUID")) == ("my::thing", event_uuid)
        assert (await everything.event()).name == "CHANNEL_CREATE"
        assert [(await creates.event()).name for _ in range(2)] == ["CUSTOM", "CHANNEL_CREATE"]
        assert (await quiet.command("api nosuchcommand")).body.startswith(b"-ERR")
        assert not quiet.backlog
        assert [e.name for e in switch.fired if e.name == "CUSTOM"] == ["CUSTOM"]
        for client in (everything, creates, quiet):
            await client.close()


async def test_log_levels_and_nolog_replies():
    async with esl_server() as server:
        client = await EslClient.connect(server.port)
        assert (await client.command("nolog")).header("Reply-Text") == "-ERR not loging"
        assert (await client.command("log info")).header("Reply-Text") == "+OK log level info [6]"
        assert (await client.command("log 99")).header("Reply-Text") == "+OK log level 99 [63]"
        assert (await client.command("log loud")).header("Reply-Text") == "-ERR invalid log level"
        assert (await client.command("nolog")).header("Reply-Text") == "+OK no longer logging"
        await client.close()
