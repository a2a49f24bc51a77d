"""What the store raises. Every error is a ``StoreError``, except document validation, which raises the
catalogue's ``whistle_common.api.errors.ValidationError`` so API code handles all invalid input alike."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store failure."""


class InvalidStoreUrl(StoreError, ValueError):
    """The store URL is neither ``memory://`` nor ``http(s)://[user:pass@]host:port``."""


class InvalidDatabaseName(StoreError, ValueError):
    """A database name is neither a canonical account/MODB name nor a plain global name."""


class InvalidAccountId(InvalidDatabaseName):
    """An account id is not 32 lowercase hexadecimal characters."""


class StoreUnavailable(StoreError):
    """The database server could not be reached or did not answer in time (never means "not found")."""


class DatabaseNotFound(StoreError):
    """The database does not exist."""

    def __init__(self, db: str) -> None:
        self.db = db
        super().__init__(f"database {db!r} does not exist")


class DatabaseExists(StoreError):
    """``create_db`` was asked for a database that already exists (``ensure_db`` is the idempotent form)."""

    def __init__(self, db: str) -> None:
        self.db = db
        super().__init__(f"database {db!r} already exists")


class NotFound(StoreError):
    """The document (or one of its attachments) does not exist, or has been deleted."""

    def __init__(self, db: str, doc_id: str, attachment: str | None = None) -> None:
        self.db = db
        self.doc_id = doc_id
        self.attachment = attachment
        what = f"attachment {attachment!r} of document {doc_id!r}" if attachment else f"document {doc_id!r}"
        super().__init__(f"{what} not found in {db!r}")


class DocumentConflict(StoreError):
    """The ``_rev`` given is not the document's current revision: re-read the document and retry."""

    def __init__(self, db: str, doc_id: str) -> None:
        self.db = db
        self.doc_id = doc_id
        super().__init__(f"document {doc_id!r} in {db!r} was changed by someone else (stale or missing _rev)")
