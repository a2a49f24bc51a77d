"""CDRs on disk until the broker has them: nothing FreeSWITCH reported is lost when ecallmgr stops or dies.

A CDR is written here (one file, written whole, then renamed into place) before it is published, and
removed once the broker confirmed it. What is still here when ecallmgr starts (a crash, a broker outage
that outlived a shutdown) is published again first. That is at-least-once: a crash between the confirm
and the removal sends that CDR twice, with the same Call-ID and Msg-ID for the reader to recognise.

The directory is ``--cdr-spool``, else a folder named after the ecallmgr's node under
``ECALLMGR_CDR_SPOOL`` or ``$XDG_STATE_HOME/whistle-voip/cdr-spool``. Files are synced to disk before
they count as kept, so a power cut loses nothing either.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("ecallmgr.cdr_spool")

ENV_SPOOL = "ECALLMGR_CDR_SPOOL"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def default_directory(node: str) -> Path:
    """``$ECALLMGR_CDR_SPOOL``, else ``$XDG_STATE_HOME/whistle-voip/cdr-spool``; with a folder per
    ecallmgr node name, so two ecallmgrs on one host never replay each other's CDRs."""
    if configured := os.environ.get(ENV_SPOOL):
        base = Path(configured)
    else:
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = Path(state) / "whistle-voip" / "cdr-spool"
    return base / _UNSAFE.sub("_", node)


class CdrSpool:
    """CDR files in ``directory``: :meth:`keep` before publishing, :meth:`done` after the confirm."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, message: Mapping[str, Any]) -> Path:
        name = _UNSAFE.sub("_", f"{message['Call-ID']}-{message.get('Msg-ID', '')}")
        return self.directory / f"{name}.json"

    async def keep(self, message: Mapping[str, Any]) -> Path:
        """Write ``message`` to the spool (synced); its path, for :meth:`done`."""
        path = self._path(message)
        await asyncio.to_thread(_write_synced, path, orjson.dumps(dict(message)))
        return path

    async def done(self, path: Path) -> None:
        """The broker has it: forget it."""
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def kept(self) -> list[tuple[Path, dict[str, Any]]]:
        """The CDRs still waiting, oldest first. A file that cannot be read is renamed ``*.bad`` and
        logged, not retried for ever nor deleted."""
        found = []
        for path in sorted(self.directory.glob("*.json"), key=_age):
            try:
                message = orjson.loads(path.read_bytes())
                if not isinstance(message, dict) or "Call-ID" not in message:
                    raise ValueError("not a CDR message")
            except (OSError, ValueError) as error:
                log.error("spooled CDR %s is unreadable (%s): kept aside as .bad", path.name, error)
                try:
                    path.rename(path.with_suffix(".bad"))
                except OSError as rename_error:  # gone meanwhile, or read-only: it is skipped either way
                    log.error("could not set %s aside: %s", path.name, rename_error)
                continue
            found.append((path, message))
        return found


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # sent and removed meanwhile: its place in the order no longer matters
        return 0.0


def _write_synced(path: Path, data: bytes) -> None:
    partial = path.with_suffix(".part")
    with open(partial, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)  # whole or not at all: a crash never leaves half a CDR under its name
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut too
    finally:
        os.close(directory)
