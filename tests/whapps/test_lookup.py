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
        seen = lookup.changes_seen
        await account.store.delete(account.db, "gone", saved["_rev"])
        async with asyncio.timeout(10), lookup.changed:
            await lookup.changed.wait_for(lambda: lookup.changes_seen > seen)
        assert await lookup.callflow(account.id, "4000") is None
    finally:
        await lookup.close()
