"""The CouchDB backend, over couchdb3's asyncio client (``AsyncServer``), tested against pouchdb-server.

What it works around (measured, see ``reference/python-deps.md`` section 3):

- couchdb3 puts database names and document ids into URL paths unencoded; we quote them (``/`` as
  ``%2F``) and keep ``_design/`` literal, which is how both servers address design documents.
- ``get()`` swallows errors unless ``check=True``; ``rev()`` returns pouchdb-server's weak ETag, so
  revisions always come from documents and write responses.
- couchdb3 gives GET requests a 300 s timeout whatever we configure, so every call runs under
  ``asyncio.timeout``; a timeout or a network error is StoreUnavailable, never "not found".
- pouchdb-server answers ``DELETE /missing-db`` with ok, and ``PUT doc/attachment?rev=...`` on a missing
  document creates it; we check existence first so both servers behave like CouchDB.
- ``changes(selector=...)`` crashes pouchdb-server and is never used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson
from couchdb3 import AsyncDatabase, AsyncServer
from couchdb3.exceptions import (
    ConflictError,
    CouchDBError,
    ForbiddenError,
    NotFoundError,
    PreconditionFailedError,
    UnauthorizedError,
)

from whistle_common.store.backend import Attachment, Change, ViewQuery, ViewRow
from whistle_common.store.errors import (
    DatabaseExists,
    DatabaseNotFound,
    DocumentConflict,
    InvalidStoreUrl,
    NotFound,
    StoreError,
    StoreUnavailable,
)

_JSON = {"Content-Type": "application/json"}
_DB_MISSING_REASONS = ("no_db_file", "Database does not exist.")  # pouchdb-server, CouchDB
_DOC_MISSING_REASONS = ("missing", "deleted")


def quote_doc_id(doc_id: str) -> str:
    """A document id as a URL path segment; ``_design/`` stays literal because servers route on it."""
    if doc_id.startswith("_design/"):
        return "_design/" + quote(doc_id.removeprefix("_design/"), safe="")
    return quote(doc_id, safe="")


def _json_param(value: Any) -> str | None:
    """View keys travel as JSON; couchdb3 would send ``str(value)`` (the string 1000 as the number)."""
    return None if value is None else orjson.dumps(value).decode()


def _reason(exc: CouchDBError) -> str | None:
    try:
        return orjson.loads(str(exc)).get("reason")
    except (orjson.JSONDecodeError, AttributeError):
        return None


class CouchBackend:
    """Databases on a CouchDB-API server (CouchDB 3, or pouchdb-server in tests)."""

    def __init__(self, url: str, *, request_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise InvalidStoreUrl("a CouchDB store URL is http(s)://[user:password@]host[:port] with no path")
        port = parts.port or (443 if parts.scheme == "https" else 5984)
        self._where = f"CouchDB at {parts.scheme}://{parts.hostname}:{port}"  # never shows the password
        self._base = f"{parts.scheme}://{parts.hostname}:{port}"
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout = request_timeout
        self._server = AsyncServer(
            self._base,
            user=self._user,
            password=self._password,
            auth_method="basic",  # cookie mode POSTs /_session first and fails without credentials
            timeout=max(1, round(request_timeout)),
        )
        self._databases: dict[str, AsyncDatabase] = {}

    async def aclose(self) -> None:
        await self._server.aclose()

    def _database(self, db: str) -> AsyncDatabase:
        database = self._databases.get(db)
        if database is None:
            database = AsyncDatabase(
                name=db,  # couchdb3 validates the raw name ("/" allowed)...
                url=self._base,
                user=self._user,
                password=self._password,
                auth_method="basic",
                session=self._server.session,
            )
            database.root = quote(db, safe="")  # ...but uses root unencoded as the path prefix
            self._databases[db] = database
        return database

    @asynccontextmanager
    async def _request(self, what: str) -> AsyncIterator[None]:
        """Run one operation under the request timeout, turning transport failures into StoreErrors."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except TimeoutError:
            raise StoreUnavailable(f"{what}: no answer from {self._where} within {self._timeout} s") from None
        except httpx.RequestError as exc:
            raise StoreUnavailable(
                f"{what}: {self._where} is unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        except (UnauthorizedError, ForbiddenError) as exc:
            raise StoreError(f"{what}: {self._where} refused our credentials: {exc}") from exc
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            error = StoreUnavailable if status in (502, 503, 504) else StoreError
            raise error(f"{what}: {self._where} answered HTTP {status}") from exc
        except CouchDBError as exc:
            raise StoreError(f"{what}: {self._where} answered {type(exc).__name__}: {exc}") from exc

    async def _missing(
        self, exc: NotFoundError, db: str, doc_id: str, attachment: str | None = None
    ) -> StoreError:
        """Which thing a 404 is about: the database, or the document (or its attachment)."""
        reason = _reason(exc)
        if reason in _DB_MISSING_REASONS:
            return DatabaseNotFound(db)
        if reason in _DOC_MISSING_REASONS or await self._exists(db):
            return NotFound(db, doc_id, attachment)
        return DatabaseNotFound(db)

    async def _exists(self, db: str) -> bool:
        try:
            await self._server._head(resource=quote(db, safe=""))
        except NotFoundError:
            return False
        return True

    async def server_info(self) -> dict[str, Any]:
        async with self._request("server info"):
            return await self._server.info()

    # databases

    async def create_db(self, db: str) -> None:
        async with self._request(f"create database {db!r}"):
            try:
                await self._server._put(resource=quote(db, safe=""))
            except PreconditionFailedError:
                raise DatabaseExists(db) from None

    async def delete_db(self, db: str) -> None:
        async with self._request(f"delete database {db!r}"):
            if not await self._exists(db):  # pouchdb-server says ok to deleting a missing database
                raise DatabaseNotFound(db)
            try:
                await self._server._delete(resource=quote(db, safe=""))
            except NotFoundError:
                raise DatabaseNotFound(db) from None
        self._databases.pop(db, None)

    async def db_exists(self, db: str) -> bool:
        async with self._request(f"look for database {db!r}"):
            return await self._exists(db)

    async def list_dbs(self) -> list[str]:
        async with self._request("list databases"):
            return list(await self._server.all_dbs())

    # documents

    async def get(self, db: str, doc_id: str) -> dict[str, Any]:
        async with self._request(f"get {doc_id!r} from {db!r}"):
            try:
                return dict(await self._database(db).get(quote_doc_id(doc_id), check=True))
            except NotFoundError as exc:
                raise await self._missing(exc, db, doc_id) from None

    async def save(self, db: str, doc: dict[str, Any]) -> str:
        doc_id = doc["_id"]
        async with self._request(f"save {doc_id!r} in {db!r}"):
            try:
                response = await self._database(db)._put(
                    resource=quote_doc_id(doc_id), content=orjson.dumps(doc), headers=_JSON
                )
            except ConflictError:
                raise DocumentConflict(db, doc_id) from None
            except NotFoundError:
                raise DatabaseNotFound(db) from None
            return response.json()["rev"]

    async def delete(self, db: str, doc_id: str, rev: str) -> str:
        async with self._request(f"delete {doc_id!r} from {db!r}"):
            try:
                response = await self._database(db)._delete(
                    resource=quote_doc_id(doc_id), query_kwargs={"rev": rev}
                )
            except ConflictError:
                raise DocumentConflict(db, doc_id) from None
            except NotFoundError as exc:
                raise await self._missing(exc, db, doc_id) from None
            return response.json()["rev"]

    async def put_attachment(
        self, db: str, doc_id: str, name: str, data: bytes, content_type: str, rev: str
    ) -> str:
        database = self._database(db)
        async with self._request(f"attach {name!r} to {doc_id!r} in {db!r}"):
            try:  # pouchdb-server would create a missing document around the attachment
                await database._head(resource=quote_doc_id(doc_id))
            except NotFoundError as exc:
                raise await self._missing(exc, db, doc_id) from None
            try:  # couchdb3's put_attachment refuses empty content, so we PUT ourselves
                response = await database._put(
                    resource=f"{quote_doc_id(doc_id)}/{quote(name, safe='')}",
                    query_kwargs={"rev": rev},
                    content=bytes(data),
                    headers={"Content-Type": content_type},
                )
            except ConflictError:
                raise DocumentConflict(db, doc_id) from None
            except NotFoundError as exc:
                raise await self._missing(exc, db, doc_id) from None
            return response.json()["rev"]

    async def get_attachment(self, db: str, doc_id: str, name: str) -> Attachment:
        async with self._request(f"get attachment {name!r} of {doc_id!r} from {db!r}"):
            try:
                found = await self._database(db).get_attachment(quote_doc_id(doc_id), quote(name, safe=""))
            except NotFoundError as exc:
                raise await self._missing(exc, db, doc_id, attachment=name) from None
            return Attachment(found["content"], found["content_type"])

    # views and changes

    async def view(self, db: str, design: str, view: str, query: ViewQuery) -> list[ViewRow]:
        async with self._request(f"query view {design}/{view} of {db!r}"):
            try:
                result = await self._database(db).view(
                    quote(design, safe=""),
                    quote(view, safe=""),
                    key=_json_param(query.key),
                    startkey=_json_param(query.startkey),
                    endkey=_json_param(query.endkey),
                    include_docs=query.include_docs or None,
                    limit=query.limit,
                    descending=query.descending or None,
                )
            except NotFoundError as exc:
                raise await self._missing(exc, db, f"_design/{design}") from None
        return [
            ViewRow(row["id"], row["key"], row.get("value"), dict(row["doc"]) if row.get("doc") else None)
            for row in result["rows"]
        ]

    async def _changes(self, db: str, **params: Any) -> dict[str, Any]:
        async with self._request(f"read the changes of {db!r}"):
            try:
                return await self._database(db).changes(**params)
            except NotFoundError:
                raise DatabaseNotFound(db) from None

    async def current_seq(self, db: str) -> str:
        return str((await self._changes(db, since="now"))["last_seq"])

    async def changes_since(self, db: str, since: str, limit: int) -> tuple[list[Change], str]:
        # A normal (non-blocking) feed, polled: pouchdb-server ignores the longpoll timeout and buffers
        # continuous feeds behind gzip, so this is the one way that answers promptly on both servers.
        answer = await self._changes(db, since=since, limit=limit)
        changes = [Change(str(r["seq"]), r["id"], bool(r.get("deleted"))) for r in answer["results"]]
        return changes, str(answer["last_seq"])

    async def wait_for_changes(self, db: str, since: str, timeout: float) -> None:
        await asyncio.sleep(timeout)  # the poll interval; see changes_since
