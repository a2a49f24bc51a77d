"""Fixtures shared by every test folder: the real services the integration tests talk to."""

from tests.couch_server import couch_url  # noqa: F401  (session fixture: a pouchdb-server on a free port)
from tests.rabbit_broker import amqp_url, owned_broker  # noqa: F401  (session fixtures: RabbitMQ)
