"""``blacklist``: turn away callers whose number is listed; everyone else goes on to ``_``.

Numbers come from ``blacklist`` documents (``data.ids``; their ``numbers`` object is keyed by number) and
from ``data.numbers``. A number matches as written or digit for digit (``+1 555-0100`` is ``15550100``).
``should_block_anonymous`` (in the data or a document) also turns away callers without a number. A turned
away caller hears ``media`` when given, then the call is hung up with ``hangup_cause`` (CALL_REJECTED).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from whapps.callflow.flow import NEXT, STOP, FlowContext, Outcome, module
from whapps.callflow.media import media_path
from whistle_common.store import NotFound

log = logging.getLogger(__name__)

ANONYMOUS = frozenset({"", "anonymous", "0000000000", "restricted", "unknown"})


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def listed(number: str, numbers: Iterable[str]) -> bool:
    """Whether ``number`` is one of ``numbers``, as written or digit for digit."""
    digits = _digits(number)
    return any(number == entry or (digits and digits == _digits(entry)) for entry in numbers)


async def _lists(ctx: FlowContext, ids: Iterable[str]) -> list[Mapping[str, Any]]:
    docs = []
    for list_id in ids:
        try:
            doc = await ctx.whapp.lookup.doc(ctx.account_id, list_id)
        except NotFound:
            log.warning("blacklist %s does not exist; skipped", list_id, extra={"call_id": ctx.call.call_id})
            continue
        if doc.get("pvt_type") != "blacklist":
            log.warning("%s is a %s, not a blacklist; skipped", list_id, doc.get("pvt_type"),
                        extra={"call_id": ctx.call.call_id})  # fmt: skip
            continue
        if doc.get("enabled", True):
            docs.append(doc)
    return docs


@module("blacklist")
async def blacklist(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    call = ctx.call
    number = call.caller_id_number.strip()
    docs = await _lists(ctx, data.get("ids", ()))
    numbers = [str(n) for n in data.get("numbers", ())]
    for doc in docs:
        numbers += [str(n) for n in (doc.get("numbers") or {})]
    block_anonymous = data.get("should_block_anonymous", False) or any(
        doc.get("should_block_anonymous") for doc in docs
    )
    if listed(number, numbers):
        reason = "listed"
    elif block_anonymous and number.lower() in ANONYMOUS:
        reason = "anonymous"
    else:
        return NEXT
    cause = str(data.get("hangup_cause", "CALL_REJECTED"))
    log.info("caller %r is %s: %s", number, reason, cause, extra={"call_id": call.call_id})
    if media := data.get("media"):
        await call.play(await media_path(ctx, str(media)))
    await call.hangup(cause)
    return STOP
