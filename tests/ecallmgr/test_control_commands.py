"""Call command -> FreeSWITCH application(s) or API command (ecallmgr.control.commands)."""

from __future__ import annotations

import pytest

from ecallmgr.control import commands
from ecallmgr.control.commands import CommandRefused, FsApi, FsApp, Plan, plan, resolve_media

CALL = "call-1"


def cmd(name: str, **fields: object) -> dict[str, object]:
    return {"Application-Name": name, "Call-ID": CALL, "Msg-ID": "m-1", **fields}


def apps(name: str, **fields: object) -> list[tuple[str, str | None]]:
    return [(a.app, a.arg) for a in plan(cmd(name, **fields), CALL).apps]


def test_answer_park_and_say_are_single_applications():
    assert apps("answer") == [("answer", None)]
    park = plan(cmd("park"), CALL).apps
    assert park == (FsApp("park", event_lock=False, wait=False),)
    say = {"Language": "en", "Type": "e-mail_address", "Method": "iterated", "Say-Text": "a@b.c"}
    assert apps("say", **say) == [("say", "en email_address iterated a@b.c")]
    assert apps("say", **say, Gender="feminine") == [("say", "en email_address iterated feminine a@b.c")]


def test_hangup_is_uuid_kill_with_the_cause_and_other_leg_only_kills_the_bridged_leg():
    assert plan(cmd("hangup"), CALL) == Plan(api=FsApi(f"uuid_kill {CALL} NORMAL_CLEARING"))
    assert plan(cmd("hangup", **{"Hangup-Cause": "USER_BUSY"}), CALL).api == FsApi(
        f"uuid_kill {CALL} USER_BUSY"
    )
    other = plan(cmd("hangup", **{"Other-Leg-Only": True}), CALL, other_leg="b-leg")
    assert other.api == FsApi("uuid_kill b-leg NORMAL_CLEARING")
    with pytest.raises(CommandRefused) as refused:
        plan(cmd("hangup", **{"Other-Leg-Only": True}), CALL)
    assert refused.value.error == "no_other_leg"


def test_play_sets_the_terminators_then_plays_and_honours_loops_and_endless():
    assert apps("play", **{"Media-Name": "/sounds/hello.wav", "Terminators": ["#", "*"]}) == [
        ("set", "playback_terminators=#*"),
        ("playback", "/sounds/hello.wav"),
    ]
    looped = plan(cmd("play", **{"Media-Name": "silence_stream://100", "Loop-Count": 3}), CALL).apps
    assert looped[0].arg == "playback_terminators=none" and looped[1].loops == 3
    endless = apps("play", **{"Media-Name": "http://media/x.wav", "Endless-Playback": True})
    assert endless[-1] == ("endless_playback", "http://media/x.wav")


@pytest.mark.parametrize(
    "name",
    ["tone_stream://%(100,100,350,440)", "silence_stream://250", "/abs/file.wav", "https://m/x.mp3",
     "ivr/ivr-welcome.wav", "hello.wav"],
)  # fmt: skip
def test_media_that_passes_through(name):
    assert resolve_media(name) == name


@pytest.mark.parametrize(
    "name",
    ["/system_media/vm-enter_pass", "/0123456789abcdef0123456789abcdef/m1", "tts://hi", "../etc/passwd",
     "ivr/../../secret.wav", "-x.wav"],
)  # fmt: skip
def test_media_that_cannot_be_resolved_is_refused_clearly(name):
    with pytest.raises(CommandRefused) as refused:
        plan(cmd("play", **{"Media-Name": name}), CALL)
    assert refused.value.error == "media_not_found"
    assert refused.value.message.startswith("Could not execute dialplan action:")
    assert name in refused.value.message


def test_tones_become_one_tone_stream():
    tones = [
        {"Frequencies": [350, 440], "Duration-ON": 100, "Duration-OFF": 100},
        {"Frequencies": [941.5], "Duration-ON": 200, "Duration-OFF": 0, "Volume": -7, "Repeat": 2},
    ]
    assert apps("tones", Tones=tones, Terminators=["1"]) == [
        ("set", "playback_terminators=1"),
        ("playback", "tone_stream://%(100,100,350,440);v=-7;l=2;%(200,0,941.5)"),
    ]


def test_record_with_defaults_and_explicit_limits(monkeypatch):
    monkeypatch.setattr(commands, "RECORDING_DIR", "/var/rec")
    assert apps("record", **{"Media-Name": "msg.wav"}) == [
        ("set", "playback_terminators=none"),
        ("record", "/var/rec/msg.wav 3600 200 3"),
    ]
    limits = {"Time-Limit": 60, "Silence-Threshold": 50, "Silence-Hits": 5, "Terminators": ["#"]}
    assert apps("record", **{"Media-Name": "/var/rec/a.wav", **limits})[-1] == (
        "record",
        "/var/rec/a.wav 60 50 5",
    )
    with pytest.raises(CommandRefused):
        plan(cmd("record", **{"Media-Name": "../etc/x.wav"}), CALL)


def test_play_and_collect_digits_argument_order():
    fields = {
        "Minimum-Digits": 1,
        "Maximum-Digits": 4,
        "Timeout": 3000,
        "Terminators": ["#"],
        "Media-Name": "tone_stream://%(100,0,440)",
        "Media-Tries": 3,
        "Digits-Regex": "\\d+",
    }
    assert apps("play_and_collect_digits", **fields) == [
        (
            "play_and_get_digits",
            "1 4 3 3000 # tone_stream://%(100,0,440) silence_stream://250 collected_digits \\d+",
        )
    ]
    failed = apps("play_and_collect_digits", **fields, **{"Failed-Media-Name": "/s/invalid.wav"})
    assert failed[0][1].split(" ")[6] == "/s/invalid.wav"


def test_bridge_dial_string_simultaneous_with_globals_and_per_endpoint_vars():
    endpoints = [
        {
            "Invite-Format": "username",
            "To-User": "1000",
            "To-Realm": "example.com",
            "Endpoint-Timeout": 20,
            "Custom-Channel-Vars": {"Owner-ID": "u1"},
        },
        {"Invite-Format": "route", "Route": "sofia/external/+15551234@carrier"},
    ]
    fields = {
        "Endpoints": endpoints,
        "Timeout": 30,
        "Ignore-Early-Media": True,
        "Outbound-Caller-ID-Name": "Alice, Inc",
        "Caller-ID-Number": "+1555",
    }
    assert apps("bridge", **fields) == [
        (
            "bridge",
            "{originate_timeout=30,ignore_early_media=true,"
            "origination_caller_id_name=Alice\\, Inc,origination_caller_id_number=+1555}"
            "[leg_timeout=20,ecallmgr_Owner-ID=u1]user/1000@example.com,"
            "sofia/external/+15551234@carrier",
        )
    ]


def test_a_gateway_endpoint_carries_its_credentials_for_the_carriers_challenge():
    gateway = {"Invite-Format": "route", "Route": "sofia/external/sip:+15551234@carrier.example",
               "Auth-User": "acct7", "Auth-Password": "p,w", "Auth-Realm": "carrier.example"}  # fmt: skip
    [(app, arg)] = apps("bridge", Endpoints=[gateway])
    assert (app, arg) == (
        "bridge",
        "[sip_auth_username=acct7,sip_auth_password=p\\,w,sip_auth_realm=carrier.example]"
        "sofia/external/sip:+15551234@carrier.example",
    )


def test_bridge_single_uses_pipes_and_ringback_is_set_first():
    endpoints = [
        {"Invite-Format": "username", "To-User": "1000", "To-Realm": "r"},
        {"Invite-Format": "loopback", "To-DID": "2000"},
    ]
    fields = {
        "Endpoints": endpoints,
        "Dial-Endpoint-Method": "single",
        "Ringback": "tone_stream://%(2000,4000,440)",
    }
    assert apps("bridge", **fields) == [
        ("set", "ringback=tone_stream://%(2000,4000,440)"),
        ("bridge", "user/1000@r|loopback/2000/default"),
    ]
    with pytest.raises(CommandRefused):
        plan(cmd("bridge", Endpoints=[{"Invite-Format": "username", "To-User": "1000"}]), CALL)


def test_set_sets_or_exports_ecallmgr_vars():
    fields = {"Custom-Channel-Vars": {"A": "1", "B": True}, "Custom-Call-Vars": {"C": 3}}
    assert apps("set", **fields) == [
        ("set", "ecallmgr_A=1"),
        ("set", "ecallmgr_B=true"),
        ("export", "ecallmgr_C=3"),
    ]
    assert apps("set", **fields, **{"Export-All": True})[0] == ("export", "ecallmgr_A=1")
    empty = plan(cmd("set", **{"Custom-Channel-Vars": {}, "Custom-Call-Vars": {}}), CALL)
    assert empty.immediate


def test_noop_runs_nothing_and_answers_its_msg_id():
    noop = plan(cmd("noop", **{"Msg-ID": "barrier-7"}), CALL)
    assert noop.immediate and noop.response == "barrier-7"


def test_conference_send_dtmf_and_transfer():
    assert apps("conference", **{"Conference-ID": "room1"}) == [("conference", "room1@default")]
    flagged = apps("conference", **{"Conference-ID": "r", "Mute": True, "Moderator": True, "Profile": "big"})
    assert flagged == [("conference", "r@big+flags{mute|moderator}")]
    assert apps("send_dtmf", DTMFs="12#") == [("send_dtmf", "12#")]
    assert apps("send_dtmf", DTMFs="1w2", Duration=250) == [("send_dtmf", "1w2@250")]
    assert apps("transfer", **{"Transfer-To": "2000", "Transfer-Type": "blind"}) == [
        ("transfer", "2000 XML default")
    ]
    both = {"Transfer-To": "2000", "Transfer-Type": "blind", "Transfer-Leg": "both", "Transfer-Context": "c"}
    assert apps("transfer", **both) == [("transfer", "-both 2000 XML c")]
    attended = {"Transfer-To": "2000", "Transfer-Type": "attended"}
    assert apps("transfer", **attended) == [("att_xfer", "loopback/2000/default")]


def test_store_and_unknown_commands_are_refused_with_a_reason():
    store = {
        "Media-Name": "/tmp/a.wav",
        "Media-Transfer-Method": "put",
        "Media-Transfer-Destination": "http://x",
    }
    with pytest.raises(CommandRefused) as refused:
        plan(cmd("store", **store), CALL)
    assert refused.value.error == "unsupported" and "store" in refused.value.message
    with pytest.raises(CommandRefused):
        plan(cmd("fly"), CALL)


def test_newlines_never_reach_freeswitch():
    with pytest.raises(CommandRefused):
        plan(cmd("say", Language="en", Type="number", Method="pronounced", **{"Say-Text": "1\n2"}), CALL)


def test_freeswitch_expansions_and_control_characters_are_refused():
    say = {"Language": "en", "Type": "name_spelled", "Method": "pronounced"}
    for text in ("${system(id)}", "a\x00b", "a\tb"):
        with pytest.raises(CommandRefused) as refused:
            plan(cmd("say", **say, **{"Say-Text": text}), CALL)
        assert refused.value.error == "invalid"
    ccv = {"Custom-Channel-Vars": {"Owner": "${system(id)}"}, "Custom-Call-Vars": {}}
    with pytest.raises(CommandRefused) as refused:
        plan(cmd("set", **ccv), CALL)
    assert refused.value.error == "invalid" and "${" in refused.value.message
    for name, fields in (
        ("send_dtmf", {"DTMFs": "${api(status)}"}),
        ("transfer", {"Transfer-To": "${system(id)}", "Transfer-Type": "blind"}),
        ("conference", {"Conference-ID": "${system(id)}"}),
        ("hangup", {"Hangup-Cause": "${system(id)}"}),
        ("play", {"Media-Name": "/tmp/${system(id)}.wav"}),
    ):
        with pytest.raises(CommandRefused) as refused:
            plan(cmd(name, **fields), CALL)
        assert refused.value.error == "invalid", name
    assert apps("say", **say, **{"Say-Text": "hello $5 {x}"}) == [
        ("say", "en name_spelled pronounced hello $5 {x}")
    ]
    normal = {"Custom-Channel-Vars": {"Owner": "abc"}, "Custom-Call-Vars": {}}
    assert apps("set", **normal) == [("set", "ecallmgr_Owner=abc")]


def test_record_outside_the_recording_directory_is_refused(monkeypatch):
    monkeypatch.setattr(commands, "RECORDING_DIR", "/var/rec")
    for name in ("/etc/passwd", "/var/recordings/a.wav", "/var/rec/../../etc/passwd"):
        with pytest.raises(CommandRefused) as refused:
            plan(cmd("record", **{"Media-Name": name}), CALL)
        assert refused.value.error == "invalid", name
    assert apps("record", **{"Media-Name": "/var/rec/sub/a.wav"})[-1] == (
        "record",
        "/var/rec/sub/a.wav 3600 200 3",
    )
