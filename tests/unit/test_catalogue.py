"""The message catalogue: what the schemas under ``schemas/api/`` promise, and how the catalogue keeps it.

Every message of the bus is one JSON Schema file. These tests read as the specification of that catalogue:
which messages exist, what a valid one needs, how invalid ones are reported and where each one is published.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from whistle_common.api import Catalogue, Issue, Origin, UnknownMessage, ValidationError
from whistle_common.schema_files import load_folder, registry, schemas_dir

ORIGIN = Origin(
    app_name="callflow", node="whistle@media-1", server_id="callflow-media-1-4f2a", app_version="1.2.3"
)
CALL_ID = "b3c1e0a2-6c1f-4a57-9d9e-0d4f1b7a3c21"
ENDPOINT = {"Invite-Format": "username", "To-User": "1001", "To-Realm": "sip.example.com"}

# The smallest valid message of each kind: snake_case headers, plus wire-named fields for headers whose
# snake name is a Python keyword (From).
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "route_req": (
        {"From": "1001@sip.example.com"},
        {"call_id": CALL_ID, "to": "2000@sip.example.com", "request": "2000@sip.example.com"},
    ),
    "route_resp": ({}, {"method": "park"}),
    "route_win": ({}, {"call_id": CALL_ID, "control_queue": f"ctl.{CALL_ID}"}),
    "authn_req": (
        {"From": "1001@sip.example.com"},
        {"auth_realm": "sip.example.com", "auth_user": "1001", "to": "1001@sip.example.com"},
    ),
    "authn_resp": ({}, {"auth_method": "password", "auth_password": "s3cret"}),
    "call_event": ({}, {"event_name": "CHANNEL_ANSWER", "call_id": CALL_ID}),
    "dialplan_error": (
        {},
        {"call_id": CALL_ID, "dialplan_error": "nosession", "error_message": "could not execute play"},
    ),
    "originate_req": ({}, {"endpoints": [ENDPOINT], "application_name": "park"}),
    "originate_resp": ({}, {"call_id": CALL_ID, "control_queue": f"ctl.{CALL_ID}"}),
    "registration_success": (
        {},
        {
            "contact": "<sip:1001@192.0.2.10:5060>",
            "expires": 3600,
            "realm": "sip.example.com",
            "username": "1001",
            "event_timestamp": 1700000000,
        },
    ),
    "registration_flush": ({}, {"realm": "sip.example.com", "username": "1001", "reason": "expire"}),
    "registration_query": ({}, {"realm": "sip.example.com", "username": "1001"}),
    "registration_query_resp": ({}, {"count": 0}),
    "cdr": (
        {},
        {
            "call_id": CALL_ID,
            "timestamp": 63871234567,
            "hangup_cause": "NORMAL_CLEARING",
            "duration_seconds": 65,
            "billing_seconds": 60,
            "ringing_seconds": 5,
        },
    ),
    "call_command.answer": ({}, {"call_id": CALL_ID}),
    "call_command.hangup": ({}, {"call_id": CALL_ID}),
    "call_command.park": ({}, {"call_id": CALL_ID}),
    "call_command.noop": ({}, {"call_id": CALL_ID}),
    "call_command.play": ({}, {"call_id": CALL_ID, "media_name": "/system_media/vm-enter_pass"}),
    "call_command.tones": (
        {},
        {
            "call_id": CALL_ID,
            "tones": [{"Frequencies": [440, 480], "Duration-ON": 2000, "Duration-OFF": 4000}],
        },
    ),
    "call_command.say": (
        {},
        {"call_id": CALL_ID, "language": "en", "method": "pronounced", "say_text": "42", "type": "number"},
    ),
    "call_command.record": ({}, {"call_id": CALL_ID, "media_name": "/tmp/recording.mp3"}),
    "call_command.play_and_collect_digits": (
        {},
        {
            "call_id": CALL_ID,
            "minimum_digits": 1,
            "maximum_digits": 4,
            "timeout": 5000,
            "terminators": ["#"],
            "media_name": "/system_media/vm-enter_pass",
            "media_tries": 3,
            "digits_regex": r"^\d+$",
        },
    ),
    "call_command.bridge": ({}, {"call_id": CALL_ID, "endpoints": [ENDPOINT]}),
    "call_command.set": (
        {},
        {"call_id": CALL_ID, "custom_channel_vars": {"Account-ID": "a" * 32}, "custom_call_vars": {}},
    ),
    "call_command.conference": ({}, {"call_id": CALL_ID, "conference_id": "sales"}),
    "call_command.send_dtmf": ({}, {"call_id": CALL_ID, "dtmfs": "123#"}),
    "call_command.store": (
        {},
        {
            "call_id": CALL_ID,
            "media_name": "/tmp/recording.mp3",
            "media_transfer_method": "put",
            "media_transfer_destination": "http://couch:5984/account%2Fab%2Fcd%2Fef/media-1/recording.mp3",
        },
    ),
    "call_command.transfer": ({}, {"call_id": CALL_ID, "transfer_to": "2000", "transfer_type": "blind"}),
    "call_command.record_call": (
        {},
        {"call_id": CALL_ID, "record_action": "start", "media_name": "call_recording.mp3"},
    ),
    "call_command.intercept": ({}, {"call_id": CALL_ID, "target_call_id": "parked-call-1"}),
    "voicemail_req": (
        {},
        {
            "call_id": CALL_ID,
            "control_queue": f"ctl.{CALL_ID}",
            "account_id": "a" * 32,
            "action": "leave",
            "vmbox_id": "b" * 32,
        },
    ),
    "conference_req": ({}, {"call_id": CALL_ID, "control_queue": f"ctl.{CALL_ID}", "account_id": "a" * 32}),
    "handoff_resp": ({}, {"call_id": CALL_ID, "status": "taken"}),
    "node_status": (
        {},
        {"nodes": [{"Name": "fs1", "Host": "10.0.0.5", "Port": 8021, "Up": True, "Channel-Count": 2}]},
    ),
    "channels_req": ({}, {}),
    "channels_resp": (
        {},
        {"channels": [{"Call-ID": CALL_ID, "Media-Node": "fs1", "Controlled": True, "Answered-Time": 1.5}]},
    ),
    "nodes_req": ({}, {"action": "list"}),
    "nodes_resp": ({}, {"nodes": []}),
}

CALL_COMMANDS = sorted(
    name.removeprefix("call_command.") for name in SAMPLES if name.startswith("call_command.")
)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.default()


def sample(catalogue: Catalogue, name: str, **overrides: Any) -> dict[str, Any]:
    fields, headers = SAMPLES[name]
    return catalogue.build(name, fields, origin=ORIGIN, **{**headers, **overrides})


def schema_files() -> list[Path]:
    root = schemas_dir() / "api"
    return sorted(root.rglob("*.json"))


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def paths(issues: list[Issue]) -> list[str]:
    return [issue.path for issue in issues]


# --- The schema files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", schema_files(), ids=lambda p: p.relative_to(schemas_dir() / "api").as_posix()
)
def test_every_schema_file_is_a_valid_draft_2020_12_schema_identified_by_its_path(path: Path) -> None:
    schema = orjson.loads(path.read_bytes())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == path.relative_to(schemas_dir() / "api").as_posix()
    assert schema.get("description"), "every schema says in one line what it is for"


@pytest.mark.parametrize("name", sorted(load_folder("api")))
def test_every_ref_resolves_relative_to_the_file_that_makes_it(name: str) -> None:
    schema = load_folder("api")[name]
    resolver = registry("api").resolver(base_uri=schema["$id"])
    for ref in refs(schema):
        assert resolver.lookup(ref).contents is not None, ref


def test_the_catalogue_holds_every_message_of_the_bus(catalogue: Catalogue) -> None:
    assert catalogue.names == sorted(SAMPLES)


def test_shared_parts_are_not_messages(catalogue: Catalogue) -> None:
    for name in ("envelope", "_endpoint", "call_command._command"):
        with pytest.raises(UnknownMessage):
            catalogue.definition(name)


def test_two_schemas_may_not_claim_the_same_headers() -> None:
    schemas = dict(load_folder("api"))
    schemas["route_req_again"] = schemas["route_req"]
    with pytest.raises(ValueError, match="route_req_again"):
        Catalogue(schemas)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_message_pins_its_category_and_says_where_it_goes(catalogue: Catalogue, name: str) -> None:
    definition = catalogue.definition(name)
    assert definition.event_category
    assert definition.exchange in {
        "targeted",
        "callmgr",
        "callevt",
        "callctl",
        "resource",
        "whapps",
        "notifications",
    }
    if name != "call_event":  # call_event alone takes any FreeSWITCH event name
        assert definition.event_name
    if definition.exchange in {"targeted", "callctl"}:  # the caller names the queue
        assert definition.routing_key_template is None
    else:
        assert definition.routing_key_template


@pytest.mark.parametrize("app", CALL_COMMANDS)
def test_call_commands_go_to_the_control_queue_with_confirms(catalogue: Catalogue, app: str) -> None:
    definition = catalogue.definition(f"call_command.{app}")
    assert (definition.event_category, definition.event_name, definition.application_name) == (
        "call_command",
        "command",
        app,
    )
    assert definition.exchange == "callctl"
    assert definition.confirm


def test_cdrs_must_not_be_lost_but_call_events_are_fire_and_forget(catalogue: Catalogue) -> None:
    assert catalogue.definition("cdr").confirm
    assert not catalogue.definition("call_event").confirm


def test_every_header_a_message_declares_has_a_snake_case_name(catalogue: Catalogue) -> None:
    bridge = catalogue.definition("call_command.bridge").header_names
    assert bridge["dial_endpoint_method"] == "Dial-Endpoint-Method"
    assert bridge["insert_at"] == "Insert-At"  # from the shared call command part
    assert bridge["msg_id"] == "Msg-ID"  # from the envelope
    assert catalogue.definition("authn_req").header_names["from"] == "From"


# --- Building ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_message_builds_from_its_required_headers_and_validates(catalogue: Catalogue, name: str) -> None:
    message = sample(catalogue, name)
    assert catalogue.issues(message, name) == []
    assert catalogue.validate(message).name == name


def test_build_fills_the_envelope_from_the_origin_and_the_schema(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_command.play")
    assert message["App-Name"] == "callflow"
    assert message["App-Version"] == "1.2.3"
    assert message["Node"] == "whistle@media-1"
    assert message["Server-ID"] == "callflow-media-1-4f2a"
    assert re.fullmatch(r"[0-9a-f]{32}", message["Msg-ID"])
    assert message["Event-Category"] == "call_command"
    assert message["Event-Name"] == "command"
    assert message["Application-Name"] == "play"
    assert message["Media-Name"] == "/system_media/vm-enter_pass"


def test_build_gives_each_message_a_fresh_msg_id_unless_one_is_given(catalogue: Catalogue) -> None:
    assert sample(catalogue, "route_win")["Msg-ID"] != sample(catalogue, "route_win")["Msg-ID"]
    assert sample(catalogue, "route_win", msg_id=CALL_ID)["Msg-ID"] == CALL_ID


def test_build_drops_empty_headers(catalogue: Catalogue) -> None:
    message = sample(catalogue, "route_req", caller_id_name="", caller_id_number=None)
    assert "Caller-ID-Name" not in message
    assert "Caller-ID-Number" not in message


def test_build_rejects_a_header_the_message_does_not_have(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError) as raised:
        sample(catalogue, "call_command.play", media_nmae="/system_media/beep")
    assert raised.value.issues == [Issue("$.media_nmae", "not a header of this message")]
    assert "media_nmae" in str(raised.value)


def test_build_refuses_to_produce_an_invalid_message(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError) as raised:
        catalogue.build("call_command.play", origin=ORIGIN, call_id=CALL_ID)
    assert raised.value.issues == [Issue("$", '"Media-Name" is a required property')]


# --- Validating what arrives -------------------------------------------------------------------------------


def required_headers() -> list[tuple[str, str]]:
    schemas = load_folder("api")
    return [
        (name, header)
        for name in sorted(SAMPLES)
        for header in schemas[name.replace(".", "/")].get("required", [])
    ]


@pytest.mark.parametrize(("name", "header"), required_headers())
def test_a_missing_required_header_is_named_in_the_issue(
    catalogue: Catalogue, name: str, header: str
) -> None:
    message = sample(catalogue, name)
    del message[header]
    issues = catalogue.issues(message, name)
    assert Issue("$", f'"{header}" is a required property') in issues


@pytest.mark.parametrize("header", ["App-Name", "App-Version", "Msg-ID", "Node", "Server-ID"])
def test_every_message_needs_the_envelope_headers(catalogue: Catalogue, header: str) -> None:
    message = sample(catalogue, "call_command.hangup")
    del message[header]
    assert catalogue.issues(message) == [Issue("$", f'"{header}" is a required property')]


def test_a_wrong_enum_value_is_reported_at_its_json_path(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_command.bridge")
    message["Endpoints"] = [{**ENDPOINT, "Invite-Format": "sip"}]
    message["Insert-At"] = "later"
    message["Dial-Endpoint-Method"] = "roundrobin"
    assert paths(catalogue.issues(message)) == [
        "$.Dial-Endpoint-Method",
        "$.Endpoints[0].Invite-Format",
        "$.Insert-At",
    ]
    assert '"later" is not one of' in catalogue.issues(message)[-1].reason


def test_validate_reports_every_issue_not_just_the_first(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_command.play")
    del message["Media-Name"]
    message["Insert-At"] = "later"
    message["Terminators"] = ["#", "12"]
    message["Loop-Count"] = 0
    with pytest.raises(ValidationError) as raised:
        catalogue.validate(message)
    assert paths(raised.value.issues) == ["$", "$.Insert-At", "$.Loop-Count", "$.Terminators[1]"]
    assert '"Media-Name" is a required property' in raised.value.issues[0].reason


def test_nested_items_are_checked_too(catalogue: Catalogue) -> None:
    tones = sample(catalogue, "call_command.tones")
    tones["Tones"] = [{"Frequencies": [], "Duration-ON": 100}]
    assert paths(catalogue.issues(tones)) == ["$.Tones[0]", "$.Tones[0].Frequencies"]
    route_resp = {**sample(catalogue, "route_resp"), "Method": "bridge", "Routes": [{"To-User": "1001"}]}
    assert catalogue.issues(route_resp) == [Issue("$.Routes[0]", '"Invite-Format" is a required property')]


@pytest.mark.parametrize(
    "message",
    [
        {"Event-Category": "dialplan", "Event-Name": "route_lose"},
        {"Event-Category": "nonsense", "Event-Name": "route_req"},
        {"Event-Category": "call_command", "Event-Name": "command", "Application-Name": "fly"},
        {},
    ],
)
def test_a_message_nobody_defined_is_an_unknown_message(
    catalogue: Catalogue, message: dict[str, Any]
) -> None:
    issues = catalogue.issues(message)
    assert len(issues) == 1
    assert issues[0].path == "$"
    assert issues[0].reason.startswith("unknown message")
    with pytest.raises(ValidationError, match="unknown message"):
        catalogue.validate(message)


def test_a_message_must_be_a_json_object(catalogue: Catalogue) -> None:
    assert catalogue.issues(["not", "a", "message"]) == [Issue("$", "a message is a JSON object, not list")]


def test_validating_something_that_is_not_an_object_raises_validation_error(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError):
        catalogue.validate(["not", "a", "message"])


def test_a_malformed_event_name_is_an_issue_not_a_crash(catalogue: Catalogue) -> None:
    message = {"Event-Category": "call_event", "Event-Name": ["CHANNEL_ANSWER"]}
    assert paths(catalogue.issues(message)) == ["$"]


# --- Finding the definition of a received message ----------------------------------------------------------


@pytest.mark.parametrize("app", CALL_COMMANDS)
def test_definition_for_picks_the_call_command_by_its_application_name(
    catalogue: Catalogue, app: str
) -> None:
    message = sample(catalogue, f"call_command.{app}")
    assert catalogue.definition_for(message).name == f"call_command.{app}"


@pytest.mark.parametrize("event", ["CHANNEL_ANSWER", "CHANNEL_EXECUTE_COMPLETE", "DTMF", "CHANNEL_DESTROY"])
def test_every_freeswitch_event_is_a_call_event(catalogue: Catalogue, event: str) -> None:
    message = sample(catalogue, "call_event", event_name=event, application_name="play")
    assert catalogue.definition_for(message).name == "call_event"


def test_call_event_names_are_freeswitch_s(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_event")
    message["Event-Name"] = "channel_answer"
    assert paths(catalogue.issues(message)) == ["$.Event-Name"]


def test_a_dialplan_error_is_not_a_call_event(catalogue: Catalogue) -> None:
    assert catalogue.definition_for(sample(catalogue, "dialplan_error")).name == "dialplan_error"


# --- Conditional shapes ------------------------------------------------------------------------------------


def test_a_bridge_route_resp_needs_routes(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError):
        sample(catalogue, "route_resp", method="bridge")
    with pytest.raises(ValidationError):
        sample(catalogue, "route_resp", method="bridge", routes=[])
    sample(catalogue, "route_resp", method="bridge", routes=[{"Invite-Format": "route", "Route": "sip:1@x"}])
    sample(catalogue, "route_resp", method="error", route_error_code="486", route_error_message="Busy")


def test_originate_resp_is_either_an_answered_call_or_a_failure(catalogue: Catalogue) -> None:
    failed = catalogue.build("originate_resp", origin=ORIGIN, hangup_cause="NO_ANSWER")
    assert catalogue.issues(failed) == []
    catalogue.build("originate_resp", origin=ORIGIN, error_message="no endpoints answered")
    with pytest.raises(ValidationError):
        catalogue.build("originate_resp", origin=ORIGIN, call_id=CALL_ID)  # no Control-Queue
    with pytest.raises(ValidationError):
        sample(catalogue, "originate_resp", error_message="answered and failed at once")


def test_registration_query_resp_carries_fields_or_a_count(catalogue: Catalogue) -> None:
    catalogue.build(
        "registration_query_resp", {"Fields": [{"Contact": "<sip:1001@192.0.2.10>"}]}, origin=ORIGIN
    )
    with pytest.raises(ValidationError):
        catalogue.build("registration_query_resp", origin=ORIGIN)


def test_a_header_called_fields_can_be_passed_by_its_snake_name(catalogue: Catalogue) -> None:
    message = catalogue.build(
        "registration_query", origin=ORIGIN, realm="r", username="u", fields=["Contact"]
    )
    assert message["Fields"] == ["Contact"]


def test_leaving_a_voicemail_needs_the_box_but_checking_does_not(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError):
        sample(catalogue, "voicemail_req", vmbox_id=None)
    sample(catalogue, "voicemail_req", action="check", vmbox_id=None)


def test_record_call_start_needs_a_file_but_stop_does_not(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError):
        sample(catalogue, "call_command.record_call", media_name=None)
    sample(catalogue, "call_command.record_call", record_action="stop", media_name=None)


# --- Routing keys ------------------------------------------------------------------------------------------


def test_a_call_event_is_routed_by_event_name_and_escaped_call_id(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_event", call_id="abc.def@10.0.0.1")
    key = catalogue.definition("call_event").routing_key(message)
    assert key == "call.CHANNEL_ANSWER.abc%2Edef@10%2E0%2E0%2E1"


@pytest.mark.parametrize(
    ("name", "overrides", "key"),
    [
        ("route_req", {}, "route.req"),
        ("authn_req", {}, "authn.req"),
        ("originate_req", {}, "originate.req"),
        ("registration_success", {}, "registration.success.sip%2Eexample%2Ecom.1001"),
        (
            "registration_query",
            {"username": "front desk"},
            "registration.query.sip%2Eexample%2Ecom.front+desk",
        ),
        ("dialplan_error", {"call_id": "a.b"}, "call.dialplan.a%2Eb"),
        ("cdr", {"call_id": "a.b"}, "cdr.a%2Eb"),
        ("voicemail_req", {}, "voicemail.leave"),
        ("voicemail_req", {"action": "check", "vmbox_id": None}, "voicemail.check"),
        ("conference_req", {}, "conference.join"),
    ],
)
def test_routing_keys_are_filled_from_the_message(
    catalogue: Catalogue, name: str, overrides: dict[str, Any], key: str
) -> None:
    message = sample(catalogue, name, **overrides)
    assert catalogue.definition(name).routing_key(message) == key


def test_a_routing_key_needs_every_header_it_names(catalogue: Catalogue) -> None:
    message = sample(catalogue, "call_event")
    del message["Call-ID"]
    with pytest.raises(ValidationError) as raised:
        catalogue.definition("call_event").routing_key(message)
    assert paths(raised.value.issues) == ["$.Call-ID"]


@pytest.mark.parametrize(
    "name",
    sorted(n for n in SAMPLES if Catalogue.default().definition(n).exchange in {"targeted", "callctl"}),
)
def test_replies_and_commands_have_no_routing_key_of_their_own(catalogue: Catalogue, name: str) -> None:
    with pytest.raises(ValidationError, match="no routing key"):
        catalogue.definition(name).routing_key(sample(catalogue, name))


def test_replies_go_to_the_requester(catalogue: Catalogue) -> None:
    targeted = {n for n in catalogue.names if catalogue.definition(n).exchange == "targeted"}
    assert targeted == {
        "authn_resp",
        "channels_resp",
        "handoff_resp",
        "nodes_resp",
        "originate_resp",
        "registration_query_resp",
        "route_resp",
        "route_win",
    }
