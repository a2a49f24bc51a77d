"""``park``: park a call in a numbered slot, and retrieve it from another phone (Kazoo's ``cf_park``,
simplified).

A slot is a ``parked_call`` document ``parked_call-<slot>`` in the account database, created when a call
parks and deleted by whoever takes it (the document revision makes the first retriever the only one).
The slot number comes from ``data.slot``, else from the dialled number's capture group (``*3101``).

* ``park``: the slot (or, without one, the lowest free slot up to ``max_slot_number``, announced to the
  caller) gets the call; the caller hears ``hold_media`` (the account's music on hold, else
  ``local_stream://default``) until retrieved, or until ``max_park_time`` seconds when the slot is freed
  and the ``timeout`` child follows. A taken slot: a prompt, then ``_``.
* ``retrieve``: the slot's call is connected to this one (the ``intercept`` call command) and the flow
  waits for the call to end. An empty slot: a prompt, then ``_``.
* ``auto``: retrieve when the slot holds a call, park otherwise.

Both calls must be on the same FreeSWITCH node (intercept is local to a node). Whether a parked call is
still there is asked of the ecallmgrs (``channels_req``): a slot whose call is gone is free again, and a
retrieval that fails puts the slot back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from whapps.call import COMMAND_TIMEOUT, CallHungUp, CommandFailed, CommandTimeout
from whapps.callflow import media
from whapps.callflow.flow import STOP, FlowContext, ModuleFailed, Next, Outcome, module
from whapps.callflow.media import media_path
from whistle_common.store import DocumentConflict, NotFound, account_db

log = logging.getLogger(__name__)

SLOT_IN_USE = media.PARK_SLOT_IN_USE
SLOT_EMPTY = media.PARK_SLOT_EMPTY
PLACED_IN_SLOT = media.PARK_PLACED
DEFAULT_HOLD = media.HOLD_MUSIC
ALIVE_WAIT = 0.5  # seconds to hear from the ecallmgrs whether a parked call is still there


def slot_doc_id(slot: str) -> str:
    return f"parked_call-{slot}"


def _slot(ctx: FlowContext, data: Mapping[str, Any]) -> str | None:
    slot = data.get("slot") or ctx.capture_group
    if slot is None:
        return None
    if not str(slot).isdigit():
        raise ModuleFailed(f"park slot {slot!r} is not a number")
    return str(int(slot))


async def _slot_doc(ctx: FlowContext, slot: str) -> dict[str, Any] | None:
    try:
        return await ctx.whapp.store.get(account_db(ctx.account_id), slot_doc_id(slot))
    except NotFound:
        return None


async def _take_slot(ctx: FlowContext, slot: str) -> bool:
    """Record the call in ``slot``; False when the slot holds another call."""
    call = ctx.call
    doc = {
        "_id": slot_doc_id(slot),
        "pvt_type": "parked_call",
        "slot": slot,
        "call_id": call.call_id,
        "control_queue": call.control_queue,
        "caller_id_name": call.caller_id_name,
        "caller_id_number": call.caller_id_number,
        "parked_at": int(time.time()),
    }
    db = account_db(ctx.account_id)
    try:
        await ctx.whapp.store.save(db, doc)
    except DocumentConflict:
        held = await _slot_doc(ctx, slot)
        if held is None or await _alive(ctx, str(held.get("call_id"))):
            return False
        # its call ended while nobody watched it (its callflow instance stopped): the slot is free
        log.info("park slot %s held a call that is gone: taking it", slot, extra={"call_id": call.call_id})
        try:
            await ctx.whapp.store.delete(db, held["_id"], held["_rev"])
            await ctx.whapp.store.save(db, doc)
        except (DocumentConflict, NotFound):
            return False
    return True


async def _alive(ctx: FlowContext, call_id: str) -> bool:
    """Whether ``call_id`` is a live channel, as the ecallmgrs say (``channels_req``). Nobody answering
    is not knowing: taken as alive, so a slot is never taken from a call that may still be there."""
    request = ctx.whapp.bus.build("channels_req", {"Call-ID": call_id})

    def lists_it(reply: Mapping[str, Any]) -> bool:
        return any(channel.get("Call-ID") == call_id for channel in reply.get("Channels") or [])

    replies = await ctx.whapp.bus.collect(request, timeout=ALIVE_WAIT, until=lists_it)
    return not replies or any(lists_it(reply) for reply in replies)


async def _free_slot(ctx: FlowContext, slot: str, call_id: str) -> bool:
    """Delete ``slot`` if it still holds ``call_id``; False when someone else took it first."""
    doc = await _slot_doc(ctx, slot)
    if doc is None or doc.get("call_id") != call_id:
        return False
    try:
        await ctx.whapp.store.delete(account_db(ctx.account_id), doc["_id"], doc["_rev"])
    except (DocumentConflict, NotFound):
        return False
    return True


async def _hold_media(ctx: FlowContext, data: Mapping[str, Any]) -> str:
    if media := data.get("hold_media"):
        return await media_path(ctx, str(media))
    try:
        account = await ctx.whapp.lookup.doc(ctx.account_id, ctx.account_id)
    except NotFound:
        account = {}
    if media := (account.get("music_on_hold") or {}).get("media_id"):
        return await media_path(ctx, str(media))
    return DEFAULT_HOLD


async def _park(ctx: FlowContext, data: Mapping[str, Any], slot: str | None) -> Outcome:
    call, where = ctx.call, {"call_id": ctx.call.call_id}
    await call.answer()
    if slot is None:
        for number in range(1, int(data.get("max_slot_number", 100)) + 1):
            if await _take_slot(ctx, str(number)):
                slot = str(number)
                break
        if slot is None:
            log.warning("every park slot is taken", extra=where)
            await call.play(SLOT_IN_USE)
            return Next("_")
        await call.play(PLACED_IN_SLOT)
        say = {"Language": "en", "Type": "number", "Method": "pronounced", "Say-Text": slot}
        await call.command("say", say)
    elif not await _take_slot(ctx, slot):
        log.info("park slot %s is taken", slot, extra=where)
        await call.play(SLOT_IN_USE)
        return Next("_")
    log.info("parked in slot %s", slot, extra=where)
    hold = {"Media-Name": await _hold_media(ctx, data), "Endless-Playback": True}
    # the hold music ends when a retriever takes the call, or when the caller hangs up
    music = asyncio.ensure_future(call.command("play", hold, timeout=float("inf")))
    try:
        done, _ = await asyncio.wait({music}, timeout=float(data.get("max_park_time", 3600)))
        if not done and await _free_slot(ctx, slot, call.call_id):
            log.info("nobody retrieved slot %s in time", slot, extra=where)
            await call.command("noop", insert_at="flush")  # stops the music
            await asyncio.wait_for(music, COMMAND_TIMEOUT)
            return Next("timeout")
        await music  # retrieved: its intercept ended the music (or it is about to)
    except CallHungUp:
        await _free_slot(ctx, slot, call.call_id)
        raise
    finally:
        music.cancel()
    if await _free_slot(ctx, slot, call.call_id):  # the music ended, but nobody took the call
        log.warning("hold music in slot %s ended without a retriever", slot, extra=where)
        return Next("_")
    log.info("slot %s retrieved", slot, extra=where)
    await call.wait_hangup()  # bridged to the retriever: the call goes on until a side hangs up
    return STOP


async def _retrieve(ctx: FlowContext, slot: str | None) -> Outcome:
    call, where = ctx.call, {"call_id": ctx.call.call_id}
    doc = await _slot_doc(ctx, slot) if slot is not None else None
    if doc is None or not await _free_slot(ctx, str(slot), str(doc.get("call_id"))):
        log.info("park slot %s is empty", slot, extra=where)
        await call.play(SLOT_EMPTY)
        return Next("_")
    parked = str(doc["call_id"])
    if not await _alive(ctx, parked):  # FreeSWITCH's intercept of a gone call just does nothing
        log.warning("parked call %s in slot %s is gone", parked, slot, extra=where)
        await call.play(SLOT_EMPTY)
        return Next("_")
    try:
        response = await call.intercept(parked)
    except (CommandFailed, CommandTimeout) as error:
        # not connected: the parked caller stays parked, and retrievable again
        await ctx.whapp.store.save(account_db(ctx.account_id), {k: v for k, v in doc.items() if k != "_rev"})
        log.error("could not retrieve %s from slot %s: %s", parked, slot, error, extra=where)
        await call.play(media.CANNOT_COMPLETE)
        return Next("_")
    if response.startswith("-ERR"):
        log.warning("parked call %s in slot %s is gone: %s", parked, slot, response, extra=where)
        await call.play(SLOT_EMPTY)
        return Next("_")
    log.info("retrieved %s from slot %s", parked, slot, extra=where)
    await call.wait_hangup()  # bridged: the call goes on until a side hangs up
    return STOP


@module("park")
async def park(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    action = data.get("action", "park")
    slot = _slot(ctx, data)
    if action == "auto":
        action = "retrieve" if slot is not None and await _slot_doc(ctx, slot) is not None else "park"
    if action == "retrieve":
        return await _retrieve(ctx, slot)
    return await _park(ctx, data, slot)
