"""Database names: account, MODB and global names, validation, and how listed names map back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whistle_common.store.errors import InvalidAccountId, InvalidDatabaseName
from whistle_common.store.names import (
    GLOBAL_DBS,
    account_db,
    account_id_of,
    canonical_listed_name,
    db_kind,
    modb,
    validate_db_name,
)

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
account_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


def test_account_db_splits_the_id_two_two_and_the_rest():
    assert account_db(ACCOUNT_ID) == "account/01/23/456789abcdef0123456789abcdef"


def test_modb_adds_year_and_month():
    assert modb(ACCOUNT_ID, 2024, 3) == "account/01/23/456789abcdef0123456789abcdef-202403"


@pytest.mark.parametrize(
    "bad_id",
    [
        "",
        "0123",
        ACCOUNT_ID.upper(),
        ACCOUNT_ID + "0",
        ACCOUNT_ID[:-1] + "g",
        "account/01/23/" + ACCOUNT_ID[4:],
    ],
)
def test_account_db_rejects_anything_but_32_lowercase_hex(bad_id):
    with pytest.raises(InvalidAccountId, match="32 lowercase hexadecimal"):
        account_db(bad_id)


@pytest.mark.parametrize(("year", "month"), [(2024, 0), (2024, 13), (99, 1), (10000, 1)])
def test_modb_rejects_impossible_months(year, month):
    with pytest.raises(InvalidDatabaseName):
        modb(ACCOUNT_ID, year, month)


def test_account_id_of_account_and_modb_names_and_none_for_globals():
    assert account_id_of(account_db(ACCOUNT_ID)) == ACCOUNT_ID
    assert account_id_of(modb(ACCOUNT_ID, 2025, 12)) == ACCOUNT_ID
    assert [account_id_of(db) for db in GLOBAL_DBS] == [None, None, None]


def test_db_kind_tells_account_modb_and_global_apart():
    assert db_kind(account_db(ACCOUNT_ID)) == "account"
    assert db_kind(modb(ACCOUNT_ID, 2025, 1)) == "modb"
    assert db_kind("accounts") == "global"


@pytest.mark.parametrize(
    "name",
    [
        "account/01/2345/6789abcdef0123456789abcdef",  # same as a canonical name once "/" is stripped
        "account/0123/45/6789abcdef0123456789abcdef",
        "numbers/+1415",
        "a/b",
        "account" + ACCOUNT_ID,  # what pouchdb-server lists, not what we name
        "account" + ACCOUNT_ID + "-202401",
        account_db(ACCOUNT_ID) + "-202413",
        "Accounts",
        "_users",
        "1db",
        "",
        "x" * 239,
    ],
)
def test_validate_db_name_rejects_names_that_are_not_unique_or_not_couchdb_names(name):
    with pytest.raises(InvalidDatabaseName):
        validate_db_name(name)


@pytest.mark.parametrize("name", [*GLOBAL_DBS, "system_media", "ratedeck", "a$()+-_9"])
def test_validate_db_name_accepts_plain_names(name):
    assert validate_db_name(name) == name


def test_listed_stripped_names_map_back_to_canonical():
    assert canonical_listed_name("account" + ACCOUNT_ID) == account_db(ACCOUNT_ID)
    assert canonical_listed_name("account" + ACCOUNT_ID + "-202402") == modb(ACCOUNT_ID, 2024, 2)


def test_listed_canonical_and_plain_names_pass_through_and_system_ones_are_dropped():
    assert canonical_listed_name(account_db(ACCOUNT_ID)) == account_db(ACCOUNT_ID)
    assert canonical_listed_name("accounts") == "accounts"
    assert canonical_listed_name("_users") is None
    assert canonical_listed_name("_replicator") is None
    assert canonical_listed_name("numbers/+1415") is None


@given(account_ids, st.integers(1000, 9999), st.integers(1, 12))
def test_every_canonical_name_survives_stripping_and_mapping_back(account_id, year, month):
    for name in (account_db(account_id), modb(account_id, year, month)):
        assert validate_db_name(name) == name
        assert canonical_listed_name(name.replace("/", "")) == name
