"""``menu``: an auto attendant: play the greeting, collect a choice, follow the child of that key.

Kazoo's ``cf_menu``, from the ``menu`` document ``data.id``. Each round plays the greeting and collects up
to ``max_extension_length`` digits (only as many as the longest child key when extensions cannot be
dialled, so a one-key menu answers on the first key):

* keys with a child: ``Next(keys)``;
* other keys: with ``hunt`` (the default), a callflow of the account for that number (not ``no_match``),
  allowed by ``hunt_allow``/``hunt_deny``, is branched to; else the invalid prompt and another round;
* nothing: the ``timeout`` child if there is one, else another round;
* after ``retries`` rounds: the exit prompt, then the ``max_retries`` child, else ``_``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from whapps.callflow import media
from whapps.callflow.flow import Branch, FlowContext, Next, Outcome, module
from whapps.callflow.lookup import NO_MATCH
from whapps.callflow.media import media_path

log = logging.getLogger(__name__)

DEFAULT_GREETING = media.MENU_NO_PROMPT
DEFAULT_INVALID = media.INVALID_ENTRY
DEFAULT_EXIT = media.GOODBYE
SPECIAL_CHILDREN = frozenset({"_", "timeout", "max_retries"})


async def _menu(ctx: FlowContext, menu_id: str) -> Mapping[str, Any]:
    return await ctx.document(menu_id, "menu")


async def _prompt(ctx: FlowContext, media: Mapping[str, Any], key: str, default: str) -> str:
    value = media.get(key)
    return await media_path(ctx, str(value)) if value else default


def _max_digits(menu: Mapping[str, Any], children: Mapping[str, Any]) -> int:
    longest = int(menu.get("max_extension_length", 4))
    if menu.get("hunt", True):
        return longest
    keys = [len(key) for key in children if key not in SPECIAL_CHILDREN]
    return max(1, min(longest, max(keys, default=1)))


async def _hunt(ctx: FlowContext, menu: Mapping[str, Any], digits: str) -> Branch | None:
    """The callflow dialled as an extension, if the menu allows it."""
    if not menu.get("hunt", True):
        return None
    if (deny := menu.get("hunt_deny")) and re.search(deny, digits):
        return None
    if (allow := menu.get("hunt_allow")) and not re.search(allow, digits):
        return None
    match = await ctx.whapp.lookup.callflow(ctx.account_id, digits)
    if match is None:
        return None
    numbers = match.callflow.get("numbers") or []
    if NO_MATCH in numbers and digits not in numbers:
        return None  # the catch-all is not an extension
    return Branch(match.callflow["flow"], str(match.callflow.get("_id")))


@module("menu")
async def menu(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    call, where = ctx.call, {"call_id": ctx.call.call_id}
    doc = await _menu(ctx, str(data["id"]))
    media = doc.get("media") or {}
    greeting = await _prompt(ctx, media, "greeting", DEFAULT_GREETING)
    invalid = await _prompt(ctx, media, "invalid_media", DEFAULT_INVALID)
    exit_media = await _prompt(ctx, media, "exit_media", DEFAULT_EXIT)
    retries = int(doc.get("retries", 3))
    timeout_ms = int(doc.get("timeout", 10000))
    max_digits = _max_digits(doc, ctx.children)
    await call.answer()
    for attempt in range(1, retries + 1):
        digits = await call.play_and_collect(
            greeting, min_digits=1, max_digits=max_digits, timeout_ms=timeout_ms, regex=r"[0-9*]+"
        )
        if not digits:
            log.info("menu %s: no entry (round %d/%d)", data["id"], attempt, retries, extra=where)
            if "timeout" in ctx.children:
                return Next("timeout")
            continue
        if digits in ctx.children and digits not in SPECIAL_CHILDREN:
            log.info("menu %s: caller chose %s", data["id"], digits, extra=where)
            return Next(digits)
        if (branch := await _hunt(ctx, doc, digits)) is not None:
            log.info("menu %s: caller dialled extension %s", data["id"], digits, extra=where)
            return branch
        log.info("menu %s: invalid entry %r (round %d/%d)", data["id"], digits, attempt, retries, extra=where)
        await call.play(invalid)
    log.info("menu %s: no valid choice after %d rounds", data["id"], retries, extra=where)
    await call.play(exit_media)
    return Next("max_retries") if "max_retries" in ctx.children else Next("_")
