"""What mod_xml_curl POSTs: a form of FreeSWITCH's variables, read the same way by every section."""

from __future__ import annotations

from collections.abc import Mapping

Form = Mapping[str, str]


def first_of(form: Form, *names: str) -> str:
    """The first of ``names`` the form has a non-empty value for ('' when none)."""
    for name in names:
        value = form.get(name)
        if value:
            return value
    return ""
