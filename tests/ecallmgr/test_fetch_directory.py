"""Directory fetches: recorded FreeSWITCH requests → authn_req → authn_resp → the user find_user reads."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ecallmgr.fetch import FetchServer
from fsim.directory import DirectoryUser, find_user
from fsim.xml_curl import NotFound
from tests.fsim.recordings import FREESWITCH
from whistle_common.bus import Bus, Delivery

REGISTER = FREESWITCH / "xml-curl-directory-request.txt"
UNREGISTER = FREESWITCH / "xml-curl-directory-request-unregister.txt"
USER_EXISTS = FREESWITCH / "xml-curl-directory-request-user-exists.txt"
TIMEOUT = 0.5

Answer = Callable[[Delivery, Bus], Awaitable[None]]


def recorded(path: Any) -> tuple[bytes, dict[str, str]]:
    head, body = path.read_bytes().split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    headers.pop("Host"), headers.pop("Content-Length")
    return body, headers


@dataclass
class Registrar:
    """A fake registrar pool member: records each authn_req and answers it with ``answer``."""

    bus: Bus
    answer: Answer | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def on_authn_req(self, delivery: Delivery) -> None:
        self.requests.append(delivery.message)
        if self.answer is not None:
            await self.answer(delivery, self.bus)


@dataclass
class Rig:
    server: FetchServer
    registrar: Registrar

    async def fetch(self, path: Any = REGISTER, body: bytes | None = None) -> str:
        recorded_body, headers = recorded(path)
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.post(
                self.server.url + "/directory", content=body or recorded_body, headers=headers, timeout=5
            )
        assert answer.status_code == 200
        return answer.text


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    url = f"memory://fetch-directory-{uuid.uuid4().hex}"
    ecallmgr = Bus.from_url(url, app_name="ecallmgr", node="ecallmgr@test")
    registrar_bus = Bus.from_url(url, app_name="registrar", node="registrar@test")
    await ecallmgr.start()
    await registrar_bus.start()
    registrar = Registrar(registrar_bus)
    await registrar_bus.consume(
        "registrar.authn_req", registrar.on_authn_req, bindings=[("callmgr", "authn.req")]
    )
    server = FetchServer(ecallmgr, port=0, route_timeout=TIMEOUT, authn_timeout=TIMEOUT)
    await server.start()
    try:
        yield Rig(server, registrar)
    finally:
        await server.close()
        await registrar_bus.close()
        await ecallmgr.close()


def answering(*replies: dict[str, Any]) -> Answer:
    async def answer(delivery: Delivery, bus: Bus) -> None:
        for fields in replies:
            await bus.reply(delivery.message, bus.build("authn_resp", fields))

    return answer


CCVS = {"Account-ID": "b" * 32, "Authorizing-ID": "dev1", "Authorizing-Type": "device", "Username": "1000"}


async def test_authn_req_carries_the_recorded_register(rig: Rig) -> None:
    rig.registrar.answer = answering({"Auth-Method": "password", "Auth-Password": "1234"})
    await rig.fetch()
    (request,) = rig.registrar.requests
    assert request["Event-Name"] == "authn_req"
    assert (request["Auth-User"], request["Auth-Realm"]) == ("1000", "127.0.0.1")
    assert request["From"] == "1000@127.0.0.1" and request["To"] == "1000@127.0.0.1"
    assert request["Method"] == "REGISTER"
    assert request["Auth-Nonce"] == "cd1f406e-8084-4810-8575-b69b601a3478"
    assert request["Auth-Response"] == "ee3705012b457d69e75c52ba20d1282a"
    assert request["Call-ID"] == "1-7221@127.0.0.1"
    assert request["Orig-IP"] == "127.0.0.1" and request["Orig-Port"] == "5070"
    assert request["User-Agent"] == "SIPp-fixture" and request["Contact"] == "1000@127.0.0.1"
    assert request["Switch-Hostname"] == "vm"


async def test_password_reply_becomes_the_user_with_ccv_variables(rig: Rig) -> None:
    rig.registrar.answer = answering(
        {"Auth-Method": "password", "Auth-Password": "1234", "Custom-Channel-Vars": CCVS}
    )
    user = find_user(await rig.fetch(), domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser)
    assert user.password == "1234" and user.a1_hash is None
    assert dict(user.variables) == {f"ecallmgr_{name}": value for name, value in CCVS.items()}
    assert user.param("dial-string") is not None  # inherited from the domain, as in the recording


async def test_a1_hash_reply_becomes_an_a1_hash_param(rig: Rig) -> None:
    rig.registrar.answer = answering({"Auth-Method": "a1-hash", "Auth-Password": "0123456789abcdef"})
    user = find_user(await rig.fetch(UNREGISTER), domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser)
    assert user.a1_hash == "0123456789abcdef" and user.password is None


async def test_user_exists_lookup_is_answered_too(rig: Rig) -> None:
    rig.registrar.answer = answering({"Auth-Method": "password", "Auth-Password": "1234"})
    user = find_user(await rig.fetch(USER_EXISTS), domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser) and user.password == "1234"
    (request,) = rig.registrar.requests
    assert "Method" not in request and request["Auth-User"] == "1000"


async def test_error_reply_is_not_found_at_once(rig: Rig) -> None:
    rig.registrar.answer = answering({"Auth-Method": "error", "Error-Message": "unknown user"})
    started = time.monotonic()
    answer = await rig.fetch()
    assert find_user(answer, domain="127.0.0.1", user="1000") == NotFound("not found")
    assert time.monotonic() - started < TIMEOUT  # a definitive "no such user" ends the wait


async def test_no_reply_is_not_found_within_the_deadline(rig: Rig) -> None:
    started = time.monotonic()
    answer = await rig.fetch()
    assert isinstance(find_user(answer, domain="127.0.0.1", user="1000"), NotFound)
    assert time.monotonic() - started < TIMEOUT + 1.0


async def test_a_deferred_error_loses_to_a_later_password(rig: Rig) -> None:
    async def answer(delivery: Delivery, bus: Bus) -> None:
        error = {"Auth-Method": "error", "Auth-Password": "x", "Defer-Response": True}
        await bus.reply(delivery.message, bus.build("authn_resp", error))
        await asyncio.sleep(0.05)
        password = {"Auth-Method": "password", "Auth-Password": "1234"}
        await bus.reply(delivery.message, bus.build("authn_resp", password))

    rig.registrar.answer = answer
    user = find_user(await rig.fetch(), domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser) and user.password == "1234"


async def test_a_deferred_password_is_used_at_the_deadline(rig: Rig) -> None:
    rig.registrar.answer = answering(
        {"Auth-Method": "password", "Auth-Password": "later", "Defer-Response": True}
    )
    started = time.monotonic()
    user = find_user(await rig.fetch(), domain="127.0.0.1", user="1000")
    assert time.monotonic() - started >= TIMEOUT
    assert isinstance(user, DirectoryUser) and user.password == "later"


async def test_malicious_values_are_escaped(rig: Rig) -> None:
    evil = '"/><user id="9999"><params><param name="password" value="x"/></params></user><x a="&<'
    rig.registrar.answer = answering(
        {"Auth-Method": "password", "Auth-Password": evil, "Custom-Channel-Vars": {"Note": evil, "a b": "x"}}
    )
    answer = await rig.fetch()
    assert isinstance(find_user(answer, domain="127.0.0.1", user="9999"), type(None))  # no injected user
    user = find_user(answer, domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser) and user.password == evil
    assert dict(user.variables) == {"ecallmgr_Note": evil}


async def test_a_fetch_without_user_is_not_found_and_asks_nobody(rig: Rig) -> None:
    body = b"hostname=vm&section=directory&tag_name=domain&key_name=name&key_value=127.0.0.1"
    answer = await rig.fetch(body=body)
    assert isinstance(find_user(answer, domain="127.0.0.1", user="1000"), NotFound)
    assert rig.registrar.requests == []
