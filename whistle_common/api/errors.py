"""What the message catalogue raises: every reason a message is invalid, each with its JSON path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One reason a message or document fails its schema; ``path`` is a JSON path such as ``$.Routes[0]``."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ValidationError(ValueError):
    """A message or document does not match its schema; ``issues`` lists every reason."""

    def __init__(self, subject: str, issues: list[Issue]) -> None:
        self.subject = subject
        self.issues = issues
        super().__init__(f"{subject} is invalid: " + "; ".join(str(issue) for issue in issues))


class UnknownMessage(ValidationError):
    """No schema in the catalogue describes this message (or this name)."""
