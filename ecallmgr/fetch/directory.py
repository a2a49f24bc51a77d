"""Directory fetches (SIP auth, ``user_exists``...): form → ``authn_req`` → ``authn_resp`` → directory XML.

Replies are collected with Defer-Response semantics (Kazoo's registrar defers its "not mine" answers):
the first non-deferred ``password``/``a1-hash`` reply ends the wait, and so does a non-deferred
``error`` (the registrar knows no such user); at the deadline a deferred one is used.
``Auth-Method: error`` (or ``ip``, which needs no directory secret), no reply, or a form without user
and domain all answer "not found": FreeSWITCH then tries its static directory, and for SIP auth with no
such user there it answers 403.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ecallmgr.fetch import xml
from ecallmgr.fetch.dialplan import CCV_PREFIX
from ecallmgr.fetch.form import Form, first_of
from whistle_common.bus import Bus

log = logging.getLogger(__name__)

Reply = Mapping[str, Any]

DEFAULT_AUTHN_TIMEOUT = 2.0  # seconds (Kazoo's kz_amqp_worker default)
USABLE_METHODS = {"password": "password", "a1-hash": "a1-hash"}  # Auth-Method → directory <param name>


def lookup_of(form: Form) -> tuple[str, str]:
    """(user, realm) FreeSWITCH looks up; empty strings when the form does not say."""
    user = first_of(form, "user", "sip_auth_username")
    realm = first_of(form, "domain", "sip_auth_realm")
    if not realm and form.get("tag_name") == "domain":
        realm = form.get("key_value", "")
    return user, realm


def build_authn_req(bus: Bus, form: Form) -> dict[str, Any]:
    """The ``authn_req`` for a directory fetch; raises ValueError when it names no user or realm."""
    user, realm = lookup_of(form)
    if not user or not realm:
        raise ValueError("directory fetch without user and domain")
    method = first_of(form, "sip_auth_method").upper()
    contact_user, contact_host = first_of(form, "sip_contact_user"), first_of(form, "sip_contact_host")
    fields: dict[str, Any] = {
        "Auth-User": first_of(form, "sip_auth_username") or user,
        "Auth-Realm": first_of(form, "sip_auth_realm") or realm,
        "From": f"{first_of(form, 'sip_from_user') or user}@{first_of(form, 'sip_from_host') or realm}",
        "To": f"{first_of(form, 'sip_to_user') or user}@{first_of(form, 'sip_to_host') or realm}",
        "Method": method if method.isalpha() and method.isascii() else None,
        "Auth-Nonce": first_of(form, "sip_auth_nonce"),
        "Auth-Response": first_of(form, "sip_auth_response"),
        "Call-ID": first_of(form, "sip_call_id"),
        "Contact": f"{contact_user}@{contact_host}" if contact_user and contact_host else None,
        "Orig-IP": first_of(form, "ip"),
        "Orig-Port": first_of(form, "client_port"),
        "User-Agent": first_of(form, "sip_user_agent"),
        "Switch-Hostname": first_of(form, "FreeSWITCH-Hostname", "hostname"),
    }
    return bus.build("authn_req", fields)


def is_definitive(reply: Reply) -> bool:
    """A non-deferred reply ends the wait: credentials we can render, or a registrar's "no such user"
    (``error``), so an unknown phone is refused at once rather than at the deadline."""
    usable = reply.get("Auth-Method") in USABLE_METHODS or reply.get("Auth-Method") == "error"
    return usable and not reply.get("Defer-Response")


def choose(replies: Sequence[Reply]) -> Reply | None:
    """The first non-deferred usable reply, else the first deferred usable one, else None."""
    usable = [reply for reply in replies if reply.get("Auth-Method") in USABLE_METHODS]
    definitive = [reply for reply in usable if not reply.get("Defer-Response")]
    return (definitive or usable or [None])[0]


def render(reply: Reply, *, user: str, realm: str) -> str:
    """The directory XML for ``user`` of ``realm`` from an usable ``authn_resp``."""
    secret = (USABLE_METHODS[str(reply["Auth-Method"])], str(reply["Auth-Password"]))
    variables = [
        (f"{CCV_PREFIX}{name}", str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in (reply.get("Custom-Channel-Vars") or {}).items()
        if xml.variable_name(name)
    ]
    return xml.directory_user(realm=realm, user=user, params=[secret], variables=variables)


class DirectoryFetch:
    """Answers directory fetches over ``bus``."""

    def __init__(self, bus: Bus, *, timeout: float = DEFAULT_AUTHN_TIMEOUT) -> None:
        self.bus = bus
        self.timeout = timeout

    async def handle(self, form: Form) -> str:
        """The XML for one directory fetch; raises ValueError (no user/domain) or bus errors."""
        user, realm = lookup_of(form)
        request = build_authn_req(self.bus, form)
        call_id = request.get("Call-ID")
        replies = await self.bus.collect(request, timeout=self.timeout, until=is_definitive)
        reply = choose(replies)
        if reply is None:
            reasons = sorted({str(item.get("Auth-Method")) for item in replies}) or ["no reply"]
            log.info(
                "no credentials for %s@%s (%s): not found", user, realm, ", ".join(reasons),
                extra={"call_id": call_id},
            )  # fmt: skip
            return xml.not_found()
        return render(reply, user=user, realm=realm)
