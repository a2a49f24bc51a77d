"""RabbitMQ for the integration tests: the machine's broker, or one the tests start and own.

``amqp_url`` is the machine's broker on 127.0.0.1:5672 (or ``$WHISTLE_TEST_AMQP_URL``); if none answers,
it falls back to the broker ``owned_broker`` starts. ``owned_broker`` is a broker process on free ports,
bound to 127.0.0.1 only, which tests may stop and start (the broker-restart test does).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pytest_rabbitmq import factories

from tests.vhost import private_vhost  # first: it keeps the environment rabbitmqctl needs

# pytest-rabbitmq sets no listen address: without these the broker, its distribution port and epmd
# would listen on every interface (python-deps.md section 2).
os.environ.setdefault("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
os.environ.setdefault("ERL_EPMD_ADDRESS", "127.0.0.1")
os.environ.setdefault("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")

MACHINE_BROKER = "amqp://guest:guest@127.0.0.1:5672/"
_RUN_DIR = Path(__file__).resolve().parent.parent / ".run" / "rabbitmq"
_PLUGIN_DIR = _RUN_DIR / "plugins"
_PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
# Debian's /etc/rabbitmq pins the listener to 5672 and the node name to rabbit@localhost, which are the
# machine broker's; the owned broker reads empty files instead and takes the fixture's port and name.
for _name in ("rabbitmq.conf", "rabbitmq-env.conf"):
    (_RUN_DIR / _name).touch()
os.environ.setdefault("RABBITMQ_CONFIG_FILE", str(_RUN_DIR / "rabbitmq.conf"))
os.environ.setdefault("RABBITMQ_CONF_ENV_FILE", str(_RUN_DIR / "rabbitmq-env.conf"))

owned_broker = factories.rabbitmq_proc(port=None, distribution_port=None, plugindir=_PLUGIN_DIR)


def broker_answers(url: str) -> bool:
    """Whether something accepts TCP connections where ``url`` points."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=1):
            return True
    except OSError:
        return False


def owned_broker_url(executor: object) -> str:
    return f"amqp://guest:guest@127.0.0.1:{executor.port}/"  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def amqp_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a running RabbitMQ for tests that only need one: the machine's (on a private virtual
    host when we can make one), or else a broker the tests start."""
    url = os.environ.get("WHISTLE_TEST_AMQP_URL")
    if url is not None and broker_answers(url):
        yield url
        return
    if broker_answers(MACHINE_BROKER):
        with private_vhost(MACHINE_BROKER) as private:
            yield private
        return
    yield owned_broker_url(request.getfixturevalue("owned_broker"))
