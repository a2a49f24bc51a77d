"""``ring_group``: ring devices and users' devices together or in turn, ``repeats`` times.

Each member rings after its ``delay`` for its ``timeout``; a user member rings all their devices with
that timing. A device reached twice (directly and through its owner) rings once, with its first timing.
The group's ``timeout`` bounds each attempt (by default long enough for every member). Answered, the
flow ends with the call; after the last unanswered attempt it continues with the child named by the
failure or else ``_``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from whapps.call import BridgeResult
from whapps.callflow.endpoints import (
    DEFAULT_TIMEOUT,
    Endpoint,
    Ring,
    bridge,
    bridge_timeout,
    device_endpoints_by_id,
    user_endpoints,
)
from whapps.callflow.flow import NEXT, STOP, FlowContext, Next, Outcome, module

log = logging.getLogger(__name__)


async def _members(ctx: FlowContext, data: Mapping[str, Any]) -> list[Endpoint]:
    can_call_self = bool(data.get("can_call_self", False))
    endpoints: list[Endpoint] = []
    seen: set[str] = set()
    for member in data["endpoints"]:
        ring = Ring(delay=int(member.get("delay", 0)), timeout=int(member.get("timeout", DEFAULT_TIMEOUT)))
        if member["endpoint_type"] == "user":
            found = await user_endpoints(ctx, str(member["id"]), ring, can_call_self=can_call_self)
        else:
            found = await device_endpoints_by_id(ctx, str(member["id"]), ring, can_call_self=can_call_self)
        for endpoint in found:
            device_id = endpoint["Custom-Channel-Vars"]["Authorizing-ID"]
            if device_id not in seen:
                seen.add(device_id)
                endpoints.append(endpoint)
    return endpoints


@module("ring_group")
async def ring_group(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    endpoints = await _members(ctx, data)
    if not endpoints:
        log.info("ring group: no member can ring", extra={"call_id": ctx.call.call_id})
        return NEXT
    timeout = int(data.get("timeout") or bridge_timeout(endpoints))
    fields: dict[str, Any] = {}
    if "fail_on_single_reject" in data:
        fields["Fail-On-Single-Reject"] = bool(data["fail_on_single_reject"])
    result = BridgeResult("NO_ANSWER")
    for _ in range(int(data.get("repeats", 1))):
        result = await bridge(
            ctx,
            endpoints,
            timeout=timeout,
            strategy=str(data.get("strategy", "simultaneous")),
            suppress_clid=bool(data.get("suppress_clid", False)),
            **fields,
        )
        if result.answered:
            return STOP
        if ctx.call.hung_up:
            break
    return Next(result.disposition)
