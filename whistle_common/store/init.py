"""Setting up a fresh installation's databases (``whistle db init``)."""

from __future__ import annotations

from whistle_common.store.names import GLOBAL_DBS
from whistle_common.store.store import Store


async def init_databases(store: Store) -> dict[str, list[str]]:
    """Create the global databases that are missing and install or update their views.

    Idempotent: running it again changes nothing. Returns, per global database, the design documents
    written (empty lists when everything was already in place). Raises StoreUnavailable.
    """
    written = {}
    for db in GLOBAL_DBS:
        await store.ensure_db(db)
        written[db] = await store.install_views(db)
    return written
