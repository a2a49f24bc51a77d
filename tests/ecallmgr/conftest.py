"""Fixtures of the ecallmgr tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fsim.runtime import Simulator, SimulatorSettings


@pytest.fixture
async def sims() -> AsyncIterator[tuple[Simulator, Simulator]]:
    """Two running fsims (fs-one, fs-two) on free ports, at a hundred times real time."""
    async with (
        Simulator(SimulatorSettings(esl_port=0, time_scale=0.01, hostname="fs-one")) as one,
        Simulator(SimulatorSettings(esl_port=0, time_scale=0.01, hostname="fs-two")) as two,
    ):
        yield one, two
