"""``set_cid``: present another caller id (name, number or both) on the calls this flow places next.

It changes the call's ``caller_id_name``/``caller_id_number``, which the bridging modules send as the
new legs' Caller-ID-Name/Number. The channel's own caller id is left as it is: ecallmgr's ``set`` command
only sets ``ecallmgr_*`` channel variables, not ``effective_caller_id_*``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import NEXT, FlowContext, Outcome, module

log = logging.getLogger(__name__)


@module("set_cid")
async def set_cid(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    call = ctx.call
    if "caller_id_name" in data:
        call.caller_id_name = str(data["caller_id_name"])
    if "caller_id_number" in data:
        call.caller_id_number = str(data["caller_id_number"])
    log.info("caller id is now %r <%s>", call.caller_id_name, call.caller_id_number,
             extra={"call_id": call.call_id})  # fmt: skip
    return NEXT
