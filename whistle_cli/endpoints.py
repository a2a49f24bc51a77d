"""``whistle user create`` and ``whistle device create``: the people and phones of an account.

A user's ``--extension`` is what Kazoo's quick set-up does with one: a callflow with that number whose
flow rings the user. A device registers as ``<sip username>@<account realm>``; the realm is not copied
into the device (the schema's ``sip.realm`` is an override), so renaming the realm moves every device.
"""

from __future__ import annotations

from typing import Any

import click

from whistle_cli._store import account_db_of, account_option, load_account, with_store
from whistle_cli.callflows import describe, number_owners
from whistle_common.config import Settings
from whistle_common.store import NotFound, Store


async def create_user(
    store: Store, account_id: str, fields: dict[str, Any], extension: str | None
) -> tuple[str, str | None]:
    """The new user's id, and the id of its extension's callflow (None without ``extension``)."""
    await load_account(store, account_id)
    db = account_db_of(account_id)
    username = fields.get("username")
    if username:
        rows = await store.view(db, "users/listing_by_username", key=username.lower(), limit=1)
        if rows:
            raise click.ClickException(f"username {username} is already used by user {rows[0].id}")
    if extension:  # checked before anything is saved: no user without the extension asked for
        taken = await number_owners(store, db, [extension])
        if taken:
            raise click.ClickException(f"extension {extension} is already used by {describe(taken[0][1])}")
    user = await store.save(db, {"pvt_type": "user", **fields})
    if not extension:
        return user["_id"], None
    name = f"{fields['first_name']} {fields['last_name']}"
    flow = {"module": "user", "data": {"id": user["_id"]}, "children": {}}
    callflow = await store.save(
        db, {"pvt_type": "callflow", "name": name, "numbers": [extension], "flow": flow}
    )
    return user["_id"], callflow["_id"]


async def create_device(store: Store, account_id: str, fields: dict[str, Any]) -> tuple[str, str]:
    """The new device's id and the SIP identity it registers with."""
    account = await load_account(store, account_id)
    db = account_db_of(account_id)
    username = fields["sip"]["username"]
    rows = await store.view(db, "devices/sip_credentials", key=username.lower(), limit=1)
    if rows:
        raise click.ClickException(f"SIP username {username} is already used by device {rows[0].id}")
    owner = fields.get("owner_id")
    if owner:
        try:
            user = await store.get(db, owner)
        except NotFound:
            user = None
        if user is None or user.get("pvt_type") != "user":
            raise click.ClickException(f"--owner {owner}: no such user in account {account_id}")
    device = await store.save(db, {"pvt_type": "device", **fields})
    return device["_id"], f"{username}@{account['realm']}"


def _given(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


@click.group(help="Users: the people of an account.")
def user() -> None:
    pass


@user.command("create", help="Create a user in the account; prints its id.")
@account_option
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--username", help="Portal login name (unique in the account).")
@click.option("--email")
@click.option("--extension", help="Also create a callflow: calls to this number ring the user.")
@click.pass_obj
def user_create(
    settings: Settings,
    account_id: str,
    first_name: str,
    last_name: str,
    username: str | None,
    email: str | None,
    extension: str | None,
) -> None:
    account_db_of(account_id)
    fields = _given(first_name=first_name, last_name=last_name, username=username, email=email)
    user_id, callflow_id = with_store(
        settings, lambda store: create_user(store, account_id, fields, extension)
    )
    click.echo(user_id)
    if callflow_id:
        click.echo(f"extension {extension}: callflow {callflow_id}", err=True)


@click.group(help="Devices: the phones of an account.")
def device() -> None:
    pass


@device.command("create", help="Create a SIP device in the account; prints its id.")
@account_option
@click.option("--name", required=True, help="What people call it, e.g. 'Alice desk phone'.")
@click.option("--sip-username", required=True, help="It registers as SIP-USERNAME@<account realm>.")
@click.option("--sip-password", required=True)
@click.option("--owner", "owner_id", metavar="USER_ID", help="The user it belongs to (rings with them).")
@click.pass_obj
def device_create(
    settings: Settings,
    account_id: str,
    name: str,
    sip_username: str,
    sip_password: str,
    owner_id: str | None,
) -> None:
    account_db_of(account_id)
    sip = {"method": "password", "username": sip_username, "password": sip_password}
    fields = _given(name=name, device_type="sip_device", owner_id=owner_id, sip=sip)
    device_id, identity = with_store(settings, lambda store: create_device(store, account_id, fields))
    click.echo(device_id)
    click.echo(f"registers as {identity}", err=True)
