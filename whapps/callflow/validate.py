"""Checking a callflow document: the document schema, then each node's module and its ``data``.

Every problem is reported with its JSON path (``$.flow.children._.data.timeout``), so an operator fixes
them all in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from whapps.callflow.modules import load
from whistle_common.api.catalogue import json_path
from whistle_common.api.errors import Issue
from whistle_common.schema_files import fast_validators
from whistle_common.store import document_issues


def module_issues(module: str, data: Any, path: tuple[str | int, ...] = ("data",)) -> list[Issue]:
    """What is wrong with ``data`` for ``module`` (an unknown module is one issue)."""
    validator = fast_validators("callflow").get(module)
    if module not in load() or validator is None:
        known = ", ".join(sorted(load()))
        return [Issue(json_path((*path[:-1], "module")), f"unknown module {module!r}; known: {known}")]
    return [
        Issue(json_path(path + tuple(error.instance_path)), error.message)
        for error in validator.iter_errors(data)
    ]


def _node_issues(node: Any, path: tuple[str | int, ...]) -> list[Issue]:
    if not isinstance(node, Mapping) or not isinstance(node.get("module"), str):
        return []  # the document schema reports it
    issues = module_issues(node["module"], node.get("data", {}), (*path, "data"))
    children = node.get("children", {})
    if isinstance(children, Mapping):
        for key, child in children.items():
            issues += _node_issues(child, (*path, "children", key))
    return issues


def flow_issues(doc: Mapping[str, Any]) -> list[Issue]:
    """Every issue of callflow ``doc``: document schema first, then the modules of its flow."""
    issues = document_issues({**doc, "pvt_type": "callflow"})
    return issues + _node_issues(doc.get("flow"), ("flow",))
