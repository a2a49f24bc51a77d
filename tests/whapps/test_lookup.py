"""Callflow lookup: exact numbers, the longest pattern, no_match, and a cache that follows edits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from whapps.callflow.lookup import Lookup
from whistle_common.store import Store, account_db, init_databases

HANGUP = {"module": "hangup", "data": {}}


class Account:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.id = uuid.uuid4().hex
        self.db = account_db(self.id)

    async def create(self) -> None:
        await init_databases(self.store)
        await self.store.ensure_db(self.db)
        await self.store.install_views(self.db)

    async def callflow(self, name: str, **fields: Any) -> dict[str, Any]:
        return await self.store.save(self.db, {"_id": name, "pvt_type": "callflow", "flow": HANGUP, **fields})


@pytest.fixture(params=["memory", "couch"])
async def account(request: pytest.FixtureRequest) -> AsyncIterator[Account]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("couch_url")
    async with Store.open(url) as store:
        account = Account(store)
        await account.create()
        yield account


async def watching(lookup: Lookup, account: Account) -> None:
    """Wait until the account's change feed is open: from then on reads are cached."""
    async with asyncio.timeout(10), lookup.changed:
        await lookup.changed.wait_for(lambda: lookup.watching(account.id))


async def test_exact_numbers_win_over_patterns_and_the_longest_pattern_wins(account: Account) -> None:
    await account.callflow("exact", numbers=["2000"])
    await account.callflow("short", patterns=[r"^2\d+$"])
    await account.callflow("long", patterns=[r"^\+?1(?P<npa>\d{3})(\d{7})$"])
    await account.callflow("fallback", numbers=["no_match"])
    lookup = Lookup(account.store)
    try:
        exact = await lookup.callflow(account.id, "2000")
        assert exact is not None and exact.callflow["_id"] == "exact"
        short = await lookup.callflow(account.id, "2001")
        assert short is not None and short.callflow["_id"] == "short" and short.capture_group == "2001"
        long = await lookup.callflow(account.id, "+14155550100")
        assert long is not None and long.callflow["_id"] == "long"
        assert long.capture_group == "415" and long.capture_groups == {"npa": "415"}
        other = await lookup.callflow(account.id, "999")
        assert other is not None and other.callflow["_id"] == "fallback"
        assert await lookup.callflow(account.id, "*97") is None  # no_match is for numbers only
    finally:
        await lookup.close()


async def test_an_edited_callflow_takes_effect_on_the_next_lookup(account: Account) -> None:
    saved = await account.callflow("main", numbers=["3000"])
    lookup = Lookup(account.store)
    try:
        first = await lookup.callflow(account.id, "3000")
        assert first is not None and first.callflow["flow"] == HANGUP
        await watching(lookup, account)
        assert await lookup.callflow(account.id, "3000") is not None  # now read into the cache
        seen = lookup.changes_seen
        play = {"module": "play", "data": {"id": "tone_stream://%(100,0,440)"}}
        await account.store.save(account.db, {**saved, "flow": play, "numbers": ["3000", "3001"]})
        async with asyncio.timeout(10), lookup.changed:
            await lookup.changed.wait_for(lambda: lookup.changes_seen > seen)
        edited = await lookup.callflow(account.id, "3000")
        assert edited is not None and edited.callflow["flow"] == play
        added = await lookup.callflow(account.id, "3001")
        assert added is not None and added.callflow["_id"] == "main"
    finally:
        await lookup.close()


async def test_a_deleted_callflow_no_longer_matches(account: Account) -> None:
    saved = await account.callflow("gone", numbers=["4000"])
    lookup = Lookup(account.store)
    try:
        assert await lookup.callflow(account.id, "4000") is not None
        await watching(lookup, account)
        assert await lookup.callflow(account.id, "4000") is not None  # now read into the cache
        seen = lookup.changes_seen
        await account.store.delete(account.db, "gone", saved["_rev"])
        async with asyncio.timeout(10), lookup.changed:
            await lookup.changed.wait_for(lambda: lookup.changes_seen > seen)
        assert await lookup.callflow(account.id, "4000") is None
    finally:
        await lookup.close()


async def test_reads_racing_a_change_are_not_cached_and_one_feed_serves_them(account: Account) -> None:
    await account.callflow("first", numbers=["100"])
    lookup = Lookup(account.store)
    try:
        await asyncio.gather(*(lookup.callflow(account.id, "100") for _ in range(5)))
        await watching(lookup, account)
        feeds = [t for t in asyncio.all_tasks() if t.get_name() == f"changes:{account.db}"]
        assert len(feeds) == 1  # concurrent first reads opened one change feed, not five
        # a change arrives while the index is being read: what was read must not stay cached
        original = account.store.view
        seen = lookup.changes_seen

        async def view_then_edit(db: str, view: str, **options: Any) -> Any:
            rows = await original(db, view, **options)
            if view == "callflows/listing_by_number" and lookup.changes_seen == seen:
                await account.callflow("second", numbers=["200"])
                async with asyncio.timeout(10), lookup.changed:
                    await lookup.changed.wait_for(lambda: lookup.changes_seen > seen)
            return rows

        account.store.view = view_then_edit  # type: ignore[method-assign]
        assert await lookup.callflow(account.id, "200") is None  # read before the edit...
        account.store.view = original  # type: ignore[method-assign]
        found = await lookup.callflow(account.id, "200")
        assert found is not None and found.callflow["_id"] == "second"  # ...and not kept after it
    finally:
        await lookup.close()
