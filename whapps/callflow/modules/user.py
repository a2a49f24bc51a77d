"""``user``: ring every device of a user (find-me-follow-me); unanswered, the flow goes on.

``strategy`` rings the devices all at once or one after another; each rings after ``delay`` for
``timeout`` seconds, or as ``devices`` (device id -> {delay, timeout}) says for it. The devices named in
``devices`` come first, in that order, then the user's others by id. Answered, the flow ends with the
call; otherwise it continues with the child named by the failure or else ``_`` (as when the user has no
device that can ring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.endpoints import DEFAULT_TIMEOUT, Ring, bridge, bridge_timeout, bridged, user_endpoints
from whapps.callflow.flow import NEXT, FlowContext, Outcome, module


def _order(endpoints: list[dict[str, Any]], first: list[str]) -> list[dict[str, Any]]:
    """Endpoints of the devices in ``first`` in that order, then the others as they were."""

    def rank(endpoint: dict[str, Any]) -> int:
        device_id = endpoint["Custom-Channel-Vars"]["Authorizing-ID"]
        return first.index(device_id) if device_id in first else len(first)

    return sorted(endpoints, key=rank)


@module("user")
async def user(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    default = Ring(delay=int(data.get("delay", 0)), timeout=int(data.get("timeout", DEFAULT_TIMEOUT)))
    per_device = data.get("devices") or {}
    rings = {
        device_id: Ring(
            delay=int(timing.get("delay", default.delay)), timeout=int(timing.get("timeout", default.timeout))
        )
        for device_id, timing in per_device.items()
    }
    endpoints = await user_endpoints(
        ctx,
        str(data["id"]),
        default,
        rings=rings,
        can_call_self=bool(data.get("can_call_self", False)),
        sip_headers=data.get("custom_sip_headers"),
    )
    if not endpoints:
        return NEXT
    endpoints = _order(endpoints, list(per_device))
    fields: dict[str, Any] = {}
    if "fail_on_single_reject" in data:
        fields["Fail-On-Single-Reject"] = bool(data["fail_on_single_reject"])
    result = await bridge(
        ctx,
        endpoints,
        timeout=bridge_timeout(endpoints),
        strategy=str(data.get("strategy", "simultaneous")),
        suppress_clid=bool(data.get("suppress_clid", False)),
        **fields,
    )
    return bridged(result)
