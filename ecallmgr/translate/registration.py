"""sofia::register -> ``registration_success`` (``registration.success.<Realm>.<Username>`` on callmgr).

sofia::unregister and sofia::expire have no message in the catalogue yet: ``registration`` returns None
for them (and for any other event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecallmgr.translate._fields import copier, envelope, integer, seconds
from whistle_common.api.catalogue import Origin

CATEGORY = "directory"
NAME = "reg_success"
REGISTER = "sofia::register"

# (sofia::register header, registration_success header), copied when present and not empty.
_COPY: tuple[tuple[str, str], ...] = (
    ("call-id", "Call-ID"),
    ("contact", "Original-Contact"),
    ("profile-name", "Profile-Name"),
    ("from-user", "From-User"),
    ("from-host", "From-Host"),
    ("to-user", "To-User"),
    ("to-host", "To-Host"),
    ("network-ip", "Network-IP"),
    ("network-port", "Network-Port"),
    ("user-agent", "User-Agent"),
    ("rpid", "RPid"),
    ("status", "Status"),
    ("FreeSWITCH-Hostname", "FreeSWITCH-Hostname"),
    ("sip_auth_username", "Authorizing-ID"),
)
_copy = copier(_COPY)
_CCV = "ecallmgr_"
_VARIABLE_CCV = "variable_ecallmgr_"


def registration(
    fs: Mapping[str, str], *, origin: Origin, msg_id: str | None = None
) -> dict[str, Any] | None:
    """The ``registration_success`` message for a sofia::register event; None for any other event,
    or when the event lacks what the message requires (contact, realm, username, expires)."""
    get = fs.get
    if get("Event-Subclass") != REGISTER:
        return None
    contact = get("contact")
    realm = get("realm") or get("to-host") or get("from-host")
    username = get("username") or get("to-user") or get("from-user")
    expires = integer(get("expires"))
    if not contact or not realm or not username or expires is None or expires < 0:
        return None
    timestamp = get("Event-Date-Timestamp")
    message = envelope(origin, CATEGORY, NAME, msg_id or f"{timestamp or '0'}-{get('Event-Sequence') or '0'}")
    message["Contact"] = contact
    message["Expires"] = expires
    message["Realm"] = realm
    message["Username"] = username
    when = seconds(timestamp)
    message["Event-Timestamp"] = when if when is not None else 0
    message["AOR"] = f"sip:{username}@{realm}"
    _copy(fs, message)
    message["Registrar-Node"] = origin.node
    ccvs = {}
    for name, value in fs.items():
        if name.startswith(_CCV):
            ccvs[name[len(_CCV) :]] = value
        elif name.startswith(_VARIABLE_CCV):
            ccvs[name[len(_VARIABLE_CCV) :]] = value
    if ccvs:
        message["Custom-Channel-Vars"] = ccvs
    return message
