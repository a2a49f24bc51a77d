"""``whistle account``: create and list accounts.

An account lives twice, as in Kazoo: its document in the global ``accounts`` database (found by realm
and by name) and the same document in its own database ``account/xx/yy/rest``, which is created with its
views (callflows, devices, users, vmboxes) and holds everything else of the account.
"""

from __future__ import annotations

import uuid
from typing import Any

import click

from whistle_cli._store import ACCOUNTS_DB, with_store
from whistle_common.config import Settings
from whistle_common.store import DatabaseNotFound, Store, account_db


async def realm_owner(store: Store, realm: str) -> dict[str, Any] | None:
    """The account already using ``realm`` (compared without case), or None."""
    rows = await store.view(ACCOUNTS_DB, "accounts/listing_by_realm", key=realm.lower(), limit=1)
    return {"id": rows[0].id, "name": rows[0].value} if rows else None


async def create_account(store: Store, name: str, realm: str) -> str:
    """Create the account in ``accounts`` and in its own database; its new 32-hex id."""
    await store.ensure_db(ACCOUNTS_DB)  # so a fresh installation (or memory://) needs no `db init` first
    await store.install_views(ACCOUNTS_DB)
    owner = await realm_owner(store, realm)
    if owner is not None:
        raise click.ClickException(
            f"realm {realm} is already used by account {owner['id']} ({owner['name']})"
        )
    account_id = uuid.uuid4().hex
    db = account_db(account_id)
    await store.create_db(db)
    await store.install_views(db)
    doc = {
        "_id": account_id,
        "pvt_type": "account",
        "name": name,
        "realm": realm,
        "enabled": True,
        "pvt_account_db": db,
        "pvt_tree": [],  # a top-level account: no reseller above it
        "pvt_enabled": True,
    }
    # the account's own copy first: if the second save fails, the realm is not taken by a half account
    saved = await store.save(db, doc)
    await store.save(ACCOUNTS_DB, {**doc, "pvt_account_id": account_id, "pvt_created": saved["pvt_created"]})
    return account_id


async def list_accounts(store: Store) -> list[dict[str, Any]] | None:
    """Every account, by name; None when there is no ``accounts`` database yet."""
    try:
        rows = await store.view(ACCOUNTS_DB, "accounts/listing_by_name", include_docs=True)
    except DatabaseNotFound:
        return None
    return [row.doc for row in rows if row.doc is not None]


@click.group(help="Accounts: each has a SIP realm and its own database.")
def account() -> None:
    pass


@account.command("create", help="Create account NAME with SIP realm R; prints its id.")
@click.argument("name")
@click.option("--realm", required=True, help="Its SIP domain, e.g. acme.sip.example.com (unique).")
@click.pass_obj
def account_create(settings: Settings, name: str, realm: str) -> None:
    # SIP domains compare without case; storing them lowercased keeps every lookup simple
    click.echo(with_store(settings, lambda store: create_account(store, name, realm.lower())))


@account.command("list", help="One line per account: id, name, realm, enabled or disabled.")
@click.pass_obj
def account_list(settings: Settings) -> None:
    docs = with_store(settings, list_accounts)
    if docs is None:
        click.echo("no accounts database yet: run `whistle db init` or `whistle account create`", err=True)
        return
    for doc in docs:
        state = "enabled" if doc.get("enabled", True) else "disabled"
        click.echo(f"{doc['_id']}  {doc.get('name', '')!s:32} {doc.get('realm', '')!s:40} {state}")
