"""The store's contract: the in-memory backend and a real CouchDB-API server (pouchdb-server) behave alike.

Every test runs once per backend, in databases of its own (a fresh random account), so tests never see
each other's documents. Expected rows and errors are written out, so both backends are held to one spec.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from whistle_common.api.errors import ValidationError
from whistle_common.store import (
    GLOBAL_DBS,
    Attachment,
    Change,
    DatabaseExists,
    DatabaseNotFound,
    DocumentConflict,
    NotFound,
    Store,
    StoreUnavailable,
    ViewRow,
    account_db,
    init_databases,
    modb,
)
from whistle_common.store import store as store_module
from whistle_common.store.design import DesignDoc, design_docs_for

WAIT = 10.0  # seconds a change may take to show up in a feed (the CouchDB backend polls every 0.1 s here)


@pytest.fixture(params=["memory", pytest.param("couch", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("couch_url")
    opened = Store.open(url, poll_interval=0.1)
    yield opened
    await opened.aclose()


@pytest.fixture
def account_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def account(store: Store, account_id: str) -> AsyncIterator[str]:
    """A fresh account database with its views installed."""
    db = account_db(account_id)
    await store.create_db(db)
    await store.install_views(db)
    yield db
    if await store.db_exists(db):
        await store.delete_db(db)


def callflow(numbers: list[str] | None = None, patterns: list[str] | None = None, **extra: object) -> dict:
    doc: dict = {"pvt_type": "callflow", "flow": {"module": "park", "data": {}, "children": {}}, **extra}
    if numbers is not None:
        doc["numbers"] = numbers
    if patterns is not None:
        doc["patterns"] = patterns
    return doc


# documents


async def test_a_saved_document_reads_back_with_private_fields_and_unknown_fields_kept(
    store, account, account_id
):
    saved = await store.save(account, callflow(["1000"], name="Reception", colour="teal"))
    assert saved["_rev"].startswith("1-")
    assert saved["pvt_account_id"] == account_id
    assert saved["pvt_created"] == saved["pvt_modified"]
    assert isinstance(saved["pvt_created"], int) and saved["pvt_vsn"] == "1"
    assert await store.get(account, saved["_id"]) == saved


async def test_an_update_keeps_the_id_and_creation_time_and_gets_a_new_revision(store, account):
    saved = await store.save(account, callflow(["1000"], _id="reception"))
    updated = await store.save(account, {**saved, "numbers": ["1000", "1001"]})
    assert (updated["_id"], updated["pvt_created"]) == ("reception", saved["pvt_created"])
    assert updated["_rev"].startswith("2-")
    assert (await store.get(account, "reception"))["numbers"] == ["1000", "1001"]


async def test_an_invalid_document_is_rejected_with_every_issue_and_its_path(store, account):
    doc = {"pvt_type": "device", "name": 7, "owner_id": "nobody", "sip": {"method": "password"}}
    with pytest.raises(ValidationError) as caught:
        await store.save(account, doc)
    assert [issue.path for issue in caught.value.issues] == [
        "$.name",
        "$.owner_id",
        "$.sip.password",
        "$.sip.username",
    ]
    assert await store.view(account, "devices/sip_credentials") == []


async def test_a_document_of_unknown_type_is_rejected_naming_the_type(store, account):
    with pytest.raises(ValidationError, match="'spaceship'"):
        await store.save(account, {"pvt_type": "spaceship", "name": "x"})


async def test_a_stale_revision_conflicts_and_a_retry_with_the_fresh_one_succeeds(store, account):
    first = await store.save(account, callflow(["1000"], _id="cf"))
    await store.save(account, {**first, "name": "changed elsewhere"})
    with pytest.raises(DocumentConflict):
        await store.save(account, {**first, "name": "mine"})
    with pytest.raises(DocumentConflict):  # no _rev at all for an existing document
        await store.save(account, callflow(["1000"], _id="cf"))
    fresh = await store.get(account, "cf")
    retried = await store.save(account, {**fresh, "name": "mine"})
    assert retried["_rev"].startswith("3-")
    assert (await store.get(account, "cf"))["name"] == "mine"


async def test_a_missing_or_deleted_document_is_not_found(store, account):
    with pytest.raises(NotFound):
        await store.get(account, "nothing-here")
    saved = await store.save(account, callflow(["1000"]))
    deleted_rev = await store.delete(account, saved["_id"], saved["_rev"])
    assert deleted_rev.startswith("2-")
    with pytest.raises(NotFound):
        await store.get(account, saved["_id"])
    with pytest.raises(NotFound):
        await store.delete(account, "nothing-here", deleted_rev)


async def test_deleting_with_a_stale_revision_conflicts(store, account):
    saved = await store.save(account, callflow(["1000"]))
    await store.save(account, saved)
    with pytest.raises(DocumentConflict):
        await store.delete(account, saved["_id"], saved["_rev"])


async def test_a_deleted_id_can_be_created_again(store, account):
    saved = await store.save(account, callflow(["1000"], _id="again"))
    await store.delete(account, "again", saved["_rev"])
    recreated = await store.save(account, callflow(["2000"], _id="again"))
    assert (await store.get(account, "again"))["numbers"] == ["2000"] == recreated["numbers"]


async def test_a_missing_database_is_database_not_found_everywhere(store, account_id):
    db = account_db(account_id)
    rev = "1-0123456789abcdef0123456789abcdef"
    calls = [
        lambda: store.get(db, "x"),
        lambda: store.save(db, callflow(["1"])),
        lambda: store.delete(db, "x", rev),
        lambda: store.view(db, "callflows/listing_by_number"),
        lambda: store.changes(db),
        lambda: store.delete_db(db),
        lambda: store.put_attachment(db, "x", "a.wav", b"1", "audio/x-wav", rev),
        lambda: store.get_attachment(db, "x", "a.wav"),
    ]
    for call in calls:
        with pytest.raises(DatabaseNotFound):
            await call()
    assert not await store.db_exists(db)


# databases


async def test_account_and_month_databases_round_trip_through_create_list_exists_delete(store, account_id):
    names = [account_db(account_id), modb(account_id, 2024, 1), modb(account_id, 2024, 12)]
    for name in names:
        await store.create_db(name)
    assert set(names) <= set(await store.list_dbs())
    assert [await store.db_exists(name) for name in names] == [True, True, True]
    for name in names:
        await store.delete_db(name)
    assert not set(names) & set(await store.list_dbs())
    assert [await store.db_exists(name) for name in names] == [False, False, False]


async def test_creating_an_existing_database_raises_and_ensure_db_does_not(store, account):
    with pytest.raises(DatabaseExists):
        await store.create_db(account)
    assert await store.ensure_db(account) is False


async def test_system_databases_are_not_listed(store):
    assert not [name for name in await store.list_dbs() if name.startswith("_")]


# attachments


async def test_attachments_come_back_byte_for_byte_with_their_content_type(store, account):
    media = await store.save(account, {"pvt_type": "media", "name": "greeting", "media_source": "upload"})
    audio = bytes(range(256)) * 64
    rev = await store.put_attachment(
        account, media["_id"], "greeting.wav", audio, "audio/x-wav", media["_rev"]
    )
    rev = await store.put_attachment(account, media["_id"], "silence.mp3", b"", "audio/mpeg", rev)
    assert await store.get_attachment(account, media["_id"], "greeting.wav") == Attachment(
        audio, "audio/x-wav"
    )
    assert await store.get_attachment(account, media["_id"], "silence.mp3") == Attachment(b"", "audio/mpeg")
    stored = await store.get(account, media["_id"])
    assert stored["_rev"] == rev
    stubs = {name: (stub["content_type"], stub["length"]) for name, stub in stored["_attachments"].items()}
    assert stubs == {"greeting.wav": ("audio/x-wav", len(audio)), "silence.mp3": ("audio/mpeg", 0)}


async def test_attachments_survive_a_save_that_keeps_their_stubs(store, account):
    media = await store.save(account, {"pvt_type": "media", "name": "vm", "media_source": "recording"})
    await store.put_attachment(account, media["_id"], "msg.wav", b"\x00\xff", "audio/x-wav", media["_rev"])
    await store.save(account, {**await store.get(account, media["_id"]), "description": "kept"})
    assert (await store.get_attachment(account, media["_id"], "msg.wav")).data == b"\x00\xff"


async def test_attachment_errors_name_what_is_missing(store, account):
    media = await store.save(account, {"pvt_type": "media", "name": "m", "media_source": "upload"})
    with pytest.raises(NotFound) as caught:
        await store.get_attachment(account, media["_id"], "nothing.wav")
    assert caught.value.attachment == "nothing.wav"
    with pytest.raises(NotFound):
        await store.put_attachment(account, "no-such-doc", "a.wav", b"1", "audio/x-wav", media["_rev"])
    with pytest.raises(DocumentConflict):
        rev = await store.put_attachment(account, media["_id"], "a.wav", b"1", "audio/x-wav", media["_rev"])
        await store.put_attachment(account, media["_id"], "b.wav", b"2", "audio/x-wav", media["_rev"])
    assert (await store.get(account, media["_id"]))["_rev"] == rev


# views


async def test_callflow_views_list_numbers_and_patterns_in_key_order(store, account):
    await store.save(account, callflow(["2000", "+14155551000"], _id="cf-b"))
    await store.save(account, callflow(["1000", "*97"], _id="cf-a"))
    await store.save(account, callflow(["1000"], _id="cf-c"))
    await store.save(account, callflow(patterns=["^\\+1(\\d{10})$", "^9(\\d+)$"], _id="cf-p"))
    rows = await store.view(account, "callflows/listing_by_number")
    assert rows == [
        ViewRow("cf-a", "*97", None),
        ViewRow("cf-b", "+14155551000", None),
        ViewRow("cf-a", "1000", None),
        ViewRow("cf-c", "1000", None),
        ViewRow("cf-b", "2000", None),
    ]
    assert await store.view(account, "callflows/listing_by_number", key="1000") == rows[2:4]
    assert (
        await store.view(account, "callflows/listing_by_number", startkey="1000", endkey="2000") == rows[2:]
    )
    assert await store.view(account, "callflows/listing_by_number", descending=True, limit=2) == [
        rows[4],
        rows[3],
    ]
    descending_range = {"startkey": "2000", "endkey": "1000", "descending": True}
    assert await store.view(account, "callflows/listing_by_number", **descending_range) == rows[:1:-1]
    assert await store.view(account, "callflows/listing_by_pattern") == [
        ViewRow("cf-p", "^9(\\d+)$", None),
        ViewRow("cf-p", "^\\+1(\\d{10})$", None),
    ]


async def test_views_include_the_documents_when_asked(store, account):
    await store.save(account, callflow(["1000"], _id="cf-a"))
    (row,) = await store.view(account, "callflows/listing_by_number", key="1000", include_docs=True)
    assert row.doc == await store.get(account, "cf-a")
    (row,) = await store.view(account, "callflows/listing_by_number", key="1000")
    assert row.doc is None


async def test_deleted_and_soft_deleted_documents_leave_the_views(store, account):
    gone = await store.save(account, callflow(["1000"], _id="gone"))
    soft = await store.save(account, callflow(["2000"], _id="soft"))
    await store.save(account, callflow(["3000"], _id="kept"))
    await store.delete(account, "gone", gone["_rev"])
    await store.save(account, {**soft, "pvt_deleted": True})
    assert await store.view(account, "callflows/listing_by_number") == [ViewRow("kept", "3000", None)]


async def test_device_user_and_mailbox_views_key_by_lowercased_names(store, account):
    owner = uuid.uuid4().hex
    sip = {"username": "Alice.Desk", "password": "secret"}
    await store.save(
        account, {"pvt_type": "device", "_id": "dev-1", "name": "Desk", "owner_id": owner, "sip": sip}
    )
    await store.save(
        account, {"pvt_type": "device", "_id": "dev-2", "name": "Cell", "device_type": "cellphone"}
    )
    await store.save(
        account, {"pvt_type": "user", "_id": "u-1", "first_name": "A", "last_name": "B", "username": "AB"}
    )
    await store.save(account, {"pvt_type": "vmbox", "_id": "vm-1", "name": "A", "mailbox": "3001"})
    await store.save(account, {"pvt_type": "vmbox", "_id": "vm-2", "name": "B", "mailbox": "3000"})
    rows = await store.view(account, "devices/sip_credentials", key="alice.desk", include_docs=True)
    assert [(row.id, row.key, row.doc["sip"]["password"]) for row in rows] == [
        ("dev-1", "alice.desk", "secret")
    ]
    assert await store.view(account, "users/listing_by_username") == [ViewRow("u-1", "ab", None)]
    assert await store.view(account, "vmboxes/listing_by_mailbox") == [
        ViewRow("vm-2", "3000", None),
        ViewRow("vm-1", "3001", None),
    ]


async def test_cdrs_are_listed_by_date_in_month_databases(store, account_id):
    db = modb(account_id, 2024, 5)
    await store.create_db(db)
    assert await store.install_views(db) == ["_design/cdrs"]
    for n, created in enumerate([1714600000, 1714500000, 1714700000]):
        await store.save(
            db, {"pvt_type": "cdr", "_id": f"cdr-{n}", "call_id": f"call-{n}", "pvt_created": created}
        )
    assert await store.view(db, "cdrs/listing_by_date", startkey=1714500000, endkey=1714600000) == [
        ViewRow("cdr-1", 1714500000, "call-1"),
        ViewRow("cdr-0", 1714600000, "call-0"),
    ]
    await store.delete_db(db)


async def test_accounts_are_listed_by_realm_and_by_name(store, account_id):
    await init_databases(store)
    realm = f"{account_id}.Example.com"
    doc = {"pvt_type": "account", "_id": account_id, "name": f"Acme {account_id}", "realm": realm}
    await store.save("accounts", doc)
    rows = await store.view("accounts", "accounts/listing_by_realm", key=realm.lower(), include_docs=True)
    assert [(row.id, row.value, row.doc["realm"]) for row in rows] == [(account_id, doc["name"], realm)]
    prefix = f"acme {account_id}"
    assert await store.view(
        "accounts", "accounts/listing_by_name", startkey=prefix, endkey=prefix + "\ufff0"
    ) == [ViewRow(account_id, prefix, realm)]


async def test_a_view_whose_design_document_is_not_installed_is_not_found(store, account_id):
    db = account_db(account_id)
    await store.create_db(db)
    with pytest.raises(NotFound):
        await store.view(db, "callflows/listing_by_number")
    await store.delete_db(db)


async def test_install_views_writes_only_what_changed_and_updates_outdated_designs(
    store, account, monkeypatch
):
    assert await store.install_views(account) == []
    shipped = design_docs_for(account)
    changed = DesignDoc(
        shipped[0].kind, shipped[0].name, {**shipped[0].body, "language": "javascript", "v": 2}
    )
    monkeypatch.setattr(store_module, "design_docs_for", lambda db: [changed, *shipped[1:]])
    assert await store.install_views(account) == [changed.doc_id]
    assert (await store.get(account, changed.doc_id))["_rev"].startswith("2-")
    assert await store.install_views(account) == []


async def test_init_databases_creates_the_global_databases_and_is_idempotent(store):
    await init_databases(store)
    assert await init_databases(store) == {db: [] for db in GLOBAL_DBS}
    assert set(GLOBAL_DBS) <= set(await store.list_dbs())
    assert (await store.get("accounts", "_design/accounts"))["_rev"].startswith("1-")


# changes


async def test_a_feed_yields_documents_saved_after_subscribing_and_deletions(store, account):
    await store.save(account, callflow(["1000"], _id="before"))
    async with await store.changes(account) as feed:
        saved = await store.save(account, callflow(["2000"], _id="after"))
        async with asyncio.timeout(WAIT):
            change = await anext(feed)
        assert (change.doc_id, change.deleted) == ("after", False)
        await store.delete(account, "after", saved["_rev"])
        async with asyncio.timeout(WAIT):
            change = await anext(feed)
        assert (change.doc_id, change.deleted) == ("after", True)


async def test_a_feed_from_the_beginning_lists_every_document_once_in_order(store, account):
    for doc_id in ("one", "two"):
        await store.save(account, callflow(["1"], _id=doc_id))
    feed = await store.changes(account, since="0")
    seen: list[Change] = []
    async with asyncio.timeout(WAIT):
        async for change in feed:
            if not change.doc_id.startswith("_design/"):
                seen.append(change)
            if len(seen) == 2:
                break
    assert [change.doc_id for change in seen] == ["one", "two"]
    await feed.aclose()
    assert [change async for change in feed] == []


async def test_a_consumer_can_be_cancelled_while_waiting(store, account):
    feed = await store.changes(account)
    waiting = asyncio.create_task(anext(feed))
    await asyncio.sleep(0)  # let it start waiting
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    saved = await store.save(account, callflow(["1"], _id="later"))
    async with asyncio.timeout(WAIT):
        assert (await anext(feed)).doc_id == saved["_id"]


# the server going away


async def test_a_reachable_server_answers_a_ping(store):
    assert isinstance(await store.ping(), dict)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_server_is_unavailable_not_missing():
    async with Store.open(f"http://127.0.0.1:{_closed_port()}", request_timeout=2.0) as unreachable:
        calls = (
            lambda: unreachable.ping(),
            lambda: unreachable.get("accounts", "x"),
            lambda: unreachable.db_exists("accounts"),
            lambda: unreachable.list_dbs(),
        )
        for call in calls:
            with pytest.raises(StoreUnavailable, match="unreachable"):
                await call()


async def test_a_server_that_never_answers_is_unavailable_after_the_request_timeout():
    connections: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _, writer: connections.append(writer), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with Store.open(f"http://127.0.0.1:{port}", request_timeout=0.2) as store:
            with pytest.raises(StoreUnavailable, match="no answer"):
                await store.get("accounts", "x")
    finally:
        for writer in connections:
            writer.close()
        silent.close()
        await silent.wait_closed()
