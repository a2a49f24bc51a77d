"""Database names: the per-account, per-month (MODB) and global databases, and how they are validated.

An account's database is ``account/xx/yy/<28 hex>`` (the 32-hex account id split 2/2/28) and its
monthly databases add ``-YYYYMM``. The ``/`` travels URL-encoded (``%2F``) on the wire.

pouchdb-server, our test server, strips ``/`` from database names: ``account/ab/cd/ef...`` is stored and
listed as ``accountabcdef...``, so ``account/ab/cd/ef`` and ``account/abcd/ef`` would be the same database
there. That is why the store accepts only names that stay unique once stripped: canonical account and
MODB names, and plain global names with no ``/`` that do not look like a stripped account name.
``canonical_listed_name`` maps a listed name back (``account<32hex>[-YYYYMM]`` -> canonical).
"""

from __future__ import annotations

import re
from typing import Literal

from whistle_common.store.errors import InvalidAccountId, InvalidDatabaseName

GLOBAL_DBS: tuple[str, ...] = ("accounts", "system_config", "offnet")
"""The databases every installation has, created by ``init_databases``."""

DbKind = Literal["account", "modb", "global"]

_ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")
_ACCOUNT_DB = re.compile(r"account/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{28})(?:-(\d{4})(\d{2}))?")
_STRIPPED_ACCOUNT_DB = re.compile(r"account([0-9a-f]{32})(?:-(\d{4})(\d{2}))?")
_PLAIN_DB = re.compile(r"[a-z][a-z0-9_$()+-]*")  # CouchDB's rule, minus "/"
_MAX_NAME_LENGTH = 238  # CouchDB's limit


def _check_account_id(account_id: str) -> str:
    if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
        raise InvalidAccountId(f"account id {account_id!r} is not 32 lowercase hexadecimal characters")
    return account_id


def _check_month(year: int, month: int) -> None:
    if not (1000 <= year <= 9999 and 1 <= month <= 12):
        raise InvalidDatabaseName(f"no month {year}-{month} (year has 4 digits, month is 1..12)")


def account_db(account_id: str) -> str:
    """``account/xx/yy/rest`` for a 32-lowercase-hex account id; raises InvalidAccountId otherwise."""
    _check_account_id(account_id)
    return f"account/{account_id[:2]}/{account_id[2:4]}/{account_id[4:]}"


def modb(account_id: str, year: int, month: int) -> str:
    """The account's database for one month, ``account/xx/yy/rest-YYYYMM``.

    Raises InvalidAccountId for a malformed id and InvalidDatabaseName for an impossible month.
    """
    _check_month(year, month)
    return f"{account_db(account_id)}-{year:04d}{month:02d}"


def account_id_of(db: str) -> str | None:
    """The account id an account or MODB database belongs to, or None for a global database.

    Raises InvalidDatabaseName if ``db`` is not a name the store accepts.
    """
    match = _ACCOUNT_DB.fullmatch(validate_db_name(db))
    return "".join(match.group(1, 2, 3)) if match else None


def db_kind(db: str) -> DbKind:
    """``"account"``, ``"modb"`` or ``"global"``; raises InvalidDatabaseName for a name the store rejects."""
    match = _ACCOUNT_DB.fullmatch(validate_db_name(db))
    if match is None:
        return "global"
    return "modb" if match.group(4) else "account"


def validate_db_name(db: str) -> str:
    """Return ``db`` if the store accepts it, else raise InvalidDatabaseName saying why.

    Accepted: canonical account names, canonical MODB names (a real month), and plain names that
    follow CouchDB's rules without ``/`` and do not collide with a stripped account name.
    """
    if not isinstance(db, str):
        raise InvalidDatabaseName(f"a database name is a string, not {type(db).__name__}")
    match = _ACCOUNT_DB.fullmatch(db)
    if match:
        if match.group(4):
            _check_month(int(match.group(4)), int(match.group(5)))
        return db
    if "/" in db:
        raise InvalidDatabaseName(
            f"{db!r}: the only names with '/' are account/xx/yy/<28 hex> and its -YYYYMM month databases"
        )
    if len(db) > _MAX_NAME_LENGTH or not _PLAIN_DB.fullmatch(db):
        raise InvalidDatabaseName(
            f"{db!r}: a database name starts with a-z and holds only a-z, 0-9 and _$()+- "
            f"(at most {_MAX_NAME_LENGTH} characters)"
        )
    if _STRIPPED_ACCOUNT_DB.fullmatch(db):
        raise InvalidDatabaseName(f"{db!r} looks like an account database with its '/' removed")
    return db


def canonical_listed_name(listed: str) -> str | None:
    """The canonical name of a database as a server lists it, or None for one the store does not manage.

    ``accountabcdef...-202401`` (how pouchdb-server lists it) becomes ``account/ab/cd/ef...-202401``;
    canonical and plain names pass through; system databases (``_users``...) and foreign names give None.
    """
    stripped = _STRIPPED_ACCOUNT_DB.fullmatch(listed)
    if stripped:
        account_id, year, month = stripped.groups()
        name = account_db(account_id) + (f"-{year}{month}" if year else "")
    else:
        name = listed
    try:
        return validate_db_name(name)
    except InvalidDatabaseName:
        return None
