"""Reading xml_curl answers: the recorded dialplan and directory answers, then mod_dialplan_xml's rules."""

from __future__ import annotations

import pytest

from fsim.dialplan_xml import Action, Route, route
from fsim.directory import DirectoryUser, find_user
from fsim.xml_curl import NotFound
from tests.fsim.test_xml_curl import channel_data, recorded, recorded_answer

NOT_FOUND = (
    '<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>'
)


def call(destination: str = "1000", context: str = "default", **variables: str) -> list[tuple[str, str]]:
    """Channel data of a call in routing, as the call model produces it (only what routing reads)."""
    return [
        ("Channel-State", "CS_ROUTING"),
        ("Caller-Caller-ID-Number", "2000"),
        ("Caller-Destination-Number", destination),
        ("Caller-Unique-ID", "a1b2"),
        ("Caller-Context", context),
        ("Caller-Channel-Name", "sofia/internal/2000@127.0.0.1"),
        *((f"variable_{name}", value) for name, value in variables.items()),
    ]


def dialplan(extensions: str, context: str = "default") -> str:
    return (
        '<document type="freeswitch/xml"><section name="dialplan" description="test">'
        f'<context name="{context}">{extensions}</context></section></document>'
    )


# -- the recorded answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_file", "answer_file"),
    [
        ("xml-curl-dialplan-request.txt", "xml-curl-dialplan-response.txt"),
        ("xml-curl-dialplan-request-sip.txt", "xml-curl-dialplan-response-sip.txt"),
    ],
)
def test_the_recorded_dialplan_answer_routes_the_recorded_calls(request_file, answer_file):
    """FreeSWITCH ran set xml_curl_served=true, answer, park (its logs and the events confirm it)."""
    result = route(recorded_answer(answer_file), channel_data(recorded(request_file)))
    assert result == Route(
        context="default",
        extension="xml_curl_park",
        actions=[Action("set", "xml_curl_served=true"), Action("answer"), Action("park")],
    )
    assert result.actions == [("set", "xml_curl_served=true"), ("answer", ""), ("park", "")]


def test_the_recorded_directory_answer_gives_user_1000():
    user = find_user(recorded_answer("xml-curl-directory-response.txt"), domain="127.0.0.1", user="1000")
    assert isinstance(user, DirectoryUser)
    assert (user.id, user.domain, user.group, user.password, user.a1_hash) == (
        "1000", "127.0.0.1", "default", "1234", None
    )  # fmt: skip
    assert user.variables == [("user_context", "default"), ("xml_curl_user", "true")]
    # The domain's params are merged in after the user's own, as switch_xml_merge_user does.
    assert [name for name, _ in user.params] == ["password", "dial-string"]
    assert user.number_alias == "1000"


# -- when FreeSWITCH uses its static XML instead -------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        NOT_FOUND,
        "garbage",
        "<document><section name='dialplan'>",
        '<document><section name="directory"/></document>',
    ],
    ids=["not-found", "garbage", "truncated", "no-dialplan-section"],
)
def test_answers_freeswitch_cannot_use_fall_back_to_the_static_dialplan(answer):
    assert isinstance(route(answer, call()), NotFound)


def test_a_dialplan_section_without_the_context_is_no_route_not_a_fallback():
    result = route(dialplan('<extension name="x"><condition/></extension>', context="other"), call())
    assert isinstance(result, Route)
    assert not result
    assert result.context is None


def test_the_global_context_catches_calls_for_a_missing_context():
    answer = dialplan(
        '<extension name="g"><condition><action application="park"/></condition></extension>', "global"
    )
    assert route(answer, call(context="nowhere")).actions == [("park", "")]


@pytest.mark.parametrize(
    "answer",
    [NOT_FOUND, "garbage", '<document><section name="dialplan"/></document>',
     '<document><section name="directory"><domain name="example.com"/></section></document>'],
    ids=["not-found", "garbage", "no-directory-section", "other-domain"],
)  # fmt: skip
def test_directory_answers_freeswitch_cannot_use_fall_back_to_the_static_directory(answer):
    assert isinstance(find_user(answer, domain="127.0.0.1", user="1000"), NotFound)


def test_a_domain_without_the_user_is_no_user_and_no_fallback():
    assert (
        find_user(recorded_answer("xml-curl-directory-response.txt"), domain="127.0.0.1", user="1001") is None
    )


def test_users_are_found_by_number_alias_and_directly_under_the_domain():
    answer = (
        '<document><section name="directory"><domain name="Example.COM">'
        '<variables><variable name="user_context" value="domain-default"/>'
        '<variable name="tier" value="gold"/></variables>'
        '<users><user id="alice" number-alias="2001" type="pointer">'
        '<params><param name="a1-hash" value="00112233445566778899aabbccddeeff"/></params>'
        '<variables><variable name="user_context" value="alice-ctx"/></variables></user></users>'
        "</domain></section></document>"
    )
    user = find_user(answer, domain="example.com", user="2001")
    assert isinstance(user, DirectoryUser)
    assert (user.id, user.number_alias, user.a1_hash, user.password, user.is_pointer) == (
        "alice", "2001", "00112233445566778899aabbccddeeff", None, True
    )  # fmt: skip
    assert user.variables == [("user_context", "alice-ctx"), ("tier", "gold")]


# -- mod_dialplan_xml's hunting rules ---------------------------------------------------------------------


def test_the_first_matching_extension_wins_and_captures_are_substituted():
    answer = dialplan(
        '<extension name="other"><condition field="destination_number" expression="^9(\\d+)$">'
        '<action application="bridge" data="sofia/gw/$1"/></condition></extension>'
        '<extension name="local"><condition field="destination_number" expression="^(1)(\\d{3})$">'
        '<action application="bridge" data="user/$1${2}@${domain_name}"/></condition></extension>'
        '<extension name="never"><condition><action application="hangup"/></condition></extension>'
    )
    result = route(answer, call("1001"))
    assert result.extension == "local"
    assert result.actions == [("bridge", "user/1001@${domain_name}")]  # ${var} is expanded at execution


def test_anti_actions_run_when_the_condition_fails():
    answer = dialplan(
        '<extension name="gate"><condition field="caller_id_number" expression="^1\\d{3}$">'
        '<action application="answer"/><anti-action application="respond" data="403 Forbidden"/>'
        "</condition></extension>"
    )
    assert route(answer, call()).actions == [("respond", "403 Forbidden")]


def test_continue_collects_actions_from_several_extensions():
    answer = dialplan(
        '<extension name="vars" continue="true"><condition>'
        '<action application="set" data="a=1"/></condition></extension>'
        '<extension name="main"><condition field="destination_number" expression="^1000$">'
        '<action application="park"/></condition></extension>'
    )
    result = route(answer, call("1000"))
    assert (result.extension, result.actions) == ("vars", [("set", "a=1"), ("park", "")])


def test_break_on_false_stops_at_the_first_failing_condition_and_never_keeps_going():
    answer = dialplan(
        '<extension name="e">'
        '<condition field="destination_number" expression="^1000$" break="never">'
        '<action application="log" data="one"/></condition>'
        '<condition field="caller_id_number" expression="^nomatch$"><action application="log" data="two"/>'
        "</condition>"
        '<condition><action application="log" data="three"/></condition>'
        '</extension><extension name="next"><condition><action application="park"/></condition></extension>'
    )
    # The second condition fails (break on-false): "three" is never reached and hunting goes on.
    assert route(answer, call("1000")).actions == [("log", "one"), ("park", "")]


def test_variables_in_fields_and_expressions_come_from_the_channel():
    answer = dialplan(
        '<extension name="v"><condition field="${sip_h_X-Tenant}" expression="^${expected}$">'
        '<action application="set" data="tenant=${sip_h_X-Tenant}"/></condition></extension>'
    )
    assert route(answer, call(**{"sip_h_X-Tenant": "acme", "expected": "acme"})).actions == [
        ("set", "tenant=${sip_h_X-Tenant}")
    ]
    assert not route(answer, call(**{"sip_h_X-Tenant": "acme", "expected": "other"}))


def test_regex_all_any_and_xor():
    def with_rule(rule: str) -> str:
        return dialplan(
            f'<extension name="r"><condition regex="{rule}">'
            '<regex field="destination_number" expression="^1000$"/>'
            '<regex field="caller_id_number" expression="^3000$"/>'
            '<action application="park"/><anti-action application="hangup"/></condition></extension>'
        )

    assert route(with_rule("any"), call("1000")).actions == [("park", "")]
    assert route(with_rule("all"), call("1000")).actions == [("hangup", "")]
    assert route(with_rule("xor"), call("1000")).actions == [("park", "")]


def test_nested_conditions_inline_actions_and_loops():
    answer = dialplan(
        '<extension name="n"><condition field="destination_number" expression="^(\\d+)$">'
        '<action application="set" data="dest=$1" inline="true"/>'
        '<action application="playback" data="tone_stream://%(100,100,440)" loop="2"/>'
        '<condition field="caller_id_number" expression="^2000$"><action application="park"/></condition>'
        "</condition></extension>"
    )
    result = route(answer, call("1234"))
    assert result.inline == [("set", "dest=1234")]
    assert result.actions == [("playback", "tone_stream://%(100,100,440)")] * 2 + [("park", "")]


def test_a_regex_that_does_not_compile_matches_nothing():
    answer = dialplan(
        '<extension name="bad"><condition field="destination_number" expression="^(1000$">'
        '<action application="park"/></condition></extension>'
    )
    assert not route(answer, call("1000"))


def test_auto_hunt_starts_at_the_extension_named_like_the_destination():
    answer = dialplan(
        '<extension name="first"><condition><action application="log" data="first"/></condition></extension>'
        '<extension name="1000"><condition><action application="park"/></condition></extension>'
    )
    assert route(answer, call("1000", auto_hunt="true")).actions == [("park", "")]
    assert route(answer, call("1000")).actions == [("log", "first")]


def test_an_empty_context_is_still_the_context():
    answer = (
        '<document><section name="dialplan"><context name="default"/>'
        '<context name="global"><extension><condition><action application="park"/></condition></extension>'
        "</context></section></document>"
    )
    result = route(answer, call())
    assert (result.context, result.actions) == ("default", [])
