"""The small interface both backends (in-memory and CouchDB) implement, and the values they return.

Backends store and fetch; they do not validate documents or stamp ``pvt_`` fields (``Store`` does that,
so both backends behave identically). Database names reach a backend already validated and canonical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Attachment:
    """An attachment's bytes, exactly as stored, and its MIME type."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class ViewRow:
    """One row of a view: the emitting document's id, the key and value emitted, and the document
    itself when the query asked for ``include_docs``."""

    id: str
    key: Any
    value: Any
    doc: dict[str, Any] | None = None


@dataclass(frozen=True)
class ViewQuery:
    """Which rows of a view to return. ``None`` means "not given" (null keys cannot be queried)."""

    key: Any = None
    startkey: Any = None
    endkey: Any = None
    include_docs: bool = False
    limit: int | None = None
    descending: bool = False


@dataclass(frozen=True)
class Change:
    """One document changed: the database sequence after the change, the id, and whether it was deleted.

    ``seq`` is opaque (CouchDB 2+ uses strings, pouchdb-server numbers): pass it back as ``since``.
    """

    seq: str
    doc_id: str
    deleted: bool = False


class Backend(Protocol):
    """Storage of JSON documents in named databases. Every method raises StoreUnavailable when the
    server cannot be reached, and DatabaseNotFound when the database named does not exist."""

    async def aclose(self) -> None: ...

    async def server_info(self) -> dict[str, Any]:
        """What the server says about itself (proves it is reachable)."""
        ...

    async def create_db(self, db: str) -> None:
        """Raises DatabaseExists if it already exists."""
        ...

    async def delete_db(self, db: str) -> None: ...

    async def db_exists(self, db: str) -> bool: ...

    async def list_dbs(self) -> list[str]:
        """Names as the server lists them (the store maps them back to canonical names)."""
        ...

    async def get(self, db: str, doc_id: str) -> dict[str, Any]:
        """The current revision, with ``_id``, ``_rev`` and ``_attachments`` stubs; raises NotFound."""
        ...

    async def save(self, db: str, doc: dict[str, Any]) -> str:
        """Store ``doc`` (which has an ``_id``) and return its new ``_rev``; raises DocumentConflict."""
        ...

    async def delete(self, db: str, doc_id: str, rev: str) -> str:
        """Delete the document and return the deletion's ``_rev``; raises NotFound, DocumentConflict."""
        ...

    async def put_attachment(
        self, db: str, doc_id: str, name: str, data: bytes, content_type: str, rev: str
    ) -> str:
        """Add or replace an attachment; returns the document's new ``_rev``."""
        ...

    async def get_attachment(self, db: str, doc_id: str, name: str) -> Attachment: ...

    async def view(self, db: str, design: str, view: str, query: ViewQuery) -> list[ViewRow]:
        """Rows of ``_design/<design>``'s ``view``; raises NotFound if the design document is missing."""
        ...

    async def current_seq(self, db: str) -> str:
        """The sequence of the latest change, so a feed can start "now"."""
        ...

    async def changes_since(self, db: str, since: str, limit: int) -> tuple[list[Change], str]:
        """Up to ``limit`` changes after ``since`` (the latest per document, in order) and the sequence
        to continue from."""
        ...

    async def wait_for_changes(self, db: str, since: str, timeout: float) -> None:
        """Return when there may be changes after ``since``, or after ``timeout`` seconds at the latest."""
        ...
