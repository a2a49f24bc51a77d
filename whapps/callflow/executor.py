"""Running a callflow on a live call: node after node, with a stack of flows to come back to.

A node's module returns where to go next (see :mod:`whapps.callflow.flow`). A node whose data is invalid,
a module that raises :class:`ModuleFailed`, a command that times out or fails: each is logged with the
call, the callflow and the module, and the caller hears a short prompt before the call ends. The caller
hanging up ends the flow quietly. When the flow is done the call is hung up (unless a module handed it
to another whapp) and the process stops receiving its events. When the process stops (the flow's task
is cancelled) the call is left as it is: a bridged call talks on; see ``Whapp.stop``'s drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from whapps.call import CallError, CallHungUp
from whapps.callflow.flow import Branch, FlowContext, HandedOff, ModuleFailed, Next, Outcome
from whapps.callflow.media import CANNOT_COMPLETE
from whapps.callflow.modules import load
from whapps.callflow.validate import module_issues

log = logging.getLogger(__name__)

MAX_BRANCHES = 50  # jumps to other flows per call: a loop of callflows must end
FAILURE_MEDIA = CANNOT_COMPLETE  # what the caller hears when a module fails


def _child(node: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    children = node.get("children") or {}
    return children.get(key) or children.get("_")


async def run_flow(ctx: FlowContext, flow: Mapping[str, Any]) -> None:
    """Run ``flow`` (an action node) for ``ctx.call`` to its end, then hang up and forget the call."""
    call = ctx.call
    modules = load()
    stack: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []  # (node, its callflow) to come back to
    branches = 0
    node: Mapping[str, Any] | None = flow
    handed_off = False
    try:
        while node is not None and not call.hung_up:
            name = str(node.get("module"))
            data = node.get("data") or {}
            if data.get("skip_module"):
                node = _child(node, "_")
                continue
            where = {"call_id": call.call_id}
            log.info("callflow %s: %s", ctx.callflow_id, name, extra=where)
            ctx.children = node.get("children") or {}
            outcome = await _run_node(ctx, name, data, modules)
            if outcome is None:
                return
            if isinstance(outcome, HandedOff):
                log.info("callflow %s: %s handed the call off", ctx.callflow_id, name, extra=where)
                handed_off = True
                return
            if isinstance(outcome, Branch):
                branches += 1
                if branches > MAX_BRANCHES:
                    log.error("callflow %s: more than %d branches; ending the call", ctx.callflow_id,
                              MAX_BRANCHES, extra=where)  # fmt: skip
                    await _fail(ctx)
                    return
                if (resume := _child(node, "_")) is not None:
                    stack.append((resume, ctx.callflow))
                if outcome.callflow_id:  # logs name the callflow that runs now
                    ctx.callflow = {"_id": outcome.callflow_id, "flow": outcome.flow}
                node = outcome.flow
                continue
            node = _child(node, outcome.key) if isinstance(outcome, Next) else None
            if node is None and stack:
                node, ctx.callflow = stack.pop()
    except CallHungUp:
        log.info("callflow %s: the caller hung up", ctx.callflow_id, extra={"call_id": call.call_id})
    except asyncio.CancelledError:
        # This process is stopping: the call is not ours to end (a bridged call talks on in FreeSWITCH).
        log.warning("callflow %s: stopped while driving the call; left as it is", ctx.callflow_id,
                    extra={"call_id": call.call_id})  # fmt: skip
        handed_off = True
        raise
    finally:
        if not handed_off:
            try:
                await call.hangup()
            except CallError as error:
                log.warning("hanging up after the flow: %s", error, extra={"call_id": call.call_id})
        await call.forget()


async def _run_node(
    ctx: FlowContext, name: str, data: Mapping[str, Any], modules: Mapping[str, Any]
) -> Outcome | None:
    """The node's outcome, or None when it failed (the failure is logged and the caller told)."""
    where = {"call_id": ctx.call.call_id}
    issues = module_issues(name, data)
    if issues:
        log.error("callflow %s: module %s has invalid data: %s", ctx.callflow_id, name,
                  "; ".join(map(str, issues)), extra=where)  # fmt: skip
        await _fail(ctx)
        return None
    try:
        return await modules[name](ctx, data)
    except CallHungUp:
        raise
    except (ModuleFailed, CallError) as error:
        log.error("callflow %s: module %s failed: %s", ctx.callflow_id, name, error, extra=where)
    except Exception:  # a bug in one module must not take the whapp down with it
        log.exception("callflow %s: module %s crashed", ctx.callflow_id, name, extra=where)
    await _fail(ctx)
    return None


async def _fail(ctx: FlowContext) -> None:
    """Tell the caller something went wrong (if they are still there); the flow's end hangs up."""
    if ctx.call.hung_up:
        return
    try:
        await ctx.call.play(FAILURE_MEDIA)
    except CallHungUp:
        return  # they left while we were about to tell them
    except CallError as error:
        log.warning("could not play the failure prompt: %s", error, extra={"call_id": ctx.call.call_id})
