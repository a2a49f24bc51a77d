"""What the store-using commands share: one store per command, account look-up, readable failures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from whistle_common.cli import run
from whistle_common.config import Settings
from whistle_common.store import (
    DatabaseNotFound,
    InvalidAccountId,
    NotFound,
    Store,
    ValidationError,
    account_db,
)

T = TypeVar("T")

ACCOUNTS_DB = "accounts"


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` with a store opened on ``settings.couch_url``; a document the schema refuses becomes
    an error listing every issue with its JSON path."""

    async def main() -> T:
        async with Store.open(settings.couch_url) as store:
            return await work(store)

    try:
        return run(main())
    except ValidationError as exc:
        raise click.ClickException("\n".join(str(issue) for issue in exc.issues)) from exc


def account_db_of(account_id: str) -> str:
    """The account's database name; a malformed id is a usage error naming --account."""
    try:
        return account_db(account_id)
    except InvalidAccountId as exc:
        raise click.BadParameter(str(exc), param_hint="--account") from exc


async def load_account(store: Store, account_id: str) -> dict[str, Any]:
    """The account document (from its own database, which every other command writes to)."""
    db = account_db_of(account_id)
    try:
        doc: dict[str, Any] | None = await store.get(db, account_id)
    except (NotFound, DatabaseNotFound):
        doc = None
    if doc is None or doc.get("pvt_type") != "account":
        raise click.ClickException(f"no account {account_id} (see `whistle account list`)")
    return doc


account_option = click.option(
    "--account", "account_id", required=True, metavar="ID", help="The account's 32-hex id."
)
