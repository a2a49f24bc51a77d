"""Outbound calls: ``originate_req`` (``resource``, ``originate.req``) → ``bgapi originate`` on a node.

::

    service = OriginateService(bus, nodes, control_manager)
    await service.start()        # consumes the shared pool queue ecallmgr.originate_req
    ...
    await service.close()

For each request the service picks an up node (fewest channels, round-robin among equals), takes the
Outbound-Call-ID (or a new uuid) as ``origination_uuid``, adopts the call's control queue
(``ctl.<Call-ID>``) so commands can be queued before the call answers, and runs::

    bgapi originate {origination_uuid=..,origination_caller_id_name=..,originate_timeout=..,ecallmgr_K=V}
        <endpoints> &park() | &bridge(<endpoints>) | <number> XML default

``+OK <uuid>`` is answered with ``originate_resp`` carrying Call-ID and Control-Queue; ``-ERR <CAUSE>`` (or
no node, a timeout, any other error) with Error-Message and Hangup-Cause. Each request runs in a task of
its own, so a slow originate never holds up the next one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from typing import Any

from ecallmgr.control.commands import (
    DEFAULT_CONTEXT,
    CommandRefused,
    bridge_dial_string,
    endpoint_dial_string,
)
from ecallmgr.node import CONTROL_QUEUE_PREFIX, ControlManager, FreeswitchNode
from whistle_common.bus import Bus, Delivery

log = logging.getLogger("ecallmgr.originate")

QUEUE = "ecallmgr.originate_req"
BINDING = ("resource", "originate.req")
DEFAULT_TIMEOUT = 30  # seconds an originate rings when the request gives no Timeout
MARGIN = 10.0  # extra seconds to wait for the BACKGROUND_JOB beyond the ring timeout
NODE_DOWN = "NODE_DOWN"


class OriginateFailed(Exception):
    """The originate cannot be placed (or failed): ``cause`` becomes Hangup-Cause."""

    def __init__(self, cause: str, message: str) -> None:
        self.cause = cause
        self.message = message
        super().__init__(message)


async def _maybe_await(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result


def _value(value: Any) -> str:
    """A dial variable's value: booleans as true/false; no brackets; commas escaped; quoted if spaced."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if any(bad in text for bad in "{}[]|'\n\r"):
        raise OriginateFailed("INVALID_REQUEST", f"invalid character in dial variable value {text!r}")
    text = text.replace(",", "\\,")
    return f"'{text}'" if " " in text else text


def _variables(request: Mapping[str, Any], call_id: str, timeout: int) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("origination_uuid", call_id)]
    for suffix, var in (("Name", "origination_caller_id_name"), ("Number", "origination_caller_id_number")):
        value = request.get(f"Outbound-Caller-ID-{suffix}") or request.get(f"Caller-ID-{suffix}")
        if value:
            pairs.append((var, value))
    for suffix, var in (("Name", "origination_callee_id_name"), ("Number", "origination_callee_id_number")):
        if value := request.get(f"Callee-ID-{suffix}"):
            pairs.append((var, value))
    pairs.append(("originate_timeout", timeout))
    if request.get("Ignore-Early-Media") is not None:
        pairs.append(("ignore_early_media", request["Ignore-Early-Media"]))
    if request.get("Continue-On-Fail") is not None:
        pairs.append(("continue_on_fail", request["Continue-On-Fail"]))
    pairs += [(f"ecallmgr_{k}", v) for k, v in (request.get("Custom-Channel-Vars") or {}).items()]
    pairs += [(f"sip_h_{k}", v) for k, v in (request.get("Custom-SIP-Headers") or {}).items()]
    return pairs


def _application(request: Mapping[str, Any]) -> str:
    name = request["Application-Name"]
    data = request.get("Application-Data")
    if name == "park":
        return "&park()"
    if name == "bridge":
        if isinstance(data, Mapping) and data.get("Endpoints"):
            return f"&bridge({bridge_dial_string(data)})"
        if isinstance(data, str) and data.strip():
            return f"&bridge({endpoint_dial_string({'Invite-Format': 'route', 'Route': data.strip()})})"
        raise OriginateFailed("INVALID_REQUEST", "bridge needs Application-Data with Endpoints or a Route")
    if name == "transfer":
        target = data.get("Route") or data.get("To-DID") if isinstance(data, Mapping) else data
        if not isinstance(target, str) or not target.strip() or any(c.isspace() for c in target.strip()):
            raise OriginateFailed("INVALID_REQUEST", "transfer needs Application-Data: one extension")
        return f"{target.strip()} XML {DEFAULT_CONTEXT}"
    raise OriginateFailed("INVALID_REQUEST", f"unsupported Application-Name {name!r}")


def originate_command(request: Mapping[str, Any], call_id: str) -> str:
    """``originate {vars}<endpoints> <application>`` for ``request``; raises OriginateFailed."""
    timeout = int(request.get("Timeout") or DEFAULT_TIMEOUT)
    try:
        variables = ",".join(
            f"{name}={_value(value)}" for name, value in _variables(request, call_id, timeout)
        )
        separator = "|" if request.get("Dial-Endpoint-Method") == "single" else ","
        endpoints = separator.join(endpoint_dial_string(e) for e in request["Endpoints"])
        application = _application(request)
    except CommandRefused as refused:
        raise OriginateFailed("INVALID_REQUEST", refused.message) from refused
    return f"originate {{{variables}}}{endpoints} {application}"


class OriginateService:
    """Places the originates asked on the bus, one task each."""

    def __init__(
        self,
        bus: Bus,
        nodes: Iterable[FreeswitchNode],
        control_manager: ControlManager | None,
        *,
        queue: str = QUEUE,
        margin: float = MARGIN,
    ) -> None:
        self.bus, self.nodes, self.control_manager = bus, nodes, control_manager
        self.queue, self.margin = queue, margin
        self._subscription: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._turn = 0

    async def start(self) -> None:
        self._subscription = await self.bus.consume(self.queue, self._on_request, bindings=[BINDING])

    async def close(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.cancel()
            except Exception as exc:
                log.debug("originate: cancelling the consumer: %r", exc)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_request(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self.handle(delivery.message), name="originate")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pick_node(self) -> FreeswitchNode | None:
        """An up node with the fewest channels; round-robin among equals."""
        up = [node for node in self.nodes if node.up]
        if not up:
            return None
        self._turn += 1
        fewest = min(len(node.channels) for node in up)
        candidates = [node for node in up if len(node.channels) == fewest]
        return candidates[self._turn % len(candidates)]

    def _control_queue(self, call_id: str) -> str:
        if self.control_manager is not None:
            return str(self.control_manager.control_queue_name(call_id))
        return CONTROL_QUEUE_PREFIX + call_id

    async def handle(self, request: Mapping[str, Any]) -> None:
        """Place one originate and reply; never raises (except on cancellation)."""
        call_id = str(request.get("Outbound-Call-ID") or uuidlib.uuid4())
        try:
            fields = await self.originate(request, call_id)
        except asyncio.CancelledError:
            raise
        except OriginateFailed as failed:
            log.info("originate %s failed: %s", call_id, failed.message, extra={"call_id": call_id})
            fields = {"Error-Message": failed.message, "Hangup-Cause": failed.cause}
        except Exception as error:
            log.exception("originate %s failed", call_id, extra={"call_id": call_id})
            fields = {
                "Error-Message": f"originate failed: {error!r}",
                "Hangup-Cause": "NORMAL_TEMPORARY_FAILURE",
            }
        if "Call-ID" not in fields:
            await self._release(call_id)
        fields["Application-Name"] = str(request.get("Application-Name", ""))
        try:
            await self.bus.reply(request, self.bus.build("originate_resp", fields))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("originate %s: could not reply", call_id, extra={"call_id": call_id})

    async def originate(self, request: Mapping[str, Any], call_id: str) -> dict[str, Any]:
        """The originate_resp fields of an answered call; raises OriginateFailed."""
        command = originate_command(request, call_id)
        node = self.pick_node()
        if node is None:
            raise OriginateFailed(NODE_DOWN, "no FreeSWITCH node is up")
        if self.control_manager is not None:
            await _maybe_await(self.control_manager.adopt(call_id, node.name))
        timeout = int(request.get("Timeout") or DEFAULT_TIMEOUT) + self.margin
        log.info("originate %s on %s: %s", call_id, node.name, command, extra={"call_id": call_id})
        try:
            result = (await node.bgapi(command, timeout=timeout)).strip()
        except TimeoutError as error:
            await self._kill_orphan(node, call_id)
            raise OriginateFailed("ORIGINATOR_CANCEL", f"no result from {node.name} in {timeout}s") from error
        if result.startswith("+OK"):
            uuid = result[3:].strip() or call_id
            return {"Call-ID": uuid, "Control-Queue": self._control_queue(uuid)}
        cause = result[4:].strip() if result.startswith("-ERR") else ""
        cause = cause.split()[0] if cause else "NORMAL_TEMPORARY_FAILURE"
        raise OriginateFailed(cause, f"originate failed: {result or 'no result'}")

    async def _kill_orphan(self, node: FreeswitchNode, call_id: str) -> None:
        """The requester is told the originate failed: make sure no leg of it rings or talks on."""
        try:
            result = (await node.api(f"uuid_kill {call_id} ORIGINATOR_CANCEL", timeout=5)).strip()
        except Exception as error:  # the node is gone or slow: the leg dies with it or times out there
            log.warning(
                "originate %s: could not kill the late leg: %r", call_id, error, extra={"call_id": call_id}
            )
            return
        if result.startswith("+OK"):
            log.warning("originate %s: killed the leg that outlived its originate", call_id,
                        extra={"call_id": call_id})  # fmt: skip

    async def _release(self, call_id: str) -> None:
        """Stop controlling a call that was never placed."""
        get = getattr(self.control_manager, "get", None)
        control = get(call_id) if get is not None else None
        if control is None:
            return
        try:
            await _maybe_await(control.close())
        except Exception:
            log.exception("originate %s: closing its control failed", call_id, extra={"call_id": call_id})
