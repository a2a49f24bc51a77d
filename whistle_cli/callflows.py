"""``whistle callflow``: publish a callflow from a JSON file, list an account's callflows.

``publish`` checks the document schema and the ``data`` of every node against its module's schema (the
callflow whapp's own validator, ``whapps.callflow.validate.flow_issues``, when it is installed; the
document schema alone otherwise) and prints every issue with its JSON path, so one edit fixes them all.
A number may belong to one callflow of an account only: the callflow lookup would otherwise pick one of
them silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import click

from whistle_cli._store import account_db_of, account_option, load_account, with_store
from whistle_common.api.errors import Issue
from whistle_common.cli import read_json
from whistle_common.config import Settings
from whistle_common.store import DocumentConflict, NotFound, Store, document_issues, public_fields

Validator = Callable[[Mapping[str, Any]], list[Issue]]


def schema_only_issues(doc: Mapping[str, Any]) -> list[Issue]:
    return document_issues({**doc, "pvt_type": "callflow"})


def flow_validator() -> tuple[Validator, bool]:
    """The best validator installed, and whether it checks the modules' data too."""
    try:  # the callflow whapp is a separate package: the CLI works without it
        from whapps.callflow.validate import flow_issues
    except ImportError:
        return schema_only_issues, False
    return flow_issues, True


async def number_owners(
    store: Store, db: str, numbers: Iterable[str], exclude_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """``(number, other callflow)`` for each of ``numbers`` another callflow already has."""
    taken = []
    for number in numbers:
        for row in await store.view(db, "callflows/listing_by_number", key=number, include_docs=True):
            if row.id != exclude_id and row.doc is not None:
                taken.append((number, row.doc))
    return taken


def describe(doc: Mapping[str, Any]) -> str:
    name = doc.get("name")
    return f"callflow {doc['_id']}" + (f" ({name})" if name else "")


async def save_callflow(store: Store, account_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Save (create, or update the current revision of) callflow ``doc``; refuses numbers in use."""
    await load_account(store, account_id)
    db = account_db_of(account_id)
    doc_id = doc.get("_id")
    taken = await number_owners(store, db, doc.get("numbers", []), exclude_id=doc_id)
    if taken:
        lines = [f"number {number} is already used by {describe(other)}" for number, other in taken]
        raise click.ClickException("\n".join(lines))
    new = {**doc, "pvt_type": "callflow"}
    if doc_id:
        try:
            current = await store.get(db, doc_id)
        except NotFound:
            current = None
        if current is not None:
            if current.get("pvt_type") != "callflow":
                raise click.ClickException(
                    f"{doc_id} is a {current.get('pvt_type')} document, not a callflow"
                )
            new["_rev"] = current["_rev"]
            if "pvt_created" in current:  # an update keeps the creation time
                new["pvt_created"] = current["pvt_created"]
    try:
        return await store.save(db, new)
    except DocumentConflict as exc:
        raise click.ClickException(f"{doc_id} changed while it was being published: publish again") from exc


async def list_callflows(store: Store, account_id: str) -> list[dict[str, Any]]:
    """Every callflow of the account (each has a number or a pattern), by id."""
    await load_account(store, account_id)
    db = account_db_of(account_id)
    found: dict[str, dict[str, Any]] = {}
    for view in ("callflows/listing_by_number", "callflows/listing_by_pattern"):
        for row in await store.view(db, view, include_docs=True):
            if row.doc is not None:
                found[row.id] = row.doc
    return [found[doc_id] for doc_id in sorted(found)]


@click.group(help="Callflows: what happens to calls to an account's numbers.")
def callflow() -> None:
    pass


@callflow.command(
    "publish",
    help="Validate callflow FILE (JSON, or - for stdin) and save it in the account; prints its id and "
    "revision, or every issue with its JSON path. A FILE with the _id of an existing callflow updates it.",
)
@click.argument("file", type=click.File("rb"))
@account_option
@click.pass_obj
def callflow_publish(settings: Settings, file: Any, account_id: str) -> None:
    account_db_of(account_id)  # a malformed id is a usage error before anything else
    doc = read_json(file)
    if not isinstance(doc, dict):
        raise click.ClickException(f"{file.name}: a callflow is a JSON object, not {type(doc).__name__}")
    # private fields are the store's to set; an exported document may carry them: drop them
    doc = {**public_fields(doc), **({"_id": doc["_id"]} if "_id" in doc else {})}
    validate, full = flow_validator()
    if not full:
        click.echo("note: the callflow modules are not installed: module data not checked", err=True)
    issues = validate(doc)
    if issues:
        for issue in issues:
            click.echo(f"{issue.path}: {issue.reason}")  # as `whistle messages validate` does
        sys.exit(1)
    saved = with_store(settings, lambda store: save_callflow(store, account_id, doc))
    click.echo(f"{saved['_id']} {saved['_rev']}")


@callflow.command("list", help="One line per callflow of the account: id, name, numbers, patterns.")
@account_option
@click.pass_obj
def callflow_list(settings: Settings, account_id: str) -> None:
    for doc in with_store(settings, lambda store: list_callflows(store, account_id)):
        numbers = ",".join(doc.get("numbers", [])) or "-"
        patterns = " ".join(doc.get("patterns", [])) or "-"
        click.echo(f"{doc['_id']}  {doc.get('name') or '-'!s:24} {numbers:24} {patterns}")
