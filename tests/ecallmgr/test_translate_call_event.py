"""ecallmgr.translate.call_event against real FreeSWITCH events (tests/fsim/recordings)."""

from __future__ import annotations

import time

import pytest

from ecallmgr.translate import FS_TO_KAZOO, KAZOO_TO_FS, call_event, event_name, kazoo_application_name
from tests.ecallmgr.translate_inputs import CALL_RECORDINGS, ORIGIN
from tests.fsim.recordings import events
from whistle_common.api.catalogue import Catalogue

# Channel events the recordings hold that Kazoo does not publish on callevt.
UNPUBLISHED = {
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_UUID",
    "CHANNEL_OUTGOING",
    "CHANNEL_ORIGINATE",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CODEC",
    "CALL_UPDATE",
    "PRESENCE_IN",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "PRIVATE_COMMAND",
    "API",
    "BACKGROUND_JOB",
    "HEARTBEAT",
    "RE_SCHEDULE",
    "MESSAGE_QUERY",
    "CUSTOM",  # the recordings' subclasses: conference::maintenance and sofia::* registrations
}
PUBLISHED = {
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "DTMF",
    "RECORD_START",
    "RECORD_STOP",
}


def recorded(name: str) -> list[dict[str, str]]:
    return [dict(event.headers) for event in events(name)]


def first(name: str, event: str, application: str | None = None) -> dict[str, str]:
    for fs in recorded(name):
        if fs.get("Event-Name") == event and (application is None or fs.get("Application") == application):
            return fs
    raise LookupError(f"no {event} {application or ''} in {name}")


def assert_valid(message: dict) -> None:
    assert Catalogue.default().issues(message, "call_event") == []
    assert Catalogue.default().definition_for(message).name == "call_event"


@pytest.mark.parametrize("name", CALL_RECORDINGS)
def test_every_recorded_event_is_published_valid_or_documented_as_unpublished(name: str) -> None:
    published = 0
    for fs in recorded(name):
        message = call_event(fs, origin=ORIGIN)
        fs_name = fs["Event-Name"]
        if fs_name in UNPUBLISHED:
            assert message is None, fs_name
            continue
        assert fs_name in PUBLISHED, f"{fs_name} is neither published nor documented as unpublished"
        assert message is not None, (fs_name, fs.get("Application"))
        assert_valid(message)
        assert message["Event-Name"] == fs_name == event_name(fs)
        assert message["Call-ID"] == fs["Unique-ID"]
        assert message["Timestamp"] == int(fs["Event-Date-Timestamp"]) / 1_000_000
        assert message["Media-Server"] == fs["FreeSWITCH-Hostname"]
        assert message["App-Name"] == "ecallmgr" and message["Node"] == ORIGIN.node
        assert not message["Channel-State"].startswith("CS_")
        routing_key = Catalogue.default().definition("call_event").routing_key(message)
        assert routing_key.startswith(f"call.{fs_name}.")
        published += 1
    assert published > 0


def test_execute_complete_maps_application_names() -> None:
    fs = first("call-lifecycle-json", "CHANNEL_EXECUTE_COMPLETE", "playback")
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert message["Application-Name"] == "play"
    assert message["Raw-Application-Name"] == "playback"
    assert message["Application-Response"] == "FILE PLAYED"
    assert message["Application-UUID"] == fs["Application-UUID"]
    assert message["Application-Data"] == fs["Application-Data"]
    assert message["Channel-State"] == "EXECUTE"
    assert message["Channel-Call-State"] == "ACTIVE"
    assert message["Caller-ID-Name"] == "Fixture Caller" and message["Caller-ID-Number"] == "1000"
    assert message["Call-Direction"] == "inbound"


def test_play_and_get_digits_is_play_and_collect_digits_with_the_digits_as_response() -> None:
    fs = first("call-lifecycle-json", "CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits")
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert message["Application-Name"] == "play_and_collect_digits"
    assert message["Application-Response"] == fs["variable_fixture_digits"] == "123"
    started = call_event(
        first("call-lifecycle-json", "CHANNEL_EXECUTE", "play_and_get_digits"), origin=ORIGIN
    )
    assert started is not None and started["Application-Name"] == "play_and_collect_digits"
    assert "Application-Response" not in started


def test_bridge_completion_answers_the_originate_disposition_and_names_the_other_leg() -> None:
    fs = first("call-lifecycle-json", "CHANNEL_EXECUTE_COMPLETE", "bridge")
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert message["Application-Name"] == "bridge"
    assert message["Application-Response"] == "SUCCESS"
    assert message["Other-Leg-Call-ID"] == fs["Other-Leg-Unique-ID"]


def test_bridge_event_other_leg_comes_from_bridge_ids() -> None:
    fs = first("call-lifecycle-json", "CHANNEL_BRIDGE")
    fs.pop("Other-Leg-Unique-ID", None)
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert fs["Bridge-A-Unique-ID"] == message["Call-ID"]
    assert message["Other-Leg-Call-ID"] == fs["Bridge-B-Unique-ID"]


def test_dtmf() -> None:
    digits = [
        call_event(fs, origin=ORIGIN) for fs in recorded("call-lifecycle-plain") if fs["Event-Name"] == "DTMF"
    ]
    assert all(message is not None for message in digits)
    fs = first("call-lifecycle-plain", "DTMF")
    assert digits[0]["DTMF-Digit"] == fs["DTMF-Digit"] == "1"  # type: ignore[index]
    assert digits[0]["DTMF-Duration"] == int(fs["DTMF-Duration"])  # type: ignore[index]


def test_record_stop_names_the_file() -> None:
    fs = first("call-lifecycle-json", "RECORD_STOP")
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert message["Application-Name"] == "record"
    assert message["Application-Response"] == fs["Record-File-Path"]
    assert isinstance(message["Length"], int)


def test_hangup_cause_and_cdr_fields_on_channel_destroy() -> None:
    fs = first("sip-call-json", "CHANNEL_DESTROY")
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert message["Hangup-Cause"] == "NORMAL_CLEARING"
    assert message["Hangup-Code"] == "sip:200"
    assert message["User-Agent"] == "SIPp-fixture"
    assert message["Duration-Seconds"] == int(fs["variable_duration"])
    assert message["Request"] == "9999@127.0.0.1"
    assert message["From"] == "1000@127.0.0.1"
    assert message["Custom-SIP-Headers"] == {"X-Fixture-Header": "fixture-value-123"}
    assert message["Remote-SDP"].startswith("v=0")


def test_custom_channel_vars_from_ecallmgr_variables() -> None:
    fs = first("sip-call-json", "CHANNEL_ANSWER")
    fs["variable_ecallmgr_Account-ID"] = "0123456789abcdef0123456789abcdef"
    fs["variable_ecallmgr_Authorizing-Type"] = "device"
    fs["variable_cav_Queue"] = "sales"
    fs["variable_sip_h_x-lower-case"] = "kept"
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert_valid(message)
    assert message["Custom-Channel-Vars"] == {
        "Account-ID": "0123456789abcdef0123456789abcdef",
        "Authorizing-Type": "device",
    }
    assert message["Custom-Application-Vars"] == {"Queue": "sales"}
    assert message["Custom-SIP-Headers"] == {"X-Fixture-Header": "fixture-value-123", "x-lower-case": "kept"}
    # the same names again, after the header-name cache has learnt the others
    again = call_event(fs, origin=ORIGIN)
    assert again is not None and again["Custom-Channel-Vars"] == message["Custom-Channel-Vars"]
    fs.pop("variable_ecallmgr_Authorizing-Type")
    fewer = call_event(fs, origin=ORIGIN)
    assert fewer is not None and fewer["Custom-Channel-Vars"] == {
        "Account-ID": fs["variable_ecallmgr_Account-ID"]
    }


def test_executes_of_applications_kazoo_does_not_know_are_not_published() -> None:
    fs = first("call-lifecycle-json", "CHANNEL_EXECUTE_COMPLETE", "set")
    assert call_event(fs, origin=ORIGIN) is not None
    fs["Application"] = "info"
    assert call_event(fs, origin=ORIGIN) is None
    assert event_name(fs) is None


def test_custom_subclasses() -> None:
    fs = first("sip-call-json", "CHANNEL_ANSWER")
    fs.update({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::transferor"})
    fs["variable_transfer_to"] = "blind:2000"
    message = call_event(fs, origin=ORIGIN)
    assert message is not None
    assert_valid(message)
    assert message["Event-Name"] == "CHANNEL_TRANSFEROR"
    assert (message["Transfer-Type"], message["Transfer-To"]) == ("blind", "2000")
    fs.update({"Event-Subclass": "spandsp::rxfaxresult", "variable_fax_success": "1"})
    fax = call_event(fs, origin=ORIGIN)
    assert fax is not None
    assert_valid(fax)
    assert fax["Event-Name"] == "CHANNEL_FAX_STATUS"
    assert fax["Application-Name"] == "receive_fax"
    assert fax["Application-Data"]["Fax-Success"] is True
    fs["Event-Subclass"] = "conference::maintenance"
    assert call_event(fs, origin=ORIGIN) is None


def test_msg_id_and_switch_fields() -> None:
    fs = first("sip-call-json", "CHANNEL_CREATE")
    default = call_event(fs, origin=ORIGIN)
    assert default is not None and default["Msg-ID"] == f"{fs['Event-Date-Timestamp']}-{fs['Event-Sequence']}"
    switch = {"Switch-Nodename": "freeswitch@vm", "Switch-URL": "sip:mod_sofia@127.0.0.1:5060"}
    message = call_event(fs, origin=ORIGIN, msg_id="command-1", switch=switch)
    assert message is not None
    assert_valid(message)
    assert message["Msg-ID"] == "command-1"
    assert message["Switch-Nodename"] == "freeswitch@vm"


def test_application_name_table() -> None:
    assert kazoo_application_name("playback") == "play"
    assert kazoo_application_name("play_and_get_digits") == "play_and_collect_digits"
    assert kazoo_application_name("export") == "set"
    assert kazoo_application_name("info") is None
    assert FS_TO_KAZOO["conference"] == "conference"
    assert set(KAZOO_TO_FS["play"]) == {"playback", "broadcast"}
    assert KAZOO_TO_FS["tones"] == ("playback",)


def _best_microseconds(channel_events: list[dict[str, str]], repeats: int = 5, rounds: int = 10) -> float:
    """Best of ``repeats`` CPU-time runs (other work on the machine only ever makes a run slower)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(rounds):
            for fs in channel_events:
                call_event(fs, origin=ORIGIN)
        best = min(best, time.process_time() - started)
    return best / (rounds * len(channel_events)) * 1e6


def test_microseconds_per_event() -> None:
    channel_events = [fs for name in CALL_RECORDINGS for fs in recorded(name)]
    published = [fs for fs in channel_events if call_event(fs, origin=ORIGIN) is not None]
    every = _best_microseconds(channel_events)
    only_published = _best_microseconds(published)
    print(
        f"\ncall_event: {every:.2f} us/event over {len(channel_events)} recorded events, "
        f"{only_published:.2f} us/event over the {len(published)} that are published"
    )
