"""The ``store`` call command: ecallmgr uploads the recording (an aiohttp server stands in for CouchDB)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ecallmgr.control import commands
from ecallmgr.control import store as store_module
from tests.ecallmgr import test_control_queue
from tests.ecallmgr.test_control_queue import Harness

harness = test_control_queue.harness  # the fake node + in-memory bus fixture

RECORDING = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00" + bytes(
    range(256)
)


@dataclass
class Upload:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Couch:
    """An aiohttp server recording what is uploaded, answering ``status`` (after ``delay`` seconds)."""

    server: TestServer
    uploads: list[Upload] = field(default_factory=list)
    status: int = 201
    delay: float = 0.0

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def couch() -> AsyncIterator[Couch]:
    app = web.Application()
    state: dict[str, Couch] = {}

    async def handle(request: web.Request) -> web.Response:
        me = state["couch"]
        me.uploads.append(
            Upload(
                request.method, request.path, dict(request.query), dict(request.headers), await request.read()
            )
        )
        if me.delay:
            await asyncio.sleep(me.delay)
        return web.json_response({"ok": me.status < 300}, status=me.status)

    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state["couch"] = me = Couch(server)
    try:
        yield me
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def recording_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(commands, "RECORDING_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "call-recording.wav"
    path.write_bytes(RECORDING)
    return path


async def store(h: Harness, media: str, method: str, url: str, **extra: Any) -> dict[str, Any]:
    fields = {"Media-Name": media, "Media-Transfer-Method": method, "Media-Transfer-Destination": url}
    return await h.command("store", **fields, **extra)


async def test_put_uploads_the_exact_bytes_and_completes_with_success_and_the_msg_id(
    harness, couch, recording
):
    h = harness
    url = couch.url("/account%2Fab%2Fcd/rec-1/call-recording.wav") + "?rev=1-abc"
    command = await store(h, str(recording), "put", url, **{"Additional-Headers": ["X-Trace: abc 123"]})
    done = await h.next_event()
    assert (done["Event-Name"], done["Application-Name"], done["Application-Response"]) == (
        "CHANNEL_EXECUTE_COMPLETE",
        "store",
        "success",
    )
    assert done["Msg-ID"] == command["Msg-ID"] and done["Call-ID"] == h.call_id
    [upload] = couch.uploads
    assert (upload.method, upload.query) == ("PUT", {"rev": "1-abc"})
    assert upload.body == RECORDING
    assert upload.headers["Content-Type"] == "audio/x-wav"
    assert upload.headers["X-Trace"] == "abc 123"
    assert h.node.sent == [] and h.node.apis == []  # nothing ran on FreeSWITCH
    await h.until_settled()


async def test_post_sends_the_raw_body_and_additional_headers_may_set_the_content_type(
    harness, couch, recording
):
    h = harness
    headers = {"Additional-Headers": ["Content-Type: audio/wav"]}
    await store(h, str(recording), "post", couch.url("/upload"), **headers)
    done = await h.next_event()
    assert (done["Application-Name"], done["Application-Response"]) == ("store", "success")
    [upload] = couch.uploads
    assert (upload.method, upload.body, upload.headers["Content-Type"]) == ("POST", RECORDING, "audio/wav")


@pytest.mark.parametrize("status", [409, 500])
async def test_an_http_error_status_is_a_dialplan_error_and_the_queue_moves_on(
    harness, couch, recording, status
):
    h = harness
    couch.status = status
    command = await store(h, str(recording), "put", couch.url("/db/doc/a.wav?rev=1-x"))
    await h.command("answer")
    error = await h.next_event()
    assert (error["Event-Category"], error["Event-Name"]) == ("error", "dialplan")
    assert error["Dialplan-Error"] == "store_failed"
    assert str(status) in error["Error-Message"]
    assert error["Msg-ID"] == command["Msg-ID"]
    assert error["Request"]["Application-Name"] == "store"
    assert len(couch.uploads) == 1
    assert (await h.node.nth_sent(1)).app == "answer"  # the queue moved on


async def test_a_missing_file_is_a_dialplan_error_and_nothing_is_uploaded(harness, couch, tmp_path):
    h = harness
    command = await store(h, str(tmp_path / "never-recorded.wav"), "put", couch.url("/db/doc/a.wav"))
    error = await h.next_event()
    assert error["Dialplan-Error"] == "media_not_found" and error["Msg-ID"] == command["Msg-ID"]
    assert "never-recorded.wav" in error["Error-Message"]
    assert couch.uploads == []


async def test_a_directory_or_a_relative_path_is_refused(harness, couch, tmp_path, recording):
    h = harness
    await store(h, str(tmp_path), "put", couch.url("/db/doc/a.wav"))
    assert (await h.next_event())["Dialplan-Error"] == "media_not_found"
    await store(h, recording.name, "put", couch.url("/db/doc/a.wav"))
    assert (await h.next_event())["Dialplan-Error"] == "invalid"
    assert couch.uploads == []


async def test_stream_is_refused_as_unsupported(harness, couch, recording):
    h = harness
    command = await store(h, str(recording), "stream", couch.url("/db/doc/a.wav"))
    error = await h.next_event()
    assert error["Dialplan-Error"] == "unsupported" and error["Msg-ID"] == command["Msg-ID"]
    assert "stream" in error["Error-Message"]
    assert couch.uploads == []


async def test_a_server_too_slow_to_answer_is_a_timeout(harness, couch, recording, monkeypatch):
    h = harness
    monkeypatch.setattr(store_module, "STORE_TIMEOUT", 0.2)
    couch.delay = 2.0
    await store(h, str(recording), "put", couch.url("/db/doc/a.wav"))
    error = await h.next_event()
    assert error["Dialplan-Error"] == "timeout"


async def test_an_unreachable_destination_is_a_dialplan_error_without_its_credentials(harness, recording):
    h = harness
    await store(h, str(recording), "put", "http://admin:secret@127.0.0.1:1/db/doc/a.wav")
    error = await h.next_event()
    assert error["Dialplan-Error"] == "store_failed"
    assert "secret" not in error["Error-Message"]


def test_content_types_come_from_the_extension():
    assert store_module.content_type("/tmp/a.wav") == "audio/x-wav"
    assert store_module.content_type("/tmp/a.MP3") == "audio/mpeg"
    assert store_module.content_type("/tmp/a.unknownext") == "application/octet-stream"


async def test_a_path_outside_the_recording_directory_is_refused(harness, couch):
    h = harness
    command = await store(h, "/etc/passwd", "put", couch.url("/db/doc/a.wav"))
    error = await h.next_event()
    assert error["Dialplan-Error"] == "invalid" and error["Msg-ID"] == command["Msg-ID"]
    assert "outside the recording directory" in error["Error-Message"]
    assert couch.uploads == []
