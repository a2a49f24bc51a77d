"""Reading a directory answer (xml_curl ``section=directory``) into the user FreeSWITCH would use.

``find_user(answer, domain=..., user=...)`` mirrors ``switch_xml_locate_user_merged``:

* :class:`~fsim.xml_curl.NotFound` when FreeSWITCH would look in its *static* directory instead: the answer is
  ``<result status="not found"/>``, does not parse, or has no ``<section name="directory">`` with a
  ``<domain name=...>`` for that domain;
* ``None`` when the domain is there but not the user: FreeSWITCH does *not* fall back then (for SIP auth
  that is "Can't find user", a 403);
* otherwise a :class:`DirectoryUser`. Users are searched in ``<groups><group><users>`` first, then in the
  domain's ``<users>`` (or directly under the domain), matching ``id`` or ``number-alias``
  case-insensitively. The user's params and variables are merged with its group's and its domain's, the
  user's own winning (``switch_xml_merge_user``); inherited entries are appended after the user's own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from fsim.xml_curl import NotFound, find_section, parse_document


@dataclass
class DirectoryUser:
    """One directory user: ``<user id=...>`` with its (merged) params and variables, in document order."""

    id: str
    domain: str
    params: list[tuple[str, str]] = field(default_factory=list)
    variables: list[tuple[str, str]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    group: str | None = None

    def param(self, name: str) -> str | None:
        """The value of ``<param name=...>`` (names compared case-insensitively, as sofia does)."""
        for key, value in self.params:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def password(self) -> str | None:
        return self.param("password")

    @property
    def a1_hash(self) -> str | None:
        return self.param("a1-hash")

    @property
    def number_alias(self) -> str:
        """``number-alias`` attribute, else the id (what sofia reports as ``sip_number_alias``)."""
        return self.attributes.get("number-alias") or self.id

    @property
    def is_pointer(self) -> bool:
        """``type="pointer"`` users cannot register."""
        return self.attributes.get("type", "").lower() == "pointer"


def find_user(answer: str | ET.Element, *, domain: str, user: str) -> DirectoryUser | NotFound | None:
    """The user ``user`` (by id or number-alias) of ``domain`` in a directory answer; see the module doc."""
    root = parse_document(answer) if isinstance(answer, str) else answer
    if isinstance(root, NotFound):
        return root
    section = find_section(root, "directory")
    if section is None:
        return NotFound("no directory section")
    domain_element = next(
        (item for item in section.findall("domain") if (item.get("name") or "").lower() == domain.lower()),
        None,
    )
    if domain_element is None:
        return NotFound(f"no domain {domain}")
    found = _locate(domain_element, user)
    if found is None:
        return None
    user_element, group_element = found
    params = _entries(user_element, "params", "param")
    variables = _entries(user_element, "variables", "variable")
    for inherited in (group_element, domain_element):
        if inherited is not None:
            params = _merge(params, _entries(inherited, "params", "param"))
            variables = _merge(variables, _entries(inherited, "variables", "variable"))
    return DirectoryUser(
        id=user_element.get("id", user),
        domain=domain_element.get("name", domain),
        params=params,
        variables=variables,
        attributes=dict(user_element.attrib),
        group=group_element.get("name") if group_element is not None else None,
    )


def _matches(element: ET.Element, user: str) -> bool:
    wanted = user.lower()
    return (element.get("id") or "").lower() == wanted or (
        element.get("number-alias") or ""
    ).lower() == wanted


def _locate(domain: ET.Element, user: str) -> tuple[ET.Element, ET.Element | None] | None:
    for group in domain.findall("groups/group"):
        for candidate in group.findall("users/user"):
            if _matches(candidate, user):
                return candidate, group
    users = domain.find("users")
    for candidate in (users if users is not None else domain).findall("user"):
        if _matches(candidate, user):
            return candidate, None
    return None


def _entries(element: ET.Element, container: str, tag: str) -> list[tuple[str, str]]:
    return [(item.get("name", ""), item.get("value", "")) for item in element.findall(f"{container}/{tag}")]


def _merge(own: list[tuple[str, str]], inherited: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = {name.lower() for name, _ in own}
    return own + [(name, value) for name, value in inherited if name.lower() not in names]
