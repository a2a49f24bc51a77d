"""The mod_xml_curl endpoint itself: whatever arrives, FreeSWITCH gets a 200 with a usable document."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from ecallmgr.fetch import PATH, FetchServer, not_found
from fsim.xml_curl import NotFound, parse_document
from whistle_common.bus import Bus

FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "freeswitch-xml/1.0"}


@pytest.fixture
async def server() -> AsyncIterator[FetchServer]:
    bus = Bus.from_url(f"memory://fetch-server-{uuid.uuid4().hex}", app_name="ecallmgr", node="ecallmgr@test")
    await bus.start()
    fetch_server = FetchServer(bus, port=0, route_timeout=0.2, authn_timeout=0.2)
    await fetch_server.start()
    try:
        yield fetch_server
    finally:
        await fetch_server.close()
        await bus.close()


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(url, content=body, headers=headers or FORM, timeout=5)


def test_not_found_is_the_document_freeswitch_falls_back_on() -> None:
    assert parse_document(not_found()) == NotFound("not found")


async def test_it_listens_on_the_configured_path(server: FetchServer) -> None:
    assert server.port != 0 and server.url.endswith(PATH)


@pytest.mark.parametrize(
    "body",
    [
        b"hostname=vm&section=configuration&tag_name=configuration&key_name=name&key_value=sofia.conf",
        b"hostname=vm&section=phrases",
        b"",
        b"\xff\xfe garbage &&&==",
        b"hostname=vm&section=dialplan&Event-Name=REQUEST_PARAMS",  # no Unique-ID
        b"section=dialplan&Unique-ID=abc&Call-Direction=sideways&Caller-Destination-Number=%ZZ",
    ],
)
async def test_anything_else_is_answered_not_found(server: FetchServer, body: bytes) -> None:
    answer = await post(server.url, body)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    result = parse_document(answer.text)
    assert result == NotFound("not found") or "604" in answer.text  # the last one is a routable call


async def test_a_non_form_body_is_not_found(server: FetchServer) -> None:
    answer = await post(
        server.url + "/dialplan", b'{"section": "dialplan"}', {"Content-Type": "application/json"}
    )
    assert answer.status_code == 200 and parse_document(answer.text) == NotFound("not found")


async def test_a_bus_failure_is_not_found_not_a_500(server: FetchServer) -> None:
    await server.bus.close()  # publishing the route_req now fails
    body = b"hostname=vm&section=dialplan&Unique-ID=abc&Caller-Destination-Number=100"
    answer = await post(server.url, body)
    assert answer.status_code == 200 and parse_document(answer.text) == NotFound("not found")
