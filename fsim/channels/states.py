"""FreeSWITCH's channel states, call states, hangup causes and the source locations events are fired from.

The numbers are FreeSWITCH's own (``switch_types.h``); the origins are the Event-Calling-File/-Function/
-Line-Number the recordings in ``../shared/fixtures/freeswitch`` show (FreeSWITCH commit cc93a683).
"""

from __future__ import annotations

from enum import IntEnum

from fsim.events import Origin


class ChannelState(IntEnum):
    """``switch_channel_state_t``: Channel-State (running) and Channel-State-Number (requested)."""

    CS_NEW = 0
    CS_INIT = 1
    CS_ROUTING = 2
    CS_SOFT_EXECUTE = 3
    CS_EXECUTE = 4
    CS_EXCHANGE_MEDIA = 5
    CS_PARK = 6
    CS_CONSUME_MEDIA = 7
    CS_HIBERNATE = 8
    CS_RESET = 9
    CS_HANGUP = 10
    CS_REPORTING = 11
    CS_DESTROY = 12
    CS_NONE = 13


class CallState(IntEnum):
    """``switch_channel_callstate_t``: Channel-Call-State and Channel-Call-State-Number."""

    DOWN = 0
    DIALING = 1
    RINGING = 2
    EARLY = 3
    ACTIVE = 4
    HELD = 5
    RING_WAIT = 6
    HANGUP = 7
    UNHELD = 8


HANGUP_CAUSES: dict[str, int] = {
    "NONE": 0, "UNALLOCATED_NUMBER": 1, "NO_ROUTE_TRANSIT_NET": 2, "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6, "CALL_AWARDED_DELIVERED": 7, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22, "REDIRECTION_TO_NEW_DESTINATION": 23, "EXCHANGE_ROUTING_ERROR": 25,
    "DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30, "NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38, "NORMAL_TEMPORARY_FAILURE": 41, "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43, "REQUESTED_CHAN_UNAVAIL": 44, "PRE_EMPTED": 45,
    "FACILITY_NOT_SUBSCRIBED": 50, "OUTGOING_CALL_BARRED": 52, "INCOMING_CALL_BARRED": 54,
    "BEARERCAPABILITY_NOTAUTH": 57, "BEARERCAPABILITY_NOTAVAIL": 58, "SERVICE_UNAVAILABLE": 63,
    "BEARERCAPABILITY_NOTIMPL": 65, "CHAN_NOT_IMPLEMENTED": 66, "FACILITY_NOT_IMPLEMENTED": 69,
    "SERVICE_NOT_IMPLEMENTED": 79, "INVALID_CALL_REFERENCE": 81, "INCOMPATIBLE_DESTINATION": 88,
    "INVALID_MSG_UNSPECIFIED": 95, "MANDATORY_IE_MISSING": 96, "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98, "IE_NONEXIST": 99, "INVALID_IE_CONTENTS": 100, "WRONG_CALL_STATE": 101,
    "RECOVERY_ON_TIMER_EXPIRE": 102, "MANDATORY_IE_LENGTH_ERROR": 103, "PROTOCOL_ERROR": 111,
    "INTERWORKING": 127, "SUCCESS": 142, "ORIGINATOR_CANCEL": 487, "CRASH": 700, "SYSTEM_SHUTDOWN": 701,
    "LOSE_RACE": 702, "MANAGER_REQUEST": 703, "BLIND_TRANSFER": 800, "ATTENDED_TRANSFER": 801,
    "ALLOTTED_TIMEOUT": 802, "USER_CHALLENGE": 803, "MEDIA_TIMEOUT": 804, "PICKED_OFF": 805,
    "USER_NOT_REGISTERED": 806, "PROGRESS_TIMEOUT": 807, "INVALID_GATEWAY": 808, "GATEWAY_DOWN": 809,
    "INVALID_URL": 810, "INVALID_PROFILE": 811, "NO_PICKUP": 812, "SRTP_READ_ERROR": 813, "BOWOUT": 814,
    "BUSY_EVERYWHERE": 815, "DECLINE": 816, "DOES_NOT_EXIST_ANYWHERE": 817, "NOT_ACCEPTABLE": 818,
    "UNWANTED": 819, "NO_IDENTITY": 820, "BAD_IDENTITY_INFO": 821, "UNSUPPORTED_CERTIFICATE": 822,
    "INVALID_IDENTITY": 823, "STALE_DATE": 824, "REJECT_ALL": 825,
}  # fmt: skip
_CAUSE_NAMES = {number: name for name, number in HANGUP_CAUSES.items()}


def str2cause(text: str | None, default: str = "NORMAL_CLEARING") -> str:
    """A cause name from a name or a Q.850 number, as ``switch_channel_str2cause`` (unknown: NONE)."""
    if not text:
        return default
    text = text.strip().upper()
    if text.isdigit():
        return _CAUSE_NAMES.get(int(text), "NONE")
    return text if text in HANGUP_CAUSES else "NONE"


def cause_q850(cause: str) -> int:
    """``hangup_cause_q850``: the cause number when it is a Q.850 one, NORMAL_CLEARING (16) otherwise."""
    number = HANGUP_CAUSES.get(cause, 0)
    return number if number <= 127 else 16


# SIP final responses to hangup causes (mod_sofia's sofia_glue_sip_cause_to_freeswitch), for `respond`.
SIP_CAUSES: dict[int, str] = {
    200: "NORMAL_CLEARING", 401: "CALL_REJECTED", 402: "CALL_REJECTED", 403: "CALL_REJECTED",
    407: "CALL_REJECTED", 603: "CALL_REJECTED", 404: "UNALLOCATED_NUMBER", 485: "NO_ROUTE_DESTINATION",
    604: "NO_ROUTE_DESTINATION", 408: "RECOVERY_ON_TIMER_EXPIRE", 504: "RECOVERY_ON_TIMER_EXPIRE",
    410: "NUMBER_CHANGED", 413: "INTERWORKING", 414: "INTERWORKING", 416: "INTERWORKING",
    420: "INTERWORKING", 421: "INTERWORKING", 423: "INTERWORKING", 505: "INTERWORKING",
    513: "INTERWORKING", 480: "NO_USER_RESPONSE", 400: "NORMAL_TEMPORARY_FAILURE",
    481: "NORMAL_TEMPORARY_FAILURE", 500: "NORMAL_TEMPORARY_FAILURE", 503: "NORMAL_TEMPORARY_FAILURE",
    486: "USER_BUSY", 600: "USER_BUSY", 484: "INVALID_NUMBER_FORMAT", 488: "INCOMPATIBLE_DESTINATION",
    606: "INCOMPATIBLE_DESTINATION", 502: "NETWORK_OUT_OF_ORDER", 405: "SERVICE_UNAVAILABLE",
    406: "SERVICE_NOT_IMPLEMENTED", 415: "SERVICE_NOT_IMPLEMENTED", 501: "SERVICE_NOT_IMPLEMENTED",
    482: "EXCHANGE_ROUTING_ERROR", 483: "EXCHANGE_ROUTING_ERROR", 487: "ORIGINATOR_CANCEL",
}  # fmt: skip


def sip_cause(code: int) -> str:
    """The hangup cause FreeSWITCH gives a SIP final response code."""
    return SIP_CAUSES.get(code, "NORMAL_UNSPECIFIED" if code >= 400 else "NORMAL_CLEARING")


# Event-Calling-File / -Function / -Line-Number, as recorded.
_CHANNEL = "switch_channel.c"
_SESSION = "switch_core_session.c"
_MACHINE = "switch_core_state_machine.c"
ORIGINS: dict[str, Origin] = {
    "CHANNEL_STATE": Origin(_CHANNEL, "switch_channel_perform_set_running_state", 2409),
    "CHANNEL_CALLSTATE": Origin(_CHANNEL, "switch_channel_perform_set_callstate", 302),
    "CHANNEL_CREATE": Origin(_MACHINE, "switch_core_session_run", 626),
    "CHANNEL_ORIGINATE": Origin(_MACHINE, "switch_core_session_run", 632),
    "CHANNEL_UUID": Origin(_SESSION, "switch_core_session_set_uuid", 2056),
    "CHANNEL_OUTGOING": Origin(_SESSION, "switch_core_session_outgoing_channel", 768),
    "CHANNEL_EXECUTE": Origin(_SESSION, "switch_core_session_exec", 2949),
    "CHANNEL_EXECUTE_COMPLETE": Origin(_SESSION, "switch_core_session_exec", 2972),
    "CHANNEL_PARK": Origin("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": Origin("switch_ivr.c", "switch_ivr_park", 1213),
    "CHANNEL_PROGRESS": Origin(_CHANNEL, "switch_channel_perform_mark_ring_ready_value", 3507),
    "CHANNEL_PROGRESS_MEDIA": Origin(_CHANNEL, "switch_channel_perform_mark_pre_answered", 3562),
    "CHANNEL_ANSWER": Origin(_CHANNEL, "switch_channel_perform_mark_answered", 3848),
    "CHANNEL_HANGUP": Origin(_CHANNEL, "switch_channel_perform_hangup", 3447),
    "CHANNEL_HANGUP_COMPLETE": Origin(_MACHINE, "switch_core_session_reporting_state", 943),
    "CHANNEL_DESTROY": Origin(_SESSION, "switch_core_session_perform_destroy", 1588),
    "CHANNEL_BRIDGE": Origin("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    "CHANNEL_UNBRIDGE": Origin("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879),
    "CALL_UPDATE": Origin(_CHANNEL, "switch_channel_flip_cid", 3279),
    "DTMF": Origin(_CHANNEL, "switch_channel_dequeue_dtmf", 678),
    "PRIVATE_COMMAND": Origin("switch_ivr.c", "switch_ivr_parse_next_event", 804),
    "PLAYBACK_START": Origin("switch_ivr_play_say.c", "switch_ivr_play_file", 1649),
    "PLAYBACK_STOP": Origin("switch_ivr_play_say.c", "switch_ivr_play_file", 2023),
    "RECORD_START": Origin("switch_ivr_play_say.c", "switch_ivr_record_file_event", 770),
    "RECORD_STOP": Origin("switch_ivr_play_say.c", "switch_ivr_record_file_event", 1033),
    "RECORD_START_SESSION": Origin("switch_ivr_async.c", "record_callback", 1482),
    "RECORD_STOP_SESSION": Origin("switch_ivr_async.c", "send_record_stop_event", 1241),
    "MEDIA_BUG_START": Origin("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
    "MEDIA_BUG_STOP": Origin("switch_core_media_bug.c", "switch_core_media_bug_destroy", 84),
    "CHANNEL_APPLICATION": Origin("mod_dptools.c", "event_function", 1404),
}

# Events that carry every channel variable (switch_channel_event_set_extended_data).
EXTENDED_EVENTS = frozenset(
    {
        "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_ANSWER", "CHANNEL_PARK",
        "CHANNEL_UNPARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "REQUEST_PARAMS", "CHANNEL_DATA", "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_DESTROY", "SESSION_HEARTBEAT", "API", "RECORD_START",
        "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "MEDIA_BUG_START", "MEDIA_BUG_STOP",
        "CHANNEL_HOLD", "CHANNEL_UNHOLD", "TEXT", "CUSTOM", "CHANNEL_APPLICATION",
    }
)  # fmt: skip
