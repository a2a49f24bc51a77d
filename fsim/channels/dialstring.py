"""Dial strings and api arguments: ``{global}[leg]target`` lists, ``,`` (simultaneous) and ``|`` (in turn).

Splitting respects ``{...}``, ``[...]``, ``<...>``, ``(...)`` and single/double quotes, and strips the quotes
of variable values (``origination_caller_id_name='Fixture Caller'`` gives ``Fixture Caller``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_OPEN = {"{": "}", "[": "]", "<": ">", "(": ")"}


def split_top(text: str, separators: str) -> list[str]:
    """Split ``text`` at any of ``separators`` that is outside brackets and quotes."""
    parts, current, depth, quote = [], [], [], ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in _OPEN:
            depth.append(_OPEN[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif not depth and char in separators:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def split_args(text: str) -> list[str]:
    """Space-separated arguments (``switch_separate_string``): brackets and quotes group; quotes go."""
    return [unquote(part) for part in split_top(text.strip(), " ") if part]


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_vars(text: str) -> dict[str, str]:
    """``a=b,c='d e'`` as a dict in order."""
    variables: dict[str, str] = {}
    for item in split_top(text, ","):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            variables[name.strip()] = unquote(value)
    return variables


def take_vars(text: str, opener: str) -> tuple[dict[str, str], str]:
    """Leading ``{...}``/``[...]``/``<...>`` blocks of ``text`` merged, and what follows them."""
    variables: dict[str, str] = {}
    text = text.lstrip()
    while text.startswith(opener):
        end = _matching(text, 0)
        if end < 0:
            break
        variables.update(parse_vars(text[1:end]))
        text = text[end + 1 :].lstrip()
    return variables, text


def _matching(text: str, start: int) -> int:
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _OPEN.values():
            depth -= 1
            if depth == 0:
                return index
    return -1


@dataclass
class DialLeg:
    """One target of a dial string, with its ``[per-leg]`` variables."""

    target: str
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.split("/", 1)[0].lower()

    @property
    def data(self) -> str:
        return self.target.split("/", 1)[1] if "/" in self.target else ""


@dataclass
class DialString:
    """``{global vars}`` and groups tried one after another, each group's legs rung at once."""

    variables: dict[str, str]
    groups: list[list[DialLeg]]


def parse_dial_string(text: str) -> DialString:
    """Parse ``{a=b}[c=d]loopback/x/default,user/1000|sofia/gw/123``."""
    global_vars, rest = take_vars(text.strip(), "{")
    enterprise, rest = take_vars(rest, "<")
    global_vars.update(enterprise)
    groups: list[list[DialLeg]] = []
    for group in split_top(rest, "|"):
        legs = []
        for item in split_top(group, ","):
            leg_vars, target = take_vars(item, "[")
            if target.strip():
                legs.append(DialLeg(target.strip(), leg_vars))
        if legs:
            groups.append(legs)
    return DialString(global_vars, groups)


def sanitize_number(number: str) -> str:
    """``switch_sanitize_number``: drop ``@host``, keep what follows the last ``/`` and ``:``."""
    if not any(char in number for char in "/:@"):
        return number
    number = number.split("@", 1)[0]
    for separator in "/:":
        number = number.rsplit(separator, 1)[-1]
    return number
