"""The mod_xml_curl client: how FreeSWITCH asks an HTTP server for dialplan and directory XML.

Everything here follows ``mod_xml_curl.c`` (``xml_url_fetch``) and the recordings ``xml-curl-*-request*.txt``:

* one ``POST`` per lookup, ``Content-Type: application/x-www-form-urlencoded``,
  ``User-Agent: freeswitch-xml/1.0``, ``Accept: */*``, redirects followed (at most 10);
* the body is ``hostname=<switchname>&section=..&tag_name=..&key_name=..&key_value=..`` (those five values
  are *not* encoded), then every header of a ``REQUEST_PARAMS`` event as ``Name=value`` with the value
  encoded by ``switch_url_encode`` and the name as is. That event has the usual common headers
  (``Event-Name`` .. ``Event-Sequence``, and it takes an Event-Sequence number from the global counter as in
  the recordings), then the caller's params;
* only HTTP 200 counts. Any other status, a transport error, a timeout (the binding's ``timeout``, whole
  seconds, for the whole transfer like ``CURLOPT_TIMEOUT``; 0 or None means none) or a body over
  ``response-max-bytes`` (1 MiB by default) makes the binding fail. FreeSWITCH then logs it and
  falls back to the static XML. :class:`XmlCurlError` and its subclasses tell these cases apart.

:func:`parse_document` does the second half of ``switch_xml_locate``: garbage, and
``<section name="result"><result status="not found"/>``, both mean "use the static XML" (:class:`NotFound`).
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

from fsim.events import EventFactory, Origin

USER_AGENT = "freeswitch-xml/1.0"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_BYTES = 1024 * 1024  # XML_CURL_MAX_BYTES, the default response-max-bytes

# Where FreeSWITCH creates each lookup's REQUEST_PARAMS event (Event-Calling-* in the recordings).
DIALPLAN_ORIGIN = Origin("mod_dialplan_xml.c", "dialplan_xml_locate", 619)
SIP_AUTH_ORIGIN = Origin("sofia_reg.c", "sofia_reg_parse_auth", 3124)
LOCATE_USER_ORIGIN = Origin("switch_xml.c", "switch_xml_locate_user", 2258)

Params = Sequence[tuple[str, str]]

# switch_url_encode: control characters, bytes above "~", and SWITCH_URL_UNSAFE. Unlike the event encoder
# (fsim.events.url_encode), it leaves an existing "%XX" escape alone (switch_url_encode_opt without
# double_encode).
_UNSAFE = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX = frozenset(b"0123456789ABCDEF")


def form_encode(value: str) -> str:
    """A value as ``switch_event_build_param_string`` writes it (upper-case hex, space as %20)."""
    data = value.encode()
    out: list[str] = []
    for index, byte in enumerate(data):
        following = data[index + 1 : index + 3]
        kept_escape = byte == 0x25 and len(following) == 2 and all(digit in _HEX for digit in following)
        if not kept_escape and (byte < 0x20 or byte > 0x7E or byte in _UNSAFE):
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def build_body(
    section: str, tag_name: str, key_name: str, key_value: str, params: Params, hostname: str
) -> str:
    """The POST body, exactly as ``xml_url_fetch`` builds it."""
    basic = (
        f"hostname={hostname}&section={section}&tag_name={tag_name}&key_name={key_name}&key_value={key_value}"
    )
    return "&".join([basic, *(f"{name}={form_encode(value)}" for name, value in params)])


def with_hunt_profile(channel_data: Params) -> list[tuple[str, str]]:
    """Channel data plus the ``Hunt-*`` copy of the caller profile that ``dialplan_xml_locate`` appends.

    At routing time the hunt profile is the caller profile, so ``Hunt-X`` repeats every ``Caller-X`` (the
    recordings show the same names, in the same order, at the end). Data that already has ``Hunt-*`` is kept.
    """
    data = list(channel_data)
    if any(name.startswith("Hunt-") for name, _ in data):
        return data
    return data + [
        ("Hunt-" + name[len("Caller-") :], value) for name, value in data if name.startswith("Caller-")
    ]


class XmlCurlError(Exception):
    """The binding failed; FreeSWITCH logs it and uses the static XML instead (as for NotFound)."""


class XmlCurlTimeout(XmlCurlError):
    """No complete answer within the binding's timeout (curl error 28)."""


class XmlCurlConnectionError(XmlCurlError):
    """Connection refused, reset, DNS failure...: no HTTP answer at all."""


class XmlCurlHTTPError(XmlCurlError):
    """An HTTP answer other than 200 (FreeSWITCH: "Received HTTP error <status> trying to fetch <url>")."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"Received HTTP error {status} trying to fetch {url}")
        self.status = status


class XmlCurlOversized(XmlCurlError):
    """The body exceeded response-max-bytes ("Oversized file detected")."""


class XmlCurlClient:
    """One mod_xml_curl binding: a gateway URL, its timeout, and the switch identity it reports.

    ``events`` supplies the identity (``hostname`` = switchname, Core-UUID, ...) and the Event-Sequence
    counter that REQUEST_PARAMS events draw from; ``now_us`` (e.g. fsim.clock.Clock.now_us) dates them.
    ``timeout`` is in real seconds: the web server is real. Use it as an async context manager, or call
    ``aclose()``.
    """

    def __init__(
        self,
        url: str,
        timeout: float | None = None,
        events: EventFactory | None = None,
        *,
        max_bytes: int = MAX_BYTES,
        now_us: Callable[[], int] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.now_us = now_us
        self.timeout = timeout or None
        self.events = events or EventFactory()
        self.max_bytes = max_bytes
        # No pool limit: FreeSWITCH runs each fetch on the channel's own thread, so fetches never queue
        # behind each other (and httpx's wait queue costs CPU per waiting request under load).
        self._http = httpx.AsyncClient(
            timeout=None, follow_redirects=True, max_redirects=10, transport=transport, trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        )  # fmt: skip
        self._http.headers.clear()  # libcurl sends no Accept-Encoding nor Connection header

    async def __aenter__(self) -> XmlCurlClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def request_params(self, origin: Origin, params: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """A REQUEST_PARAMS event's headers (common ones first, one Event-Sequence used), then ``params``."""
        now_us = self.now_us() if self.now_us is not None else None
        return self.events.make("REQUEST_PARAMS", origin, params, timestamp_us=now_us).headers

    async def fetch_dialplan(self, channel_data: Params) -> str:
        """Ask for the dialplan of a channel in CS_ROUTING; ``channel_data`` in FreeSWITCH order.

        ``channel_data`` is what ``switch_channel_event_set_data`` gives (Channel-State, ..., Caller-*,
        variable_*); the Hunt-* copy is added if missing. Raises :class:`XmlCurlError` when FreeSWITCH
        would fall back to the static dialplan without looking at the body.
        """
        params = self.request_params(DIALPLAN_ORIGIN, with_hunt_profile(channel_data))
        return await self.fetch("dialplan", params)

    async def fetch_directory(self, fields: Params, *, origin: Origin | None = None) -> str:
        """Ask for the directory domain of ``fields``' ``domain`` (tag_name=domain, key_name=name).

        ``fields`` are the lookup's own params in order: for SIP auth ``action=sip_auth, sip_profile, ...,
        client_port, key, user, domain, ip`` (see fsim.registrations); for ``user_exists`` just
        ``key, user, domain``. ``origin`` defaults to sofia_reg_parse_auth for ``action=sip_auth`` and to
        switch_xml_locate_user otherwise.
        """
        values = dict(fields)
        if origin is None:
            origin = SIP_AUTH_ORIGIN if values.get("action") == "sip_auth" else LOCATE_USER_ORIGIN
        params = self.request_params(origin, fields)
        return await self.fetch(
            "directory", params, tag_name="domain", key_name="name", key_value=values.get("domain", "")
        )

    async def fetch(
        self, section: str, params: Params, *, tag_name: str = "", key_name: str = "", key_value: str = ""
    ) -> str:
        """POST one lookup (``params`` already complete) and return the body of a 200 answer."""
        body = build_body(section, tag_name, key_name, key_value, params, self.events.identity.hostname)
        try:
            if self.timeout is None:
                return await self._post(body)
            async with asyncio.timeout(self.timeout):
                return await self._post(body)
        except TimeoutError as error:
            raise XmlCurlTimeout(f"Operation timed out after {self.timeout} seconds: {self.url}") from error
        except httpx.TimeoutException as error:
            raise XmlCurlTimeout(f"{type(error).__name__} fetching {self.url}") from error
        except httpx.HTTPError as error:
            raise XmlCurlConnectionError(f"{type(error).__name__}: {error} ({self.url})") from error

    async def _post(self, body: str) -> str:
        content = body.encode()
        # libcurl's headers, in its order (Host comes first, from httpx).
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Content-Length": str(len(content))}
        headers["Content-Type"] = FORM_CONTENT_TYPE
        async with self._http.stream("POST", self.url, content=content, headers=headers) as answer:
            data = bytearray()
            async for chunk in answer.aiter_bytes():
                data += chunk
                if len(data) > self.max_bytes:
                    raise XmlCurlOversized(f"Oversized file detected [{len(data)} bytes] from {self.url}")
            if answer.status_code != 200:
                raise XmlCurlHTTPError(answer.status_code, self.url)
            return data.decode(answer.encoding or "utf-8", errors="replace")


@dataclass(frozen=True)
class NotFound:
    """FreeSWITCH will use its static XML: the answer said "not found", or could not be used (``reason``)."""

    reason: str


def parse_document(text: str) -> ET.Element | NotFound:
    """The root of an answer ``switch_xml_locate`` would accept, or why it would use the static XML.

    The standard library parser is enough: the answers come from the application under test, expat
    (2.4+) refuses entity-expansion bombs itself, and ElementTree never fetches external entities, so
    defusedxml would add nothing. It is stricter than FreeSWITCH's ezxml in corner cases (an undeclared
    entity such as ``&nbsp;`` is an error here), which only turns such answers into a static fallback.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        return NotFound(f"Error Parsing Result! ({error})")
    result_section = find_section(root, "result")
    if result_section is not None:
        result = result_section.find("result")
        if result is not None and (result.get("status") or "").lower() == "not found":
            return NotFound("not found")
    return root


def find_section(root: ET.Element, name: str) -> ET.Element | None:
    """The ``<section name=...>`` child of ``<document>`` (names compared case-insensitively)."""
    for section in root.findall("section"):
        if (section.get("name") or "").lower() == name.lower():
            return section
    return None
