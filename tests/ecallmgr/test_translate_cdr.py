"""ecallmgr.translate.cdr against the recorded CHANNEL_HANGUP_COMPLETE events."""

from __future__ import annotations

import math

import pytest

from ecallmgr.translate import cdr
from tests.ecallmgr.translate_inputs import CALL_RECORDINGS, ORIGIN
from tests.fsim.recordings import events
from whistle_common.api.catalogue import Catalogue


def hangups(name: str) -> list[dict[str, str]]:
    return [dict(e.headers) for e in events(name) if e.name == "CHANNEL_HANGUP_COMPLETE"]


@pytest.mark.parametrize("name", CALL_RECORDINGS)
def test_every_recorded_hangup_complete_gives_a_valid_cdr(name: str) -> None:
    recorded = hangups(name)
    assert recorded
    for fs in recorded:
        message = cdr(fs, origin=ORIGIN)
        assert Catalogue.default().issues(message, "cdr") == []
        assert Catalogue.default().definition_for(message).name == "cdr"
        assert Catalogue.default().definition("cdr").routing_key(message) == f"cdr.{fs['Unique-ID']}"
        assert message["Call-ID"] == fs["Unique-ID"]
        assert message["Hangup-Cause"] == fs["variable_hangup_cause"]
        assert message["Timestamp"] == int(fs["variable_end_uepoch"]) / 1_000_000
        duration = int(fs["variable_duration"])
        billing = math.ceil(int(fs["variable_billmsec"]) / 1000)  # Kazoo: billmsec rounded up
        assert message["Duration-Seconds"] == duration
        assert message["Billing-Seconds"] == billing
        assert message["Ringing-Seconds"] == max(0, duration - billing - int(fs["variable_progresssec"]))
        assert message["Media-Server"] == fs["FreeSWITCH-Hostname"]
        assert message["Caller-ID-Number"] == fs["Caller-Caller-ID-Number"]
        if fs.get("Call-Direction") in ("inbound", "outbound"):
            assert message["Call-Direction"] == fs["Call-Direction"]


def test_sip_leg_cdr_fields() -> None:
    fs = hangups("sip-call-json")[0]
    message = cdr(fs, origin=ORIGIN)
    assert message["Event-Category"] == "call_detail" and message["Event-Name"] == "cdr"
    assert (message["Duration-Seconds"], message["Billing-Seconds"], message["Ringing-Seconds"]) == (4, 5, 0)
    assert message["Hangup-Cause"] == "NORMAL_CLEARING"
    assert message["Hangup-Code"] == "sip:200"
    assert message["Disposition"] == "ANSWER"
    assert message["User-Agent"] == "SIPp-fixture"
    assert message["Request"] == "9999@127.0.0.1"
    assert message["To"] == "9999@127.0.0.1"
    assert message["From"] == "1000@127.0.0.1"
    assert message["From-Uri"] == "1000@127.0.0.1"
    assert message["Caller-ID-Name"] == fs["Caller-Caller-ID-Name"]
    assert message["Remote-SDP"] == fs["variable_switch_r_sdp"]
    assert message["Local-SDP"] == fs["variable_rtp_local_sdp_str"]
    assert message["Custom-SIP-Headers"] == {"X-Fixture-Header": "fixture-value-123"}
    assert message["Channel-Created-Time"] == int(fs["variable_start_uepoch"]) / 1_000_000


def test_bridged_leg_names_the_other_leg() -> None:
    legs = {fs["Unique-ID"]: fs for fs in hangups("call-lifecycle-json")}
    bridged = [fs for fs in legs.values() if fs.get("variable_bridge_uuid")]
    assert bridged
    for fs in bridged:
        message = cdr(fs, origin=ORIGIN)
        assert message["Other-Leg-Call-ID"] == (
            fs.get("Other-Leg-Unique-ID") or fs["variable_last_bridge_to"]
        )
        assert message["Other-Leg-Call-ID"] != message["Call-ID"]


def test_ringing_seconds_as_kazoo_computes_them() -> None:
    fs = dict(hangups("sip-call-json")[0])
    fs.update(
        {
            "variable_duration": "40",
            "variable_billsec": "30",
            "variable_billmsec": "29500",
            "variable_progresssec": "2",
            "variable_answersec": "12",
        }
    )
    message = cdr(fs, origin=ORIGIN)
    assert (message["Duration-Seconds"], message["Billing-Seconds"], message["Ringing-Seconds"]) == (
        40,
        30,
        8,
    )
    fs.pop("variable_billmsec")
    fs["variable_billsec"] = "0"  # unanswered
    message = cdr(fs, origin=ORIGIN)
    assert (message["Billing-Seconds"], message["Ringing-Seconds"]) == (0, 38)


def test_account_id_and_custom_channel_vars() -> None:
    fs = dict(hangups("sip-call-json")[0])
    fs["variable_ecallmgr_Account-ID"] = "0123456789abcdef0123456789abcdef"
    fs["variable_ecallmgr_Owner-ID"] = "fedcba9876543210fedcba9876543210"
    message = cdr(fs, origin=ORIGIN)
    assert Catalogue.default().issues(message, "cdr") == []
    assert message["Account-ID"] == "0123456789abcdef0123456789abcdef"
    assert message["Custom-Channel-Vars"] == {
        "Account-ID": "0123456789abcdef0123456789abcdef",
        "Owner-ID": "fedcba9876543210fedcba9876543210",
    }
    fs["variable_ecallmgr_Account-ID"] = "not-an-account"
    message = cdr(fs, origin=ORIGIN)
    assert "Account-ID" not in message
    assert Catalogue.default().issues(message, "cdr") == []


def test_a_hangup_without_unique_id_is_refused() -> None:
    with pytest.raises(ValueError):
        cdr({"Event-Name": "CHANNEL_HANGUP_COMPLETE"}, origin=ORIGIN)
