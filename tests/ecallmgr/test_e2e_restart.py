"""Continuity: ecallmgr as its own OS process is SIGKILLed with a call parked on fsim; the commands sent
while it is down wait in the call's durable control queue and run once it is started again."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fsim.runtime import Simulator, SimulatorSettings
from tests.ecallmgr.whapp_stub import WAIT, Inbox, TestWhapp

WHISTLE = Path(sys.executable).parent / "whistle"
SHORT_TONE = "tone_stream://%(100,100,350,440)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EcallmgrProcess:
    """``whistle run ecallmgr`` in a child process; its log lines are collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log = Inbox()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            await self.log.add({"line": line.decode(errors="replace").rstrip()})

    async def wait_log(self, text: str) -> None:
        await self.log.wait_for(lambda entry: text in entry["line"], WAIT)

    async def stop(self, number: int = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(number)
        async with asyncio.timeout(WAIT):
            code = await self.process.wait()
            await self._reader
        return code

    def output(self) -> str:
        return "\n".join(entry["line"] for entry in self.log.messages)


@asynccontextmanager
async def ecallmgr_process(
    amqp_url: str, node: str, esl_port: int, fetch_port: int
) -> AsyncIterator[EcallmgrProcess]:
    env = {**os.environ, "WHISTLE_AMQP_URL": amqp_url, "WHISTLE_NODE": node, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        str(WHISTLE),
        "run",
        "ecallmgr",
        "--node",
        f"fs1=127.0.0.1:{esl_port}",
        "--fetch-listen",
        f"127.0.0.1:{fetch_port}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = EcallmgrProcess(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            await running.stop(signal.SIGKILL)


async def test_commands_sent_while_ecallmgr_is_down_run_when_it_comes_back(amqp_url: str) -> None:
    tag = uuid.uuid4().hex[:12]
    node = f"ecallmgr-e2e-{tag}"
    fetch_port = free_port()
    call_id = str(uuid.uuid4())
    sim_settings = SimulatorSettings(
        esl_port=0,
        time_scale=0.01,
        hostname=f"fs-{tag}",
        xml_curl_url=f"http://127.0.0.1:{fetch_port}/xml_curl",
    )
    async with TestWhapp(amqp_url, tag) as whapp, Simulator(sim_settings) as sim:
        whapp.expect(call_id)
        events = await whapp.watch(call_id)

        async with ecallmgr_process(amqp_url, node, sim.esl_port, fetch_port) as first:
            await first.wait_log("node fs1: connected")
            sim.switch.inbound_call("2000", caller_id_number="1000", uuid=call_id)
            win = await whapp.route_win(call_id)
            queue = win["Control-Queue"]
            answer = await whapp.command(call_id, queue, "answer")
            await whapp.completion(call_id, answer["Msg-ID"])
            assert await first.stop(signal.SIGKILL) == -signal.SIGKILL

        # ecallmgr is gone: the commands wait in the durable control queue
        play = await whapp.command(call_id, queue, "play", **{"Media-Name": SHORT_TONE})
        noop = await whapp.command(call_id, queue, "noop")
        channel = sim.switch.channels.get(call_id)
        assert channel is not None and channel.answered

        async with ecallmgr_process(amqp_url, node, sim.esl_port, fetch_port) as second:
            try:
                await whapp.completion(call_id, noop["Msg-ID"])
            except TimeoutError as error:
                raise AssertionError(
                    f"no completion after the restart; ecallmgr said:\n{second.output()}"
                ) from error
            got = whapp.completions(call_id, {play["Msg-ID"], noop["Msg-ID"]})
            assert [(m["Event-Name"], m["Application-Name"], m["Msg-ID"]) for m in got] == [
                ("CHANNEL_EXECUTE_COMPLETE", "play", play["Msg-ID"]),
                ("CHANNEL_EXECUTE_COMPLETE", "noop", noop["Msg-ID"]),
            ]
            assert got[0]["Application-Response"] == "FILE PLAYED"
            assert sim.switch.channels.get(call_id) is channel and channel.answered  # still up
            assert not any(m.get("Event-Name") == "CHANNEL_DESTROY" for m in events.messages)

            hangup = await whapp.command(call_id, queue, "hangup")
            await whapp.completion(call_id, hangup["Msg-ID"])
            await events.wait_for(lambda m: m.get("Event-Name") == "CHANNEL_DESTROY")
            assert await second.stop() == 0, second.output()  # SIGTERM: CDRs in flight are confirmed

        await whapp.cdr_barrier()
        [cdr] = whapp.cdrs_of(call_id)
        assert cdr["Caller-ID-Number"] == "1000" and cdr["Disposition"] == "ANSWER"
