"""Finding an account's callflow for a dialled number, and the documents modules read, with a cache.

Number matching (Kazoo's ``cf_flow``): the exact number first (view ``callflows/listing_by_number``),
then every pattern (``callflows/listing_by_pattern``), the longest match winning, then ``no_match`` for
numbers made of digits (a leading ``+`` allowed), for callers allowed it (see the service).

What is read from an account database stays cached until that database's ``_changes`` feed reports a
change: the feed is opened *before* the first read, so an edit made while reading is never missed, and
while the feed is down nothing is cached at all.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from whistle_common.store import NotFound, Store, StoreError, account_db

log = logging.getLogger(__name__)

NO_MATCH = "no_match"
_DIALLABLE = re.compile(r"^\+?\d+$")
RESUBSCRIBE_DELAY = 1.0  # seconds before a broken change feed is opened again


@dataclass(frozen=True)
class Match:
    """The callflow for a number, and what a pattern captured."""

    callflow: Mapping[str, Any]
    capture_group: str | None = None
    capture_groups: dict[str, str] = field(default_factory=dict)


@dataclass
class _Index:
    numbers: dict[str, str]  # number -> callflow id (the first by id, as CouchDB sorts them)
    patterns: list[tuple[re.Pattern[str], str]]


class _Cached:
    """What one database's cache holds; dropped whole or by document on a change."""

    def __init__(self) -> None:
        self.index: _Index | None = None
        self.docs: dict[str, dict[str, Any]] = {}
        self.views: dict[tuple[str, str], list[Any]] = {}
        # bumped by every change: a read that started before a change must not be cached after it
        self.generation = 0


class Lookup:
    """Callflow and document lookups for the callflow whapp, cached per database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cached: dict[str, _Cached] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self.changes_seen = 0  # how many changes invalidated something (tests wait on it)
        # notified when a change was seen, and when a feed opened
        self.changed = asyncio.Condition()

    async def close(self) -> None:
        watchers = list(self._watchers.values())
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._watchers.clear()
        self._cached.clear()

    # -- cache plumbing --------------------------------------------------------------------------------

    def _cache(self, db: str) -> _Cached | None:
        """The cache of ``db``, watched by its change feed; None (read uncached) until that feed is open,
        and while it is down. The watcher is registered before anything awaits: one feed per database."""
        if db not in self._watchers:
            self._watchers[db] = asyncio.get_running_loop().create_task(self._watch(db), name=f"changes:{db}")
        return self._cached.get(db)

    def watching(self, account_id: str) -> bool:
        """Whether the account's change feed is open (what is read from now on is cached)."""
        return account_db(account_id) in self._cached

    @staticmethod
    def _still(cached: _Cached | None, generation: int) -> _Cached | None:
        """``cached`` if no change came while we read (then what we read may be kept), else None."""
        return cached if cached is not None and cached.generation == generation else None

    async def _watch(self, db: str) -> None:
        try:
            feed = await self.store.changes(db)  # from now on: opened before anything is cached
            self._cached[db] = _Cached()
            async with self.changed:
                self.changed.notify_all()
            async with feed:
                async for change in feed:
                    cached = self._cached.get(db)
                    if cached is not None:
                        cached.generation += 1
                        cached.index = None
                        cached.views.clear()
                        cached.docs.pop(change.doc_id, None)
                    async with self.changed:
                        self.changes_seen += 1
                        self.changed.notify_all()
        except StoreError as error:
            log.warning("change feed of %s failed (%s): cache dropped, resubscribing", db, error)
            self._cached.pop(db, None)
            await asyncio.sleep(RESUBSCRIBE_DELAY)  # back-off before the next read opens a new feed
        finally:
            self._cached.pop(db, None)
            if self._watchers.get(db) is asyncio.current_task():
                del self._watchers[db]

    # -- documents -------------------------------------------------------------------------------------

    async def doc(self, account_id: str, doc_id: str) -> dict[str, Any]:
        """Document ``doc_id`` of the account (raises NotFound)."""
        db = account_db(account_id)
        cached = self._cache(db)
        if cached is not None and doc_id in cached.docs:
            return cached.docs[doc_id]
        generation = cached.generation if cached is not None else 0
        doc = await self.store.get(db, doc_id)
        if doc.get("pvt_deleted"):
            raise NotFound(f"{doc_id} in {db} is deleted")
        if (still := self._still(cached, generation)) is not None:
            still.docs[doc_id] = doc
        return doc

    async def view(self, db: str, view: str, key: Any) -> list[Any]:
        """Rows of ``view`` for ``key`` in ``db``, cached like documents."""
        cached = self._cache(db)
        if cached is not None and (view, repr(key)) in cached.views:
            return cached.views[(view, repr(key))]
        generation = cached.generation if cached is not None else 0
        rows = await self.store.view(db, view, key=key)
        if (still := self._still(cached, generation)) is not None:
            still.views[(view, repr(key))] = rows
        return rows

    async def account_by_realm(self, realm: str) -> str | None:
        """The Account-ID whose SIP realm is ``realm``, or None."""
        rows = await self.view("accounts", "accounts/listing_by_realm", realm.lower())
        return rows[0].id if rows else None

    # -- callflows -------------------------------------------------------------------------------------

    async def _index(self, account_id: str) -> _Index:
        db = account_db(account_id)
        cached = self._cache(db)
        if cached is not None and cached.index is not None:
            return cached.index
        generation = cached.generation if cached is not None else 0
        numbers: dict[str, str] = {}
        for row in await self.store.view(db, "callflows/listing_by_number"):
            numbers.setdefault(str(row.key), row.id)
        patterns = []
        for row in await self.store.view(db, "callflows/listing_by_pattern"):
            try:
                patterns.append((re.compile(str(row.key)), row.id))
            except re.error as error:
                log.error("callflow %s of account %s: pattern %r is invalid: %s", row.id, account_id,
                          row.key, error)  # fmt: skip
        index = _Index(numbers, patterns)
        if (still := self._still(cached, generation)) is not None:
            still.index = index
        return index

    async def callflow(self, account_id: str, number: str, *, allow_no_match: bool = True) -> Match | None:
        """The callflow of ``account_id`` for ``number`` (exact, longest pattern, then ``no_match`` when
        ``allow_no_match``), or None."""
        index = await self._index(account_id)
        if number in index.numbers:
            return await self._match(account_id, index.numbers[number])
        best: tuple[int, re.Match[str], str] | None = None
        for pattern, callflow_id in index.patterns:
            found = pattern.search(number)
            if found and (best is None or len(found.group(0)) > best[0]):
                best = (len(found.group(0)), found, callflow_id)
        if best is not None:
            _, found, callflow_id = best
            groups = {k: v for k, v in found.groupdict().items() if v is not None}
            captured = found.group(1) if found.re.groups else found.group(0)
            return await self._match(account_id, callflow_id, captured, groups)
        if allow_no_match and _DIALLABLE.match(number) and NO_MATCH in index.numbers:
            return await self._match(account_id, index.numbers[NO_MATCH])
        return None

    async def _match(
        self,
        account_id: str,
        callflow_id: str,
        captured: str | None = None,
        groups: dict[str, str] | None = None,
    ) -> Match | None:
        try:
            doc = await self.doc(account_id, callflow_id)
        except NotFound:
            return None  # deleted between the view and the read: as if it had not matched
        return Match(doc, captured, groups or {})
