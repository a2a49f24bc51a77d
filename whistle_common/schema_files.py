"""Locating and loading the JSON Schema files under the repository's ``schemas/`` folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import jsonschema_rs
import orjson
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class SchemaFilesMissing(RuntimeError):
    """The ``schemas/`` folder could not be found (install from a checkout, or set WHISTLE_SCHEMAS)."""


def schemas_dir() -> Path:
    """The folder holding ``api/`` and ``docs/``: ``$WHISTLE_SCHEMAS`` or the checkout's ``schemas/``."""
    configured = os.environ.get("WHISTLE_SCHEMAS")
    folder = Path(configured) if configured else Path(__file__).resolve().parent.parent / "schemas"
    if not (folder / "api").is_dir():
        raise SchemaFilesMissing(
            f"no schemas at {folder}: install whistle-voip from its checkout (make install) "
            "or point WHISTLE_SCHEMAS at the schemas/ folder"
        )
    return folder


@cache
def load_folder(kind: str) -> dict[str, dict]:
    """Every schema under ``schemas/<kind>/``, keyed by its path without ``.json`` (``call_command/play``)."""
    root = schemas_dir() / kind
    return {
        path.relative_to(root).with_suffix("").as_posix(): orjson.loads(path.read_bytes())
        for path in sorted(root.rglob("*.json"))
    }


@cache
def registry(kind: str) -> Registry:
    """A referencing registry so that ``{"$ref": "envelope.json"}`` resolves between files of one kind."""
    resources = []
    for schema in load_folder(kind).values():
        if "$id" in schema:
            resources.append(
                (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
            )
    return Registry().with_resources(resources)


# Schemas name each other with relative ``$id``s; the fast validator needs them absolute. The host is
# reserved (.invalid), so nothing is ever fetched from it.
_BASE_URI = "https://schemas.whistle-voip.invalid/"


def compile_validators(kind: str, schemas: Mapping[str, dict]) -> dict[str, jsonschema_rs.Validator]:
    """A compiled validator per schema (jsonschema-rs: about 100x python-jsonschema's speed)."""
    absolute = {
        name: {**schema, "$id": f"{_BASE_URI}{kind}/{schema.get('$id', name + '.json')}"}
        for name, schema in schemas.items()
    }
    shared = jsonschema_rs.Registry([(schema["$id"], schema) for schema in absolute.values()])
    return {
        name: jsonschema_rs.validator_for(schema, registry=shared, validate_formats=True)
        for name, schema in absolute.items()
    }


@cache
def fast_validators(kind: str) -> dict[str, jsonschema_rs.Validator]:
    """Compiled validators for every schema under ``schemas/<kind>/``."""
    return compile_validators(kind, load_folder(kind))
