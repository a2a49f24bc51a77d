"""Routing a channel through an XML dialplan answer, the way mod_dialplan_xml hunts it.

``route(answer, channel_data)`` returns the applications the channel will run (a :class:`Route`), or
:class:`~fsim.xml_curl.NotFound` when FreeSWITCH would ignore the answer and hunt in its *static* dialplan
instead: ``<result status="not found"/>``, XML that does not parse, or a document without a
``<section name="dialplan">`` (``switch_xml_locate`` retries with the static root in all three cases).

Followed from ``mod_dialplan_xml.c``:

* the context is the channel's ``Caller-Context`` (``default`` if unset), else a context named ``global``;
  if neither exists the route is empty ("Context not found"). An empty route means no extension: FreeSWITCH
  hangs the channel up with ``NO_ROUTE_DESTINATION``; there is *no* static fallback once the section exists;
* extensions in document order (from the one named like the destination when ``auto_hunt`` is true); the
  first whose conditions pass ends the hunt unless it has ``continue="true"``;
* conditions in order, ``field`` (a caller-profile field such as ``destination_number``, or a ``${var}``
  expression) matched with ``expression`` (a regex, searched, unanchored unless it says ``^``), ``break``
  (on-false by default, on-true, always, never), ``regex="all|any|xor"`` with ``<regex>`` children, a
  condition without ``field`` always passes, nested conditions and ``require-nested``;
* ``<action>``\\s when it passes, ``<anti-action>``\\s when it fails, ``loop="N"``, ``inline="true"``, and
  ``$1``/``${1}`` capture substitution in the data when the expression has a group.

Left to the caller: ``${var}`` in action data is *not* expanded here; FreeSWITCH expands it only when the
application executes (``switch_core_session_execute_application``), so the Switch must do it then.
``${var}`` in ``field`` and ``expression`` *is* expanded, from the channel's ``variable_*`` data (plain names
only; ``${api(args)}`` is left as written). Not supported: time-of-day condition attributes (``wday``,
``hour``, ``time-of-day``, ... are ignored), ``DP_MATCH`` variables, inline applications changing the
variables that later conditions see (inline actions are returned in :attr:`Route.inline`, for the caller to
run first).
Regexes are Python's ``re``, which agrees with PCRE on the patterns dialplans use.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from fsim.xml_curl import NotFound, find_section, parse_document

# switch_caller_get_field_by_name names that differ from the Caller-* header names.
_FIELD_ALIASES = {
    "chan_name": "channel_name",
    "uuid": "unique_id",
    "created_time": "channel_created_time",
    "answered_time": "channel_answered_time",
    "progress_time": "channel_progress_time",
    "progress_media_time": "channel_progress_media_time",
    "hungup_time": "channel_hangup_time",
    "transferred_time": "channel_transfer_time",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
_CAPTURE = re.compile(r"\$(?:(\d+)|\{(\d+)\})")
_BREAKS = {"on-true", "on-false", "always", "never"}


class Action(NamedTuple):
    """One dialplan application and its (unexpanded) argument."""

    application: str
    data: str = ""


@dataclass
class Route:
    """What hunting produced: the caller extension's applications, in execution order.

    ``inline`` holds ``inline="true"`` actions, which FreeSWITCH runs while hunting, i.e. before ``actions``.
    An empty route (``not route``) means "no route": FreeSWITCH hangs up with NO_ROUTE_DESTINATION.
    """

    context: str | None
    extension: str | None = None
    actions: list[Action] = field(default_factory=list)
    inline: list[Action] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.actions or self.inline)


@dataclass
class CallInfo:
    """The caller-profile fields (lower-case names such as ``destination_number``) and channel variables."""

    fields: dict[str, str]
    variables: dict[str, str]

    @classmethod
    def from_channel_data(cls, channel_data: Sequence[tuple[str, str]]) -> CallInfo:
        """From the channel data of the dialplan request: ``Caller-*`` headers and ``variable_*`` headers."""
        fields: dict[str, str] = {}
        variables: dict[str, str] = {}
        for name, value in channel_data:
            if name.startswith("Caller-"):
                fields.setdefault(name[len("Caller-") :].lower().replace("-", "_"), value)
            elif name.startswith("variable_"):
                variables.setdefault(name[len("variable_") :], value)
        return cls(fields, variables)

    def field(self, name: str) -> str:
        """A caller-profile field by its FreeSWITCH name (case-insensitive), empty when unknown."""
        key = name.lower()
        return self.fields.get(key, self.fields.get(_FIELD_ALIASES.get(key, key), ""))

    def expand(self, text: str) -> str:
        """``${name}`` replaced by the channel variable, empty if unset (switch_channel_expand_variables)."""
        return _VARIABLE.sub(lambda match: self.variables.get(match.group(1), ""), text)


def route(answer: str | ET.Element, channel_data: Sequence[tuple[str, str]]) -> Route | NotFound:
    """Hunt the channel described by ``channel_data`` in an xml_curl dialplan ``answer``."""
    root = parse_document(answer) if isinstance(answer, str) else answer
    if isinstance(root, NotFound):
        return root
    section = find_section(root, "dialplan")
    if section is None:
        return NotFound("no dialplan section")
    return hunt(section, CallInfo.from_channel_data(channel_data))


def hunt(section: ET.Element, call: CallInfo) -> Route:
    """``dialplan_hunt`` over one ``<section name="dialplan">`` (or any element holding contexts)."""
    context_name = call.field("context") or "default"
    context = _child_named(section, "context", context_name)
    if context is None:  # Elements with no children are falsy: no "or" here
        context = _child_named(section, "context", "global")
    if context is None:
        return Route(context=None)
    result = Route(context=context.get("name"))
    extensions = context.findall("extension")
    start = 0
    if _true(call.variables.get("auto_hunt")):
        named = _child_named(context, "extension", call.field("destination_number"))
        start = extensions.index(named) if named is not None else 0
    for extension in extensions[start:]:
        proceed = _Hunter(call, result, extension.get("name")).conditions(extension, recursion=0)
        if proceed and not _true(extension.get("continue")):
            break
    return result


def _true(value: str | None) -> bool:
    """switch_true: yes, on, true, t, enabled, active, allow, or a non-zero number."""
    text = (value or "").strip().lower()
    if text in {"yes", "on", "true", "t", "enabled", "active", "allow"}:
        return True
    return text.lstrip("-").isdigit() and int(text) != 0


def _data(element: ET.Element) -> str:
    """An action's argument: its text when it has some, else its ``data`` attribute."""
    text = element.text or ""
    return text if text.strip() else element.get("data", "")


def _search(expression: str, text: str) -> re.Match[str] | None:
    """switch_regex_perform: an unanchored search; a regex that does not compile matches nothing."""
    try:
        return re.search(expression, text)
    except re.error:
        return None


def _child_named(parent: ET.Element, tag: str, name: str) -> ET.Element | None:
    for child in parent.findall(tag):
        if (child.get("name") or "").lower() == name.lower():
            return child
    return None


def substitute(data: str, match: re.Match[str] | None) -> str:
    """``switch_perform_substitution``: ``$N`` and ``${N}`` become capture N (empty when absent)."""

    def group(found: re.Match[str]) -> str:
        number = int(found.group(1) or found.group(2))
        if match is None or number > (match.re.groups or 0):
            return ""
        return match.group(number) or ""

    return _CAPTURE.sub(group, data)


class _Hunter:
    """parse_exten for one extension: adds the actions of its passing conditions to ``route``."""

    def __init__(self, call: CallInfo, route: Route, name: str | None) -> None:
        self.call = call
        self.route = route
        self.name = name or "UNKNOWN"

    def _field_data(self, field_name: str) -> str:
        return self.call.expand(field_name) if "$" in field_name else self.call.field(field_name)

    def _expression(self, element: ET.Element) -> str:
        child = element.find("expression")
        text = (child.text or "") if child is not None else element.get("expression", "")
        return self.call.expand(text)

    def conditions(self, parent: ET.Element, recursion: int) -> bool:
        """Evaluate ``parent``'s conditions; True when the hunt may stop here (FreeSWITCH's ``proceed``)."""
        if recursion > 100:
            return False
        proceed = False
        for condition in parent.findall("condition"):
            do_break = (condition.get("break") or "on-false").lower()
            do_break = do_break if do_break in _BREAKS else "on-false"
            field_name = condition.get("field")
            if condition.get("regex") is not None:
                passed, match, captured = self._regex_block(condition)
                proceed = passed
            elif field_name is not None:
                expression = self._expression(condition)
                match = _search(expression, self._field_data(field_name))
                passed = proceed = match is not None
                captured = "(" in expression
            else:  # an absolute condition
                passed = proceed = True
                match, captured = None, False
            if not passed:
                for anti_action in condition.findall("anti-action"):
                    self._add(anti_action, _data(anti_action))
                    proceed = True
            else:
                for action in condition.findall("action"):
                    self._add(action, substitute(_data(action), match) if captured else _data(action))
            if (
                (passed and do_break == "on-true")
                or (not passed and do_break == "on-false")
                or do_break == "always"
            ):
                break
            if proceed and condition.find("condition") is not None:
                proceed = self.conditions(condition, recursion + 1)
                if not proceed:
                    if do_break == "never":
                        continue
                    break
        if recursion and not _true(parent.get("require-nested") or "true"):
            proceed = True
        return proceed

    def _regex_block(self, condition: ET.Element) -> tuple[bool, re.Match[str] | None, bool]:
        """``regex="all|any|xor"`` over ``<regex field= expression=>`` children: (passed, match, captured)."""
        rule = (condition.get("regex") or "").lower()
        passes = fails = 0
        saved: re.Match[str] | None = None
        captured = False
        for regex in condition.findall("regex"):
            expression = self._expression(regex)
            field_name = regex.get("field")
            if field_name is None:  # an absolute regex line
                passes += 1
                if rule not in {"all", "xor"}:
                    break
                continue
            match = _search(expression, self._field_data(field_name))
            if "(" in expression:
                saved, captured = match, True
            if match is not None:
                passes += 1
                if rule not in {"all", "xor"}:
                    break
            else:
                fails += 1
                if rule == "all":
                    break
        passed = passes == 1 if rule == "xor" else (not fails if rule == "all" else passes > 0)
        return passed, saved, captured

    def _add(self, element: ET.Element, data: str) -> None:
        action = Action(element.get("application", ""), data)
        inline = _true(element.get("inline"))
        loops = element.get("loop")
        count = int(loops) if loops and loops.strip().lstrip("-").isdigit() else 1
        for _ in range(count):
            (self.route.inline if inline else self.route.actions).append(action)
        if self.route.extension is None:
            self.route.extension = self.name
