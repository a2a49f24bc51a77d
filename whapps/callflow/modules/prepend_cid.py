"""``prepend_cid``: put a prefix before the caller id name and/or number (``action`` prepend), or go
back to the caller id the call came in with (``action`` reset).

``apply_to`` says what the prefix goes before: the current caller id (the default; prefixes add up when
several nodes prepend) or the original one (prefixes replace each other). Like ``set_cid`` it changes the
caller id of the legs bridged next, not the channel's own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import NEXT, FlowContext, Outcome, module

log = logging.getLogger(__name__)


@module("prepend_cid")
async def prepend_cid(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    call = ctx.call
    original_name = str(call.request.get("Caller-ID-Name") or "")
    original_number = str(call.request.get("Caller-ID-Number") or "")
    if data.get("action", "prepend") == "reset":
        call.caller_id_name, call.caller_id_number = original_name, original_number
    else:
        original = data.get("apply_to", "current") == "original"
        name = original_name if original else call.caller_id_name
        number = original_number if original else call.caller_id_number
        call.caller_id_name = str(data.get("caller_id_name_prefix", "")) + name
        call.caller_id_number = str(data.get("caller_id_number_prefix", "")) + number
    log.info("caller id is now %r <%s>", call.caller_id_name, call.caller_id_number,
             extra={"call_id": call.call_id})  # fmt: skip
    return NEXT
