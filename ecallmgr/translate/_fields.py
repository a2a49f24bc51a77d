"""Pieces every translation shares: the envelope, times, channel variables, SIP addresses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from whistle_common.api.catalogue import Origin

DIRECTIONS = frozenset(("inbound", "outbound"))
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DEFAULT_REALM = "norealm"

_CCV = "variable_ecallmgr_"
_CAV = "variable_cav_"
_SIP_HEADER_KEEP = len("variable_sip_h_")
_PREFIXES = (_CCV, _CAV, "variable_sip_h_X-", "variable_sip_h_x-")  # FreeSWITCH keeps the header's case

# Header names seen so far that carry none of the prefixes above. FreeSWITCH sends the same few hundred
# names again and again, so after the first events a set difference (done in C) leaves only the prefixed
# names, instead of a startswith per header in Python. Bounded, and never holds a prefixed name, so the
# result is the same with or without it.
_PLAIN_NAMES: set[str] = set()
_PLAIN_NAMES_MAX = 50_000


_last_origin: Origin | None = None
_last_envelope: dict[str, Any] = {}


def _envelope(origin: Origin) -> dict[str, Any]:
    global _last_origin, _last_envelope
    if origin is not _last_origin:  # one process sends as one origin: remember the last one
        _last_envelope = {
            "App-Name": origin.app_name,
            "App-Version": origin.app_version,
            "Node": origin.node,
            "Server-ID": origin.server_id,
        }
        _last_origin = origin
    return _last_envelope


def envelope(origin: Origin, category: str, name: str, msg_id: str) -> dict[str, Any]:
    """The default headers of a message from ``origin`` (dict order: envelope first, as Kazoo prints it)."""
    message = _envelope(origin).copy()
    message["Event-Category"] = category
    message["Event-Name"] = name
    message["Msg-ID"] = msg_id
    return message


def copier(pairs: tuple[tuple[str, str], ...]) -> Callable[[Mapping[str, str], dict[str, Any]], None]:
    """A function copying ``(source, target)`` headers that are present and not empty, in C loops
    (map, zip, filter): about three times faster than a Python for loop over the pairs."""
    sources = tuple(source for source, _ in pairs)
    targets = tuple(target for _, target in pairs)
    value = itemgetter(1)

    def copy(fs: Mapping[str, str], message: dict[str, Any]) -> None:
        message.update(filter(value, zip(targets, map(fs.get, sources), strict=True)))

    return copy


def seconds(microseconds: str | None) -> float | None:
    """FreeSWITCH microsecond timestamps ('1795379945689142') -> seconds; None when absent, 0 or bad."""
    if not microseconds or microseconds == "0":
        return None
    try:
        return int(microseconds) / 1_000_000
    except ValueError:
        return None


def integer(value: str | None, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        try:
            return int(float(value))
        except ValueError:
            return default


def is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes", "on")


def prefixed_names(fs: Mapping[str, str]) -> list[str]:
    """Header names of ``fs`` starting ``variable_ecallmgr_``, ``variable_cav_`` or ``variable_sip_h_X-``."""
    found = []
    for name in set(fs).difference(_PLAIN_NAMES):
        if name.startswith(_PREFIXES):
            found.append(name)
        elif len(_PLAIN_NAMES) < _PLAIN_NAMES_MAX:
            _PLAIN_NAMES.add(name)
    return found


def channel_vars(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    """Adds Custom-Channel-Vars, Custom-Application-Vars and Custom-SIP-Headers, when there are any."""
    names = prefixed_names(fs)
    if not names:
        return
    ccvs: dict[str, str] = {}
    cavs: dict[str, str] = {}
    sip_headers: dict[str, str] = {}
    for name in sorted(names):
        if name.startswith(_CCV):
            if key := name[len(_CCV) :]:
                ccvs[key] = fs[name]
        elif name.startswith(_CAV):
            if key := name[len(_CAV) :]:
                cavs[key] = fs[name]
        else:
            sip_headers[name[_SIP_HEADER_KEEP:]] = fs[name]
    if ccvs:
        message["Custom-Channel-Vars"] = ccvs
    if cavs:
        message["Custom-Application-Vars"] = cavs
    if sip_headers:
        message["Custom-SIP-Headers"] = sip_headers


def _realm(fs: Mapping[str, str]) -> str:
    return (
        fs.get("variable_sip_auth_realm")
        or fs.get("variable_sip_to_host")
        or fs.get("variable_sip_req_host")
        or fs.get("variable_domain_name")
        or DEFAULT_REALM
    )


def _user(uri: str | None) -> str | None:
    return uri.partition("@")[0] if uri else None


def sip_addresses(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    """Request, To, To-Uri, From, From-Uri as Kazoo's ecallmgr_util builds them (user@realm)."""
    realm = None
    user = _user(fs.get("variable_sip_req_uri") or fs.get("variable_sip_loopback_req_uri")) or fs.get(
        "Caller-Destination-Number"
    )
    if user:
        realm = _realm(fs)
        message["Request"] = f"{user}@{realm}"
    user = fs.get("variable_sip_to_user") or fs.get("Caller-Destination-Number")
    if user:
        host = fs.get("variable_sip_to_host") or realm or _realm(fs)
        message["To"] = f"{user}@{host}"
    user = fs.get("variable_sip_from_user") or fs.get("Caller-Caller-ID-Number")
    if user:
        host = fs.get("variable_sip_from_host") or realm or _realm(fs)
        message["From"] = f"{user}@{host}"
    if uri := fs.get("variable_sip_to_uri"):
        message["To-Uri"] = uri
    if uri := fs.get("variable_sip_from_uri"):
        message["From-Uri"] = uri


def billing_seconds(fs: Mapping[str, str]) -> int:
    """Kazoo's get_billing_seconds: billmsec rounded up to whole seconds, else billsec."""
    billmsec = integer(fs.get("variable_billmsec"))
    if billmsec is None:
        return max(0, integer(fs.get("variable_billsec"), 0) or 0)
    return max(0, -(-billmsec // 1000))


def call_times(fs: Mapping[str, str], message: dict[str, Any]) -> None:
    """Duration-, Billing- and Ringing-Seconds of a finished leg, as Kazoo computes them.

    Ringing = duration - billing - progresssec (Kazoo's get_ringing_seconds), never below 0: Kazoo rounds
    billing up from milliseconds but takes duration as FreeSWITCH's whole seconds, so it can go negative.
    """
    duration = max(0, integer(fs.get("variable_duration"), 0) or 0)
    billing = billing_seconds(fs)
    progress = integer(fs.get("variable_progresssec"), 0) or 0
    message["Duration-Seconds"] = duration
    message["Billing-Seconds"] = billing
    message["Ringing-Seconds"] = max(0, duration - billing - progress)


def other_leg(fs: Mapping[str, str], call_id: str) -> str | None:
    """The other leg: Other-Leg-Unique-ID, else the other side of Bridge-A/B, else the last bridge."""
    other = fs.get("Other-Leg-Unique-ID")
    if not other:
        a_leg = fs.get("Bridge-A-Unique-ID")
        if a_leg:
            other = fs.get("Bridge-B-Unique-ID") if a_leg == call_id else a_leg
        else:
            other = fs.get("variable_last_bridge_to") or fs.get("variable_bridge_uuid")
    return other if other and other != call_id else None
