"""The registrar whapp: credentials for authn_req, registrations kept per instance, registration_query."""

from __future__ import annotations

import uuid
from typing import Any

from tests.whapps.scripted import CallflowHarness
from tests.whapps.test_endpoints import WAIT, register, registrar_on, save_device
from whapps.registrar.registrations import EXPIRES_FUDGE
from whapps.registrar.service import Registrar
from whistle_common.bus import Bus


async def ask(bus: Bus, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    return await bus.request(bus.build(name, fields), timeout=WAIT)


def authn_req(h: CallflowHarness, user: str, realm: str | None = None) -> dict[str, Any]:
    realm = realm or h.realm
    return {
        "Auth-Realm": realm,
        "Auth-User": user,
        "From": f"{user}@{realm}",
        "To": f"{user}@{realm}",
        "Method": "REGISTER",
    }


async def test_a_device_gets_its_password_and_the_channel_variables_that_tag_its_calls() -> None:
    async with CallflowHarness() as h, registrar_on(h):
        await h.account(realm="acme.test")
        owner = uuid.uuid4().hex
        device_id = await save_device(h, "Alice.Desk", owner_id=owner, sip={"expire_seconds": 300})
        reply = await ask(h.switch_bus, "authn_req", authn_req(h, "alice.desk", "ACME.test"))
        assert reply["Event-Name"] == "authn_resp"
        assert (reply["Auth-Method"], reply["Auth-Password"], reply["Auth-Username"]) == (
            "password",
            "secret",
            "Alice.Desk",
        )
        assert reply["Expires"] == 300
        assert reply["Custom-Channel-Vars"] == {
            "Account-ID": h.account_id,
            "Authorizing-ID": device_id,
            "Authorizing-Type": "device",
            "Owner-ID": owner,
            "Username": "Alice.Desk",
            "Realm": "ACME.test",
            "Account-Realm": "acme.test",
            "Account-Name": "acme.test",
        }


async def test_who_cannot_register_gets_no_credentials_and_says_why() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        await save_device(h, "off", enabled=False)
        by_ip = {"username": "byip", "method": "ip", "ip": "192.0.2.1"}
        await h.save({"pvt_type": "device", "name": "byip", "sip": by_ip})
        assert await registrar.credentials("nowhere.test", "alice") == "no account has this realm"
        assert "no device with this SIP username" in str(await registrar.credentials(h.realm, "ghost"))
        assert "is disabled" in str(await registrar.credentials(h.realm, "off"))
        assert "has no SIP password" in str(await registrar.credentials(h.realm, "byip"))
        [reply] = await h.switch_bus.collect(
            h.switch_bus.build("authn_req", authn_req(h, "ghost")), timeout=5, until=lambda _reply: True
        )
        # an answer at once: ecallmgr's directory fetch says "not found" without waiting its deadline
        assert reply["Auth-Method"] == "error" and "no device" in reply["Error-Message"]


async def test_a_registration_is_answered_until_it_expires() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        now = [1000.0]
        registrar.registrations.clock = lambda: now[0]
        await register(h, registrar, "Alice", "sip:alice@10.0.0.5:5060", expires=60)
        query = {"Realm": h.realm.upper(), "Username": "alice"}
        reply = await ask(h.bus, "registration_query", query)
        [fields] = reply["Fields"]
        assert (fields["Contact"], fields["Username"], fields["Realm"], fields["Expires"]) == (
            '"" <sip:alice@10.0.0.5:5060>',
            "Alice",
            h.realm,
            60,
        )
        assert fields["Profile-Name"] == "internal" and "Msg-ID" not in fields and "Server-ID" not in fields
        assert (await ask(h.bus, "registration_query", {**query, "Count-Only": True}))["Count"] == 1
        only = await ask(h.bus, "registration_query", {**query, "Fields": ["Contact"]})
        assert only["Fields"] == [{"Contact": '"" <sip:alice@10.0.0.5:5060>'}]
        now[0] += 60 + EXPIRES_FUDGE
        assert (await ask(h.bus, "registration_query", query))["Fields"] == []


async def test_the_callflow_finds_the_registration_and_nothing_for_others() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        await register(h, registrar, "alice", "sip:alice@10.0.0.5:5060")
        found = await h.whapp.registration(h.realm, "alice")
        assert found is not None and found["Contact"] == '"" <sip:alice@10.0.0.5:5060>'
        assert await h.whapp.registration(h.realm, "bob") is None


async def test_a_flush_forgets_the_registration_it_names_but_not_a_newer_contact() -> None:
    async with CallflowHarness() as h, registrar_on(h) as registrar:
        await h.account()
        await register(h, registrar, "alice", "sip:alice@10.0.0.5:5060")
        assert await registrar.registrations.flush(h.realm, "alice", "sip:alice@10.0.0.99:5060") is False
        assert registrar.registrations.get(h.realm, "alice") is not None
        flush = {
            "Realm": h.realm,
            "Username": "alice",
            "Reason": "unregister",
            "Contact": "<sip:alice@10.0.0.5:5060>",
        }
        await h.switch_bus.send(h.switch_bus.build("registration_flush", flush))
        async with registrar.registrations.changed:
            await registrar.registrations.changed.wait_for(lambda: len(registrar.registrations) == 0)
        assert (await ask(h.bus, "registration_query", {"Realm": h.realm, "Username": "alice"}))[
            "Fields"
        ] == []


async def test_every_instance_keeps_every_registration() -> None:
    async with CallflowHarness() as h, registrar_on(h) as first, registrar_on(h) as second:
        await h.account()
        await register(h, first, "alice", "sip:alice@10.0.0.5:5060")
        assert (await second.registrations.wait_for(h.realm, "alice", WAIT))["Contact"].endswith(
            "<sip:alice@10.0.0.5:5060>"
        )
        assert isinstance(first, Registrar) and first.bus.server_id != second.bus.server_id
