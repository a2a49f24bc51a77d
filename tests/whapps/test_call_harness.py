"""The Call object and the executor against a scripted call on the in-memory bus."""

from __future__ import annotations

import asyncio

import pytest

from tests.whapps.scripted import CallflowHarness
from whapps.call import CallHungUp, CommandFailed
from whapps.callflow.executor import run_flow
from whapps.callflow.flow import FlowContext


async def test_a_flow_ends_with_a_hangup_of_its_cause() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "hangup", "data": {"hangup_cause": "USER_BUSY"}})
        assert switch.applications() == ["hangup"]
        assert switch.commands[0]["Hangup-Cause"] == "USER_BUSY"
        assert switch.hung_up


async def test_a_command_raises_when_the_caller_hangs_up_meanwhile() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch(hangup_after=1)
        call = await h.call(switch)
        with pytest.raises(CallHungUp):
            await call.play("/system_media/hello")
        assert call.hangup_cause == "NORMAL_CLEARING"


async def test_a_dialplan_error_raises_command_failed() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch(failures={"play": "nosession"})
        call = await h.call(switch)
        with pytest.raises(CommandFailed, match="nosession"):
            await call.play("/system_media/hello")


async def test_collected_digits_come_back() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch(digits=["42"])
        call = await h.call(switch)
        assert await call.play_and_collect("/system_media/menu", max_digits=2) == "42"


async def test_invalid_module_data_plays_the_failure_prompt_and_hangs_up() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "hangup", "data": {"hangup_cause": "not a cause"}})
        assert switch.applications() == ["play", "hangup"]


async def test_a_flow_stopped_with_its_process_leaves_the_call_up() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch(hold=["play"])  # the prompt plays on until something stops it
        call = await h.call(switch)
        context = FlowContext(call=call, account_id=h.account_id, callflow={"_id": "cf"}, whapp=h.whapp)
        flow = asyncio.ensure_future(run_flow(context, {"module": "play", "data": {"id": "ivr/long.wav"}}))
        async with asyncio.timeout(5):
            while not switch.of("play"):
                switch.received.clear()
                await switch.received.wait()
        flow.cancel()  # what stopping the whapp does to the flows it still drives
        await asyncio.gather(flow, return_exceptions=True)
        assert switch.applications() == ["answer", "play"]  # and no hangup: the call is left as it is
        assert not switch.hung_up
