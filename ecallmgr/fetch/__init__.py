"""ecallmgr's mod_xml_curl endpoint: dialplan fetches become route_req, directory fetches authn_req.

* :class:`FetchServer` (``server``): the aiohttp application FreeSWITCH POSTs to;
* ``dialplan``: route_req, the choice among route_resp, and the park/bridge/error XML;
* ``directory``: authn_req and the directory XML of an authn_resp;
* ``route_win``: :class:`PendingRouteWins` and :func:`route_win_message` for the call-control part;
* ``xml``: the documents, escaped by ElementTree.
"""

from ecallmgr.fetch.dialplan import DEFAULT_ROUTE_TIMEOUT, NO_HANDLER, DialplanFetch
from ecallmgr.fetch.directory import DEFAULT_AUTHN_TIMEOUT, DirectoryFetch
from ecallmgr.fetch.route_win import (
    PendingRouteWins,
    RouteWinner,
    route_win_message,
    send_route_win,
)
from ecallmgr.fetch.server import PATH, FetchServer
from ecallmgr.fetch.xml import not_found

__all__ = [
    "DEFAULT_AUTHN_TIMEOUT",
    "DEFAULT_ROUTE_TIMEOUT",
    "NO_HANDLER",
    "PATH",
    "DialplanFetch",
    "DirectoryFetch",
    "FetchServer",
    "PendingRouteWins",
    "RouteWinner",
    "not_found",
    "route_win_message",
    "send_route_win",
]
