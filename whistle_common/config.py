"""Process settings: one place where environment variables are read, validated at start-up."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

from whistle_common.codec import CONTENT_TYPES, JSON

ENV_AMQP_URL = "WHISTLE_AMQP_URL"
ENV_COUCH_URL = "WHISTLE_COUCH_URL"
ENV_NODE = "WHISTLE_NODE"
ENV_CONTENT_TYPE = "WHISTLE_CONTENT_TYPE"

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_COUCH_URL = "http://127.0.0.1:5984"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the setting and its environment variable."""


@dataclass(frozen=True)
class Settings:
    """Where a process finds the bus and the database, and how it names itself on the bus."""

    amqp_url: str = DEFAULT_AMQP_URL
    couch_url: str = DEFAULT_COUCH_URL
    node: str = field(default_factory=socket.gethostname)
    content_type: str = JSON

    def __post_init__(self) -> None:
        if urlparse(self.amqp_url).scheme not in ("amqp", "amqps", "memory"):
            raise ConfigError(
                f"{ENV_AMQP_URL}={self.amqp_url!r}: expected amqp://user:pass@host:port/vhost or memory://name"
            )
        if urlparse(self.couch_url).scheme not in ("http", "https", "memory"):
            raise ConfigError(
                f"{ENV_COUCH_URL}={self.couch_url!r}: expected http(s)://[user:pass@]host:port or memory://"
            )
        if self.content_type not in CONTENT_TYPES:
            raise ConfigError(f"{ENV_CONTENT_TYPE}={self.content_type!r}: expected one of {CONTENT_TYPES}")
        if not self.node:
            raise ConfigError(f"{ENV_NODE} is empty")

    @classmethod
    def from_env(cls, **overrides: str | None) -> Settings:
        """Settings from the environment; an explicit (CLI) value in ``overrides`` wins when not None."""
        values = {
            "amqp_url": os.environ.get(ENV_AMQP_URL, DEFAULT_AMQP_URL),
            "couch_url": os.environ.get(ENV_COUCH_URL, DEFAULT_COUCH_URL),
            "node": os.environ.get(ENV_NODE) or socket.gethostname(),
            "content_type": os.environ.get(ENV_CONTENT_TYPE, JSON),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def new_server_id(app_name: str, node: str) -> str:
    """A process's own queue name on ``targeted``: readable, and unique per process start."""
    return f"{app_name}@{node}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
