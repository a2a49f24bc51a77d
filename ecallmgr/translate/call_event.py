"""FreeSWITCH channel event -> Kazoo-style ``call_event`` (``call.<Event-Name>.<Call-ID>`` on callevt).

Which events are published (as Kazoo 4.3's ecallmgr_call_events does; everything else gives None):

- verbatim: CHANNEL_CREATE, CHANNEL_ANSWER, CHANNEL_PROGRESS, CHANNEL_PROGRESS_MEDIA, CHANNEL_BRIDGE,
  CHANNEL_UNBRIDGE, CHANNEL_HOLD, CHANNEL_UNHOLD, CHANNEL_DESTROY, CALL_SECURE, DTMF, DETECTED_TONE,
  RECORD_START, RECORD_STOP;
- CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE of an application in ``app_names.FS_TO_KAZOO``, with
  Application-Name the Kazoo name (playback -> play, play_and_get_digits -> play_and_collect_digits...);
- CUSTOM: sofia::transferor -> CHANNEL_TRANSFEROR, sofia::transferee -> CHANNEL_TRANSFEREE,
  sofia::replaced and loopback::bowout -> CHANNEL_REPLACED, sofia::intercepted -> CHANNEL_INTERCEPTED,
  spandsp::{rx,tx}fax* -> CHANNEL_FAX_STATUS, kazoo::noop -> CHANNEL_EXECUTE_COMPLETE of noop.

Not published: CHANNEL_STATE, CHANNEL_CALLSTATE, CHANNEL_PARK/UNPARK, CHANNEL_HANGUP,
CHANNEL_HANGUP_COMPLETE (its data goes out as the ``cdr`` message and on CHANNEL_DESTROY),
PLAYBACK_START/STOP, CODEC, CALL_UPDATE, CHANNEL_DATA, PRESENCE_IN, CHANNEL_UUID/OUTGOING/ORIGINATE,
MEDIA_BUG_*, other CUSTOM subclasses (conference::maintenance, sofia::register...), and events
that are not about a channel (API, HEARTBEAT, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ecallmgr.translate._fields import (
    DIRECTIONS,
    DTMF_DIGITS,
    call_times,
    channel_vars,
    copier,
    envelope,
    integer,
    is_true,
    other_leg,
    seconds,
    sip_addresses,
)
from ecallmgr.translate.app_names import FS_TO_KAZOO
from whistle_common.api.catalogue import Origin

CATEGORY = "call_event"

PUBLISHED_AS_IS = frozenset(
    (
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_DESTROY",
        "CALL_SECURE",
        "DTMF",
        "DETECTED_TONE",
        "RECORD_START",
        "RECORD_STOP",
    )
)
EXECUTE_EVENTS = frozenset(("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"))
CUSTOM_EVENTS: Mapping[str, str] = {
    "sofia::transferor": "CHANNEL_TRANSFEROR",
    "sofia::transferee": "CHANNEL_TRANSFEREE",
    "sofia::replaced": "CHANNEL_REPLACED",
    "sofia::intercepted": "CHANNEL_INTERCEPTED",
    "loopback::bowout": "CHANNEL_REPLACED",
    "kazoo::noop": "CHANNEL_EXECUTE_COMPLETE",
    "spandsp::rxfaxresult": "CHANNEL_FAX_STATUS",
    "spandsp::txfaxresult": "CHANNEL_FAX_STATUS",
    "spandsp::rxfaxpageresult": "CHANNEL_FAX_STATUS",
    "spandsp::txfaxpageresult": "CHANNEL_FAX_STATUS",
    "spandsp::rxfaxnegociateresult": "CHANNEL_FAX_STATUS",
    "spandsp::txfaxnegociateresult": "CHANNEL_FAX_STATUS",
}

# (FreeSWITCH header, Kazoo header): copied onto every event when present and not empty.
_GENERIC: tuple[tuple[str, str], ...] = (
    ("Channel-Call-State", "Channel-Call-State"),
    ("Caller-Caller-ID-Name", "Caller-ID-Name"),
    ("Caller-Caller-ID-Number", "Caller-ID-Number"),
    ("Caller-Callee-ID-Name", "Callee-ID-Name"),
    ("Caller-Callee-ID-Number", "Callee-ID-Number"),
    ("Channel-Name", "Channel-Name"),
    ("variable_endpoint_disposition", "Disposition"),
    ("variable_sip_from_tag", "From-Tag"),
    ("variable_sip_to_tag", "To-Tag"),
    ("FreeSWITCH-Hostname", "Media-Server"),
    ("FreeSWITCH-Hostname", "Switch-Hostname"),
    ("Other-Leg-Caller-ID-Name", "Other-Leg-Caller-ID-Name"),
    ("Other-Leg-Caller-ID-Number", "Other-Leg-Caller-ID-Number"),
    ("Other-Leg-Destination-Number", "Other-Leg-Destination-Number"),
    ("variable_presence_id", "Presence-ID"),
)
# Kazoo header <- the first of several FreeSWITCH headers present: copied after _GENERIC, fallbacks first,
# so that the preferred source, copied last, wins.
_FIRST_OF: tuple[tuple[str, str], ...] = (
    ("Hangup-Cause", "Hangup-Cause"),
    ("variable_hangup_cause", "Hangup-Cause"),
    ("variable_last_bridge_proto_specific_hangup_cause", "Hangup-Code"),
    ("variable_proto_specific_hangup_cause", "Hangup-Code"),
    ("variable_att_xfer_replaced_by", "Replaced-By"),
    ("att_xfer_replaced_by", "Replaced-By"),
)
_copy_generic = copier(_GENERIC + _FIRST_OF)

Specific = Callable[[Mapping[str, str], dict[str, Any]], None]


def _dtmf_digit(value: str | None) -> str | None:
    if value:
        value = value.upper()
        if value in DTMF_DIGITS:
            return value
    return None


def _dtmf(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    if digit := _dtmf_digit(fs.get("DTMF-Digit")):
        message["DTMF-Digit"] = digit
    duration = integer(fs.get("DTMF-Duration"))
    if duration is not None and duration >= 0:
        message["DTMF-Duration"] = duration


def _detected_tone(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    if tone := fs.get("Detected-Tone") or fs.get("Detected-Fax-Tone"):
        message["Detected-Tone"] = tone


def _record(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    message["Application-Name"] = "record"
    if path := fs.get("Record-File-Path") or fs.get("kazoo_application_response"):
        message["Application-Response"] = path


def _record_stop(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    _record(fs, message)
    if digit := _dtmf_digit(fs.get("variable_playback_terminator_used")):
        message["Terminator"] = digit
    length = integer(fs.get("variable_record_ms"), 0)
    message["Length"] = max(0, length or 0)
    exhausted = fs.get("variable_silence_hits_exhausted")
    if exhausted is not None:
        message["Silence-Terminated"] = is_true(exhausted)
    else:
        hits = integer(fs.get("variable_record_silence_hits"))
        if hits is not None:
            message["Silence-Terminated"] = hits == 0
    sip_addresses(fs, message)


def _destroy(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    sip_addresses(fs, message)
    if sdp := fs.get("variable_switch_r_sdp"):
        message["Remote-SDP"] = sdp
    if sdp := fs.get("variable_rtp_local_sdp_str"):
        message["Local-SDP"] = sdp
    if user_agent := fs.get("variable_sip_user_agent"):
        message["User-Agent"] = user_agent
    if "variable_duration" in fs:
        call_times(fs, message)


def _transferor(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    target = fs.get("variable_transfer_to") or ""
    kind, _, to = target.partition(":")
    kind = {"att": "attended", "blind": "blind"}.get(kind)
    if kind and to:
        message["Transfer-Type"] = kind
        message["Transfer-To"] = to


def _intercepted(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    if by := fs.get("intercepted_by") or fs.get("variable_intercepted_by"):
        message["Intercepted-By"] = by


_FAX_FIELDS = (
    ("variable_fax_result_text", "Fax-Result-Text"),
    ("variable_fax_result_code", "Fax-Result-Code"),
    ("variable_fax_document_transferred_pages", "Fax-Transferred-Pages"),
    ("variable_fax_document_total_pages", "Fax-Total-Pages"),
    ("variable_fax_remote_station_id", "Fax-Remote-Station-ID"),
    ("variable_fax_local_station_id", "Fax-Local-Station-ID"),
    ("variable_fax_transfer_rate", "Fax-Transfer-Rate"),
    ("variable_fax_bad_rows", "Fax-Bad-Rows"),
)


def _fax(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    subclass = fs.get("Event-Subclass") or ""
    message["Application-Name"] = "receive_fax" if subclass.startswith("spandsp::rx") else "send_fax"
    data: dict[str, Any] = {k: fs[v] for v, k in _FAX_FIELDS if fs.get(v)}
    if (success := fs.get("variable_fax_success")) is not None:
        data["Fax-Success"] = success != "0"
    if (ecm := fs.get("variable_fax_ecm_used")) is not None:
        data["Fax-ECM-Used"] = ecm != "off"
    if (t38 := fs.get("variable_has_t38")) is not None:
        data["Fax-T38-Used"] = is_true(t38)
    message["Application-Data"] = data
    message["Application-Event"] = subclass.removeprefix("spandsp::")[len("rxfax") :]


def _noop(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    message["Application-Name"] = "noop"
    if response := fs.get("kazoo_application_response"):
        message["Application-Response"] = response


def _digits_collected(fs: Mapping[str, str]) -> str:
    """play_and_get_digits keeps digits in the variable named by argument 8 (Kazoo: collected_digits)."""
    arguments = (fs.get("Application-Data") or "").split(" ", 8)
    if len(arguments) > 7 and (digits := fs.get("variable_" + arguments[7])):
        return digits
    return fs.get("variable_collected_digits") or ""


def _execute(fs: Mapping[str, str], message: dict[str, Any], application: str, kazoo_name: str) -> None:
    message["Application-Name"] = kazoo_name
    message["Raw-Application-Name"] = application
    data = fs.get("Application-Data")
    if data:
        message["Application-Data"] = data
        message["Raw-Application-Data"] = data
    if uuid := fs.get("Application-UUID"):
        message["Application-UUID"] = uuid
    if fs.get("Event-Name") != "CHANNEL_EXECUTE_COMPLETE":
        return
    if application == "play_and_get_digits":
        response = _digits_collected(fs)
    elif application == "bridge":
        response = fs.get("variable_originate_disposition") or "FAIL"
    else:
        response = fs.get("Application-Response") or ""
        if application == "playback" and (digit := _dtmf_digit(fs.get("variable_playback_terminator_used"))):
            message["DTMF-Digit"] = digit
    message["Application-Response"] = response


_SPECIFIC: Mapping[str, Specific] = {
    "CHANNEL_CREATE": sip_addresses,
    "CHANNEL_ANSWER": sip_addresses,
    "CHANNEL_DESTROY": _destroy,
    "DTMF": _dtmf,
    "DETECTED_TONE": _detected_tone,
    "RECORD_START": _record,
    "RECORD_STOP": _record_stop,
}
_CUSTOM_SPECIFIC: Mapping[str, Specific] = {
    "sofia::transferor": _transferor,
    "sofia::intercepted": _intercepted,
    "kazoo::noop": _noop,
    **{subclass: _fax for subclass, name in CUSTOM_EVENTS.items() if name == "CHANNEL_FAX_STATUS"},
}


def event_name(fs: Mapping[str, str]) -> str | None:
    """The Event-Name ``fs`` is published under, or None when it is not published."""
    name = fs.get("Event-Name")
    if name in PUBLISHED_AS_IS:
        return name
    if name in EXECUTE_EVENTS:
        return name if fs.get("Application") in FS_TO_KAZOO else None
    if name == "CUSTOM":
        return CUSTOM_EVENTS.get(fs.get("Event-Subclass") or "")
    return None


def call_event(
    fs: Mapping[str, str],
    *,
    origin: Origin,
    msg_id: str | None = None,
    switch: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The ``call_event`` message for FreeSWITCH channel event ``fs`` (headers decoded), or None.

    None for events Kazoo does not publish (see the module docstring) and for events without a Unique-ID.
    ``msg_id`` defaults to ``<Event-Date-Timestamp>-<Event-Sequence>`` (Kazoo uses the event timestamp);
    ``switch`` adds node facts the event lacks (Switch-Nodename, Switch-URL, Switch-URI).
    """
    get = fs.get
    name = get("Event-Name")
    subclass = None
    application = None
    kazoo_name = None
    if name in PUBLISHED_AS_IS:
        pass
    elif name in EXECUTE_EVENTS:
        application = get("Application")
        kazoo_name = FS_TO_KAZOO.get(application) if application else None
        if kazoo_name is None:
            return None
    elif name == "CUSTOM":
        subclass = get("Event-Subclass")
        name = CUSTOM_EVENTS.get(subclass) if subclass else None
        if name is None:
            return None
    else:
        return None
    call_id = get("Unique-ID") or get("Channel-Call-UUID") or get("variable_uuid")
    if not call_id:
        return None
    timestamp = get("Event-Date-Timestamp")
    if msg_id is None:
        msg_id = f"{timestamp or '0'}-{get('Event-Sequence') or '0'}"
    message = envelope(origin, CATEGORY, name, msg_id)
    message["Call-ID"] = call_id
    if (when := seconds(timestamp)) is not None:
        message["Timestamp"] = when
    if (state := get("Channel-State")) is not None:
        message["Channel-State"] = state[3:] if state.startswith("CS_") else state
    if (direction := get("Call-Direction")) in DIRECTIONS:
        message["Call-Direction"] = direction
    _copy_generic(fs, message)
    if (created := seconds(get("Caller-Channel-Created-Time"))) is not None:
        message["Channel-Created-Time"] = created
    if get("variable_is_loopback") is not None:
        message["Channel-Is-Loopback"] = True
    if is_true(get("variable_channel_is_moving")):
        message["Channel-Moving"] = True
    if other := other_leg(fs, call_id):
        message["Other-Leg-Call-ID"] = other
    if (direction := get("Other-Leg-Direction")) in DIRECTIONS:
        message["Other-Leg-Direction"] = direction
    channel_vars(fs, message)
    if switch:
        message.update(switch)
    if kazoo_name is not None:
        _execute(fs, message, application, kazoo_name)  # type: ignore[arg-type]
    elif subclass is not None:
        if specific := _CUSTOM_SPECIFIC.get(subclass):
            specific(fs, message)
    elif specific := _SPECIFIC.get(name):
        specific(fs, message)
    return message
