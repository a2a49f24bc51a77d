"""The ``store`` call command: upload a recording to a URL (Kazoo's ``ecallmgr_call_command`` store).

``store`` runs no FreeSWITCH application: ecallmgr itself reads the file at Media-Name (the path the
``record`` command recorded to) and uploads it to Media-Transfer-Destination, typically a CouchDB
attachment URL (``http://host:5984/<db>/<doc>/<name>?rev=<rev>``):

* ``put`` -> ``PUT <url>``, ``post`` -> ``POST <url>``; the body is the raw file, with a Content-Type from
  the file's extension (``audio/x-wav`` for ``.wav``) unless Additional-Headers sets one;
* Additional-Headers (``"Name: value"`` each) are added to the request;
* ``stream`` (Kazoo streams the file over the Erlang distribution to the whapp) is refused as
  ``unsupported``.

A 2xx answer makes the command complete with Application-Response ``success``; anything else (a missing
file, an HTTP error status, a timeout, a connection error) raises :class:`CommandRefused`, published by the
queue as a ``dialplan_error``.

Deployment: ecallmgr reads the recording from *its own* filesystem. FreeSWITCH writes it on the media
server's, so in production FreeSWITCH's recording directory must be shared with ecallmgr (e.g. a network
mount at the same path) or ecallmgr must run on the FreeSWITCH host. (In the tests fsim and ecallmgr share
the host.)
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import httpx

from ecallmgr.control import commands
from ecallmgr.control.commands import CommandRefused

STORE_TIMEOUT = 60.0  # seconds for the whole upload (connect, write, read)
METHODS = {"put": "PUT", "post": "POST"}
CONTENT_TYPES = {
    ".wav": "audio/x-wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".pdf": "application/pdf",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SUCCESS = "success"


def content_type(path: str) -> str:
    """The Content-Type of a recording, by its extension (``audio/x-wav`` for ``.wav``)."""
    suffix = PurePosixPath(path).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or DEFAULT_CONTENT_TYPE


def additional_headers(values: Any) -> list[tuple[str, str]]:
    """``["Name: value", ...]`` -> ``[(name, value), ...]``; raises CommandRefused for a malformed one."""
    headers: list[tuple[str, str]] = []
    for value in values or ():
        name, colon, rest = str(value).partition(":")
        name, rest = name.strip(), rest.strip()
        if not colon or not name or any(c.isspace() for c in name) or "\n" in rest or "\r" in rest:
            raise CommandRefused("invalid", f"store: bad Additional-Headers entry {value!r}")
        headers.append((name, rest))
    return headers


def _read(path: str) -> bytes:
    """The file's bytes (run in a worker thread); raises CommandRefused unless it is a readable file."""
    try:
        with open(path, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise CommandRefused("media_not_found", f"store: {path} is not a regular file")
            return file.read()
    except OSError as exc:
        raise CommandRefused("media_not_found", f"store: cannot read {path}: {exc.strerror or exc}") from exc


async def store_recording(command: Mapping[str, Any], *, timeout: float | None = None) -> str:
    """Upload the recording of a ``store`` command; its Application-Response (``success``) once stored.

    Raises :class:`CommandRefused`: ``unsupported`` (stream), ``invalid`` (a relative Media-Name or one
    outside :data:`ecallmgr.control.commands.RECORDING_DIR`, a destination that is not http(s), a
    malformed header), ``media_not_found`` (no such regular file),
    ``timeout``, ``store_failed`` (an HTTP error status or a connection error).
    """
    method = command.get("Media-Transfer-Method")
    if method == "stream":
        raise CommandRefused(
            "unsupported", "store: Media-Transfer-Method stream is not supported (use put/post)"
        )
    http_method = METHODS.get(str(method))
    if http_method is None:
        raise CommandRefused("invalid", f"store: bad Media-Transfer-Method {method!r}")
    path = str(command.get("Media-Name") or "")
    if not PurePosixPath(path).is_absolute():
        raise CommandRefused("invalid", f"store: Media-Name {path!r} is not an absolute path")
    if not commands.in_recording_dir(path):
        raise CommandRefused("invalid", f"store: Media-Name {path!r} is outside the recording directory")
    destination = str(command.get("Media-Transfer-Destination") or "")
    try:
        url = httpx.URL(destination)
    except httpx.InvalidURL as exc:
        raise CommandRefused("invalid", f"store: bad Media-Transfer-Destination: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise CommandRefused("invalid", "store: Media-Transfer-Destination must be an http(s) URL")
    headers = httpx.Headers(additional_headers(command.get("Additional-Headers")))
    if "content-type" not in headers:
        headers["Content-Type"] = content_type(path)
    body = await asyncio.to_thread(_read, path)
    shown = url.copy_with(username=None, password=None, query=None)  # no credentials in error reports
    try:
        async with httpx.AsyncClient(timeout=timeout or STORE_TIMEOUT) as client:
            response = await client.request(http_method, url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise CommandRefused("timeout", f"store: {http_method} {shown} timed out") from exc
    except httpx.HTTPError as exc:
        raise CommandRefused("store_failed", f"store: {http_method} {shown}: {exc!r}") from exc
    if not response.is_success:
        raise CommandRefused(
            "store_failed",
            f"store: {http_method} {shown} answered {response.status_code} {response.reason_phrase}".rstrip(),
        )
    return SUCCESS
