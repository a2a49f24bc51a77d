"""The mod_xml_curl client against a local aiohttp server, compared with FreeSWITCH's recorded requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
from aiohttp import web

from fsim.events import EventFactory, Origin, SwitchIdentity
from fsim.xml_curl import (
    NotFound,
    XmlCurlClient,
    XmlCurlConnectionError,
    XmlCurlHTTPError,
    XmlCurlOversized,
    XmlCurlTimeout,
    build_body,
    form_encode,
    parse_document,
    with_hunt_profile,
)
from tests.fsim.recordings import FREESWITCH

RECORDED_IDENTITY = SwitchIdentity(
    core_uuid="a6d6f13d-0e79-4c1c-a688-fb834e534d9e", hostname="vm", ipv4="192.0.2.2", ipv6="fd00::2"
)
# The only values that depend on when the request is made.
VOLATILE = {"Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp"}


@dataclass
class RecordedRequest:
    """A raw HTTP request: request line, header lines in order, and the form pairs (values still encoded)."""

    request_line: str
    headers: list[tuple[str, str]]
    pairs: list[tuple[str, str]]
    body: bytes

    @classmethod
    def parse(cls, raw: bytes) -> RecordedRequest:
        head, body = raw.split(b"\r\n\r\n", 1)
        request_line, *lines = head.decode().split("\r\n")
        headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
        pairs = [
            (name, value) for name, _, value in (pair.partition("=") for pair in body.decode().split("&"))
        ]
        return cls(request_line, headers, pairs, body)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.pairs]

    def decoded(self) -> list[tuple[str, str]]:
        return [(name, unquote(value)) for name, value in self.pairs]


def recorded(name: str) -> RecordedRequest:
    return RecordedRequest.parse((FREESWITCH / name).read_bytes())


def recorded_answer(name: str) -> str:
    return (FREESWITCH / name).read_bytes().split(b"\r\n\r\n", 1)[1].decode()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeApplication:
    """The xml_curl web server of the application under test: records every request, answers from a queue."""

    url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    answers: list[Handler | tuple[int, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = [(name.decode(), value.decode()) for name, value in request.raw_headers]
        request_line = (
            f"{request.method} {request.path_qs} HTTP/{request.version.major}.{request.version.minor}"
        )
        self.requests.append(RecordedRequest.parse(b"\r\n".join(
            [request_line.encode(), *(f"{n}: {v}".encode() for n, v in headers), b"", body]
        )))  # fmt: skip
        answer = (
            self.answers.pop(0) if self.answers else (200, recorded_answer("xml-curl-dialplan-response.txt"))
        )
        if callable(answer):
            return await answer(request)
        status, text = answer
        return web.Response(status=status, text=text, content_type="text/xml")


@pytest.fixture
async def app() -> AsyncIterator[FakeApplication]:
    fake = FakeApplication()
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def channel_data(request: RecordedRequest) -> list[tuple[str, str]]:
    """What the call model hands over: the decoded channel data, Channel-State up to the Hunt-* copy."""
    pairs = request.decoded()
    start = [name for name, _ in pairs].index("Channel-State")
    return [(name, value) for name, value in pairs[start:] if not name.startswith("Hunt-")]


def sequence_of(request: RecordedRequest) -> int:
    return int(dict(request.pairs)["Event-Sequence"])


def assert_same_form(sent: RecordedRequest, expected: RecordedRequest) -> None:
    """Same field names in the same order, and byte-identical encoded values apart from the dates."""
    assert sent.names == expected.names
    differing = [
        (name, ours, theirs)
        for (name, ours), (_, theirs) in zip(sent.pairs, expected.pairs, strict=True)
        if ours != theirs and name not in VOLATILE
    ]
    assert differing == []


@pytest.mark.parametrize("recording", ["xml-curl-dialplan-request.txt", "xml-curl-dialplan-request-sip.txt"])
async def test_a_dialplan_fetch_posts_what_freeswitch_posted(app, recording):
    expected = recorded(recording)
    events = EventFactory(RECORDED_IDENTITY, first_sequence=sequence_of(expected))
    async with XmlCurlClient(f"{app.url}/xml_curl/dialplan", 5, events) as client:
        answer = await client.fetch_dialplan(channel_data(expected))

    assert answer == recorded_answer("xml-curl-dialplan-response.txt")
    [sent] = app.requests
    assert sent.request_line == expected.request_line
    assert [name for name, _ in sent.headers] == [name for name, _ in expected.headers]
    sent_headers = dict(sent.headers)
    assert sent_headers["User-Agent"] == "freeswitch-xml/1.0"
    assert sent_headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent_headers["Accept"] == "*/*"
    assert int(sent_headers["Content-Length"]) == len(sent.body)
    assert_same_form(sent, expected)
    # The REQUEST_PARAMS event took one Event-Sequence number from the switch's counter.
    assert events.make("CUSTOM", Origin("test.c", "test", 1)).sequence == sequence_of(expected) + 1


@pytest.mark.parametrize(
    "recording",
    [
        "xml-curl-directory-request.txt",
        "xml-curl-directory-request-unregister.txt",
        "xml-curl-directory-request-user-exists.txt",
    ],
)
async def test_a_directory_fetch_posts_what_freeswitch_posted(app, recording):
    """sip_auth lookups come from sofia_reg_parse_auth, user_exists from switch_xml_locate_user."""
    expected = recorded(recording)
    pairs = expected.decoded()
    fields = pairs[[name for name, _ in pairs].index("Event-Sequence") + 1 :]
    events = EventFactory(RECORDED_IDENTITY, first_sequence=sequence_of(expected))
    app.answers.append((200, recorded_answer("xml-curl-directory-response.txt")))
    async with XmlCurlClient(f"{app.url}/xml_curl/directory", 5, events) as client:
        answer = await client.fetch_directory(fields)

    assert '<user id="1000">' in answer
    [sent] = app.requests
    assert sent.request_line == expected.request_line
    assert [name for name, _ in sent.headers] == [name for name, _ in expected.headers]
    assert_same_form(sent, expected)


def test_values_are_encoded_like_switch_url_encode_and_the_five_basic_fields_are_not():
    for recording in ("xml-curl-dialplan-request-sip.txt", "xml-curl-directory-request.txt"):
        request = recorded(recording)
        for (name, raw), (_, value) in zip(request.pairs[5:], request.decoded()[5:], strict=True):
            assert form_encode(value) == raw, name
    assert form_encode("a b+c:d%2Fe%zz,(x)'!*$-_.~/") == "a%20b%2Bc%3Ad%2Fe%25zz,(x)'!*$-_.~/"
    assert form_encode("é\r\n") == "%C3%A9%0D%0A"
    assert build_body("directory", "domain", "name", "a b", [("k", "v w")], "vm") == (
        "hostname=vm&section=directory&tag_name=domain&key_name=name&key_value=a b&k=v%20w"
    )


def test_the_hunt_profile_is_not_added_twice():
    expected = recorded("xml-curl-dialplan-request.txt")
    complete = expected.decoded()[18:]
    assert with_hunt_profile(complete) == complete
    assert with_hunt_profile(channel_data(expected)) == complete


@pytest.mark.parametrize("status", [404, 500, 201, 204])
async def test_any_status_but_200_fails_the_binding(app, status):
    app.answers.append((status, recorded_answer("xml-curl-dialplan-response.txt")))
    async with XmlCurlClient(app.url, 5) as client:
        with pytest.raises(XmlCurlHTTPError) as failure:
            await client.fetch_dialplan([])
    assert failure.value.status == status


async def test_a_refused_connection_fails_the_binding():
    with socket.socket() as probe:  # a port that nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with XmlCurlClient(f"http://127.0.0.1:{port}/", 5) as client:
        with pytest.raises(XmlCurlConnectionError):
            await client.fetch_directory([("key", "id"), ("user", "1000"), ("domain", "127.0.0.1")])


async def test_a_server_slower_than_the_timeout_fails_the_binding(app):
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="<document/>")

    app.answers.append(stall)
    try:
        async with XmlCurlClient(app.url, 0.2) as client:
            with pytest.raises(XmlCurlTimeout):
                await client.fetch_dialplan([])
    finally:
        release.set()


async def test_a_slow_body_counts_against_the_timeout_too(app):
    """CURLOPT_TIMEOUT bounds the whole transfer, not just the wait for the headers."""
    release = asyncio.Event()

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/xml"})
        await response.prepare(request)
        await response.write(b"<document type=")
        await release.wait()
        return response

    app.answers.append(trickle)
    try:
        async with XmlCurlClient(app.url, 0.2) as client:
            with pytest.raises(XmlCurlTimeout):
                await client.fetch_dialplan([])
    finally:
        release.set()


async def test_an_oversized_answer_fails_the_binding(app):
    app.answers.append((200, "<document>" + " " * 2000 + "</document>"))
    async with XmlCurlClient(app.url, 5, max_bytes=1000) as client:
        with pytest.raises(XmlCurlOversized):
            await client.fetch_dialplan([])


async def test_redirects_are_followed(app):
    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/elsewhere")

    app.answers += [moved, (200, "<document/>")]
    async with XmlCurlClient(f"{app.url}/first", 5) as client:
        assert await client.fetch_dialplan([]) == "<document/>"
    assert [request.request_line.split()[1] for request in app.requests] == ["/first", "/elsewhere"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ('<document type="freeswitch/xml"><section name="result"><result status="not found"/></section>'
         "</document>", "not found"),
        ('<document><section name="RESULT"><result status="NOT FOUND"/></section></document>', "not found"),
        ("this is not xml", "Error Parsing Result!"),
        ("<document><section name='dialplan'>", "Error Parsing Result!"),
        ("", "Error Parsing Result!"),
    ],
)  # fmt: skip
def test_not_found_and_garbage_mean_the_static_xml(answer, reason):
    result = parse_document(answer)
    assert isinstance(result, NotFound)
    assert result.reason.startswith(reason)


def test_an_accepted_answer_parses_to_its_document():
    root = parse_document(recorded_answer("xml-curl-dialplan-response.txt"))
    assert not isinstance(root, NotFound)
    assert root.tag == "document"
