"""Documents in CouchDB: database names, document validation, views, change feeds.

Open a store with ``Store.open("http://user:pass@host:5984")`` (or ``Store.open("memory://")`` in tests
and development) and use its methods; see ``store.py``.
"""

from whistle_common.api.errors import Issue, ValidationError
from whistle_common.store.backend import Attachment, Change, ViewRow
from whistle_common.store.changes import ChangeFeed
from whistle_common.store.documents import document_issues, document_types, public_fields
from whistle_common.store.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DocumentConflict,
    InvalidAccountId,
    InvalidDatabaseName,
    InvalidStoreUrl,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from whistle_common.store.init import init_databases
from whistle_common.store.names import (
    GLOBAL_DBS,
    account_db,
    account_id_of,
    canonical_listed_name,
    db_kind,
    modb,
    validate_db_name,
)
from whistle_common.store.store import Store
from whistle_common.store.views import ViewNotEmulated

__all__ = [
    "GLOBAL_DBS",
    "Attachment",
    "Change",
    "ChangeFeed",
    "DatabaseExists",
    "DatabaseNotFound",
    "DocumentConflict",
    "InvalidAccountId",
    "InvalidDatabaseName",
    "InvalidStoreUrl",
    "Issue",
    "NotFound",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "ValidationError",
    "ViewNotEmulated",
    "ViewRow",
    "account_db",
    "account_id_of",
    "canonical_listed_name",
    "db_kind",
    "document_issues",
    "document_types",
    "init_databases",
    "modb",
    "public_fields",
    "validate_db_name",
]
