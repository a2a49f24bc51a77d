"""Dialplan fetches: a new channel's data → ``route_req`` → the best ``route_resp`` → dialplan XML.

Choice rules (the whole of it):

* replies whose ``Method`` is not park/bridge/error are ignored (the bus already drops invalid ones);
* the collect stops early at the first *definitive* reply: a ``park`` or ``bridge`` without
  ``Defer-Response: true``. Deferred replies and ``error`` replies never stop it: an error is one whapp
  declining, and another may still take the call; otherwise it runs until ``timeout``;
* among the replies in hand the winner is the first by: park/bridge before error, non-deferred before
  deferred, park before bridge, then arrival order;
* no reply at all: ``respond 604 No Available Handlers`` (Kazoo's answer) and a warning naming the call.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ecallmgr.fetch import xml
from ecallmgr.fetch.form import Form, first_of
from ecallmgr.fetch.route_win import (
    ECALLMGR_NODE_VAR,
    FETCH_ID_VAR,
    WINNER_SERVER_ID_VAR,
    PendingRouteWins,
    RouteWinner,
)
from whistle_common.bus import Bus

log = logging.getLogger(__name__)

Reply = Mapping[str, Any]

DEFAULT_ROUTE_TIMEOUT = 2.5  # seconds; well inside the xml_curl binding's timeout (5 s in freeswitch_conf)
NO_HANDLER = ("604", "No Available Handlers")
CCV_PREFIX = "ecallmgr_"
SIP_HEADER_PREFIX = "variable_sip_h_"
_RANK = {"park": 0, "bridge": 1, "error": 2}
FAILURE_CAUSES = "NORMAL_CLEARING,ORIGINATOR_CANCEL,CRASH"  # a bridge ending so stops: no next route


def call_id_of(form: Form) -> str:
    """The channel's Unique-ID (the Call-ID on the bus), empty when the form has none."""
    return first_of(form, "Unique-ID", "Channel-Call-UUID", "Caller-Unique-ID", "variable_uuid")


def fetch_id_of(form: Form) -> str:
    """The fetch's own id if FreeSWITCH sends one (mod_kazoo does, mod_xml_curl not), else a new one."""
    return first_of(form, "Fetch-UUID", "Fetch-ID", "variable_fetch_uuid") or uuid.uuid4().hex


def _address(user: str, host: str) -> str:
    return f"{user or 'nouser'}@{host or 'norealm'}"


def custom_channel_vars(form: Form) -> dict[str, str]:
    """``variable_ecallmgr_<K>`` → ``{K: value}``: what earlier routing wrote on the channel."""
    prefix = f"variable_{CCV_PREFIX}"
    return {name[len(prefix) :]: value for name, value in form.items() if name.startswith(prefix)}


def build_route_req(bus: Bus, form: Form) -> dict[str, Any]:
    """The ``route_req`` for a dialplan fetch; raises ValueError when the form names no channel."""
    call_id = call_id_of(form)
    if not call_id:
        raise ValueError("dialplan fetch without Unique-ID")
    destination = first_of(form, "Caller-Destination-Number", "Hunt-Destination-Number")
    caller_number = first_of(form, "Caller-Caller-ID-Number", "Caller-ANI")
    to_host = first_of(form, "variable_sip_to_host", "variable_sip_req_host")
    direction = form.get("Call-Direction")
    sip_headers = {
        name[len(SIP_HEADER_PREFIX) :]: value
        for name, value in form.items()
        if name.startswith(SIP_HEADER_PREFIX)
    }
    fields: dict[str, Any] = {
        "Msg-ID": fetch_id_of(form),
        "Call-ID": call_id,
        "From": _address(
            first_of(form, "variable_sip_from_user", "Caller-Caller-ID-Number"),
            first_of(form, "variable_sip_from_host"),
        ),
        "To": _address(first_of(form, "variable_sip_to_user") or destination, to_host),
        "Request": _address(first_of(form, "variable_sip_req_user") or destination, to_host),
        "Call-Direction": direction if direction in ("inbound", "outbound") else None,
        "Caller-ID-Name": first_of(form, "Caller-Caller-ID-Name"),
        "Caller-ID-Number": caller_number,
        "Callee-ID-Name": first_of(form, "Caller-Callee-ID-Name"),
        "Callee-ID-Number": first_of(form, "Caller-Callee-ID-Number"),
        "Destination-Number": destination,
        "Context": first_of(form, "Caller-Context", "Hunt-Context"),
        "Resource-Type": "audio",
        "Custom-Channel-Vars": custom_channel_vars(form) or None,
        "Custom-SIP-Headers": sip_headers or None,
        "Switch-Hostname": first_of(form, "FreeSWITCH-Hostname", "hostname"),
        "User-Agent": first_of(form, "variable_sip_user_agent"),
        "From-Tag": first_of(form, "variable_sip_from_tag"),
        "To-Tag": first_of(form, "variable_sip_to_tag"),
        "Orig-IP": first_of(form, "variable_sip_received_ip", "Caller-Network-Addr"),
        "Orig-Port": first_of(form, "variable_sip_received_port"),
        "SIP-Request-Host": first_of(form, "variable_sip_req_host"),
    }
    return bus.build("route_req", fields)


def is_definitive(reply: Reply) -> bool:
    """Whether ``reply`` ends the collect at once: a non-deferred park or bridge."""
    return reply.get("Method") in ("park", "bridge") and not reply.get("Defer-Response")


def choose(replies: Sequence[Reply]) -> Reply | None:
    """The winning route_resp among ``replies`` (in arrival order) by the module's rules, or None."""
    candidates = [(index, reply) for index, reply in enumerate(replies) if reply.get("Method") in _RANK]
    if not candidates:
        return None

    def key(item: tuple[int, Reply]) -> tuple[bool, bool, int, int]:
        index, reply = item
        method = str(reply.get("Method"))
        return (method == "error", bool(reply.get("Defer-Response")), _RANK[method], index)

    return min(candidates, key=key)[1]


def _set_vars(variables: Mapping[str, Any], call_id: str) -> list[xml.Action]:
    """``set ecallmgr_<K>=<V>`` per CCV; unsafe names or values are dropped with a warning."""
    actions = []
    for name, value in variables.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if not xml.variable_name(name) or not xml.inert(text):
            log.warning("dropped unsafe Custom-Channel-Var %r", name, extra={"call_id": call_id})
            continue
        actions.append(("set", f"{CCV_PREFIX}{name}={text}"))
    return actions


def _media_actions(reply: Reply, call_id: str) -> list[xml.Action]:
    actions = []
    for header, variable in (("Ringback-Media", "ringback"), ("Transfer-Media", "transfer_ringback")):
        value = reply.get(header)
        if value and xml.inert(str(value)):
            actions.append(("set", f"{variable}={value}"))
        elif value:
            log.warning("dropped unsafe %s", header, extra={"call_id": call_id})
    return actions


def park_actions(reply: Reply, *, call_id: str, fetch_id: str, node: str) -> list[xml.Action]:
    """Set the winner's CCVs, export who won (for route_win), run Pre-Park, then park."""
    actions = _set_vars(reply.get("Custom-Channel-Vars") or {}, call_id)
    exported = {
        ECALLMGR_NODE_VAR: node,
        FETCH_ID_VAR: fetch_id,
        WINNER_SERVER_ID_VAR: str(reply.get("Server-ID") or ""),
    }
    for name, value in exported.items():
        if value and xml.inert(value):
            actions.append(("export", f"{name}={value}"))
    actions += _media_actions(reply, call_id)
    pre_park = reply.get("Pre-Park")
    if pre_park in ("ring_ready", "answer"):
        actions.append((pre_park, ""))
    actions.append(("park", ""))
    return actions


def _leg_safe(value: str) -> bool:
    """A value usable inside ``[name=value,...]`` leg variables: inert, and no delimiter of that syntax."""
    return xml.inert(value) and not any(char in value for char in ",[]{}")


def dial_string(route: Mapping[str, Any]) -> str | None:
    """A route's bridge target: its ``Route``, else ``user/<To-User|To-DID>@<To-Realm>``; None if neither."""
    target = route.get("Route")
    if not target:
        user, realm = route.get("To-User") or route.get("To-DID"), route.get("To-Realm")
        target = f"user/{user}@{realm}" if user and realm else None
    if target is None:
        return None
    leg_vars = {
        "origination_caller_id_name": route.get("Caller-ID-Name"),
        "origination_caller_id_number": route.get("Caller-ID-Number"),
        **{f"{CCV_PREFIX}{k}": v for k, v in (route.get("Custom-Channel-Vars") or {}).items()},
    }
    pairs = [
        f"{name}={value}"
        for name, value in leg_vars.items()
        if value not in (None, "") and xml.variable_name(name) and _leg_safe(str(value))
    ]
    return f"[{','.join(pairs)}]{target}" if pairs else str(target)


def bridge_actions(reply: Reply, *, call_id: str) -> list[xml.Action]:
    """Try each route in turn; a call that no route takes hangs up with the last leg's cause."""
    actions: list[xml.Action] = [
        ("set", "hangup_after_bridge=true"),
        ("set", "continue_on_fail=true"),
        ("set", f"failure_causes={FAILURE_CAUSES}"),
    ]
    actions += _set_vars(reply.get("Custom-Channel-Vars") or {}, call_id)
    actions += _media_actions(reply, call_id)
    for route in reply.get("Routes") or []:
        target = dial_string(route)
        if target is None or not xml.inert(target):
            log.warning("skipped a route without a usable target", extra={"call_id": call_id})
            continue
        actions.append(("bridge", target))
    actions.append(("hangup", "${originate_disposition}"))
    return actions


def error_actions(code: str, message: str) -> list[xml.Action]:
    """``respond <code> <message>``: the message is cleaned of anything FreeSWITCH would expand."""
    code = code if code.isdigit() and len(code) == 3 else NO_HANDLER[0]
    clean = "".join(char for char in message if char.isprintable() and char not in "${}").strip()
    return [("respond", f"{code} {clean}".strip())]


def render(reply: Reply | None, *, call_id: str, fetch_id: str, node: str, context: str) -> str:
    """The dialplan XML for the winning ``reply`` (None: no handler)."""
    method = reply.get("Method") if reply is not None else None
    if reply is None:
        actions = error_actions(*NO_HANDLER)
    elif method == "park":
        actions = park_actions(reply, call_id=call_id, fetch_id=fetch_id, node=node)
    elif method == "bridge":
        actions = bridge_actions(reply, call_id=call_id)
    else:
        actions = error_actions(
            str(reply.get("Route-Error-Code") or "500"), str(reply.get("Route-Error-Message") or "")
        )
    return xml.dialplan(actions, extension=f"ecallmgr_{method or 'no_handler'}", context=context)


class DialplanFetch:
    """Answers dialplan fetches over ``bus``; records park winners in ``pending`` for route_win."""

    def __init__(
        self, bus: Bus, *, timeout: float = DEFAULT_ROUTE_TIMEOUT, pending: PendingRouteWins | None = None
    ) -> None:
        self.bus = bus
        self.timeout = timeout
        self.pending = pending if pending is not None else PendingRouteWins()
        # The call-control part (set by ecallmgr): ctl.<Call-ID> is declared while the call is routed,
        # so it exists by the time the channel parks and route_win need not wait for it.
        self.control_queues: ControlQueues | None = None

    def _declaring(self, call_id: str) -> asyncio.Future[None] | None:
        if self.control_queues is None:
            return None
        future = asyncio.ensure_future(self.control_queues.declare_queue(call_id))
        future.add_done_callback(_log_failure(call_id))
        return future

    def _undeclare(self, call_id: str, declaring: asyncio.Future[None]) -> None:
        """The call will not be parked here: its control queue goes (once declared)."""
        queues = self.control_queues
        assert queues is not None

        async def delete() -> None:
            await declaring
            await queues.delete_queue(call_id)

        task = asyncio.ensure_future(delete())
        task.add_done_callback(_log_failure(call_id))

    async def handle(self, form: Form) -> str:
        """The XML for one dialplan fetch; raises ValueError (no channel) or bus errors to the caller."""
        request = build_route_req(self.bus, form)
        call_id, fetch_id = request["Call-ID"], request["Msg-ID"]
        declaring = self._declaring(call_id)  # beside the collect: most calls are parked
        try:
            replies = await self.bus.collect(request, timeout=self.timeout, until=is_definitive)
        except BaseException:
            if declaring is not None:
                self._undeclare(call_id, declaring)
            raise
        winner = choose(replies)
        parked = winner is not None and winner.get("Method") == "park" and bool(winner.get("Server-ID"))
        if declaring is not None and not parked:
            self._undeclare(call_id, declaring)
        if winner is None:
            log.warning(
                "no route_resp for %s within %.1fs: answering %s %s",
                request.get("Destination-Number") or request["Request"],
                self.timeout,
                *NO_HANDLER,
                extra={"call_id": call_id},
            )
        else:
            log.info(
                "route_resp %s from %s won (%d replies)",
                winner.get("Method"),
                winner.get("App-Name"),
                len(replies),
                extra={"call_id": call_id},
            )
            if parked:
                self.pending.add(call_id, RouteWinner.from_reply(winner, declaring))
        context = request.get("Context") or "default"
        return render(winner, call_id=call_id, fetch_id=fetch_id, node=self.bus.origin.node, context=context)


class ControlQueues(Protocol):
    async def declare_queue(self, call_id: str) -> None: ...

    async def delete_queue(self, call_id: str) -> None: ...


def _log_failure(call_id: str) -> Callable[[asyncio.Future[None]], None]:
    """Report a failed early declaration or deletion (the park declares again; x-expires deletes) even if
    nobody awaits it."""

    def done(future: asyncio.Future[None]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            log.warning("the call's control queue: %r", error, extra={"call_id": call_id})

    return done
