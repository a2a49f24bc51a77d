"""The XML documents ecallmgr answers mod_xml_curl with, built with ElementTree (so every value is escaped).

Shapes (the ones FreeSWITCH accepted in ``xml-curl-*-response*.txt``):

* not found: ``<document type="freeswitch/xml"><section name="result"><result status="not found"/>``;
  FreeSWITCH then uses its static XML;
* dialplan: ``<section name="dialplan"><context name=CONTEXT><extension name=NAME><condition>`` with one
  ``<action application= data=/>`` per step (a condition without ``field`` always passes, and no regex
  capture means ``$1`` in a value is never substituted);
* directory: ``<section name="directory"><domain name=REALM><params>dial-string</params><groups>
  <group name="default"><users><user id=USER><params/><variables/>``.

Values that reach FreeSWITCH *application data* are also checked by :func:`inert`: ElementTree makes them
well-formed XML, but FreeSWITCH would still expand ``${...}`` (including API calls) when the application runs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

DOCUMENT_TYPE = "freeswitch/xml"
DIAL_STRING = "{presence_id=${dialed_user}@${dialed_domain}}${sofia_contact(${dialed_user}@${dialed_domain})}"

_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Action = tuple[str, str]  # (application, data)


def inert(value: str) -> bool:
    """Whether ``value`` may be put in application data: no control character and no ``${`` expansion."""
    return not _CONTROL.search(value) and "${" not in value


def variable_name(name: str) -> bool:
    """Whether ``name`` can be a channel variable name (``set NAME=value`` splits on the first ``=``)."""
    return bool(_VARIABLE_NAME.match(name))


def _document(section_name: str, **attributes: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("document", type=DOCUMENT_TYPE)
    section = ET.SubElement(root, "section", name=section_name, **attributes)
    return root, section


def to_text(root: ET.Element) -> str:
    """The document as text, with the XML declaration FreeSWITCH's own answers carry."""
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n{body}\n'


def not_found() -> str:
    """The answer that makes FreeSWITCH fall back to its static XML."""
    root, section = _document("result")
    ET.SubElement(section, "result", status="not found")
    return to_text(root)


def dialplan(actions: Sequence[Action], *, extension: str, context: str = "default") -> str:
    """One context with one extension whose (absolute) condition runs ``actions`` in order."""
    root, section = _document("dialplan", description="ecallmgr route")
    context_element = ET.SubElement(section, "context", name=context)
    extension_element = ET.SubElement(context_element, "extension", name=extension)
    condition = ET.SubElement(extension_element, "condition")
    for application, data in actions:
        action = ET.SubElement(condition, "action", application=application)
        if data:
            action.set("data", data)
    return to_text(root)


def directory_user(
    *,
    realm: str,
    user: str,
    params: Iterable[tuple[str, str]],
    variables: Iterable[tuple[str, str]],
) -> str:
    """A directory domain ``realm`` holding the single user ``user`` with its params and variables."""
    root, section = _document("directory")
    domain = ET.SubElement(section, "domain", name=realm)
    domain_params = ET.SubElement(domain, "params")
    ET.SubElement(domain_params, "param", name="dial-string", value=DIAL_STRING)
    group = ET.SubElement(ET.SubElement(domain, "groups"), "group", name="default")
    user_element = ET.SubElement(ET.SubElement(group, "users"), "user", id=user)
    user_params = ET.SubElement(user_element, "params")
    for name, value in params:
        ET.SubElement(user_params, "param", name=name, value=value)
    user_variables = ET.SubElement(user_element, "variables")
    for name, value in variables:
        ET.SubElement(user_variables, "variable", name=name, value=value)
    return to_text(root)
