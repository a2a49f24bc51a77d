"""record_call -> record_session / stop_record_session, confined to the recording directory."""

from __future__ import annotations

import pytest

from ecallmgr.control import commands
from ecallmgr.control.commands import CommandRefused, plan

CALL = "call-1"


def apps(**fields: object) -> list[tuple[str, str | None]]:
    command = {"Application-Name": "record_call", "Call-ID": CALL, "Msg-ID": "m-1", **fields}
    return [(a.app, a.arg) for a in plan(command, CALL).apps]


@pytest.fixture(autouse=True)
def recording_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "RECORDING_DIR", "/var/rec")


def test_start_records_the_session_into_the_recording_directory_with_its_limit() -> None:
    assert apps(**{"Record-Action": "start", "Media-Name": "call.mp3", "Time-Limit": 600}) == [
        ("record_session", "/var/rec/call.mp3 +600")
    ]
    assert apps(**{"Record-Action": "start", "Media-Name": "/var/rec/sub/call.wav"}) == [
        ("record_session", "/var/rec/sub/call.wav")
    ]


def test_stop_stops_that_file_or_every_recording() -> None:
    assert apps(**{"Record-Action": "stop", "Media-Name": "call.mp3"}) == [
        ("stop_record_session", "/var/rec/call.mp3")
    ]
    assert apps(**{"Record-Action": "stop"}) == [("stop_record_session", "all")]


@pytest.mark.parametrize(
    "name", ["../etc/x.mp3", "a/b.mp3", "/etc/passwd", "/var/rec/../../etc/x", "a b.mp3"]
)
@pytest.mark.parametrize("action", ["start", "stop"])
def test_paths_outside_the_recording_directory_are_refused(action: str, name: str) -> None:
    with pytest.raises(CommandRefused) as refused:
        apps(**{"Record-Action": action, "Media-Name": name})
    assert refused.value.error == "invalid"


def test_start_without_a_file_is_refused() -> None:
    with pytest.raises(CommandRefused):
        apps(**{"Record-Action": "start"})


def test_an_expansion_in_the_name_is_refused() -> None:
    with pytest.raises(CommandRefused):
        apps(**{"Record-Action": "start", "Media-Name": "${system(id)}.mp3"})
