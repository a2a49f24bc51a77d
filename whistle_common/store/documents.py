"""Documents: validating their public fields against ``schemas/docs/<pvt_type>.json`` and stamping the
private (``pvt_``) fields before a save.

Public fields are every key that starts with neither ``pvt_`` nor ``_``. Unknown public fields are kept:
the schemas allow additional properties so old readers survive new fields. A schema may word its own
errors with ``"x-errors": {"<keyword>": "reason"}`` next to the keyword.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from whistle_common.api.catalogue import json_path
from whistle_common.api.errors import Issue, ValidationError
from whistle_common.schema_files import load_folder, registry
from whistle_common.store.names import account_id_of

DEFAULT_VSN = "1"
"""``pvt_vsn`` given to documents that do not say which version of their schema they follow."""

_RESERVED_KEYS_ALLOWED = ("_id", "_rev", "_attachments")  # the rest of CouchDB's "_" keys are its own
_REV = re.compile(r"[0-9]+-[0-9a-f]+")
_REQUIRED_MESSAGE = re.compile(r"^'(.+)' is a required property$")


def document_types() -> list[str]:
    """Every ``pvt_type`` that has a schema."""
    return sorted(name for name in load_folder("docs") if not name.startswith("_"))


@cache
def _validator(pvt_type: str) -> Draft202012Validator:
    schema = load_folder("docs")[pvt_type]
    return Draft202012Validator(
        schema, registry=registry("docs"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def public_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an API client may see and set: those starting with neither ``pvt_`` nor ``_``."""
    return {key: value for key, value in doc.items() if not key.startswith(("pvt_", "_"))}


def _issue(error: SchemaError) -> Issue:
    path = json_path(error.absolute_path)  # the same path format as bus messages' issues
    custom = error.schema.get("x-errors", {}) if isinstance(error.schema, dict) else {}
    if error.validator in custom:  # a schema's own wording, e.g. for an anyOf that says nothing useful
        return Issue(path, custom[error.validator])
    missing = _REQUIRED_MESSAGE.match(error.message) if error.validator == "required" else None
    if missing:  # point at the missing field itself, not at the object lacking it
        return Issue(f"{path}.{missing.group(1)}", "is required")
    return Issue(path, error.message)


def document_issues(doc: Any) -> list[Issue]:
    """Every reason ``doc`` cannot be saved, each with its JSON path; empty when it can.

    Checks that it is an object with a known ``pvt_type``, that its ``_`` keys are ones the store
    manages (``_id``, ``_rev``, ``_attachments``), and that its public fields match the type's schema.
    """
    if not isinstance(doc, Mapping):
        return [Issue("$", f"a document is a JSON object, not {type(doc).__name__}")]
    issues: list[Issue] = []
    pvt_type = doc.get("pvt_type")
    if pvt_type is None:
        issues.append(Issue("$.pvt_type", "is required: every document says what type it is"))
    elif not isinstance(pvt_type, str) or pvt_type not in document_types():
        known = ", ".join(document_types())
        issues.append(Issue("$.pvt_type", f"no schema for document type {pvt_type!r} (known: {known})"))
    doc_id = doc.get("_id")
    if doc_id is not None and (not isinstance(doc_id, str) or not doc_id or doc_id.startswith("_")):
        issues.append(Issue("$._id", "must be a non-empty string not starting with '_'"))
    rev = doc.get("_rev")
    if rev is not None and (not isinstance(rev, str) or not _REV.fullmatch(rev)):
        issues.append(Issue("$._rev", f"{rev!r} is not a revision (N-<hex>) taken from the stored document"))
    attachments = doc.get("_attachments")
    if attachments is not None and not (
        isinstance(attachments, Mapping) and all(isinstance(spec, Mapping) for spec in attachments.values())
    ):
        issues.append(Issue("$._attachments", "must be the stubs that get() returned (an object of objects)"))
    for key in doc:
        if not isinstance(key, str):
            issues.append(Issue("$", f"field names are strings, not {type(key).__name__} ({key!r})"))
        elif key.startswith("_") and key not in _RESERVED_KEYS_ALLOWED:
            issues.append(Issue(f"$.{key}", "fields starting with '_' are reserved for the database"))
    if not issues:
        found = _validator(pvt_type).iter_errors(public_fields(doc))
        issues = sorted({_issue(error) for error in found}, key=lambda issue: (issue.path, issue.reason))
    return issues


def _subject(doc: Any) -> str:
    pvt_type = doc.get("pvt_type") if isinstance(doc, Mapping) else None
    return f"{pvt_type} document" if isinstance(pvt_type, str) else "document"


def validate_document(doc: Any) -> None:
    """Raise ValidationError carrying every issue if ``doc`` cannot be saved (see ``document_issues``)."""
    issues = document_issues(doc)
    if issues:
        raise ValidationError(_subject(doc), issues)


def prepare_for_save(db: str, doc: Mapping[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """A validated, JSON-normalised copy of ``doc`` ready to store in ``db``; ``doc`` is not modified.

    Sets ``pvt_account_id`` (account and MODB databases), ``pvt_created`` when the document has none
    (a new document), ``pvt_modified`` (Unix seconds), ``pvt_vsn`` when missing, and a uuid4-hex ``_id``
    when missing. Raises ValidationError listing every issue, including values JSON cannot carry, and
    InvalidDatabaseName for a name the store rejects.
    """
    validate_document(doc)
    account_id = account_id_of(db)
    try:
        # one JSON round trip: a deep copy that holds only what the database would store
        prepared: dict[str, Any] = orjson.loads(
            orjson.dumps(doc, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
        )
    except TypeError as exc:
        raise ValidationError(_subject(doc), [Issue("$", f"not representable as JSON: {exc}")]) from None
    stamp = int(time.time() if now is None else now)
    prepared.setdefault("_id", uuid.uuid4().hex)
    if account_id is not None:
        prepared["pvt_account_id"] = account_id
    prepared.setdefault("pvt_created", stamp)
    prepared["pvt_modified"] = stamp
    prepared.setdefault("pvt_vsn", DEFAULT_VSN)
    return prepared
