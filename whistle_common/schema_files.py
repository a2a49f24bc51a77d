"""Locating and loading the JSON Schema files under the repository's ``schemas/`` folder."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

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
