"""``offnet``: call the number out through carrier resources (the global ``offnet`` database).

Kazoo's stepswitch in short: every enabled resource whose ``rules`` (regexes) match the number, cheapest
``weight_cost`` first, contributes its enabled gateways; one bridge tries them in turn (single strategy),
each dialled as ``sofia/<profile>/sip:<prefix><number><suffix>@<server>[:port]``. The number sent is a
rule's first capture group, or the whole number. Answered, the flow ends with the call; no route
(``NO_ROUTE_DESTINATION``) or every gateway failing continues with the child named by the failure or else
``_``. Numbers are matched as dialled: there is no E.164 normalisation yet.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from whapps.callflow.endpoints import DIALLABLE, Endpoint, bridge, bridged
from whapps.callflow.flow import FlowContext, ModuleFailed, Next, Outcome, module

log = logging.getLogger(__name__)

OFFNET_DB = "offnet"
RESOURCES_VIEW = "resources/listing_active_by_weight"
DEFAULT_PROFILE = "internal"


def matched_number(rules: list[str], number: str) -> str | None:
    """The number to send if one of ``rules`` matches ``number`` (its first group, else the number)."""
    for rule in rules:
        found = re.search(rule, number)
        if found:
            return found.group(1) if found.re.groups and found.group(1) else number
    return None


def gateway_endpoint(
    resource: Mapping[str, Any], gateway: Mapping[str, Any], number: str, timeout: int
) -> Endpoint:
    """The bridge endpoint that reaches ``number`` through one gateway of ``resource``."""
    host = str(gateway["server"]) + (f":{gateway['port']}" if gateway.get("port") else "")
    user = f"{gateway.get('prefix', '')}{number}{gateway.get('suffix', '')}"
    profile = gateway.get("profile") or DEFAULT_PROFILE
    endpoint: Endpoint = {
        "Invite-Format": "route",
        "Route": f"sofia/{profile}/sip:{user}@{host}",
        "To-DID": number,
        "Endpoint-Timeout": timeout,
        "Custom-Channel-Vars": {"Resource-ID": str(resource["_id"]), "Resource-Type": "offnet"},
    }
    for field, header in (("username", "Auth-User"), ("password", "Auth-Password"), ("realm", "Auth-Realm")):
        if gateway.get(field):
            endpoint[header] = str(gateway[field])
    if gateway.get("codecs"):
        endpoint["Codecs"] = list(gateway["codecs"])
    if gateway.get("progress_timeout"):
        endpoint["Endpoint-Progress-Timeout"] = int(gateway["progress_timeout"])
    return endpoint


async def offnet_endpoints(ctx: FlowContext, number: str, timeout: int) -> list[Endpoint]:
    """Gateway endpoints of the matching resources, cheapest first."""
    where = {"call_id": ctx.call.call_id}
    rows = await ctx.whapp.store.view(OFFNET_DB, RESOURCES_VIEW, include_docs=True)
    endpoints: list[Endpoint] = []
    for row in rows:
        resource = row.doc or {}
        try:
            sent = matched_number(list(resource.get("rules") or []), number)
        except re.error as error:
            log.error("resource %s has an invalid rule: %s; skipped", row.id, error, extra=where)
            continue
        if sent is None:
            continue
        for gateway in resource.get("gateways") or []:
            if gateway.get("enabled", True) and gateway.get("server"):
                endpoints.append(gateway_endpoint(resource, gateway, sent, timeout))
    return endpoints


@module("offnet")
async def offnet(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    channel_vars = ctx.call.request.get("Custom-Channel-Vars") or {}
    if not channel_vars.get("Authorizing-Type") and not data.get("allow_unauthenticated"):
        # calls out cost money: only for callers the registrar authenticated, unless the flow says so
        raise ModuleFailed("the caller is not authenticated: not calling out (allow_unauthenticated)")
    number = str(data.get("to_did") or ctx.call.request_user)
    if not DIALLABLE.match(number):
        raise ModuleFailed(f"{number!r} is not a number that can be called out")
    timeout = int(data.get("timeout", 60))
    endpoints = await offnet_endpoints(ctx, number, timeout)
    if not endpoints:
        log.info("no carrier resource for %s", number, extra={"call_id": ctx.call.call_id})
        return Next("NO_ROUTE_DESTINATION")
    fields: dict[str, Any] = {}
    if "ignore_early_media" in data:
        fields["Ignore-Early-Media"] = bool(data["ignore_early_media"])
    if data.get("custom_sip_headers"):
        fields["Custom-SIP-Headers"] = dict(data["custom_sip_headers"])
    result = await bridge(
        ctx,
        endpoints,
        timeout=timeout,
        strategy="single",
        suppress_clid=bool(data.get("suppress_clid", False)),
        **fields,
    )
    return bridged(result)
