"""Fixtures shared by every test folder: the real services the integration tests talk to."""

import pytest

from tests.couch_server import couch_url  # noqa: F401  (session fixture: a pouchdb-server on a free port)
from tests.rabbit_broker import amqp_url, owned_broker  # noqa: F401  (session fixtures: RabbitMQ)


@pytest.fixture(autouse=True)
def cdr_spool(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """A CDR spool of each test's own for every ecallmgr it starts (processes inherit the variable):
    what one test leaves unconfirmed must not be replayed into another."""
    directory = str(tmp_path_factory.mktemp("cdr-spool"))
    monkeypatch.setenv("ECALLMGR_CDR_SPOOL", directory)
    return directory
