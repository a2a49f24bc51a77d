"""The registrar whapp: answers FreeSWITCH's SIP challenges and tells where devices are registered.

* ``authn_req`` (pool ``registrar.authn_req``): the account by the realm (``accounts/listing_by_realm``),
  the device by its SIP username (``devices/sip_credentials``), answered with ``authn_resp``: the
  password, and the channel variables that tag the device's calls (Account-ID, Authorizing-ID...). An
  unknown realm or user, a disabled account or device, or a device without a password gets
  ``Auth-Method: error`` with the reason (logged too): ecallmgr's directory fetch then answers "not
  found" at once and FreeSWITCH rejects the REGISTER.
* ``registration_success`` and ``registration_flush`` (one exclusive queue per instance, both on it so
  that a device's registration and its end stay in order): every instance keeps every registration.
* ``registration_query`` (pool ``registrar.registration_query``): any one instance answers, with the
  unexpired registrations of the user (``Fields``; empty when there are none) or their ``Count``.

A new instance knows only what registers after it starts (a phone refreshes within its Expires).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from whapps.registrar.registrations import Registrations
from whistle_common.bus import Delivery
from whistle_common.store import StoreError, account_db
from whistle_common.whapp import Whapp, per_instance, pool

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 60.0  # seconds between drops of expired registrations


class Registrar(Whapp):
    """SIP credentials for directory fetches, and the registrations of every device."""

    name = "registrar"

    async def setup(self) -> None:
        self.registrations = Registrations()
        self._started = time.monotonic()
        self.spawn(self._sweep(), name="registrar-sweep")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            if dropped := self.registrations.sweep():
                log.info("%d registration(s) expired", dropped)

    # -- SIP auth ----------------------------------------------------------------------------------------

    @pool("authn_req", ("callmgr", "authn.req"))
    async def on_authn_req(self, delivery: Delivery) -> None:
        request = delivery.message
        realm, username = str(request["Auth-Realm"]), str(request["Auth-User"])
        where = {"call_id": delivery.call_id}
        try:
            credentials = await self.credentials(realm, username)
        except StoreError as error:
            log.error("authn_req for %s@%s: the database failed: %s", username, realm, error, extra=where)
            return
        if isinstance(credentials, str):
            log.info("authn_req for %s@%s: %s", username, realm, credentials, extra=where)
            refusal = {"Auth-Method": "error", "Error-Message": credentials}
            await self.bus.reply(request, self.bus.build("authn_resp", refusal))
            return
        await self.bus.reply(request, self.bus.build("authn_resp", credentials))

    async def credentials(self, realm: str, username: str) -> dict[str, Any] | str:
        """The authn_resp fields for ``username@realm``, or why there are none."""
        accounts = await self.store.view(
            "accounts", "accounts/listing_by_realm", key=realm.lower(), include_docs=True
        )
        if not accounts:
            return "no account has this realm"
        account = accounts[0].doc or {}
        if account.get("enabled") is False:
            return f"account {accounts[0].id} is disabled"
        account_id = accounts[0].id
        devices = await self.store.view(
            account_db(account_id), "devices/sip_credentials", key=username.lower(), include_docs=True
        )
        if not devices:
            return f"account {account_id} has no device with this SIP username"
        if len(devices) > 1:
            log.warning("account %s: %d devices share SIP username %s; using %s", account_id, len(devices),
                        username, devices[0].id)  # fmt: skip
        device = devices[0].doc or {}
        sip = device.get("sip") or {}
        if device.get("enabled") is False:
            return f"device {devices[0].id} is disabled"
        if sip.get("method") == "ip" or not sip.get("password"):
            return f"device {devices[0].id} has no SIP password"
        channel_vars = {
            "Account-ID": account_id,
            "Authorizing-ID": devices[0].id,
            "Authorizing-Type": "device",
            "Username": str(sip["username"]),
            "Realm": realm,
            "Account-Realm": str(account.get("realm") or realm),
        }
        if account.get("name"):
            channel_vars["Account-Name"] = str(account["name"])
        if device.get("owner_id"):
            channel_vars["Owner-ID"] = str(device["owner_id"])
        fields: dict[str, Any] = {
            "Auth-Method": "password",
            "Auth-Password": str(sip["password"]),
            "Auth-Username": str(sip["username"]),
            "Custom-Channel-Vars": channel_vars,
        }
        if sip.get("expire_seconds"):
            fields["Expires"] = int(sip["expire_seconds"])
        return fields

    # -- registrations -----------------------------------------------------------------------------------

    @per_instance("registrations", ("callmgr", "registration.success.#"), ("callmgr", "registration.flush.#"))
    async def on_registration(self, delivery: Delivery) -> None:
        message = delivery.message
        realm, username = str(message["Realm"]), str(message["Username"])
        if message.get("Event-Name") == "reg_flush":
            if await self.registrations.flush(realm, username, message.get("Contact")):
                log.info("%s@%s: registration ended (%s)", username, realm, message.get("Reason", "flush"))
            return
        await self.registrations.add(message)
        log.debug("%s@%s registered at %s for %ss", username, realm, message["Contact"], message["Expires"])

    @pool("registration_query", ("callmgr", "registration.query.#"))
    async def on_registration_query(self, delivery: Delivery) -> None:
        query = delivery.message
        found = self.registrations.get(str(query["Realm"]), str(query["Username"]))
        registrations = [found] if found is not None else []
        answer: dict[str, Any] = {"Registrar-Age": int(time.monotonic() - self._started)}
        if query.get("Count-Only"):
            answer["Count"] = len(registrations)
        else:
            answer["Fields"] = [_only(registration, query.get("Fields")) for registration in registrations]
        await self.bus.reply(query, self.bus.build("registration_query_resp", answer))


def _only(registration: Mapping[str, Any], names: list[str] | None) -> dict[str, Any]:
    if not names:
        return dict(registration)
    return {name: registration[name] for name in names if name in registration}
