"""The shipped design documents and their in-memory emulations."""

import pytest

from whistle_common.store.backend import ViewQuery
from whistle_common.store.collation import collation_key
from whistle_common.store.design import design_docs_for, shipped_design_docs
from whistle_common.store.names import account_db, modb
from whistle_common.store.views import EMULATIONS, ViewNotEmulated, emulation, js_truthy, run_view

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"


def test_every_shipped_view_has_an_emulation_and_every_emulation_a_view():
    shipped = {view for design in shipped_design_docs() for view in design.view_names}
    assert shipped == set(EMULATIONS)


def test_every_map_function_filters_on_type_and_skips_deleted_documents():
    for design in shipped_design_docs():
        for view in design.body["views"].values():
            assert "doc.pvt_type !== " in view["map"] and "doc.pvt_deleted" in view["map"]


def test_design_documents_are_chosen_by_kind_of_database():
    assert [d.name for d in design_docs_for(account_db(ACCOUNT_ID))] == [
        "callflows",
        "devices",
        "users",
        "vmboxes",
    ]
    assert [d.name for d in design_docs_for(modb(ACCOUNT_ID, 2024, 1))] == ["cdrs"]
    assert [d.name for d in design_docs_for("accounts")] == ["accounts"]
    assert [d.name for d in design_docs_for("offnet")] == ["resources"]


def test_documentation_keys_are_not_uploaded():
    assert all(not key.startswith("x-") for design in shipped_design_docs() for key in design.body)


def test_a_view_without_emulation_is_an_error_not_an_empty_result():
    with pytest.raises(ViewNotEmulated, match="callflows/crossbar_listing"):
        emulation("callflows/crossbar_listing")


def test_keys_collate_like_couchdb():
    scalars = [None, False, True, -1, 0, 2.5, 10]
    strings = ["", "A", "a", "b", "\U0001f600", "\uffff"]  # UTF-16: the emoji's surrogates come first
    containers = [[], [1], [1, 2], {}]
    ordered = scalars + strings + containers
    assert sorted(reversed(ordered), key=collation_key) == ordered


def test_js_truthiness_differs_from_python_for_empty_containers():
    falsy = (None, False, 0, "", float("nan"))
    truthy = ([], {}, "x", 1)
    assert [js_truthy(v) for v in falsy + truthy] == [False] * len(falsy) + [True] * len(truthy)


def test_rows_sort_by_key_then_id_and_ranges_are_inclusive():
    docs = [
        {"_id": "b", "pvt_type": "callflow", "numbers": ["200", "100"]},
        {"_id": "a", "pvt_type": "callflow", "numbers": ["100"]},
        {"_id": "c", "pvt_type": "callflow", "numbers": ["300"], "pvt_deleted": True},
        {"_id": "d", "pvt_type": "device", "numbers": ["100"]},
    ]
    rows = run_view("callflows/listing_by_number", docs, ViewQuery(startkey="100", endkey="200"))
    assert [(row.key, row.id) for row in rows] == [("100", "a"), ("100", "b"), ("200", "b")]
    rows = run_view("callflows/listing_by_number", docs, ViewQuery(startkey="200", descending=True, limit=2))
    assert [(row.key, row.id) for row in rows] == [("200", "b"), ("100", "b")]
