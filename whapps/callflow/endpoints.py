"""Bridge endpoints (``schemas/api/_endpoint.json``) for devices and users, and the bridge that rings them.

Kazoo's ``kz_endpoint`` in short: a device becomes one endpoint, a user one per device they own.

* a disabled device, or the caller's own device (unless ``can_call_self``), rings nothing;
* a device forwarding its calls (``call_forward.enabled`` with a number) is dialled through the switch's
  dialplan (``Invite-Format: loopback`` to the number), so the number is routed like any call;
* a device with ``sip.invite_format: route`` is dialled at its ``sip.route`` as is;
* any other device must be registered: the registrar tells its Contact and the sofia profile it registered
  through, and the endpoint dials ``sofia/<profile>/<contact URI>`` (``Invite-Format: route``). A device
  that is not registered rings nothing (logged).

Each endpoint rings after ``delay`` seconds for ``timeout`` seconds (``Endpoint-Delay``/``-Timeout``) and
tags its leg with the device (Custom-Channel-Vars Authorizing-ID...), so CDRs of the B-leg name it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whapps.call import BridgeResult
from whapps.callflow.flow import STOP, FlowContext, ModuleFailed, Next, Outcome
from whistle_common.store import NotFound, account_db

DIALLABLE = re.compile(r"^\+?[0-9*#]+$")  # a number we may dial out or forward to, nothing more
log = logging.getLogger(__name__)

Endpoint = dict[str, Any]
DEFAULT_TIMEOUT = 20  # seconds an endpoint rings unless the flow says otherwise (Kazoo's default)
DEFAULT_PROFILE = "internal"  # the sofia profile when the registrar does not name one
OWNER_VIEW = "devices/listing_by_owner"
_UNSAFE = re.compile(r"[\s,|\[\]{}]")  # what would break out of one target of a FreeSWITCH dial string


@dataclass(frozen=True)
class Ring:
    """When an endpoint rings: ``delay`` seconds after the bridge starts, for ``timeout`` seconds."""

    delay: int = 0
    timeout: int = DEFAULT_TIMEOUT


def contact_uri(contact: str) -> str:
    """``sip:user@host:port;params`` out of ``"name" <sip:...>;params`` or a bare URI."""
    if "<" in contact and ">" in contact:
        return contact[contact.index("<") + 1 : contact.index(">")].strip()
    return contact.strip().split(";", 1)[0].strip()


async def account_realm(ctx: FlowContext) -> str:
    """The SIP realm of the call's account (from the account document in its own database)."""
    try:
        account = await ctx.whapp.lookup.doc(ctx.account_id, ctx.account_id)
    except NotFound:
        raise ModuleFailed(f"account {ctx.account_id} has no account document in its database") from None
    return str(account.get("realm") or "")


def _caller_device(ctx: FlowContext) -> str | None:
    channel_vars = ctx.call.request.get("Custom-Channel-Vars") or {}
    return channel_vars.get("Authorizing-ID")


def _leg_fields(device: Mapping[str, Any], ring: Ring, account_id: str) -> Endpoint:
    fields: Endpoint = {"Endpoint-Timeout": ring.timeout}
    if ring.delay:
        fields["Endpoint-Delay"] = ring.delay
    channel_vars = {
        "Authorizing-ID": str(device["_id"]),
        "Authorizing-Type": "device",
        "Account-ID": account_id,
    }
    if device.get("owner_id"):
        channel_vars["Owner-ID"] = str(device["owner_id"])
    fields["Custom-Channel-Vars"] = channel_vars
    codecs = ((device.get("media") or {}).get("audio") or {}).get("codecs")
    if codecs:
        fields["Codecs"] = list(codecs)
    return fields


async def device_endpoints(
    ctx: FlowContext,
    device: Mapping[str, Any],
    ring: Ring = Ring(),
    *,
    can_call_self: bool = False,
    sip_headers: Mapping[str, str] | None = None,
) -> list[Endpoint]:
    """The endpoints of ``device`` (a device document): none, or one (see the module docstring)."""
    where = {"call_id": ctx.call.call_id}
    device_id = str(device.get("_id"))
    if device.get("enabled") is False:
        log.info("device %s is disabled: not ringing it", device_id, extra=where)
        return []
    if not can_call_self and _caller_device(ctx) == device_id:
        log.info("device %s is the caller: not ringing it", device_id, extra=where)
        return []
    leg = _leg_fields(device, ring, ctx.account_id)
    if sip_headers:
        leg["Custom-SIP-Headers"] = dict(sip_headers)
    forward = device.get("call_forward") or {}
    if forward.get("enabled") and forward.get("number"):
        if DIALLABLE.match(str(forward["number"])):
            return [{"Invite-Format": "loopback", "To-DID": str(forward["number"]), **leg}]
        # anything else would pick the loopback's context and dialplan: never dialled
        log.error("device %s forwards to %r, which is not a number: ringing the device instead",
                  device_id, forward["number"], extra=where)  # fmt: skip
    sip = device.get("sip") or {}
    if sip.get("invite_format") == "route" and sip.get("route"):
        return [{"Invite-Format": "route", "Route": str(sip["route"]), **leg}]
    username = sip.get("username")
    if not username:
        log.info("device %s has no SIP username and no forward: nothing to ring", device_id, extra=where)
        return []
    realm = str(sip.get("realm") or await account_realm(ctx))
    registration = await ctx.whapp.registration(realm, str(username))
    if registration is None or not registration.get("Contact"):
        log.info("device %s (%s@%s) is not registered: not ringing it", device_id, username, realm,
                 extra=where)  # fmt: skip
        return []
    profile = str(registration.get("Profile-Name") or DEFAULT_PROFILE)
    route = f"sofia/{profile}/{contact_uri(str(registration['Contact']))}"
    if _UNSAFE.search(route):  # the phone wrote its Contact: never let it into a dial string
        log.warning("device %s registered an unusable contact %r: not ringing it", device_id,
                    registration["Contact"], extra=where)  # fmt: skip
        return []
    return [{"Invite-Format": "route", "Route": route, "To-User": str(username), "To-Realm": realm, **leg}]


async def device_endpoints_by_id(
    ctx: FlowContext, device_id: str, ring: Ring = Ring(), **options: Any
) -> list[Endpoint]:
    """:func:`device_endpoints` of the account's device ``device_id``; ModuleFailed if there is none."""
    device = await ctx.document(device_id, "device")
    return await device_endpoints(ctx, device, ring, **options)


async def owned_devices(ctx: FlowContext, user_id: str) -> list[dict[str, Any]]:
    """The devices whose ``owner_id`` is ``user_id``, by id."""
    rows = await ctx.whapp.lookup.view(account_db(ctx.account_id), OWNER_VIEW, user_id)
    devices = []
    for row in rows:
        try:
            devices.append(await ctx.whapp.lookup.doc(ctx.account_id, row.id))
        except NotFound:  # deleted since the view was read
            continue
    return devices


async def user_endpoints(
    ctx: FlowContext,
    user_id: str,
    ring: Ring = Ring(),
    *,
    rings: Mapping[str, Ring] | None = None,
    **options: Any,
) -> list[Endpoint]:
    """The endpoints of every device of user ``user_id``; ``rings`` overrides ``ring`` per device id."""
    user = await ctx.document(user_id, "user")
    if user.get("enabled") is False:
        log.info(
            "user %s is disabled: not ringing their devices", user_id, extra={"call_id": ctx.call.call_id}
        )
        return []
    endpoints: list[Endpoint] = []
    for device in await owned_devices(ctx, user_id):
        device_ring = (rings or {}).get(str(device["_id"]), ring)
        endpoints += await device_endpoints(ctx, device, device_ring, **options)
    return endpoints


def bridge_timeout(endpoints: Sequence[Mapping[str, Any]]) -> int:
    """Seconds a bridge may take so that every endpoint rings its full time: the latest end of any.

    With the single strategy FreeSWITCH gives each endpoint in turn a try of its own of that length.
    """
    ends = [
        int(endpoint.get("Endpoint-Delay") or 0) + int(endpoint.get("Endpoint-Timeout") or DEFAULT_TIMEOUT)
        for endpoint in endpoints
    ]
    return max(ends, default=DEFAULT_TIMEOUT)


async def bridge(
    ctx: FlowContext,
    endpoints: Sequence[Mapping[str, Any]],
    *,
    timeout: int,
    strategy: str = "simultaneous",
    suppress_clid: bool = False,
    **fields: Any,
) -> BridgeResult:
    """Bridge the call to ``endpoints``, presenting the call's caller id (unless ``suppress_clid``)."""
    headers: dict[str, Any] = dict(fields)
    if not suppress_clid:
        if ctx.call.caller_id_name:
            headers["Caller-ID-Name"] = ctx.call.caller_id_name
        if ctx.call.caller_id_number:
            headers["Caller-ID-Number"] = ctx.call.caller_id_number
    result = await ctx.call.bridge(endpoints, timeout=timeout, strategy=strategy, headers=headers)
    log.info("bridge to %d endpoint(s): %s", len(endpoints), result.disposition,
             extra={"call_id": ctx.call.call_id})  # fmt: skip
    return result


def bridged(result: BridgeResult) -> Outcome:
    """Where a flow goes after a bridge: answered, it ends with the call; else to the child named by the
    failure (NO_ANSWER, USER_BUSY...), or ``_``."""
    return STOP if result.answered else Next(result.disposition)
