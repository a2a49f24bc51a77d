"""``voicemail``: hand the call to the voicemail whapps, to leave a message (compose) or check a box.

The callflow whapp does not run voicemail itself: it sends ``voicemail_req`` (on ``whapps``, key
``voicemail.leave`` or ``voicemail.check``) with the call's Call-ID and Control-Queue, and one voicemail
instance answers ``handoff_resp``. ``taken``: the call is theirs now, and the flow ends without hanging
up (:data:`HANDED_OFF`). ``refused`` or no answer within ``timeout`` seconds: the ``_`` child follows if
there is one, else the module fails (the caller hears the failure prompt and the call ends).
:func:`hand_off` is shared with ``conference``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from whapps.callflow.flow import HANDED_OFF, NEXT, FlowContext, ModuleFailed, Outcome, module
from whistle_common.bus import RequestTimeout

log = logging.getLogger(__name__)

HANDOFF_TIMEOUT = 5.0  # seconds to wait for a whapp to take the call
ACTIONS = {"compose": "leave", "check": "check"}


async def hand_off(ctx: FlowContext, name: str, fields: Mapping[str, Any], timeout: float) -> Outcome:
    """Offer the call to another whapp with request ``name``; HANDED_OFF once one took it."""
    call, where = ctx.call, {"call_id": ctx.call.call_id}
    request = ctx.whapp.bus.build(
        name,
        {
            "Call-ID": call.call_id,
            "Control-Queue": call.control_queue,
            "Account-ID": ctx.account_id,
            "Caller-ID-Name": call.caller_id_name,
            "Caller-ID-Number": call.caller_id_number,
            **fields,
        },
    )
    try:
        reply = await ctx.whapp.bus.request(request, timeout=timeout)
    except RequestTimeout:
        reason = f"nobody took the call ({name}) within {timeout:g}s"
    else:
        if reply.get("Event-Name") == "handoff_resp" and reply.get("Status") == "taken":
            log.info("%s: %s took the call", name, reply.get("App-Name"), extra=where)
            return HANDED_OFF
        why = reply.get("Error-Message") or "no reason"
        reason = f"{reply.get('App-Name')} refused the call ({name}): {why}"
    if "_" in ctx.children:
        log.warning("%s; going on with _", reason, extra=where)
        return NEXT
    raise ModuleFailed(reason)


@module("voicemail")
async def voicemail(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    action = ACTIONS[data.get("action", "compose")]
    fields: dict[str, Any] = {"Action": action, "Request": str(ctx.call.request.get("Request") or "")}
    if box_id := data.get("id"):
        await ctx.document(str(box_id), "vmbox")
        fields["Vmbox-ID"] = str(box_id)
    for key, header in (
        ("max_message_length", "Max-Message-Length"),
        ("interdigit_timeout", "Interdigit-Timeout"),
        ("single_mailbox_login", "Single-Mailbox-Login"),
        ("callerid_match_login", "Callerid-Match-Login"),
    ):
        if key in data:
            fields[header] = data[key]
    return await hand_off(ctx, "voicemail_req", fields, float(data.get("timeout", HANDOFF_TIMEOUT)))
