"""``hangup``: end the call, with a hangup cause of the flow's choosing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import STOP, FlowContext, Outcome, module


@module("hangup")
async def hangup(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    await ctx.call.hangup(data.get("hangup_cause"))
    return STOP
