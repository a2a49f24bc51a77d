"""The message catalogue: one JSON Schema per message under ``schemas/api/``, and what follows from it.

A schema pins ``Event-Category`` and ``Event-Name`` (and ``Application-Name`` for call commands) with
``const``; ``x-exchange`` and ``x-routing-key`` say where the message is published (``{Header}`` words are
filled from the message and escaped); ``x-confirm: true`` marks messages that must not be lost.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin

import jsonschema_rs

from whistle_common import APP_VERSION
from whistle_common.api.errors import Issue, UnknownMessage, ValidationError
from whistle_common.routing import escape_word
from whistle_common.schema_files import compile_validators, load_folder

ENVELOPE = "envelope"
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9-]+)\}")


@dataclass(frozen=True)
class Origin:
    """Who is sending: the default headers every message carries."""

    app_name: str
    node: str
    server_id: str
    app_version: str = APP_VERSION


@dataclass(frozen=True)
class MessageDefinition:
    """One message of the catalogue, read from its schema file."""

    name: str
    schema: dict[str, Any]
    event_category: str | None
    event_name: str | None
    application_name: str | None
    exchange: str | None
    routing_key_template: str | None
    confirm: bool
    header_names: Mapping[str, str]  # snake_case -> Kazoo's wire name
    validator: jsonschema_rs.Validator

    def routing_key(self, message: Mapping[str, Any]) -> str:
        """The routing key for ``message``; raises ValidationError if a header the key needs is missing."""
        if self.routing_key_template is None:
            raise ValidationError(
                self.name, [Issue("$", "has no routing key of its own: pass one explicitly")]
            )
        words = []
        for literal, header in _template_parts(self.routing_key_template):
            if header is None:
                words.append(literal)
                continue
            value = message.get(header)
            if value in (None, ""):
                raise ValidationError(self.name, [Issue(f"$.{header}", "needed for the routing key")])
            words.append(escape_word(str(value)))
        return "".join(words)


@cache
def _template_parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """``call.{Event-Name}.{Call-ID}`` -> literal and header parts, parsed once per template."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > position:
            parts.append((template[position : match.start()], None))
        parts.append(("", match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append((template[position:], None))
    return tuple(parts)


def _const(schema: Mapping[str, Any], header: str) -> str | None:
    spec = schema.get("properties", {}).get(header, {})
    return spec.get("const")


def _property_names(schema: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Header names a schema declares, including those of the schemas it ``$ref``s through ``allOf``."""
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        ref = part.get("$ref")
        if ref:
            target = urljoin(schema.get("$id", ""), ref.split("#", 1)[0]).removesuffix(".json")
            names |= _property_names(schemas[target], schemas)
        else:
            names |= _property_names({"$id": schema.get("$id", ""), **part}, schemas)
    return names


def json_path(parts: Iterable[str | int]) -> str:
    """``["Routes", 0, "Invite-Format"]`` -> ``$.Routes[0].Invite-Format``: readable in logs and replies."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def snake_name(header: str) -> str:
    """``Custom-Channel-Vars`` -> ``custom_channel_vars``: how Python code names a header."""
    return header.lower().replace("-", "_")


class Catalogue:
    """Every message definition, looked up by name or by the headers of a received message."""

    def __init__(self, schemas: Mapping[str, dict[str, Any]]) -> None:
        self._definitions: dict[str, MessageDefinition] = {}
        self._by_headers: dict[tuple[str | None, str | None, str | None], MessageDefinition] = {}
        validators = compile_validators("api", schemas)
        for name, schema in schemas.items():
            if name == ENVELOPE or name.rsplit("/", 1)[-1].startswith("_"):
                continue  # shared parts, not messages
            definition = MessageDefinition(
                name=name.replace("/", "."),
                schema=schema,
                event_category=_const(schema, "Event-Category"),
                event_name=_const(schema, "Event-Name"),
                application_name=_const(schema, "Application-Name"),
                exchange=schema.get("x-exchange"),
                routing_key_template=schema.get("x-routing-key"),
                confirm=bool(schema.get("x-confirm", False)),
                header_names={snake_name(h): h for h in _property_names(schema, schemas)},
                validator=validators[name],
            )
            key = (definition.event_category, definition.event_name, definition.application_name)
            if key in self._by_headers:
                raise ValueError(
                    f"schemas {self._by_headers[key].name} and {definition.name} both claim {key}"
                )
            self._definitions[definition.name] = definition
            self._by_headers[key] = definition

    @classmethod
    @cache
    def default(cls) -> Catalogue:
        """The catalogue of the repository's ``schemas/api/``."""
        return cls(load_folder("api"))

    @property
    def names(self) -> list[str]:
        return sorted(self._definitions)

    def definition(self, name: str) -> MessageDefinition:
        """The definition called ``name`` (``route_req``, ``call_command.play``); raises UnknownMessage."""
        try:
            return self._definitions[name]
        except KeyError:
            raise UnknownMessage(name, [Issue("$", f"no message called {name!r} in the catalogue")]) from None

    def definition_for(self, message: Mapping[str, Any]) -> MessageDefinition:
        """The definition describing a received message, found from its Event-Category/Event-Name."""
        category, event, app = (message.get(h) for h in ("Event-Category", "Event-Name", "Application-Name"))
        if not all(value is None or isinstance(value, str) for value in (category, event, app)):
            reason = "Event-Category, Event-Name and Application-Name must be strings"
            raise UnknownMessage("message", [Issue("$", reason)])
        for key in ((category, event, app), (category, event, None), (category, None, None)):
            if key in self._by_headers:
                return self._by_headers[key]
        described = f"Event-Category {category!r}, Event-Name {event!r}"
        if app is not None:
            described += f", Application-Name {app!r}"
        raise UnknownMessage("message", [Issue("$", f"unknown message: {described}")])

    def issues(self, message: Any, name: str | None = None) -> list[Issue]:
        """Every reason ``message`` is invalid (empty when it is valid), each with its JSON path."""
        return self._check(message, name)[1]

    def validate(self, message: Any, name: str | None = None) -> MessageDefinition:
        """Return the message's definition, or raise ValidationError carrying every issue."""
        definition, problems = self._check(message, name)
        if definition is None or problems:
            subject = message.get("Event-Name") if isinstance(message, Mapping) else None
            raise ValidationError(name or str(subject or "message"), problems)
        return definition

    def _check(self, message: Any, name: str | None) -> tuple[MessageDefinition | None, list[Issue]]:
        if not isinstance(message, Mapping):
            return None, [Issue("$", f"a message is a JSON object, not {type(message).__name__}")]
        try:
            definition = self.definition(name) if name else self.definition_for(message)
        except UnknownMessage as exc:
            return None, exc.issues
        if definition.validator.is_valid(message):
            return definition, []  # the common case, in microseconds; collecting every reason costs more
        found = {
            Issue(json_path(error.instance_path), error.message)
            for error in definition.validator.iter_errors(message)
        }
        return definition, sorted(found, key=lambda issue: (issue.path, issue.reason))

    def build(
        self, name: str, fields: Mapping[str, Any] | None = None, /, *, origin: Origin, **headers: Any
    ) -> dict[str, Any]:
        """A valid message ``name`` from wire-named ``fields`` and snake_case ``headers``.

        Fills Event-Category, Event-Name (and Application-Name) from the schema, the origin's App-Name,
        App-Version, Node and Server-ID, and a fresh Msg-ID unless given. Empty values are dropped.
        Raises ValidationError for an unknown header name or an invalid result.
        """
        definition = self.definition(name)
        message: dict[str, Any] = {
            "App-Name": origin.app_name,
            "App-Version": origin.app_version,
            "Node": origin.node,
            "Server-ID": origin.server_id,
            "Msg-ID": uuid.uuid4().hex,
        }
        for header, value in (
            ("Event-Category", definition.event_category),
            ("Event-Name", definition.event_name),
            ("Application-Name", definition.application_name),
        ):
            if value is not None:
                message[header] = value
        message.update(fields or {})
        unknown = [
            Issue(f"$.{key}", "not a header of this message")
            for key in headers
            if key not in definition.header_names
        ]
        if unknown:
            raise ValidationError(name, unknown)
        message.update({definition.header_names[key]: value for key, value in headers.items()})
        message = {k: v for k, v in message.items() if v is not None and (v != "" or k == "Server-ID")}
        self.validate(message, definition.name)
        return message


def build(
    name: str, fields: Mapping[str, Any] | None = None, /, *, origin: Origin, **headers: Any
) -> dict[str, Any]:
    """``Catalogue.default().build``: see there."""
    return Catalogue.default().build(name, fields, origin=origin, **headers)


def validate(message: Any, name: str | None = None) -> list[Issue]:
    """Every reason ``message`` is invalid, with its JSON path; an empty list means it is valid."""
    return Catalogue.default().issues(message, name)
