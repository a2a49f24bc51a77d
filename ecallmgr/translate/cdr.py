"""CHANNEL_HANGUP_COMPLETE -> the ``cdr`` message (``cdr.<Call-ID>`` on callevt, published with confirms).

The fields are those Kazoo puts on CHANNEL_DESTROY for the cdr app (``cdr_channel_destroy``): the leg's
times (Duration-, Billing-, Ringing-Seconds as Kazoo's get_billing_seconds/get_ringing_seconds compute
them), hangup cause and code, caller and callee, SIP addresses, the other leg, SDPs, user agent and the
custom channel variables. Account-ID is set when the ``ecallmgr_Account-ID`` variable holds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ecallmgr.translate._fields import (
    DIRECTIONS,
    call_times,
    channel_vars,
    copier,
    envelope,
    other_leg,
    seconds,
    sip_addresses,
)
from whistle_common.api.catalogue import Origin

CATEGORY = "call_detail"
NAME = "cdr"
UNKNOWN_CAUSE = "NONE"
_ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")

_COPY: tuple[tuple[str, str], ...] = (
    ("Caller-Caller-ID-Name", "Caller-ID-Name"),
    ("Caller-Caller-ID-Number", "Caller-ID-Number"),
    ("Caller-Callee-ID-Name", "Callee-ID-Name"),
    ("Caller-Callee-ID-Number", "Callee-ID-Number"),
    ("variable_endpoint_disposition", "Disposition"),
    ("FreeSWITCH-Hostname", "Media-Server"),
    ("FreeSWITCH-Hostname", "Switch-Hostname"),
    ("variable_presence_id", "Presence-ID"),
    ("variable_sip_user_agent", "User-Agent"),
    ("variable_switch_r_sdp", "Remote-SDP"),
    ("variable_rtp_local_sdp_str", "Local-SDP"),
)
_copy = copier(_COPY)


def cdr(
    fs: Mapping[str, str],
    *,
    origin: Origin,
    msg_id: str | None = None,
    switch_nodename: str | None = None,
) -> dict[str, Any]:
    """The ``cdr`` message of the leg that ``fs`` (its CHANNEL_HANGUP_COMPLETE) reports.

    Raises ValueError when ``fs`` has no Unique-ID: a CDR without a call is a bug upstream.
    """
    get = fs.get
    call_id = get("Unique-ID") or get("variable_uuid") or get("Channel-Call-UUID")
    if not call_id:
        raise ValueError("a CDR needs the channel's Unique-ID")
    timestamp = get("Event-Date-Timestamp")
    message = envelope(origin, CATEGORY, NAME, msg_id or f"{timestamp or '0'}-{get('Event-Sequence') or '0'}")
    message["Call-ID"] = call_id
    ended = seconds(get("variable_end_uepoch")) or seconds(timestamp)
    message["Timestamp"] = ended if ended is not None else 0
    message["Hangup-Cause"] = get("variable_hangup_cause") or get("Hangup-Cause") or UNKNOWN_CAUSE
    if code := get("variable_proto_specific_hangup_cause") or get(
        "variable_last_bridge_proto_specific_hangup_cause"
    ):
        message["Hangup-Code"] = code
    call_times(fs, message)
    if (direction := get("Call-Direction")) in DIRECTIONS:
        message["Call-Direction"] = direction
    _copy(fs, message)
    sip_addresses(fs, message)
    if other := other_leg(fs, call_id):
        message["Other-Leg-Call-ID"] = other
    created = seconds(get("variable_start_uepoch")) or seconds(get("Caller-Channel-Created-Time"))
    if created is not None:
        message["Channel-Created-Time"] = created
    if switch_nodename:
        message["Switch-Nodename"] = switch_nodename
    channel_vars(fs, message)
    account_id = message.get("Custom-Channel-Vars", {}).get("Account-ID")
    if account_id and _ACCOUNT_ID.fullmatch(account_id):
        message["Account-ID"] = account_id
    return message
