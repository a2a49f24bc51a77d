"""``callflow``: jump to another callflow of the account by id, coming back to ``_`` when it stops."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import Branch, FlowContext, ModuleFailed, Outcome, module


@module("callflow")
async def callflow(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    callflow_id = str(data["id"])
    doc = await ctx.document(callflow_id, "callflow")
    flow = doc.get("flow")
    if not isinstance(flow, Mapping):
        raise ModuleFailed(f"callflow {callflow_id} has no flow")
    return Branch(flow, callflow_id)
