"""The callflow whapp: answers route_req for numbers that have a callflow, and runs it on route_win.

Any number of instances share the ``callflow.route_req`` pool queue. The instance that answered a
route_req is the one that receives its route_win (on its own Server-ID), so what it found while
routing stays in that process until the call is won, or for :data:`ROUTE_WIN_WAIT` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from whapps.call import CallEvents
from whapps.callflow.executor import run_flow
from whapps.callflow.flow import FlowContext
from whapps.callflow.lookup import Lookup, Match
from whistle_common.bus import Delivery, RequestTimeout
from whistle_common.store import StoreError
from whistle_common.whapp import Whapp, pool, targeted

log = logging.getLogger(__name__)

ROUTE_WIN_WAIT = 30.0  # seconds a routed call waits for its route_win before we forget it
REGISTRATION_TIMEOUT = 2.0  # seconds to wait for the registrar's answer about a device


@dataclass(frozen=True)
class Routed:
    """What routing found for a call, kept until its route_win."""

    account_id: str
    match: Match
    request: Mapping[str, Any]
    expiry: asyncio.TimerHandle  # forgets the call if no route_win comes


class Callflow(Whapp):
    """Routes calls to the callflows in the account databases and drives them."""

    name = "callflow"

    async def setup(self) -> None:
        self.lookup = Lookup(self.store)
        self.events = CallEvents(self.bus)
        await self.events.start()
        self._routed: dict[str, Routed] = {}

    async def teardown(self) -> None:
        for routed in self._routed.values():
            routed.expiry.cancel()
        self._routed.clear()
        await self.events.stop()
        await self.lookup.close()

    # -- routing ---------------------------------------------------------------------------------------

    @pool("route_req", ("callmgr", "route.req"))
    async def on_route_req(self, delivery: Delivery) -> None:
        request = delivery.message
        call_id = str(request["Call-ID"])
        where = {"call_id": call_id}
        try:
            account_id = await self.account_of(request)
            if account_id is None:
                log.info("route_req for %s: no account for it; not ours", request.get("Request"), extra=where)
                return
            number = str(request.get("Request") or request.get("To")).partition("@")[0]
            # no_match usually leads out to carriers: only for callers the registrar authenticated, or
            # anyone reaching the account from outside could dial the world at its expense (Kazoo too)
            authorized = bool((request.get("Custom-Channel-Vars") or {}).get("Authorizing-Type"))
            match = await self.lookup.callflow(account_id, number, allow_no_match=authorized)
        except StoreError as error:
            # Not answering lets ecallmgr reject the call clearly; raising would retry it too late.
            log.error("route_req for %s: the database failed: %s", request.get("Request"), error, extra=where)
            return
        if match is None:
            log.info("account %s has no callflow for %s", account_id, number, extra=where)
            return
        if (earlier := self._routed.pop(call_id, None)) is not None:  # routed again (a transfer)
            earlier.expiry.cancel()
        expiry = asyncio.get_running_loop().call_later(ROUTE_WIN_WAIT, self._not_won, call_id)
        self._routed[call_id] = Routed(account_id, match, request, expiry)
        self.events.watch(call_id)  # bound while the call parks, not after it is won
        channel_vars = {"Account-ID": account_id, "Callflow-ID": str(match.callflow.get("_id"))}
        await self.bus.reply(
            request, self.bus.build("route_resp", {"Method": "park", "Custom-Channel-Vars": channel_vars})
        )

    def _not_won(self, call_id: str) -> None:
        """No route_win came in time (another whapp won, or the call ended): forget what we found."""
        if self._routed.pop(call_id, None) is not None:
            self.spawn(self.events.unwatch(call_id), name=f"unwatch:{call_id}")

    async def account_of(self, request: Mapping[str, Any]) -> str | None:
        """The call's account: its Account-ID channel variable, else the account of the Request's realm."""
        channel_vars = request.get("Custom-Channel-Vars") or {}
        if account_id := channel_vars.get("Account-ID"):
            return str(account_id)
        realm = str(request.get("Request") or request.get("To") or "").partition("@")[2]
        return await self.lookup.account_by_realm(realm) if realm else None

    @targeted("route_win")
    async def on_route_win(self, delivery: Delivery) -> None:
        win = delivery.message
        call_id = str(win["Call-ID"])
        routed = self._routed.pop(call_id, None)
        if routed is not None:
            routed.expiry.cancel()
        if routed is None:
            log.warning("route_win for a call we did not route (or routed too long ago)",
                        extra={"call_id": call_id})  # fmt: skip
            return
        call = await self.events.adopt(win, account_id=routed.account_id, request=routed.request)
        context = FlowContext(
            call=call,
            account_id=routed.account_id,
            callflow=routed.match.callflow,
            whapp=self,
            capture_group=routed.match.capture_group,
            capture_groups=dict(routed.match.capture_groups),
        )
        self.spawn(run_flow(context, routed.match.callflow["flow"]), name=f"callflow:{call_id}")

    # -- what modules ask of the whapp -----------------------------------------------------------------

    async def registration(self, realm: str, username: str) -> dict[str, Any] | None:
        """The registrar's fields for ``username@realm`` (Contact...), or None when not registered."""
        query = self.bus.build("registration_query", {"Realm": realm, "Username": username})
        try:
            reply = await self.bus.request(query, timeout=REGISTRATION_TIMEOUT)
        except RequestTimeout:
            log.warning("no registrar answered for %s@%s within %ss", username, realm, REGISTRATION_TIMEOUT)
            return None
        fields = reply.get("Fields") or []
        return dict(fields[0]) if fields else None
