"""``Store``: the one way whistle-voip code reads and writes CouchDB (or the in-memory stand-in).

It validates database names and documents, stamps the private fields, and delegates storage to a
backend, so the in-memory and CouchDB backends behave identically for everything above them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from whistle_common.store.backend import Attachment, Backend, ViewQuery, ViewRow
from whistle_common.store.changes import ChangeFeed
from whistle_common.store.couch import CouchBackend
from whistle_common.store.design import design_docs_for
from whistle_common.store.documents import prepare_for_save
from whistle_common.store.errors import DatabaseExists, DocumentConflict, InvalidStoreUrl, NotFound
from whistle_common.store.memory import MemoryBackend
from whistle_common.store.names import canonical_listed_name, validate_db_name

_INSTALL_ATTEMPTS = 3


def _check_id(doc_id: str) -> str:
    if not isinstance(doc_id, str) or not doc_id:
        raise ValueError(f"a document id is a non-empty string, not {doc_id!r}")
    return doc_id


def _split_view(view: str) -> tuple[str, str]:
    design, _, name = view.partition("/")
    if not design or not name or "/" in name:
        raise ValueError(f"name a view as 'design/view' (e.g. 'callflows/listing_by_number'), not {view!r}")
    return design, name


class Store:
    """Documents in named databases (see ``names.py`` for which names are accepted).

    Every method raises InvalidDatabaseName for a name the store rejects, StoreUnavailable when the
    server cannot be reached or does not answer in time, and DatabaseNotFound for a missing database.
    """

    def __init__(
        self, backend: Backend, *, poll_interval: float = 0.5, clock: Callable[[], float] = time.time
    ) -> None:
        self._backend = backend
        self._poll_interval = poll_interval
        self._clock = clock

    @classmethod
    def open(cls, url: str, *, request_timeout: float = 10.0, poll_interval: float = 0.5) -> Store:
        """A store for ``url``: ``memory://`` (a fresh in-memory store, private to this object) or
        ``http(s)://[user:password@]host:port`` (a CouchDB-API server; nothing is sent until first use).

        ``request_timeout`` bounds every request; ``poll_interval`` is how often a change feed polls
        CouchDB when idle. Raises InvalidStoreUrl for any other URL.
        """
        if url.startswith("memory:"):
            return cls(MemoryBackend(), poll_interval=poll_interval)
        if url.startswith(("http://", "https://")):
            return cls(CouchBackend(url, request_timeout=request_timeout), poll_interval=poll_interval)
        raise InvalidStoreUrl(f"a store URL is memory:// or http(s)://[user:password@]host:port, not {url!r}")

    async def aclose(self) -> None:
        """Release connections (an in-memory store also forgets its data)."""
        await self._backend.aclose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def ping(self) -> dict[str, Any]:
        """What the server says about itself; raises StoreUnavailable if it cannot be reached."""
        return await self._backend.server_info()

    # databases

    async def create_db(self, name: str) -> None:
        """Create a database; raises DatabaseExists if it already exists."""
        await self._backend.create_db(validate_db_name(name))

    async def ensure_db(self, name: str) -> bool:
        """Create a database unless it exists; True if this call created it."""
        try:
            await self.create_db(name)
        except DatabaseExists:
            return False
        return True

    async def delete_db(self, name: str) -> None:
        """Delete a database and everything in it; raises DatabaseNotFound."""
        await self._backend.delete_db(validate_db_name(name))

    async def db_exists(self, name: str) -> bool:
        """Whether the database exists."""
        return await self._backend.db_exists(validate_db_name(name))

    async def list_dbs(self) -> list[str]:
        """Canonical names of the databases the store manages, sorted (system databases left out)."""
        listed = (canonical_listed_name(name) for name in await self._backend.list_dbs())
        return sorted(name for name in listed if name is not None)

    # documents

    async def get(self, db: str, doc_id: str) -> dict[str, Any]:
        """The document's current revision (with ``_id``, ``_rev`` and ``_attachments`` stubs if any).

        Raises NotFound if there is no such document or it was deleted.
        """
        return await self._backend.get(validate_db_name(db), _check_id(doc_id))

    async def save(self, db: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, stamp and store ``doc``; return what was stored, with ``_id`` and the new ``_rev``.

        A new document has no ``_rev``; an update carries the ``_rev`` it was read with. See
        ``documents.prepare_for_save`` for the fields set. ``doc`` itself is not modified. To keep
        attachments, keep the ``_attachments`` stubs that ``get`` returned. Raises ValidationError
        (every issue, with its JSON path) and DocumentConflict (re-read and retry).
        """
        prepared = prepare_for_save(validate_db_name(db), doc, now=self._clock())
        prepared["_rev"] = await self._backend.save(db, prepared)
        return prepared

    async def delete(self, db: str, doc_id: str, rev: str) -> str:
        """Delete the document at revision ``rev``; returns the deletion's revision.

        Raises NotFound and DocumentConflict (``rev`` is not the current revision).
        """
        return await self._backend.delete(validate_db_name(db), _check_id(doc_id), rev)

    async def put_attachment(
        self, db: str, doc_id: str, name: str, data: bytes, content_type: str, rev: str
    ) -> str:
        """Attach ``data`` (stored byte for byte) as ``name`` to an existing document at revision
        ``rev``; returns the document's new revision. Raises NotFound and DocumentConflict."""
        if not name or not content_type:
            raise ValueError("an attachment needs a name and a content type")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"attachment data is bytes, not {type(data).__name__}")
        return await self._backend.put_attachment(
            validate_db_name(db), _check_id(doc_id), name, bytes(data), content_type, rev
        )

    async def get_attachment(self, db: str, doc_id: str, name: str) -> Attachment:
        """The attachment's bytes and content type; raises NotFound (for the document or the attachment)."""
        return await self._backend.get_attachment(validate_db_name(db), _check_id(doc_id), name)

    # views

    async def install_views(self, db: str) -> list[str]:
        """Install or update the shipped design documents for this kind of database (idempotent).

        Returns the ids of the design documents written (empty when all were up to date).
        """
        validate_db_name(db)
        written = []
        for design in design_docs_for(db):
            for attempt in range(_INSTALL_ATTEMPTS):
                try:
                    if await self._install(db, design.doc_id, design.body):
                        written.append(design.doc_id)
                    break
                except DocumentConflict:  # someone else installed it meanwhile: compare again
                    if attempt == _INSTALL_ATTEMPTS - 1:
                        raise
        return written

    async def _install(self, db: str, doc_id: str, body: dict[str, Any]) -> bool:
        try:
            current = await self._backend.get(db, doc_id)
        except NotFound:
            current = None
        if current is not None and {k: v for k, v in current.items() if k != "_rev"} == body:
            return False
        await self._backend.save(db, {**body, **({"_rev": current["_rev"]} if current else {})})
        return True

    async def view(
        self,
        db: str,
        view: str,
        *,
        key: Any = None,
        startkey: Any = None,
        endkey: Any = None,
        include_docs: bool = False,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[ViewRow]:
        """Rows of ``view`` (``"design/view"``), sorted by key then document id.

        ``key`` selects one key; ``startkey``/``endkey`` an inclusive range (with ``descending``,
        ``startkey`` is the high end). ``None`` means "not given". Raises NotFound if the view's design
        document is not installed (``install_views``).
        """
        design, name = _split_view(view)
        query = ViewQuery(key, startkey, endkey, include_docs, limit, descending)
        return await self._backend.view(validate_db_name(db), design, name, query)

    # changes

    async def changes(self, db: str, since: str = "now") -> ChangeFeed:
        """A feed of the changes made to ``db`` after ``since``: "now" (this call), "0" (from the
        beginning) or a ``Change.seq``/``ChangeFeed.since`` from earlier. See ChangeFeed."""
        validate_db_name(db)
        start = await self._backend.current_seq(db) if since == "now" else str(since)
        return ChangeFeed(self._backend, db, start, poll_interval=self._poll_interval)
