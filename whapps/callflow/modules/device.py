"""``device``: ring one device; unanswered (or unable to ring) the flow goes on, to voicemail typically.

Kazoo's ``cf_device``: answered, the flow ends with the call; otherwise it continues with the child named
by the failure (``USER_BUSY``, ``NO_ANSWER``...) or else ``_``. A disabled or unregistered device rings
nothing and continues with ``_``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.endpoints import (
    DEFAULT_TIMEOUT,
    Ring,
    bridge,
    bridge_timeout,
    bridged,
    device_endpoints_by_id,
)
from whapps.callflow.flow import NEXT, FlowContext, Outcome, module


@module("device")
async def device(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    ring = Ring(delay=int(data.get("delay", 0)), timeout=int(data.get("timeout") or DEFAULT_TIMEOUT))
    endpoints = await device_endpoints_by_id(
        ctx,
        str(data["id"]),
        ring,
        can_call_self=bool(data.get("can_call_self", False)),
        sip_headers=data.get("custom_sip_headers"),
    )
    if not endpoints:
        return NEXT
    result = await bridge(
        ctx,
        endpoints,
        timeout=bridge_timeout(endpoints),
        strategy=str(data.get("dial_strategy", "simultaneous")),
        suppress_clid=bool(data.get("suppress_clid", False)),
    )
    return bridged(result)
