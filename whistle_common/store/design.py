"""The design documents shipped with the package (``whistle_common/store/design/*.json``).

A file is named ``<kind>.<design>.json``: ``<kind>`` says which databases get it (``account`` for every
account database, ``modb`` for every monthly database, or the name of a global database such as
``accounts``), ``<design>`` is the design document's name (its ``_id`` is ``_design/<design>``).
Keys starting with ``x-`` document the file and are stripped before upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

from whistle_common.store.names import db_kind


@dataclass(frozen=True)
class DesignDoc:
    """One shipped design document and the kind of database it belongs to."""

    kind: str
    name: str
    body: dict[str, Any]  # as uploaded: "_id", "language", "views"

    @property
    def doc_id(self) -> str:
        return f"_design/{self.name}"

    @property
    def view_names(self) -> list[str]:
        """``design/view`` names, as ``Store.view`` takes them."""
        return [f"{self.name}/{view}" for view in self.body.get("views", {})]


@cache
def shipped_design_docs() -> tuple[DesignDoc, ...]:
    """Every design document in the package; raises ValueError for a file that breaks the format."""
    found = []
    for entry in sorted(resources.files(__package__).joinpath("design").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        kind, _, name = entry.name.removesuffix(".json").partition(".")
        raw = orjson.loads(entry.read_bytes())
        if not name or raw.get("_id") != f"_design/{name}":
            raise ValueError(
                f"design file {entry.name}: name it <kind>.<design>.json with _id _design/<design>"
            )
        found.append(DesignDoc(kind, name, {k: v for k, v in raw.items() if not k.startswith("x-")}))
    return tuple(found)


def design_docs_for(db: str) -> list[DesignDoc]:
    """The design documents a database gets, judged by its name; raises InvalidDatabaseName."""
    kind = db_kind(db)
    wanted = db if kind == "global" else kind
    return [design for design in shipped_design_docs() if design.kind == wanted]


def shipped_map_source(view: str) -> str | None:
    """The JavaScript map function of a shipped ``design/view``, or None if none is shipped."""
    design, _, name = view.partition("/")
    for doc in shipped_design_docs():
        if doc.name == design and name in doc.body.get("views", {}):
            return doc.body["views"][name]["map"]
    return None
