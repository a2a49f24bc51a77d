"""The demo: fsim, ecallmgr and the whapps in one process, the sample company, and a few scripted calls.

By default everything is embedded (``memory://`` bus and store); give a RabbitMQ and a CouchDB URL and
the same demo runs against them. fsim plays the phones: the four people register their phones, callers
dial the attendant and press keys when the greeting ends, and each phone answers, is busy or never
answers as the sample says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from ecallmgr.service import Ecallmgr, EcallmgrSettings, NodeSpec
from fsim.runtime import Simulator, SimulatorSettings
from fsim.scenario import CallerOutcome, parse_scenario
from whapps.runner import make_bus, start_whapps
from whistle_common.config import Settings
from whistle_common.store import Store
from whistle_demo import TIME_SCALE
from whistle_demo.sample import MAIN_NUMBER, PASSWORD, PEOPLE, SampleAccount, create_sample_account
from whistle_demo.timeline import Timeline

log = logging.getLogger(__name__)

WHAPPS = ("callflow", "registrar")


@dataclass(frozen=True)
class DemoCaller:
    name: str
    number: str
    digits: str  # pressed when the attendant's greeting ends ('' presses nothing)
    story: str


CALLERS = (
    DemoCaller(
        "sales", "+14155550101", "1", "asks for sales: Alice and Bob ring, Bob is busy, Alice answers"
    ),
    DemoCaller(
        "support",
        "+14155550102",
        "2",
        "asks for Carol, who never answers: offered to voicemail (no voicemail whapp yet)",
    ),
    DemoCaller("operator", "+14155550103", "0", "dials 0 for the operator, who answers"),
    DemoCaller("silent", "+14155550104", "", "presses nothing: the attendant asks again, then gives up"),
)


def scenario_of(sample: SampleAccount) -> dict[str, Any]:
    """The fsim scenario (simulated seconds): phones register, then one caller every 2 seconds."""
    registrations = [
        {
            "user": person.extension,
            "realm": sample.realm,
            "password": PASSWORD,
            "at": 0,
            "network_port": 5100 + index,
        }
        for index, person in enumerate(PEOPLE)
    ]
    endpoints = [
        {"number": person.extension, "behaviour": person.answers, "answer_after": 2, "talk_time": 6}
        if person.answers == "answer"
        else {"number": person.extension, "behaviour": person.answers}
        for person in PEOPLE
    ]
    callers = []
    for index, caller in enumerate(CALLERS):
        spec: dict[str, Any] = {
            "name": caller.name,
            "from": caller.number,
            "to": MAIN_NUMBER,
            "at": 1 + 2 * index,
            "variables": {"sip_to_host": sample.realm, "sip_req_host": sample.realm},
            "hangup_at": 90,
        }
        if caller.digits:
            spec["dtmf"] = [{"digits": caller.digits, "after": "prompt"}]
        callers.append(spec)
    return {"registrations": registrations, "endpoints": endpoints, "callers": callers}


async def run_demo(
    amqp_url: str = "memory://demo",
    couch_url: str = "memory://",
    *,
    time_scale: float = TIME_SCALE,
    printer: Callable[[str], None] = print,
    timeout: float = 120.0,
) -> tuple[list[CallerOutcome], Timeline]:
    """Run the demo to its end; returns what happened to each caller and the timeline printed."""
    settings = Settings(amqp_url=amqp_url, couch_url=couch_url, node="demo")
    async with AsyncExitStack() as stack:
        store = Store.open(couch_url)
        stack.push_async_callback(store.aclose)
        sample = await create_sample_account(store)
        printer(
            f"sample account {sample.account_id} ({sample.realm}): attendant on {MAIN_NUMBER}, "
            f"extensions {', '.join(p.extension for p in PEOPLE)}"
        )
        ecallmgr = Ecallmgr(EcallmgrSettings(amqp_url=amqp_url, node="demo", fetch_port=0))
        await ecallmgr.start()
        stack.push_async_callback(ecallmgr.close)
        await start_whapps(stack, WHAPPS, settings, store)
        timeline_bus = make_bus(settings, "demo-timeline")
        await timeline_bus.start()
        stack.push_async_callback(timeline_bus.close)
        timeline = Timeline(timeline_bus, {c.number: c.name for c in CALLERS}, printer)
        await timeline.start()
        sim = Simulator(
            SimulatorSettings(
                esl_port=0,
                time_scale=time_scale,
                xml_curl_url=ecallmgr.fetch.url,
                hostname="fs-demo",
                domain=sample.realm,
                require_registration=True,
            )
        )
        await sim.start()
        stack.push_async_callback(sim.close)
        node = await ecallmgr.add_node(NodeSpec("fs1", "127.0.0.1", sim.esl_port))
        await node.wait_synced(10)
        for caller in CALLERS:
            printer(f"  {caller.name:<9} {caller.story}")
        report = await sim.run_scenario(parse_scenario(scenario_of(sample)), timeout=timeout)
        await ecallmgr.close()  # before fsim goes: a switch shutting down is not news to report
        return report.callers, timeline
