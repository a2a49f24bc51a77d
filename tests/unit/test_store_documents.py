"""Preparing documents for a save: schema validation of public fields and the private fields stamped."""

import datetime

import pytest

from whistle_common.api.errors import Issue, ValidationError
from whistle_common.store.documents import document_types, prepare_for_save, public_fields
from whistle_common.store.names import account_db

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
DB = account_db(ACCOUNT_ID)
NOW = 1_700_000_000


def test_every_required_document_type_has_a_schema():
    assert {"account", "user", "device", "callflow", "vmbox", "conference", "media", "cdr"} <= set(
        document_types()
    )


def test_prepare_stamps_private_fields_and_keeps_unknown_public_ones():
    doc = {"pvt_type": "vmbox", "name": "Sales", "mailbox": "3000", "colour": "blue"}
    prepared = prepare_for_save(DB, doc, now=NOW)
    assert prepared["pvt_account_id"] == ACCOUNT_ID
    assert (prepared["pvt_created"], prepared["pvt_modified"], prepared["pvt_vsn"]) == (NOW, NOW, "1")
    assert prepared["colour"] == "blue"
    assert len(prepared["_id"]) == 32
    assert "_id" not in doc  # the caller's dict is left alone


def test_an_update_keeps_its_creation_time_and_version():
    doc = {"pvt_type": "vmbox", "name": "S", "mailbox": "1", "pvt_created": 5, "pvt_vsn": "2", "_id": "x"}
    prepared = prepare_for_save(DB, doc, now=NOW)
    assert (prepared["_id"], prepared["pvt_created"], prepared["pvt_modified"], prepared["pvt_vsn"]) == (
        "x",
        5,
        NOW,
        "2",
    )


def test_global_databases_do_not_get_an_account_id():
    prepared = prepare_for_save("accounts", {"pvt_type": "account", "name": "A", "realm": "a.example.com"})
    assert "pvt_account_id" not in prepared


def test_every_issue_is_reported_with_its_path():
    doc = {
        "pvt_type": "callflow",
        "numbers": [],
        "flow": {"module": "user", "children": {"_": {"data": {}}}},
        "_deleted": True,
    }
    with pytest.raises(ValidationError) as caught:
        prepare_for_save(DB, doc)
    assert caught.value.issues == [
        Issue("$._deleted", "fields starting with '_' are reserved for the database")
    ]
    del doc["_deleted"]
    with pytest.raises(ValidationError) as caught:
        prepare_for_save(DB, doc)
    paths = [issue.path for issue in caught.value.issues]
    assert paths == ["$", "$.flow.children._.module"]


def test_unknown_and_missing_types_are_named():
    with pytest.raises(ValidationError, match="no schema for document type 'spaceship'"):
        prepare_for_save(DB, {"pvt_type": "spaceship"})
    with pytest.raises(ValidationError, match=r"\$\.pvt_type"):
        prepare_for_save(DB, {"name": "x"})


def test_values_json_cannot_carry_are_a_validation_error():
    doc = {"pvt_type": "vmbox", "name": "S", "mailbox": "1", "when": datetime.datetime.now()}
    with pytest.raises(ValidationError, match="not representable as JSON"):
        prepare_for_save(DB, doc)


def test_a_malformed_rev_is_a_validation_error():
    with pytest.raises(ValidationError, match=r"\$\._rev"):
        prepare_for_save(DB, {"pvt_type": "vmbox", "name": "S", "mailbox": "1", "_rev": "latest"})


def test_public_fields_leave_out_private_and_database_fields():
    assert public_fields({"name": "a", "pvt_type": "user", "_id": "x", "_rev": "1-a"}) == {"name": "a"}


@pytest.mark.parametrize(
    ("sip", "missing"),
    [
        ({"username": "u", "method": "password"}, "$.sip.password"),
        ({"username": "u", "method": "ip"}, "$.sip.ip"),
    ],
)
def test_device_credentials_depend_on_the_method(sip, missing):
    with pytest.raises(ValidationError) as caught:
        prepare_for_save(DB, {"pvt_type": "device", "name": "d", "sip": sip})
    assert [issue.path for issue in caught.value.issues] == [missing]
