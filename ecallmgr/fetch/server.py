"""The HTTP endpoint FreeSWITCH's mod_xml_curl POSTs to (``gateway-url`` in ``xml_curl.conf.xml``).

``POST /xml_curl`` (or ``/xml_curl/<anything>``: the section is read from the form, not the path) with the
urlencoded form FreeSWITCH sends. Every answer is ``200 text/xml``: the section's document, or the
"not found" document (FreeSWITCH then uses its static XML) for an unknown section, a malformed request or
any failure here, with a log line. Never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from ecallmgr.fetch import xml
from ecallmgr.fetch.dialplan import DEFAULT_ROUTE_TIMEOUT, DialplanFetch, call_id_of
from ecallmgr.fetch.directory import DEFAULT_AUTHN_TIMEOUT, DirectoryFetch
from ecallmgr.fetch.route_win import PendingRouteWins
from whistle_common.bus import Bus

log = logging.getLogger(__name__)

PATH = "/xml_curl"
DEFAULT_PORT = 8088
MAX_FORM_BYTES = 1024 * 1024  # a dialplan form with a big SDP is ~10 KiB

SectionHandler = Callable[[Mapping[str, str]], Awaitable[str]]


class FetchServer:
    """An aiohttp server answering mod_xml_curl's ``dialplan`` and ``directory`` fetches over ``bus``.

    ``bus`` must be started (its targeted queue receives the replies). ``port=0`` picks a free port;
    :attr:`port` and :attr:`url` tell which once :meth:`start` returned. Park winners are recorded in
    :attr:`pending` for the call-control part to send ``route_win``.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        route_timeout: float = DEFAULT_ROUTE_TIMEOUT,
        authn_timeout: float = DEFAULT_AUTHN_TIMEOUT,
        pending: PendingRouteWins | None = None,
    ) -> None:
        self.bus = bus
        self.host = host
        self._port = port
        self.dialplan = DialplanFetch(bus, timeout=route_timeout, pending=pending)
        self.directory = DirectoryFetch(bus, timeout=authn_timeout)
        self.sections: dict[str, SectionHandler] = {
            "dialplan": self.dialplan.handle,
            "directory": self.directory.handle,
        }
        self.app = web.Application(client_max_size=MAX_FORM_BYTES)
        self.app.router.add_post(PATH, self._on_post)
        self.app.router.add_post(PATH + "/{tail:.*}", self._on_post)
        self._runner: web.AppRunner | None = None

    @property
    def pending(self) -> PendingRouteWins:
        return self.dialplan.pending

    @property
    def port(self) -> int:
        """The listening port (the real one when started with port 0)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                return int(address[1])
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    async def start(self) -> None:
        """Listen on host:port; raises OSError when the address is taken."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("mod_xml_curl endpoint listening on %s", self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FetchServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_post(self, request: web.Request) -> web.Response:
        return web.Response(text=await self.answer(request), content_type="text/xml")

    async def answer(self, request: web.Request) -> str:
        """The document for one fetch; every failure becomes "not found" with a log line."""
        try:
            posted = await request.post()
        except Exception as error:  # a body aiohttp cannot read as a form
            log.warning("unreadable xml_curl request from %s: %r", request.remote, error)
            return xml.not_found()
        form: dict[str, str] = {}
        for name, value in posted.items():
            if isinstance(value, str):
                form.setdefault(name, value)  # a repeated name: the first one counts
        section = form.get("section", "")
        handler = self.sections.get(section)
        if handler is None:
            log.info("xml_curl section %r from %s: not ours, not found", section[:40], request.remote)
            return xml.not_found()
        try:
            return await handler(form)
        except ValueError as error:
            log.warning(
                "malformed %s fetch: %s; not found", section, error, extra={"call_id": call_id_of(form)}
            )
        except Exception:
            log.exception("%s fetch failed; not found", section, extra={"call_id": call_id_of(form)})
        return xml.not_found()
