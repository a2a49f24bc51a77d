"""ecallmgr.translate.registration against the recorded sofia::register events."""

from __future__ import annotations

import pytest

from ecallmgr.translate import registration
from tests.ecallmgr.translate_inputs import ORIGIN
from tests.fsim.recordings import events
from whistle_common.api.catalogue import Catalogue

RECORDINGS = ["sip-call-json", "sip-call-plain", "xml-curl-sip-events-plain"]


def customs(name: str) -> list[dict[str, str]]:
    return [dict(e.headers) for e in events(name) if e.name == "CUSTOM"]


@pytest.mark.parametrize("name", RECORDINGS)
def test_sofia_register_gives_a_valid_registration_success(name: str) -> None:
    registered = [fs for fs in customs(name) if fs["Event-Subclass"] == "sofia::register"]
    assert len(registered) == 1
    fs = registered[0]
    message = registration(fs, origin=ORIGIN)
    assert message is not None
    assert Catalogue.default().issues(message, "registration_success") == []
    assert Catalogue.default().definition_for(message).name == "registration_success"
    key = Catalogue.default().definition("registration_success").routing_key(message)
    assert key == "registration.success.127%2E0%2E0%2E1.1000"
    assert message["Contact"] == fs["contact"] == '"" <sip:1000@127.0.0.1:5070>'
    assert message["Expires"] == 300
    assert message["Realm"] == "127.0.0.1"
    assert message["Username"] == "1000"
    assert message["Event-Timestamp"] == int(fs["Event-Date-Timestamp"]) / 1_000_000
    assert (message["Network-IP"], message["Network-Port"]) == ("127.0.0.1", "5070")
    assert message["User-Agent"] == "SIPp-fixture"
    assert message["Call-ID"] == fs["call-id"]
    assert message["Profile-Name"] == "internal"
    assert message["Status"] == "Registered(UDP)"
    assert message["AOR"] == "sip:1000@127.0.0.1"
    assert message["Registrar-Node"] == ORIGIN.node


@pytest.mark.parametrize("name", RECORDINGS)
def test_other_sofia_events_have_no_message(name: str) -> None:
    others = [fs for fs in customs(name) if fs["Event-Subclass"] != "sofia::register"]
    assert {fs["Event-Subclass"] for fs in others} >= {"sofia::unregister", "sofia::pre_register"}
    for fs in others:
        assert registration(fs, origin=ORIGIN) is None


def test_custom_channel_vars_from_directory_variables() -> None:
    fs = next(fs for fs in customs("sip-call-json") if fs["Event-Subclass"] == "sofia::register")
    fs["ecallmgr_Account-ID"] = "0123456789abcdef0123456789abcdef"
    message = registration(fs, origin=ORIGIN)
    assert message is not None
    assert message["Custom-Channel-Vars"] == {"Account-ID": "0123456789abcdef0123456789abcdef"}
    assert Catalogue.default().issues(message, "registration_success") == []


def test_a_register_without_contact_has_no_message() -> None:
    fs = next(fs for fs in customs("sip-call-json") if fs["Event-Subclass"] == "sofia::register")
    fs.pop("contact")
    assert registration(fs, origin=ORIGIN) is None
