"""Call command -> what ecallmgr runs on FreeSWITCH (Kazoo's ``ecallmgr_call_command:get_fs_app/4``).

:func:`plan` is pure: it turns one validated ``call_command`` message into a :class:`Plan`, or raises
:class:`CommandRefused` (published as a ``dialplan_error``). A plan is one of

* dialplan applications (:class:`FsApp`), sent one by one with ``sendmsg`` (each with a fresh Event-UUID
  and ``event-lock``); the command completes with the CHANNEL_EXECUTE_COMPLETE of the last one;
* an API command (:class:`FsApi`), complete when FreeSWITCH answers ``+OK``;
* nothing at all (noop, a ``set`` without variables): complete as soon as it reaches the head of the queue.

=========================  ==============================================================================
command                    FreeSWITCH
=========================  ==============================================================================
answer                     ``answer``
hangup                     api ``uuid_kill <uuid> <cause>`` (Other-Leg-Only: the bridged leg's uuid)
park                       ``park`` (no event-lock, complete once queued: a parked channel keeps taking
                           commands, and park itself only returns when the channel leaves it)
play                       ``set playback_terminators=<keys|none>``, ``playback <media>``
                           (Endless-Playback: ``endless_playback``; Loop-Count: sendmsg ``loops``)
tones                      ``set playback_terminators=..``, ``playback tone_stream://[v=V;][l=R;]%(on,off,f..);..``
say                        ``say <lang> <type> <method> [<gender>] <text>``
record                     ``set playback_terminators=..``, ``record <path> <limit> <threshold> <hits>``
record_call                start: ``record_session <path> [+<limit>]``;
                           stop: ``stop_record_session <path|all>`` (paths confined as for record)
play_and_collect_digits    ``play_and_get_digits min max tries timeout terminators file invalid_file
                           collected_digits regex``
bridge                     ``bridge {globals}[vars]ep1,[vars]ep2`` (``|`` for Dial-Endpoint-Method single)
set                        ``set``/``export ecallmgr_<K>=<V>`` per Custom-Channel-Var (export with
                           Export-All), ``export`` per Custom-Call-Var, ``set cav_<K>=<V>``
noop                       nothing: completes with Application-Response = its Msg-ID
conference                 ``conference <id>@<profile|default>[+flags{mute|deaf|moderator}]``
send_dtmf                  ``send_dtmf <DTMFs>[@<Duration>]``
intercept                  ``intercept [-bleg] <Target-Call-ID>`` (-bleg with Other-Leg); completes once the
                           bridge is set up, the target's former partner hung up (PICKED_OFF)
transfer                   blind: ``transfer [-bleg|-both] <to> XML <context|default>``;
                           attended: ``att_xfer loopback/<to>/<context|default>``
store                      nothing: ecallmgr uploads the recording itself (:mod:`ecallmgr.control.store`,
                           run by the queue before :func:`plan`, which refuses it as ``unsupported``)
=========================  ==============================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecallmgr.fetch.xml import inert

DEFAULT_CONTEXT = "default"
DEFAULT_CONFERENCE_PROFILE = "default"
DIGITS_VARIABLE = "collected_digits"  # argument 8 of play_and_get_digits; translate reads it back
# where record writes (bare names) and the only place record/store may touch; env ECALLMGR_RECORDING_DIR
RECORDING_DIR = os.environ.get("ECALLMGR_RECORDING_DIR") or "/tmp"
RECORD_DEFAULTS = (3600, 200, 3)  # Time-Limit (s), Silence-Threshold, Silence-Hits
PASS_THROUGH_MEDIA = ("tone_stream://", "silence_stream://", "local_stream://", "http://", "https://")
_KAZOO_MEDIA = re.compile(r"^/(system_media|[0-9a-f]{32})/")
_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")  # a sound under FreeSWITCH's sound_prefix
_SAY_TYPES = {"e-mail_address": "email_address"}


class CommandRefused(Exception):
    """The command cannot run: ``error`` becomes Dialplan-Error, ``message`` Error-Message."""

    def __init__(self, error: str, detail: str) -> None:
        self.error = error
        self.message = f"Could not execute dialplan action: {detail}"
        super().__init__(self.message)


@dataclass(frozen=True)
class FsApp:
    """A dialplan application, sent with ``sendmsg``."""

    app: str
    arg: str | None = None
    loops: int = 1
    event_lock: bool = True
    wait: bool = True  # False: the command is complete once FreeSWITCH queued it (park)


@dataclass(frozen=True)
class FsApi:
    """An API command (``api <command>``)."""

    command: str


@dataclass(frozen=True)
class Plan:
    """What a command runs: applications, one API command, or nothing (complete at once)."""

    apps: tuple[FsApp, ...] = ()
    api: FsApi | None = None
    response: str = ""  # Application-Response when there is nothing to run

    @property
    def immediate(self) -> bool:
        return not self.apps and self.api is None


def plan(command: Mapping[str, Any], call_id: str, *, other_leg: str | None = None) -> Plan:
    """The :class:`Plan` of ``command`` on channel ``call_id``; raises CommandRefused."""
    name = command.get("Application-Name")
    builder = _BUILDERS.get(name or "")
    if builder is None:
        raise CommandRefused("unsupported", f"{name} is not supported")
    result = builder(command, call_id, other_leg)
    for app in result.apps:
        _inert(app.arg or "")
    if result.api is not None:
        _inert(result.api.command)
    return result


def in_recording_dir(path: str) -> bool:
    """Whether ``path`` (resolved: symlinks, ``..``) lies inside :data:`RECORDING_DIR`."""
    root = os.path.realpath(RECORDING_DIR)
    resolved = os.path.realpath(path)
    return os.path.commonpath([root, resolved]) == root


def _inert(text: str) -> None:
    """Refuse what FreeSWITCH would expand (``${...}``, e.g. ``${system(...)}``) or a control character."""
    _no_newline(text)
    if not inert(text):
        raise CommandRefused("invalid", "'${' or a control character in an argument")


def resolve_media(name: str) -> str:
    """What FreeSWITCH plays for Media-Name ``name``; raises CommandRefused for what it cannot resolve.

    FreeSWITCH streams and http(s) URLs pass through, and so do absolute paths, except Kazoo media ids
    (``/system_media/<id>``, ``/<account-id>/<media-id>``), which need a media server we do not have yet.
    A relative path (``ivr/ivr-welcome.wav``) is one of FreeSWITCH's own sounds, found under its
    ``sound_prefix``; it may not climb out of it.
    """
    if name.startswith(PASS_THROUGH_MEDIA):
        return name
    if name.startswith("/") and not _KAZOO_MEDIA.match(name):
        return name
    if _SOUND.fullmatch(name) and ".." not in name.split("/"):
        return name
    raise CommandRefused("media_not_found", f"cannot resolve media {name!r}")


# -- builders ---------------------------------------------------------------------------------------------


def _no_newline(text: str) -> None:
    if "\n" in text or "\r" in text:
        raise CommandRefused("invalid", "newline in an argument")


def _one_word(value: str, field: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise CommandRefused("invalid", f"{field} must be one word")
    return value


def _terminators(command: Mapping[str, Any]) -> str:
    return "".join(command.get("Terminators") or ()) or "none"


def _set_terminators(command: Mapping[str, Any]) -> FsApp:
    return FsApp("set", f"playback_terminators={_terminators(command)}")


def _answer(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    return Plan(apps=(FsApp("answer"),))


def _hangup(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    cause = _one_word(command.get("Hangup-Cause") or "NORMAL_CLEARING", "Hangup-Cause")
    target = call_id
    if command.get("Other-Leg-Only"):
        if not other_leg:
            raise CommandRefused("no_other_leg", "hangup: no bridged leg")
        target = other_leg
    return Plan(api=FsApi(f"uuid_kill {target} {cause}"))


def _park(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    return Plan(apps=(FsApp("park", event_lock=False, wait=False),))


def _play(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    media = resolve_media(command["Media-Name"])
    if command.get("Endless-Playback"):
        return Plan(apps=(_set_terminators(command), FsApp("endless_playback", media)))
    return Plan(
        apps=(_set_terminators(command), FsApp("playback", media, loops=command.get("Loop-Count") or 1))
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def tone_stream(tones: Sequence[Mapping[str, Any]]) -> str:
    """``tone_stream://`` for a Tones list: ``v=`` volume, ``l=`` repeats, ``%(on,off,freqs...)`` each."""
    parts: list[str] = []
    for tone in tones:
        if (volume := tone.get("Volume")) is not None:
            parts.append(f"v={volume}")
        if (repeat := tone.get("Repeat")) is not None:
            parts.append(f"l={repeat}")
        frequencies = ",".join(_number(f) for f in tone["Frequencies"])
        parts.append(f"%({tone['Duration-ON']},{tone['Duration-OFF']},{frequencies})")
    return "tone_stream://" + ";".join(parts)


def _tones(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    return Plan(apps=(_set_terminators(command), FsApp("playback", tone_stream(command["Tones"]))))


def _say(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    kind = _SAY_TYPES.get(command["Type"], command["Type"])
    words = [_one_word(command["Language"], "Language"), kind, command["Method"]]
    if gender := command.get("Gender"):
        words.append(gender)
    return Plan(apps=(FsApp("say", " ".join([*words, command["Say-Text"]])),))


def _recording_path(name: str) -> str:
    """Where recording ``name`` goes: a bare name in RECORDING_DIR, an absolute path only inside it."""
    path = name if name.startswith("/") else f"{RECORDING_DIR}/{name}"
    if ("/" in name and not name.startswith("/")) or ".." in name.split("/"):
        raise CommandRefused("invalid", f"bad recording name {name!r}")
    if not in_recording_dir(path):
        raise CommandRefused("invalid", f"recording {name!r} is outside the recording directory")
    return _one_word(path, "Media-Name")


def _record(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    path = _recording_path(command["Media-Name"])
    limit, threshold, hits = RECORD_DEFAULTS
    args = [
        path,
        str(command.get("Time-Limit", limit)),
        str(command.get("Silence-Threshold", threshold)),
        str(command.get("Silence-Hits", hits)),
    ]
    return Plan(apps=(_set_terminators(command), FsApp("record", " ".join(args))))


def _record_call(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    name = command.get("Media-Name")
    if command["Record-Action"] == "stop":
        return Plan(apps=(FsApp("stop_record_session", _recording_path(name) if name else "all"),))
    if not name:
        raise CommandRefused("invalid", "record_call start needs a Media-Name")
    args = [_recording_path(name)]
    if command.get("Time-Limit"):
        args.append(f"+{int(command['Time-Limit'])}")  # mod_dptools reads the limit after " +"
    return Plan(apps=(FsApp("record_session", " ".join(args)),))


def _play_and_collect_digits(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    media = _one_word(resolve_media(command["Media-Name"]), "Media-Name")
    failed = command.get("Failed-Media-Name")
    invalid = _one_word(resolve_media(failed), "Failed-Media-Name") if failed else "silence_stream://250"
    args = [
        str(command["Minimum-Digits"]),
        str(command["Maximum-Digits"]),
        str(command["Media-Tries"]),
        str(command["Timeout"]),
        _terminators(command),
        media,
        invalid,
        DIGITS_VARIABLE,
        _one_word(command["Digits-Regex"], "Digits-Regex"),
    ]
    return Plan(apps=(FsApp("play_and_get_digits", " ".join(args)),))


# -- bridge -------------------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    for bad in "{}[]|":
        if bad in text:
            raise CommandRefused("invalid", f"{bad!r} in a dial variable")
    return text.replace(",", "\\,")


def _vars(pairs: list[tuple[str, Any]]) -> str:
    return ",".join(f"{name}={_value(value)}" for name, value in pairs)


def _caller_id_vars(source: Mapping[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for suffix, var in (("Name", "origination_caller_id_name"), ("Number", "origination_caller_id_number")):
        value = source.get(f"Outbound-Caller-ID-{suffix}") or source.get(f"Caller-ID-{suffix}")
        if value:
            pairs.append((var, value))
    for suffix, var in (("Name", "origination_callee_id_name"), ("Number", "origination_callee_id_number")):
        if value := source.get(f"Callee-ID-{suffix}"):
            pairs.append((var, value))
    return pairs


def _custom_vars(source: Mapping[str, Any]) -> list[tuple[str, Any]]:
    pairs = [(f"ecallmgr_{k}", v) for k, v in (source.get("Custom-Channel-Vars") or {}).items()]
    pairs += [(f"sip_h_{k}", v) for k, v in (source.get("Custom-SIP-Headers") or {}).items()]
    return pairs


def endpoint_dial_string(endpoint: Mapping[str, Any]) -> str:
    """One endpoint: ``[vars]user/<To-User>@<To-Realm>``, the Route as is, or ``loopback/<number>``."""
    invite = endpoint.get("Invite-Format")
    user = endpoint.get("To-User") or endpoint.get("To-DID")
    if invite == "route":
        if not endpoint.get("Route"):
            raise CommandRefused("invalid", "route endpoint without Route")
        target = endpoint["Route"]
    elif invite == "loopback":
        if not user:
            raise CommandRefused("invalid", "loopback endpoint without To-DID")
        target = f"loopback/{user}/{DEFAULT_CONTEXT}"
    else:
        realm = endpoint.get("To-Realm")
        if not user or not realm:
            raise CommandRefused("invalid", "endpoint needs To-User and To-Realm (or a Route)")
        target = f"user/{user}@{realm}"
    if any(c.isspace() for c in target) or any(c in target for c in ",|[]{}"):
        raise CommandRefused("invalid", f"bad dial target {target!r}")
    pairs: list[tuple[str, Any]] = []
    for field, var in (
        ("Endpoint-Timeout", "leg_timeout"),
        ("Endpoint-Delay", "leg_delay_start"),
        ("Endpoint-Progress-Timeout", "leg_progress_timeout"),
        ("Ignore-Early-Media", "ignore_early_media"),
        ("Bypass-Media", "bypass_media"),
        ("Presence-ID", "presence_id"),
        ("Auth-User", "sip_auth_username"),  # a carrier gateway's credentials, for its challenge
        ("Auth-Password", "sip_auth_password"),
        ("Auth-Realm", "sip_auth_realm"),
    ):
        if endpoint.get(field) is not None:
            pairs.append((var, endpoint[field]))
    if codecs := endpoint.get("Codecs"):
        pairs.append(("absolute_codec_string", ",".join(codecs)))
    pairs += _caller_id_vars(endpoint) + _custom_vars(endpoint)
    return (f"[{_vars(pairs)}]" if pairs else "") + target


def bridge_dial_string(command: Mapping[str, Any]) -> str:
    """``{globals}ep1,ep2`` (simultaneous, the default) or ``{globals}ep1|ep2`` (single)."""
    pairs: list[tuple[str, Any]] = []
    if command.get("Timeout") is not None:
        pairs.append(("originate_timeout", command["Timeout"]))
    if command.get("Ignore-Early-Media") is not None:
        pairs.append(("ignore_early_media", command["Ignore-Early-Media"]))
    if command.get("Fail-On-Single-Reject") is not None:
        pairs.append(("fail_on_single_reject", command["Fail-On-Single-Reject"]))
    if command.get("Media") == "bypass":
        pairs.append(("bypass_media", True))
    pairs += _caller_id_vars(command) + _custom_vars(command)
    separator = "|" if command.get("Dial-Endpoint-Method") == "single" else ","
    endpoints = separator.join(endpoint_dial_string(e) for e in command["Endpoints"])
    return (f"{{{_vars(pairs)}}}" if pairs else "") + endpoints


def _bridge(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    apps: list[FsApp] = []
    if ringback := command.get("Ringback"):
        apps.append(FsApp("set", f"ringback={resolve_media(ringback)}"))
    apps.append(FsApp("bridge", bridge_dial_string(command)))
    return Plan(apps=tuple(apps))


# -- the rest -----------------------------------------------------------------------------------------------


def _set(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    channel_app = "export" if command.get("Export-All") else "set"
    apps = [
        FsApp(channel_app, f"ecallmgr_{k}={_plain(v)}") for k, v in command["Custom-Channel-Vars"].items()
    ]
    apps += [FsApp("export", f"ecallmgr_{k}={_plain(v)}") for k, v in command["Custom-Call-Vars"].items()]
    apps += [
        FsApp("set", f"cav_{k}={_plain(v)}")
        for k, v in (command.get("Custom-Application-Vars") or {}).items()
    ]
    return Plan(apps=tuple(apps))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _noop(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    return Plan(response=str(command.get("Msg-ID") or ""))


def _conference(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    room = _one_word(command["Conference-ID"], "Conference-ID")
    profile = _one_word(command.get("Profile") or DEFAULT_CONFERENCE_PROFILE, "Profile")
    flags = [
        flag
        for field, flag in (("Mute", "mute"), ("Deaf", "deaf"), ("Moderator", "moderator"))
        if command.get(field)
    ]
    arg = f"{room}@{profile}" + (f"+flags{{{'|'.join(flags)}}}" if flags else "")
    return Plan(apps=(FsApp("conference", arg),))


def _send_dtmf(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    duration = command.get("Duration")
    return Plan(apps=(FsApp("send_dtmf", command["DTMFs"] + (f"@{duration}" if duration else "")),))


def _intercept(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    target = _one_word(command["Target-Call-ID"], "Target-Call-ID")
    if target == call_id:
        raise CommandRefused("invalid", "a call cannot intercept itself")
    return Plan(apps=(FsApp("intercept", ("-bleg " if command.get("Other-Leg") else "") + target),))


def _transfer(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    to = _one_word(command["Transfer-To"], "Transfer-To")
    context = _one_word(command.get("Transfer-Context") or DEFAULT_CONTEXT, "Transfer-Context")
    if command["Transfer-Type"] == "attended":
        return Plan(apps=(FsApp("att_xfer", f"loopback/{to}/{context}"),))
    leg = {"bleg": "-bleg ", "both": "-both "}.get(command.get("Transfer-Leg") or "", "")
    return Plan(apps=(FsApp("transfer", f"{leg}{to} XML {context}"),))


def _store(command: Mapping[str, Any], call_id: str, other_leg: str | None) -> Plan:
    """store has no FreeSWITCH plan: the queue runs :func:`ecallmgr.control.store.store_recording`."""
    raise CommandRefused("unsupported", "store runs no FreeSWITCH application (see ecallmgr.control.store)")


_BUILDERS = {
    "answer": _answer,
    "hangup": _hangup,
    "park": _park,
    "play": _play,
    "tones": _tones,
    "say": _say,
    "record": _record,
    "record_call": _record_call,
    "play_and_collect_digits": _play_and_collect_digits,
    "bridge": _bridge,
    "set": _set,
    "noop": _noop,
    "conference": _conference,
    "send_dtmf": _send_dtmf,
    "intercept": _intercept,
    "transfer": _transfer,
    "store": _store,
}
