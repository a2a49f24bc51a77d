"""``getvar <name>`` on a socket bound to a channel with ``myevents``: the raw value as Reply-Text."""

from __future__ import annotations

import uuid as uuidlib

from fsim.esl.server import EslServer
from tests.fsim.test_calls_support import make_switch
from tests.fsim.test_esl_support import EslClient, FakeSwitch, esl_server

A = "fa1e3499-b2c8-43f6-b85e-3dae39fed390"


async def test_getvar_answers_the_raw_value_and_command_not_found_when_unset():
    switch = FakeSwitch()
    switch.add_channel(A, "loopback/answer_park-a")
    switch.variables[A] = {"caller_id_number": "0000000000", "odd": "a b:c%20&d", "empty": ""}
    async with esl_server(switch) as server:
        client = await EslClient.connect(server.port)
        # Not bound yet: getvar is a session command.
        unbound = await client.command("getvar caller_id_number")
        assert unbound.header("Reply-Text") == "-ERR command not found"
        assert (await client.command(f"myevents {A}")).header("Reply-Text") == "+OK Events Enabled"
        assert (await client.command("getvar caller_id_number")).header("Reply-Text") == "0000000000"
        # Raw: no URL encoding, unlike the outbound connect reply.
        assert (await client.command("getvar odd")).header("Reply-Text") == "a b:c%20&d"
        for missing in ("getvar nosuchvar", "getvar empty", "getvar"):
            assert (await client.command(missing)).header("Reply-Text") == "-ERR command not found"
        await client.close()


async def test_getvar_reads_a_live_channel_of_the_switch():
    switch = make_switch()
    server = EslServer(switch, port=0)
    await server.start()
    uuid = str(uuidlib.uuid4())
    try:
        reply = await switch.originate(
            f"{{origination_uuid={uuid},fixture_note=hello world}}loopback/answer_park/default &park()"
        )
        assert reply == f"+OK {uuid}\n"
        client = await EslClient.connect(server.port)
        await client.command(f"myevents {uuid}")
        assert (await client.command("getvar fixture_note")).header("Reply-Text") == "hello world"
        assert (await client.command("getvar uuid")).header("Reply-Text") == uuid
        name = (await client.command("getvar channel_name")).header("Reply-Text")
        assert name == switch.channel_name(uuid) == "loopback/answer_park-a"
        data = switch.channel_data(uuid) or []
        assert data[:5] == [
            ("Channel-State", "CS_EXECUTE"),
            ("Channel-Call-State", "ACTIVE"),
            ("Channel-State-Number", "4"),
            ("Channel-Name", "loopback/answer_park-a"),
            ("Unique-ID", uuid),
        ]
        assert ("variable_fixture_note", "hello world") in data
        await client.close()
    finally:
        await server.close()
        await switch.close()
    assert switch.channel_variable(uuid, "fixture_note") is None  # gone with the channel
