"""A RabbitMQ virtual host of one's own on the machine's broker, for tests and benchmarks: durable pool
queues (``callflow.route_req``...) are then not shared with daemons running beside them."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

# rabbitmqctl must reach the machine's broker with the machine's settings, whatever a test later sets
_MACHINE_ENV = dict(os.environ)


def _rabbitmqctl(*args: str) -> bool:
    try:
        done = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, timeout=60, check=False, env=_MACHINE_ENV
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def private_vhost(url: str, prefix: str = "whistle-test") -> Iterator[str]:
    """``url`` on a new virtual host, deleted afterwards; ``url`` itself when rabbitmqctl cannot make
    one (another machine's broker, no rights)."""
    vhost = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if not _rabbitmqctl("add_vhost", vhost):
        yield url
        return
    try:
        if not _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
            yield url
            return
        yield f"{url.rstrip('/')}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)
