"""Simulated SIP devices registering with the simulator's ``internal`` profile, as mod_sofia handles them.

:meth:`Registrar.register` plays both REGISTERs a device like sipp sends (recorded in
``sip-call-sipp-register-messages.log``) and fires what ``sofia_reg_handle_register_token`` fires:

1. without credentials: ``sofia::pre_register``, answered 401 with a fresh nonce;
2. with ``Authorization: Digest`` (qop=auth, nc=00000001, a random cnonce): the directory lookup with the
   ``action=sip_auth`` fields (:func:`sip_auth_fields`), a real digest check against the user's ``password``
   or ``a1-hash``, then ``sofia::register_attempt`` with ``auth-result`` (RENEWED for a good qop answer,
   SUCCESS without qop, FORBIDDEN otherwise) and
   * on success with expires > 0: the registration is stored, ``sofia::register`` (plus the user's
     directory variables) and, on a first registration, ``MESSAGE_QUERY`` (at most one per 30 s per user);
   * on success with expires 0: ``PRESENCE_IN`` (Unregistered), then ``sofia::unregister``;
   * on failure (wrong password, unknown user, ``type="pointer"``, ``sip-forbid-register``): 403 and
     ``sofia::register_failure``, nothing stored.

A registration not refreshed expires ``expires + late_margin`` (60 s) after it was made; every
``check_interval`` (30 s) the profile removes the expired ones and fires ``sofia::expire`` + ``PRESENCE_IN``
(``sofia_reg_check_expire``). All times are simulated seconds of the ``clock`` (:class:`fsim.clock.Clock`).
Event headers, names and order are those of the recordings ``xml-curl-sip-events-plain``/``sip-call-plain``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from fsim import digest
from fsim.directory import DirectoryUser, find_user
from fsim.events import EventFactory, Origin
from fsim.hub import EventHub
from fsim.xml_curl import NotFound, XmlCurlClient, XmlCurlError

Headers = list[tuple[str, str]]
DirectoryFetch = Callable[[Headers], Awaitable[DirectoryUser | NotFound | None]]

_FILE, _HANDLER, _EXPIRER = "sofia_reg.c", "sofia_reg_handle_register_token", "sofia_reg_del_callback"
PRE_REGISTER = Origin(_FILE, _HANDLER, 1810)
REGISTER_ATTEMPT = Origin(_FILE, _HANDLER, 1606)
REGISTER_FAILURE = Origin(_FILE, _HANDLER, 1792)
REGISTER = Origin(_FILE, _HANDLER, 2059)
UNREGISTER_PRESENCE = Origin(_FILE, _HANDLER, 2103)
MESSAGE_QUERY = Origin(_FILE, _HANDLER, 2168)
UNREGISTER = Origin(_FILE, _HANDLER, 2213)
EXPIRE = Origin(_FILE, _EXPIRER, 726)
EXPIRE_PRESENCE = Origin(_FILE, _EXPIRER, 741)
_TRUE = {"true", "yes", "on", "1", "t", "enabled", "active", "allow"}


class SimClock(Protocol):
    """What the registrar needs of :class:`fsim.clock.Clock`: simulated epoch time and sleeping."""

    def now(self) -> float: ...

    def now_us(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass
class SofiaProfile:
    """The settings of the sofia profile devices register with (FreeSWITCH defaults)."""

    name: str = "internal"
    url: str = "sip:mod_sofia@127.0.0.1:5060"
    presence_hosts: str | None = None
    late_margin: int = 60  # sip-expires-late-margin
    check_interval: float = 30.0  # IREG_SECONDS between expiry checks
    message_query_on_first_register: bool = True


@dataclass
class Device:
    """A SIP phone as its REGISTER describes it. ``contact`` is a URI: ``sip:1000@127.0.0.1:5070``."""

    user: str
    realm: str
    password: str
    contact: str
    user_agent: str = "unknown"
    network_ip: str = "127.0.0.1"
    network_port: int = 5060
    call_id: str = ""
    transport: str = "udp"
    request_uri: str = ""  # the REGISTER's Request-URI, sip:<realm> by default
    digest_uri: str = ""  # the digest uri= parameter, the Request-URI by default (sipp put the port in it)

    def __post_init__(self) -> None:
        self.contact = _contact_uri(self.contact)
        self.request_uri = self.request_uri or f"sip:{self.realm}"
        self.digest_uri = self.digest_uri or self.request_uri
        self.call_id = self.call_id or f"{uuid.uuid4()}@{self.network_ip}"


@dataclass
class Registration:
    """One row of ``sip_registrations`` (what ``sofia status profile internal reg`` lists)."""

    call_id: str
    user: str
    host: str
    contact: str
    status: str
    expires: int
    expires_at: int  # epoch seconds: registration time + expires + late margin
    user_agent: str
    network_ip: str
    network_port: int
    username: str
    realm: str
    profile: str
    rpid: str = "unknown"
    variables: Headers = field(default_factory=list)

    @property
    def dial_url(self) -> str:
        """What ``${sofia_contact(user@host)}`` gives: ``sofia/<profile>/sip:user@ip:port``."""
        return f"sofia/{self.profile}/{_contact_uri(self.contact)}"


@dataclass
class RegisterResult:
    """How the REGISTER ended: the final SIP status, the auth-result, the stored registration if any."""

    status: int
    auth_result: str
    registration: Registration | None = None


def sip_auth_fields(device: Device, credentials: digest.Credentials, profile: str) -> Headers:
    """The params of the directory lookup for SIP auth, in ``sofia_reg_parse_auth``'s order.

    As in ``xml-curl-directory-request.txt``: action .. sip_auth_uri, contact/to/via/from/call-id/request
    fields, qop/cnonce/nc when sent, response, method, client_port, then switch_xml_locate_user's
    ``key=id``, ``user``, ``domain`` (the realm) and ``ip``. Empty values are left out, as FreeSWITCH
    skips NULL ones (a Request-URI without user has no ``sip_request_user``).
    """
    contact_user, contact_host, _ = _parse_uri(device.contact)
    request_user, request_host, request_port = _parse_uri(device.request_uri)
    c = credentials
    fields = [
        ("action", "sip_auth"), ("sip_profile", profile), ("sip_user_agent", device.user_agent),
        ("sip_auth_username", c.username), ("sip_auth_realm", c.realm), ("sip_auth_nonce", c.nonce),
        ("sip_auth_uri", c.uri), ("sip_contact_user", contact_user), ("sip_contact_host", contact_host),
        ("sip_to_user", device.user), ("sip_to_host", device.realm),
        ("sip_via_protocol", device.transport.lower()),
        ("sip_from_user", device.user), ("sip_from_host", device.realm), ("sip_call_id", device.call_id),
        ("sip_request_user", request_user), ("sip_request_host", request_host),
        ("sip_request_port", request_port),
        ("sip_auth_qop", c.qop or ""), ("sip_auth_cnonce", c.cnonce or ""), ("sip_auth_nc", c.nc or ""),
        ("sip_auth_response", c.response), ("sip_auth_method", c.method),
        ("client_port", str(device.network_port)),
        ("key", "id"), ("user", c.username), ("domain", c.realm), ("ip", device.network_ip),
    ]  # fmt: skip
    return [(name, value) for name, value in fields if value]


def xml_curl_directory(client: XmlCurlClient, static: DirectoryFetch | None = None) -> DirectoryFetch:
    """A directory_fetch through mod_xml_curl that falls back to ``static`` like ``switch_xml_locate``."""

    async def fetch(fields: Headers) -> DirectoryUser | NotFound | None:
        values = dict(fields)
        try:
            answer = await client.fetch_directory(fields)
            found = find_user(answer, domain=values["domain"], user=values["user"])
        except XmlCurlError as error:
            found = NotFound(str(error))
        if isinstance(found, NotFound) and static is not None:
            return await static(fields)
        return found

    return fetch


class Registrar:
    """The ``internal`` profile's registrar: challenges, checks, stores and expires registrations.

    ``directory_fetch(fields)`` gets :func:`sip_auth_fields` and returns the user (None or NotFound when
    there is none: 403). With xml_curl use :func:`xml_curl_directory`, whose REQUEST_PARAMS event takes the
    Event-Sequence number between pre_register and register_attempt as in FreeSWITCH.
    """

    def __init__(
        self,
        events: EventFactory,
        hub: EventHub,
        directory_fetch: DirectoryFetch,
        clock: SimClock,
        profile: SofiaProfile | None = None,
    ) -> None:
        self.events = events
        self.hub = hub
        self.directory_fetch = directory_fetch
        self.clock = clock
        self.profile = profile or SofiaProfile()
        self._table: dict[tuple[str, str], Registration] = {}
        self._call_ids: dict[tuple[str, str, str], str] = {}
        self._debounce: dict[str, float] = {}
        self._expiry: asyncio.Task[None] | None = None

    @property
    def registrations(self) -> list[Registration]:
        """Current registrations, oldest first."""
        return list(self._table.values())

    def lookup(self, user: str, host: str) -> Registration | None:
        """The registration of ``user@host`` (what ``sofia_contact`` and ``user/`` dialing need)."""
        return self._table.get((user.lower(), host.lower()))

    async def register(
        self,
        user: str,
        realm: str,
        password: str,
        contact: str,
        expires: int,
        user_agent: str,
        network_ip: str,
        network_port: int,
        **options: str,
    ) -> RegisterResult:
        """One device (re-)registration; ``expires=0`` unregisters. See :meth:`register_device`.

        ``options`` are the other :class:`Device` fields (call_id, transport, request_uri, digest_uri).
        Without a call_id, one device (user, realm, contact) keeps one Call-ID across refreshes, as phones do.
        """
        device = Device(user, realm, password, contact, user_agent, network_ip, network_port, **options)  # type: ignore[arg-type]
        if "call_id" not in options:
            device.call_id = self._call_ids.setdefault((user, realm, device.contact), device.call_id)
        return await self.register_device(device, expires)

    async def unregister(
        self, user: str, realm: str, password: str, contact: str, user_agent: str, network_ip: str,
        network_port: int, **options: str,
    ) -> RegisterResult:  # fmt: skip
        """The device's ``Expires: 0`` REGISTER, challenged and authenticated like any other."""
        return await self.register(
            user, realm, password, contact, 0, user_agent, network_ip, network_port, **options
        )

    async def register_device(self, device: Device, expires: int) -> RegisterResult:
        """The challenge, the authenticated REGISTER and their events, as in the module doc."""
        name = self.profile.name
        status, contact = f"Registered({device.transport.upper()})", f'"" <{device.contact}>'
        base = [
            ("profile-name", name), ("from-user", device.user), ("from-host", device.realm),
            ("contact", contact),
            ("call-id", device.call_id), ("rpid", "unknown"), ("status", status), ("expires", str(expires)),
            ("to-user", device.user), ("to-host", device.realm), ("network-ip", device.network_ip),
            ("network-port", str(device.network_port)),
        ]  # fmt: skip
        self._fire("sofia::pre_register", PRE_REGISTER, [*base, ("user-agent", device.user_agent)])
        credentials = digest.answer_challenge(
            device.user, device.password, realm=device.realm, nonce=str(uuid.uuid4()), method="REGISTER",
            uri=device.digest_uri,
        )  # fmt: skip
        user = await self._lookup(sip_auth_fields(device, credentials, name))
        auth_result = _authenticate(credentials, user)
        identity = [("username", credentials.username), ("realm", credentials.realm)]
        identity.append(("user-agent", device.user_agent))
        self._fire(
            "sofia::register_attempt", REGISTER_ATTEMPT, [*base, *identity, ("auth-result", auth_result)]
        )
        if user is None or auth_result == "FORBIDDEN":
            self._fire("sofia::register_failure", REGISTER_FAILURE, [
                ("profile-name", name), ("to-user", device.user), ("to-host", device.realm),
                ("network-ip", device.network_ip), ("user-agent", device.user_agent),
                ("profile-name", name),  # sofia_reg.c adds it twice
                ("network-port", str(device.network_port)), ("registration-type", "REGISTER"),
            ])  # fmt: skip
            return RegisterResult(403, auth_result)
        variables = _user_variables(user, credentials)
        key = (device.user.lower(), device.realm.lower())
        self._table.pop(key, None)  # no multiple-registrations: a new one replaces the old one
        if not expires:
            self._make("PRESENCE_IN", UNREGISTER_PRESENCE, [
                ("proto", "sip"), ("rpid", "unknown"), ("login", self.profile.url),
                ("user-agent", device.user_agent), ("from", f"{device.user}@{device.realm}"),
                ("status", "Unregistered"), ("presence-source", "register"), ("event_type", "presence"),
            ])  # fmt: skip
            self._fire("sofia::unregister", UNREGISTER, [
                ("profile-name", name), identity[0], *base[1:6], identity[1], *base[10:12], identity[2],
                ("expires", "0"), *variables,
            ])  # fmt: skip
            return RegisterResult(200, auth_result)
        now = self.clock.now()
        registration = Registration(
            device.call_id, device.user, device.realm, contact, status, expires,
            int(now) + expires + self.profile.late_margin, device.user_agent, device.network_ip,
            device.network_port, credentials.username, credentials.realm, name, variables=variables,
        )  # fmt: skip
        self._table[key] = registration
        presence_hosts = ("presence-hosts", self.profile.presence_hosts or "n/a")
        self._fire("sofia::register", REGISTER, [*base[:3], presence_hosts, *base[3:], *identity, *variables])
        if self.profile.message_query_on_first_register and self._debounce_ok(
            device.user + device.realm, now
        ):
            account = dict(variables).get("mwi-account") or f"{device.user}@{device.realm}"
            self._make("MESSAGE_QUERY", MESSAGE_QUERY, [
                ("Message-Account", f"sip:{account}"), ("VM-Sofia-Profile", name),
                ("VM-Call-ID", device.call_id),
            ])  # fmt: skip
        return RegisterResult(200, auth_result, registration)

    async def _lookup(self, fields: Headers) -> DirectoryUser | None:
        try:
            found = await self.directory_fetch(fields)
        except XmlCurlError:
            return None
        return found if isinstance(found, DirectoryUser) else None

    def _debounce_ok(self, key: str, now: float) -> bool:
        """debounce_check: at most one MESSAGE_QUERY per user@host every 30 seconds."""
        last = self._debounce.get(key)
        if last is not None and now - last <= 30:
            return False
        self._debounce[key] = now
        return True

    def expire_due(self) -> list[Registration]:
        """Remove the registrations whose time is up and fire ``sofia::expire`` + PRESENCE_IN for each."""
        now = int(self.clock.now())
        due = [entry for entry in self._table.values() if 0 < entry.expires_at <= now]
        for entry in due:
            del self._table[(entry.user.lower(), entry.host.lower())]
            self._fire("sofia::expire", EXPIRE, [
                ("profile-name", entry.profile), ("call-id", entry.call_id), ("user", entry.user),
                ("username", entry.user), ("host", entry.host), ("contact", entry.contact),
                ("expires", str(entry.expires_at)), ("user-agent", entry.user_agent), ("realm", entry.realm),
                ("network-ip", entry.network_ip), ("network-port", str(entry.network_port)),
            ])  # fmt: skip
            self._make("PRESENCE_IN", EXPIRE_PRESENCE, [
                ("proto", "sip"), ("rpid", "away"), ("login", self.profile.url),
                ("user-agent", entry.status),  # sofia_reg_del_callback passes the status column here
                ("from", f"{entry.user}@{entry.host}"), ("status", "Unregistered"),
                ("event_type", "presence"),
            ])  # fmt: skip
        return due

    def start(self) -> None:
        """Start the periodic expiry check (every ``profile.check_interval`` simulated seconds)."""
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.get_running_loop().create_task(
                self._expire_loop(), name="registrar-expiry"
            )

    async def aclose(self) -> None:
        """Stop the expiry check."""
        if self._expiry is not None:
            self._expiry.cancel()
            await asyncio.gather(self._expiry, return_exceptions=True)
            self._expiry = None

    async def _expire_loop(self) -> None:
        while True:
            await self.clock.sleep(self.profile.check_interval)
            self.expire_due()

    def _fire(self, subclass: str, origin: Origin, headers: Headers) -> None:
        self._make("CUSTOM", origin, headers, leading=[("Event-Subclass", subclass)])

    def _make(self, name: str, origin: Origin, headers: Headers, leading: Headers | None = None) -> None:
        now_us = self.clock.now_us()
        self.hub.fire(self.events.make(name, origin, headers, leading=leading or (), timestamp_us=now_us))


def _authenticate(credentials: digest.Credentials, user: DirectoryUser | None) -> str:
    """sofia_reg_parse_auth's verdict: SUCCESS, RENEWED (qop answered) or FORBIDDEN."""
    if user is None or user.is_pointer or (user.param("sip-forbid-register") or "").lower() in _TRUE:
        return "FORBIDDEN"
    allow_empty = (user.param("allow-empty-password") or "true").lower() in _TRUE
    if not allow_empty and not user.password and not user.a1_hash:
        return "FORBIDDEN"
    if not digest.check(credentials, password=user.password, a1_hash=user.a1_hash):
        return "FORBIDDEN"
    return "RENEWED" if credentials.qop and credentials.nc and credentials.cnonce else "SUCCESS"


def _user_variables(user: DirectoryUser, credentials: digest.Credentials) -> Headers:
    """The v_event sofia_reg_parse_auth merges into register/unregister: aliases, sip-* params, variables."""
    variables = [
        ("sip_number_alias", user.number_alias), ("sip_auth_username", credentials.username),
        ("sip_auth_realm", credentials.realm), ("number_alias", user.number_alias),
        ("user_name", credentials.username), ("domain_name", credentials.realm),
    ]  # fmt: skip
    if user.param("mwi-account"):
        variables.append(("mwi-account", user.param("mwi-account") or ""))
    for name, value in user.params:
        if name and value and (name.lower().startswith("sip-") or name.lower() == "register-gateway"):
            variables.append((name, value))
    return variables + [(name, value) for name, value in user.variables if name and value]


def _contact_uri(contact: str) -> str:
    """``sip:user@host:port`` out of ``"name" <sip:...>;params`` or a bare URI."""
    if "<" in contact and ">" in contact:
        return contact[contact.index("<") + 1 : contact.index(">")]
    return contact.split(";", 1)[0].strip()


def _parse_uri(uri: str) -> tuple[str, str, str]:
    """(user, host, port) of a SIP URI; missing parts are empty."""
    bare = _contact_uri(uri)
    scheme, _, rest = bare.partition(":")
    if scheme.lower() not in {"sip", "sips"}:
        rest = bare
    user, _, hostport = rest.rpartition("@")
    host, _, port = hostport.partition(":")
    return user, host, port
