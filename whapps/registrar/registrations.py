"""The registrations one registrar instance knows: each ``username@realm``'s latest registration.

Kazoo's model: every registrar instance hears every ``registration_success`` and keeps it until it
expires (its Expires plus :data:`EXPIRES_FUDGE` seconds, so a phone refreshing just in time never looks
unregistered), or until a ``registration_flush`` for the same contact says it ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EXPIRES_FUDGE = 20  # seconds past Expires a registration is still believed (Kazoo's expires_fudge_factor)
ENVELOPE = frozenset(
    {"App-Name", "App-Version", "Event-Category", "Event-Name", "Msg-ID", "Msg-Reply-ID", "Node", "Server-ID"}
)

Key = tuple[str, str]


def key_of(realm: str, username: str) -> Key:
    """Realms and usernames compare without case."""
    return realm.lower(), username.lower()


def bare_contact(contact: str) -> str:
    """The URI of a Contact (``"" <sip:u@h:p>;expires=60`` -> ``sip:u@h:p``), to compare two contacts."""
    if "<" in contact and ">" in contact:
        return contact[contact.index("<") + 1 : contact.index(">")].strip()
    return contact.strip().split(";", 1)[0].strip()


@dataclass(frozen=True)
class Entry:
    fields: dict[str, Any]  # the registration_success without its envelope headers
    expires_at: float  # on the registrations' clock


class Registrations:
    """``username@realm`` -> its latest registration; ``clock`` is monotonic seconds (tests replace it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[Key, Entry] = {}
        self.changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._entries)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def add(self, success: Mapping[str, Any]) -> None:
        """Keep a registration_success (replacing that user's previous one)."""
        fields = {name: value for name, value in success.items() if name not in ENVELOPE}
        expires_at = self.clock() + int(success["Expires"]) + EXPIRES_FUDGE
        self._entries[key_of(str(success["Realm"]), str(success["Username"]))] = Entry(fields, expires_at)
        await self._notify()

    async def flush(self, realm: str, username: str, contact: str | None = None) -> bool:
        """Forget the registration of ``username@realm`` (only if it is ``contact``, when given)."""
        key = key_of(realm, username)
        entry = self._entries.get(key)
        if entry is None:
            return False
        if contact and bare_contact(str(entry.fields.get("Contact", ""))) != bare_contact(contact):
            return False  # an older contact ended; the device has registered anew since
        del self._entries[key]
        await self._notify()
        return True

    def get(self, realm: str, username: str) -> dict[str, Any] | None:
        """The unexpired registration of ``username@realm``, or None."""
        key = key_of(realm, username)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            del self._entries[key]
            return None
        return entry.fields

    def sweep(self) -> int:
        """Drop every expired registration; returns how many."""
        now = self.clock()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    async def wait_for(self, realm: str, username: str, timeout: float) -> dict[str, Any]:
        """The registration of ``username@realm`` once there is one; raises TimeoutError."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: self.get(realm, username) is not None)
        found = self.get(realm, username)
        assert found is not None
        return found
