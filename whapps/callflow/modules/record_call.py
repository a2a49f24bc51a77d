"""``record_call``: start or stop recording the whole call in the background; the flow goes on at once.

``start`` records into ``media_name``, by default ``call_recording_<call id>.<format>`` in ecallmgr's
recording directory, for at most ``time_limit`` seconds (3600); ``stop`` ends the recording this call
started (or ``media_name``; every recording of the call when it knows of none). The recording also stops
when the call ends. The name of the running recording is kept in ``call.values["record_call"]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import NEXT, FlowContext, Outcome, module

log = logging.getLogger(__name__)

VALUE = "record_call"  # call.values key of the running recording's name


def default_name(call_id: str, extension: str) -> str:
    """A bare file name for the call's recording (characters a Call-ID may carry made safe)."""
    return f"call_recording_{re.sub(r'[^A-Za-z0-9_.-]', '_', call_id)}.{extension}"


@module("record_call")
async def record_call(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    call = ctx.call
    if data.get("action", "start") == "stop":
        name = data.get("media_name") or call.values.pop(VALUE, None)
        await call.record_call("stop", name)
        log.info("stopped recording %s", name or "(all)", extra={"call_id": call.call_id})
        return NEXT
    name = str(data.get("media_name") or default_name(call.call_id, data.get("format", "mp3")))
    await call.record_call("start", name, time_limit=int(data.get("time_limit", 3600)))
    call.values[VALUE] = name
    log.info("recording the call into %s", name, extra={"call_id": call.call_id})
    return NEXT
