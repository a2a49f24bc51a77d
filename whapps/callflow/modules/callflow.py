"""``callflow``: jump to another callflow of the account by id, coming back to ``_`` when it stops."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import Branch, FlowContext, ModuleFailed, Outcome, module
from whistle_common.store import NotFound


@module("callflow")
async def callflow(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    callflow_id = str(data["id"])
    try:
        doc = await ctx.whapp.lookup.callflow_by_id(ctx.account_id, callflow_id)
    except NotFound as error:
        raise ModuleFailed(f"no callflow {callflow_id} in account {ctx.account_id}: {error}") from error
    flow = doc.get("flow")
    if not isinstance(flow, Mapping):
        raise ModuleFailed(f"callflow {callflow_id} has no flow")
    return Branch(flow, callflow_id)
