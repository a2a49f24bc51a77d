"""CDRs wait on disk until the broker confirms them, and the next start publishes what was left."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ecallmgr.publisher as publisher_module
from ecallmgr.cdr_spool import CdrSpool
from ecallmgr.publisher import EventPublisher
from tests.ecallmgr.test_publisher_cdr_retry import CdrReader, RefusingTransport, hangup_event
from whistle_common.bus import Bus, MemoryBroker, MemoryTransport


def test_kept_files_are_listed_oldest_first_and_a_broken_one_is_set_aside(tmp_path: Path) -> None:
    spool = CdrSpool(tmp_path)
    for index in range(3):
        asyncio.run(spool.keep({"Call-ID": f"call-{index}", "Msg-ID": "m"}))
    (tmp_path / "torn.json").write_bytes(b'{"Call-ID": "half')
    assert [message["Call-ID"] for _, message in spool.kept()] == ["call-0", "call-1", "call-2"]
    assert (tmp_path / "torn.bad").exists() and not (tmp_path / "torn.json").exists()
    path, _ = spool.kept()[0]
    asyncio.run(spool.done(path))
    assert [message["Call-ID"] for _, message in spool.kept()] == ["call-1", "call-2"]


async def test_a_cdr_unconfirmed_at_shutdown_is_published_by_the_next_start(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(publisher_module, "CDR_RETRY_FIRST", 0.01)
    hangup = hangup_event()

    # first run: the broker never confirms; ecallmgr stops with the CDR unsent
    down = Bus(RefusingTransport(MemoryBroker(), refusals=10**9), app_name="ecallmgr", node="first")
    await down.start()
    first = EventPublisher(down, spool=CdrSpool(tmp_path))
    await first.handle("fs1", hangup)
    await first.close(timeout=0.1)
    await down.close()
    assert [message["Call-ID"] for _, message in CdrSpool(tmp_path).kept()] == [hangup["Unique-ID"]]

    # next start: what was left goes out first, once, and leaves the spool
    broker = MemoryBroker()
    bus = Bus(MemoryTransport(broker), app_name="ecallmgr", node="second")
    await bus.start()
    reader = await CdrReader(broker).start()
    second = EventPublisher(bus, spool=CdrSpool(tmp_path))
    try:
        assert second.replay_spool() == 1
        await reader.first()
        await second.flush(10)
    finally:
        await second.close()
        await reader.bus.close()
        await bus.close()
    assert [message["Call-ID"] for message in reader.received] == [hangup["Unique-ID"]]
    assert CdrSpool(tmp_path).kept() == []


class FullDisk(CdrSpool):
    async def keep(self, message: dict) -> Path:  # type: ignore[override]
        raise OSError(28, "No space left on device")


async def test_a_spool_that_cannot_be_written_still_lets_the_cdr_out(tmp_path: Path) -> None:
    broker = MemoryBroker()
    bus = Bus(MemoryTransport(broker), app_name="ecallmgr", node="full")
    await bus.start()
    reader = await CdrReader(broker).start()
    publisher = EventPublisher(bus, spool=FullDisk(tmp_path))
    try:
        await publisher.handle("fs1", hangup_event())
        await reader.first()
    finally:
        await publisher.close()
        await reader.bus.close()
        await bus.close()
    assert publisher.stats.cdrs == 1
