"""``fsim_scenario``: play a scenario in a running fsim over the Event Socket, for tests and load.

* ``api fsim_scenario run <file.json>``: plays it to its end and answers ``+OK <report JSON>`` (use
  ``bgapi`` so the connection stays free meanwhile);
* ``-ERR <reason>`` when the file is unreadable or invalid (every problem listed), or a scenario is
  already playing.

The report is one object per caller: name, uuid, answered, digits sent, hung up by whom.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from fsim.scenario import Scenario, ScenarioError, ScenarioReport, load_scenario

USAGE = "-USAGE: fsim_scenario run <scenario.json>\n"


def handler(start: Callable[[Scenario], Awaitable[ScenarioReport]]) -> Callable[[str], Awaitable[str]]:
    """The api handler; ``start`` plays a scenario to its end (``Simulator.play_scenario``)."""

    async def fsim_scenario(argument: str) -> str:
        verb, _, path = argument.strip().partition(" ")
        if verb != "run" or not path.strip():
            return USAGE
        try:
            scenario = load_scenario(Path(path.strip()))
        except OSError as error:
            return f"-ERR cannot read {path.strip()}: {error.strerror}\n"
        except ScenarioError as error:
            return f"-ERR {error}\n"
        try:
            report = await start(scenario)
        except RuntimeError as error:  # another scenario is playing
            return f"-ERR {error}\n"
        callers = [dataclasses.asdict(outcome) for outcome in report.callers]
        return "+OK " + orjson.dumps({"callers": callers}).decode() + "\n"

    return fsim_scenario
