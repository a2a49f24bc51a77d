"""Python emulations of the shipped views, for the in-memory backend.

Each JavaScript map function in ``design/*.json`` has a twin here, keyed ``design/view``; the contract
tests run the same queries on pouchdb-server and on these twins and expect the same rows. A view with no
twin raises ViewNotEmulated rather than returning nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from whistle_common.store.backend import ViewQuery, ViewRow
from whistle_common.store.collation import collation_key
from whistle_common.store.errors import StoreError

Emit = tuple[Any, Any]
MapFunction = Callable[[dict[str, Any]], Iterator[Emit]]


class ViewNotEmulated(StoreError, NotImplementedError):
    """The in-memory backend has no Python twin for this view (or its design document was changed)."""


def js_truthy(value: Any) -> bool:
    """JavaScript's truthiness: empty arrays and objects are true, unlike in Python."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN and 0 are false
    if isinstance(value, str):
        return value != ""
    return True


def _live(doc: dict[str, Any], pvt_type: str) -> bool:
    """``doc.pvt_type === pvt_type && !doc.pvt_deleted``"""
    return doc.get("pvt_type") == pvt_type and not js_truthy(doc.get("pvt_deleted"))


def _each(doc: dict[str, Any], field: str) -> Iterator[Emit]:
    values = doc.get(field)
    if isinstance(values, list):
        for value in values:
            yield value, None


def callflows_by_number(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "callflow"):
        yield from _each(doc, "numbers")


def callflows_by_pattern(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "callflow"):
        yield from _each(doc, "patterns")


def devices_sip_credentials(doc: dict[str, Any]) -> Iterator[Emit]:
    sip = doc.get("sip")
    if _live(doc, "device") and isinstance(sip, dict) and isinstance(sip.get("username"), str):
        yield sip["username"].lower(), None


def devices_by_owner(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "device") and isinstance(doc.get("owner_id"), str):
        yield doc["owner_id"], None


def resources_by_weight(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "resource") and doc.get("enabled") is not False:
        weight = doc.get("weight_cost")
        is_number = isinstance(weight, int | float) and not isinstance(weight, bool)
        yield (weight if is_number else 50), None


def users_by_username(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "user") and isinstance(doc.get("username"), str):
        yield doc["username"].lower(), None


def vmboxes_by_mailbox(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "vmbox") and isinstance(doc.get("mailbox"), str):
        yield doc["mailbox"], None


def cdrs_by_date(doc: dict[str, Any]) -> Iterator[Emit]:
    created = doc.get("pvt_created")
    if _live(doc, "cdr") and isinstance(created, int | float) and not isinstance(created, bool):
        yield created, doc.get("call_id")


def accounts_by_realm(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "account") and isinstance(doc.get("realm"), str):
        yield doc["realm"].lower(), doc.get("name")


def accounts_by_name(doc: dict[str, Any]) -> Iterator[Emit]:
    if _live(doc, "account") and isinstance(doc.get("name"), str):
        yield doc["name"].lower(), doc.get("realm")


EMULATIONS: dict[str, MapFunction] = {
    "callflows/listing_by_number": callflows_by_number,
    "callflows/listing_by_pattern": callflows_by_pattern,
    "devices/sip_credentials": devices_sip_credentials,
    "devices/listing_by_owner": devices_by_owner,
    "resources/listing_active_by_weight": resources_by_weight,
    "users/listing_by_username": users_by_username,
    "vmboxes/listing_by_mailbox": vmboxes_by_mailbox,
    "cdrs/listing_by_date": cdrs_by_date,
    "accounts/listing_by_realm": accounts_by_realm,
    "accounts/listing_by_name": accounts_by_name,
}


def emulation(view: str) -> MapFunction:
    """The Python twin of a shipped ``design/view``; raises ViewNotEmulated if there is none."""
    try:
        return EMULATIONS[view]
    except KeyError:
        raise ViewNotEmulated(
            f"the in-memory store has no Python emulation of view {view!r}: "
            "add one to whistle_common/store/views.py next to its design document"
        ) from None


def _in_range(key: Any, query: ViewQuery) -> bool:
    position = collation_key(key)
    if query.key is not None:
        return position == collation_key(query.key)
    before, after = (query.endkey, query.startkey) if query.descending else (query.startkey, query.endkey)
    if before is not None and position < collation_key(before):
        return False
    return not (after is not None and position > collation_key(after))


def run_view(view: str, docs: Iterable[dict[str, Any]], query: ViewQuery) -> list[ViewRow]:
    """The rows ``view`` gives over ``docs`` (live documents, each with ``_id``), as CouchDB would:
    sorted by key, then by document id; ``startkey``/``endkey`` inclusive; with ``descending`` the
    order is reversed and ``startkey`` is the high end."""
    map_function = emulation(view)
    emitted = [
        (doc, key, value)
        for doc in docs
        if not doc["_id"].startswith("_design/")
        for key, value in map_function(doc)
        if _in_range(key, query)
    ]
    emitted.sort(
        key=lambda row: (collation_key(row[1]), collation_key(row[0]["_id"])), reverse=query.descending
    )
    if query.limit is not None:
        emitted = emitted[: query.limit]
    return [
        ViewRow(doc["_id"], key, value, doc if query.include_docs else None) for doc, key, value in emitted
    ]
