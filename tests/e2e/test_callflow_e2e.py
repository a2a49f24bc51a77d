"""End to end, as operators run it: fsim, ecallmgr, the registrar and two callflow instances as separate
OS processes over the real RabbitMQ and pouchdb-server, with the demo's sample company.

Scripted callers walk the auto attendant: 1 reaches the sales ring group and is bridged to Alice, 2
rings Carol until her timeout and falls to the voicemail hand-off, 0 reaches the operator, silence
exhausts the attendant's retries. Both callflow instances take calls; after one is killed, new calls
still work.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fsim.client import EslClient
from tests.e2e.daemons import Daemon, free_port
from tests.ecallmgr.whapp_stub import Inbox
from whistle_common.bus import Bus, Delivery, QueueSpec
from whistle_common.store import Store
from whistle_demo.run import CALLERS, scenario_of
from whistle_demo.sample import SampleAccount, create_sample_account

TIME_SCALE = "0.05"
Message = dict[str, Any]


class Observer:
    """Everything on the bus about the test's calls: events, CDRs and hand-offs, by Call-ID."""

    def __init__(self, amqp_url: str) -> None:
        self.bus = Bus.from_url(amqp_url, app_name="e2e-observer", node=f"observer-{uuid.uuid4().hex[:8]}")
        self.inbox = Inbox()
        self.by_call: dict[str, list[Message]] = defaultdict(list)

    async def start(self) -> None:
        await self.bus.start()
        queue = QueueSpec(f"{self.bus.server_id}.observe", durable=False, exclusive=True, auto_delete=True)
        bindings = [("callevt", "call.*.*"), ("callevt", "cdr.*"), ("whapps", "#")]
        await self.bus.consume(queue, self._on_message, bindings=bindings, prefetch=1000)

    async def _on_message(self, delivery: Delivery) -> None:
        message = {**delivery.message, "_exchange": delivery.exchange, "_key": delivery.routing_key}
        if call_id := message.get("Call-ID"):
            self.by_call[str(call_id)].append(message)
        await self.inbox.add(message)

    def a_leg(self, caller_number: str) -> str:
        """The Call-ID of the (latest) call placed from ``caller_number``."""
        created = [
            m for m in self.inbox.messages
            if m.get("Event-Name") == "CHANNEL_CREATE" and m.get("Caller-ID-Number") == caller_number
            and m.get("Call-Direction") == "inbound"
        ]  # fmt: skip
        assert created, f"no call from {caller_number}"
        return str(created[-1]["Call-ID"])

    def events(self, call_id: str, name: str) -> list[Message]:
        return [m for m in self.by_call[call_id] if m.get("Event-Name") == name]

    def cdr(self, call_id: str) -> Message:
        [cdr] = [m for m in self.by_call[call_id] if m["_key"].startswith("cdr.")]
        return cdr


@pytest.fixture
async def company(couch_url: str) -> AsyncIterator[SampleAccount]:
    async with Store.open(couch_url) as store:
        yield await create_sample_account(store, realm=f"e2e-{uuid.uuid4().hex[:10]}.test")


async def play(esl_port: int, scenario: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Play ``scenario`` in the fsim process through its Event Socket; the callers' outcomes."""
    await asyncio.to_thread(path.write_text, json.dumps(scenario))
    async with await EslClient.connect("127.0.0.1", esl_port, timeout=120) as esl:
        reply = await esl.api(f"fsim_scenario run {path}")
    assert reply.startswith("+OK "), reply
    return list(json.loads(reply[4:])["callers"])


async def test_the_attendant_routes_callers_across_processes(
    amqp_url: str, couch_url: str, company: SampleAccount, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    esl_port, fetch_port = free_port(), free_port()
    common = ["--amqp-url", amqp_url, "--couch-url", couch_url]
    fsim = Daemon("fsim", ["fsim", "--esl", f"127.0.0.1:{esl_port}", "--time-scale", TIME_SCALE,
                           "--xml-curl-url", f"http://127.0.0.1:{fetch_port}/xml_curl",
                           "--require-registration", "--domain", company.realm])  # fmt: skip
    ecallmgr = Daemon("ecallmgr", [*common, "--node", f"ecm-{tag}", "run", "ecallmgr",
                                   "--node", f"fs1=127.0.0.1:{esl_port}",
                                   "--fetch-listen", f"127.0.0.1:{fetch_port}"])  # fmt: skip
    registrar = Daemon("registrar", [*common, "--node", f"reg-{tag}", "run", "registrar"])
    flows = [Daemon(f"callflow{i}", [*common, "--node", f"cf{i}-{tag}", "run", "callflow"]) for i in (1, 2)]
    daemons = [fsim, ecallmgr, registrar, *flows]
    observer = Observer(amqp_url)
    try:
        await observer.start()
        await fsim.start()
        await fsim.wait_for_line("listening|Event Socket")
        for daemon in (ecallmgr, registrar, *flows):
            await daemon.start()
        await ecallmgr.wait_for_line(r"fs1.*(connected|synced|up)")
        await registrar.wait_for_line("registrar started as")
        for flow in flows:
            await flow.wait_for_line("callflow started as")

        outcomes = await play(esl_port, scenario_of(company), tmp_path / "attendant.json")
        by_name = {outcome["name"]: outcome for outcome in outcomes}
        assert set(by_name) == {caller.name for caller in CALLERS}
        number = {caller.name: caller.number for caller in CALLERS}

        # 1: the sales ring group; Bob is busy, Alice answers and the caller is bridged to her
        sales = observer.a_leg(number["sales"])
        [bridge] = observer.events(sales, "CHANNEL_BRIDGE")
        assert bridge["Other-Leg-Caller-ID-Number"] == number["sales"] or bridge.get("Other-Leg-Call-ID")
        assert by_name["sales"]["digits_sent"] == ["1"]
        # 2: Carol never answers; her timeout sends the call to the voicemail hand-off
        support = observer.a_leg(number["support"])
        handoffs = [m for m in observer.by_call[support] if m["_exchange"] == "whapps"]
        assert [m["_key"] for m in handoffs] == ["voicemail.leave"]
        assert not observer.events(support, "CHANNEL_BRIDGE")
        # 0: the operator answers
        operator = observer.a_leg(number["operator"])
        assert observer.events(operator, "CHANNEL_BRIDGE")
        # silence: the greeting is played once per try, then the call ends
        silent = observer.a_leg(number["silent"])
        assert not observer.events(silent, "CHANNEL_BRIDGE")
        assert observer.events(silent, "CHANNEL_DESTROY")

        # every call ends with one CDR, and both callflow instances won calls
        for call in (sales, support, operator, silent):
            await observer.inbox.wait_for(lambda m, call=call: m["_key"] == f"cdr.{call}", timeout=30)
        winners = {observer.cdr(call)["Custom-Channel-Vars"].get("Route-Win-Server-ID")
                   for call in (sales, support, operator, silent)}  # fmt: skip
        assert len(winners) == 2, winners

        # one instance dies: new calls are still routed and driven, by the other one
        await flows[0].kill()
        again = scenario_of(company)
        again["registrations"] = []
        again["callers"] = [c for c in again["callers"] if c["name"] in ("operator", "sales")]
        for caller in again["callers"]:
            caller["at"] -= 1
        outcomes = await play(esl_port, again, tmp_path / "after-kill.json")
        assert {o["name"] for o in outcomes if o["answered"]} == {"operator", "sales"}
        assert observer.events(observer.a_leg(number["operator"]), "CHANNEL_BRIDGE")
    except BaseException:
        for daemon in daemons:
            print(daemon.log())
        raise
    finally:
        for daemon in reversed(daemons):
            await daemon.stop()
        await observer.bus.close()
