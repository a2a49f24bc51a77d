"""The message catalogue: build and validate bus messages from the schemas in ``schemas/api/``."""

from whistle_common.api.catalogue import (
    Catalogue,
    MessageDefinition,
    Origin,
    build,
    json_path,
    snake_name,
    validate,
)
from whistle_common.api.errors import Issue, UnknownMessage, ValidationError

__all__ = [
    "Catalogue",
    "Issue",
    "MessageDefinition",
    "Origin",
    "UnknownMessage",
    "ValidationError",
    "build",
    "json_path",
    "snake_name",
    "validate",
]
