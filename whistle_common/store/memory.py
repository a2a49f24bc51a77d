"""An in-memory backend with CouchDB's semantics, for tests and single-process development.

What it copies from CouchDB: revisions ``N-<32 hex>`` with conflicts on a stale or missing ``_rev``,
deletion tombstones (a deleted id can be created again without ``_rev``), attachments kept with their
content type and dropped when a save omits their stubs, per-database change sequences (the latest change
per document), and the shipped views (through ``views.py``). Nothing is shared between instances.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from whistle_common.store.backend import Attachment, Change, ViewQuery, ViewRow
from whistle_common.store.design import shipped_map_source
from whistle_common.store.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DocumentConflict,
    NotFound,
    StoreError,
)
from whistle_common.store.views import ViewNotEmulated, run_view


@dataclass
class _StoredAttachment:
    data: bytes
    content_type: str
    revpos: int

    def stub(self) -> dict[str, Any]:
        digest = base64.b64encode(hashlib.md5(self.data).digest()).decode()
        return {
            "content_type": self.content_type,
            "revpos": self.revpos,
            "digest": f"md5-{digest}",
            "length": len(self.data),
            "stub": True,
        }


@dataclass
class _Record:
    rev: str
    seq: int
    deleted: bool = False
    body: dict[str, Any] = field(default_factory=dict)  # with "_id" and "_rev", without "_attachments"
    attachments: dict[str, _StoredAttachment] = field(default_factory=dict)

    @property
    def generation(self) -> int:
        return int(self.rev.split("-", 1)[0])


@dataclass
class _Database:
    records: dict[str, _Record] = field(default_factory=dict)
    seq: int = 0
    changed: asyncio.Event | None = None  # created lazily, inside the running loop

    def bump(self) -> int:
        self.seq += 1
        if self.changed is not None:
            self.changed.set()
            self.changed = None
        return self.seq


def _next_rev(previous: str | None, content: Any) -> str:
    generation = int(previous.split("-", 1)[0]) + 1 if previous else 1
    digest = hashlib.md5((previous or "").encode() + orjson.dumps(content, option=orjson.OPT_SORT_KEYS))
    return f"{generation}-{digest.hexdigest()}"


class MemoryBackend:
    """Databases held in this process's memory; see the module docstring for what it emulates."""

    def __init__(self) -> None:
        self._dbs: dict[str, _Database] = {}

    async def aclose(self) -> None:
        self._dbs.clear()

    async def server_info(self) -> dict[str, Any]:
        return {"whistle": "in-memory store", "databases": len(self._dbs)}

    def _db(self, db: str) -> _Database:
        try:
            return self._dbs[db]
        except KeyError:
            raise DatabaseNotFound(db) from None

    def _live(self, db: str, doc_id: str) -> _Record:
        record = self._db(db).records.get(doc_id)
        if record is None or record.deleted:
            raise NotFound(db, doc_id)
        return record

    @staticmethod
    def _materialise(record: _Record) -> dict[str, Any]:
        doc = copy.deepcopy(record.body)
        if record.attachments:
            doc["_attachments"] = {name: att.stub() for name, att in record.attachments.items()}
        return doc

    def _write(self, db: str, doc_id: str, record: _Record | None, content: Any) -> _Record:
        """Check the caller's revision against ``record`` and return the next record for ``doc_id``."""
        given = content.get("_rev") if isinstance(content, dict) else content
        current = None if record is None or record.deleted else record.rev
        if given != current and not (record is not None and record.deleted and given == record.rev):
            raise DocumentConflict(db, doc_id)
        rev = _next_rev(record.rev if record else None, content)
        return _Record(rev=rev, seq=self._db(db).bump())

    # databases

    async def create_db(self, db: str) -> None:
        if db in self._dbs:
            raise DatabaseExists(db)
        self._dbs[db] = _Database()

    async def delete_db(self, db: str) -> None:
        database = self._db(db)
        del self._dbs[db]
        database.bump()  # wake change feeds, which then find the database gone

    async def db_exists(self, db: str) -> bool:
        return db in self._dbs

    async def list_dbs(self) -> list[str]:
        return sorted(self._dbs)

    # documents

    async def get(self, db: str, doc_id: str) -> dict[str, Any]:
        return self._materialise(self._live(db, doc_id))

    async def save(self, db: str, doc: dict[str, Any]) -> str:
        doc_id = doc["_id"]
        previous = self._db(db).records.get(doc_id)
        attachments = self._kept_attachments(db, doc_id, previous, doc.get("_attachments") or {})
        record = self._write(db, doc_id, previous, doc)
        body = {k: copy.deepcopy(v) for k, v in doc.items() if k != "_attachments"}
        body["_rev"] = record.rev
        record.body = body
        record.attachments = {
            name: att if att.revpos else replace(att, revpos=record.generation)
            for name, att in attachments.items()
        }
        self._db(db).records[doc_id] = record
        return record.rev

    @staticmethod
    def _kept_attachments(
        db: str, doc_id: str, previous: _Record | None, given: dict[str, Any]
    ) -> dict[str, _StoredAttachment]:
        """Attachments after a save: stubs keep stored ones, inline ``data`` adds new ones, the rest go."""
        kept = {}
        stored = previous.attachments if previous and not previous.deleted else {}
        for name, spec in given.items():
            if spec.get("stub") and name in stored:
                kept[name] = stored[name]
            elif "data" in spec:
                data = base64.b64decode(spec["data"])
                kept[name] = _StoredAttachment(data, spec.get("content_type", "application/octet-stream"), 0)
            else:
                raise StoreError(
                    f"attachment {name!r} of {doc_id!r} in {db!r}: a stub for a missing attachment"
                )
        return kept

    async def delete(self, db: str, doc_id: str, rev: str) -> str:
        previous = self._db(db).records.get(doc_id)
        if previous is None:
            raise NotFound(db, doc_id)
        record = self._write(db, doc_id, previous, rev)
        record.deleted = True
        record.body = {"_id": doc_id, "_rev": record.rev, "_deleted": True}
        self._db(db).records[doc_id] = record
        return record.rev

    async def put_attachment(
        self, db: str, doc_id: str, name: str, data: bytes, content_type: str, rev: str
    ) -> str:
        previous = self._live(db, doc_id)
        record = self._write(db, doc_id, previous, rev)
        record.body = {**copy.deepcopy(previous.body), "_rev": record.rev}
        record.attachments = {
            **previous.attachments,
            name: _StoredAttachment(bytes(data), content_type, record.generation),
        }
        self._db(db).records[doc_id] = record
        return record.rev

    async def get_attachment(self, db: str, doc_id: str, name: str) -> Attachment:
        stored = self._live(db, doc_id).attachments.get(name)
        if stored is None:
            raise NotFound(db, doc_id, attachment=name)
        return Attachment(stored.data, stored.content_type)

    # views and changes

    async def view(self, db: str, design: str, view: str, query: ViewQuery) -> list[ViewRow]:
        records = self._db(db).records
        design_doc = records.get(f"_design/{design}")
        if design_doc is None or design_doc.deleted:
            raise NotFound(db, f"_design/{design}")
        installed = design_doc.body.get("views", {}).get(view, {}).get("map")
        if installed is None:
            raise NotFound(db, f"_design/{design}/_view/{view}")
        if installed != shipped_map_source(f"{design}/{view}"):
            raise ViewNotEmulated(
                f"{db!r} has its own map function for {design}/{view}: it cannot be emulated"
            )
        live = [record.body for record in records.values() if not record.deleted]
        rows = run_view(f"{design}/{view}", live, query)
        if query.include_docs:
            rows = [replace(row, doc=self._materialise(records[row.id])) for row in rows]
        return rows

    async def current_seq(self, db: str) -> str:
        return str(self._db(db).seq)

    async def changes_since(self, db: str, since: str, limit: int) -> tuple[list[Change], str]:
        after = int(since)
        records = sorted(
            ((record.seq, doc_id, record.deleted) for doc_id, record in self._db(db).records.items()),
        )
        changes = [Change(str(seq), doc_id, deleted) for seq, doc_id, deleted in records if seq > after]
        changes = changes[:limit]
        return changes, changes[-1].seq if changes else str(max(after, self._db(db).seq))

    async def wait_for_changes(self, db: str, since: str, timeout: float) -> None:
        database = self._db(db)
        if database.seq > int(since):
            return
        if database.changed is None:
            database.changed = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await database.changed.wait()
        except TimeoutError:
            pass
