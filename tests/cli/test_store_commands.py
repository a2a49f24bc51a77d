"""``whistle account|user|device|callflow`` against a real CouchDB-API server (pouchdb-server)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from whistle_cli import callflows as callflows_cli
from whistle_cli import main
from whistle_common.store import Store, account_db

HEX32 = re.compile(r"[0-9a-f]{32}")


def whistle(couch_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--couch-url", couch_url, *args], input=stdin)


def new_account(couch_url: str, name: str = "Acme") -> tuple[str, str]:
    realm = f"r{uuid.uuid4().hex[:10]}.sip.example.com"
    result = whistle(couch_url, "account", "create", name, "--realm", realm)
    assert result.exit_code == 0, result.output
    return result.stdout.strip(), realm


async def stored(couch_url: str, db: str, doc_id: str) -> dict:
    async with Store.open(couch_url) as store:
        return await store.get(db, doc_id)


def test_an_account_is_created_in_both_databases_with_its_views(couch_url: str) -> None:
    account_id, realm = new_account(couch_url, "Acme Corp")
    assert HEX32.fullmatch(account_id)

    async def check() -> None:
        async with Store.open(couch_url) as store:
            own = await store.get(account_db(account_id), account_id)
            copy = await store.get("accounts", account_id)
            for doc in (own, copy):
                assert (doc["pvt_type"], doc["name"], doc["realm"]) == ("account", "Acme Corp", realm)
                assert doc["pvt_account_id"] == account_id
            rows = await store.view(account_db(account_id), "callflows/listing_by_number")
            assert rows == []  # the account's views are installed

    asyncio.run(check())
    listed = whistle(couch_url, "account", "list")
    assert listed.exit_code == 0
    assert [account_id, "Acme", "Corp", realm, "enabled"] in [
        line.split() for line in listed.stdout.splitlines()
    ]


def test_a_realm_is_used_by_one_account_only_whatever_its_case(couch_url: str) -> None:
    account_id, realm = new_account(couch_url, "First")
    result = whistle(couch_url, "account", "create", "Second", "--realm", realm.upper())
    assert result.exit_code == 1
    assert f"realm {realm} is already used by account {account_id} (First)" in result.output


def test_a_malformed_realm_is_refused_with_the_field_named(couch_url: str) -> None:
    result = whistle(couch_url, "account", "create", "Bad", "--realm", "localhost")
    assert result.exit_code == 1 and "$.realm" in result.output


def test_users_and_devices_belong_to_an_existing_account(couch_url: str) -> None:
    account_id, realm = new_account(couch_url)
    user = whistle(
        couch_url, "user", "create", "--account", account_id, "--first-name", "Alice",
        "--last-name", "Smith", "--username", "alice", "--extension", "1001",
    )  # fmt: skip
    assert user.exit_code == 0, user.output
    user_id = user.stdout.strip()
    assert HEX32.fullmatch(user_id)
    device = whistle(
        couch_url, "device", "create", "--account", account_id, "--name", "Alice desk",
        "--sip-username", "alice1", "--sip-password", "s3cret", "--owner", user_id,
    )  # fmt: skip
    assert device.exit_code == 0, device.output
    device_id = device.stdout.strip()
    assert f"alice1@{realm}" in device.stderr

    db = account_db(account_id)
    user_doc = asyncio.run(stored(couch_url, db, user_id))
    assert (user_doc["pvt_type"], user_doc["first_name"], user_doc["username"]) == ("user", "Alice", "alice")
    device_doc = asyncio.run(stored(couch_url, db, device_id))
    assert device_doc["owner_id"] == user_id
    assert device_doc["sip"] == {"method": "password", "username": "alice1", "password": "s3cret"}

    listed = whistle(couch_url, "callflow", "list", "--account", account_id)
    [line] = [line.split() for line in listed.stdout.splitlines()]
    assert line[1:] == ["Alice", "Smith", "1001", "-"]  # the extension rings the user

    again = whistle(
        couch_url, "user", "create", "--account", account_id, "--first-name", "Bob",
        "--last-name", "Jones", "--extension", "1001",
    )  # fmt: skip
    assert again.exit_code == 1 and f"extension 1001 is already used by callflow {line[0]}" in again.output
    same_sip = whistle(
        couch_url, "device", "create", "--account", account_id, "--name", "Other",
        "--sip-username", "ALICE1", "--sip-password", "x",
    )  # fmt: skip
    assert same_sip.exit_code == 1 and f"already used by device {device_id}" in same_sip.output


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--account", "nothex"], 2, "--account"),
        (["--account", "0" * 32], 1, f"no account {'0' * 32}"),
    ],
)
def test_a_bad_or_unknown_account_is_named(couch_url: str, args: list[str], code: int, says: str) -> None:
    result = whistle(couch_url, "user", "create", *args, "--first-name", "A", "--last-name", "B")
    assert result.exit_code == code and says in result.output


def test_a_device_owner_must_be_a_user_of_the_account(couch_url: str) -> None:
    account_id, _ = new_account(couch_url)
    result = whistle(
        couch_url, "device", "create", "--account", account_id, "--name", "X",
        "--sip-username", "x", "--sip-password", "y", "--owner", "1" * 32,
    )  # fmt: skip
    assert result.exit_code == 1 and f"--owner {'1' * 32}: no such user" in result.output


@pytest.fixture
def schema_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish with the document schema only: these tests are about the CLI, not the module schemas."""
    monkeypatch.setattr(callflows_cli, "flow_validator", lambda: (callflows_cli.schema_only_issues, True))


def publish(couch_url: str, account_id: str, doc: dict) -> Result:
    return whistle(
        couch_url, "callflow", "publish", "-", "--account", account_id, stdin=orjson.dumps(doc).decode()
    )


def test_a_callflow_is_published_updated_and_listed(couch_url: str, schema_only: None) -> None:
    account_id, _ = new_account(couch_url)
    doc = {
        "name": "main",
        "numbers": ["2000"],
        "patterns": ["^9(\\d+)$"],
        "flow": {"module": "x", "data": {}},
    }
    first = publish(couch_url, account_id, doc)
    assert first.exit_code == 0, first.output
    callflow_id, rev = first.stdout.split()
    assert HEX32.fullmatch(callflow_id) and rev.startswith("1-")

    second = publish(
        couch_url, account_id, {**doc, "_id": callflow_id, "name": "main v2", "numbers": ["2000", "2001"]}
    )
    assert second.exit_code == 0, second.output
    assert second.stdout.split()[0] == callflow_id and second.stdout.split()[1].startswith("2-")

    listed = whistle(couch_url, "callflow", "list", "--account", account_id)
    assert [line.split() for line in listed.stdout.splitlines()] == [
        [callflow_id, "main", "v2", "2000,2001", "^9(\\d+)$"]
    ]


def test_a_callflow_file_with_a_new_id_is_created_under_that_id(
    couch_url: str, tmp_path: Path, schema_only: None
) -> None:
    account_id, _ = new_account(couch_url)
    path = tmp_path / "cf.json"
    path.write_bytes(orjson.dumps({"_id": "c" * 32, "patterns": ["^1"], "flow": {"module": "x"}}))
    result = whistle(couch_url, "callflow", "publish", str(path), "--account", account_id)
    assert result.exit_code == 0 and result.stdout.split()[0] == "c" * 32


def test_a_number_of_another_callflow_is_refused_naming_it(couch_url: str, schema_only: None) -> None:
    account_id, _ = new_account(couch_url)
    first = publish(couch_url, account_id, {"name": "sales", "numbers": ["3000"], "flow": {"module": "x"}})
    owner = first.stdout.split()[0]
    clash = publish(couch_url, account_id, {"numbers": ["3001", "3000"], "flow": {"module": "x"}})
    assert clash.exit_code == 1
    assert f"number 3000 is already used by callflow {owner} (sales)" in clash.output
    assert "3001" not in clash.output


def test_every_schema_issue_is_printed_with_its_path(couch_url: str, schema_only: None) -> None:
    account_id, _ = new_account(couch_url)
    result = publish(couch_url, account_id, {"name": "x", "flow": {"children": {"_": {"module": 5}}}})
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "$: needs at least one number or pattern to match calls against",
        "$.flow.children._.module: 5 is not of type 'string'",
        "$.flow.module: is required",
    ]


def test_module_data_is_checked_by_the_callflow_validator(couch_url: str) -> None:
    pytest.importorskip("whapps.callflow.validate")  # the callflow whapp is a separate part
    account_id, _ = new_account(couch_url)
    doc = {"numbers": ["4000"], "flow": {"module": "hangup", "children": {"_": {"module": "no_such_module"}}}}
    result = publish(couch_url, account_id, doc)
    assert result.exit_code == 1
    assert "$.flow.children._.module: unknown module 'no_such_module'" in result.stdout


def test_a_file_that_is_not_json_is_named(couch_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    result = whistle(couch_url, "callflow", "publish", str(path), "--account", "a" * 32)
    assert result.exit_code == 1 and f"{path}: not JSON" in result.output


def test_the_store_commands_work_on_the_in_memory_store() -> None:
    result = whistle("memory://", "account", "create", "Mem", "--realm", "mem.example.com")
    assert result.exit_code == 0 and HEX32.fullmatch(result.stdout.strip())
    assert whistle("memory://", "account", "list").exit_code == 0
