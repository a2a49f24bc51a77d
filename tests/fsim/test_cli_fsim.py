"""``whistle fsim`` and ``whistle fsim call``: help, one-line errors, and the real thing as OS processes.

The simulator runs as a subprocess on a free port (``:0``) with a fast clock; readiness is its "Event Socket
on <host:port>" line (then that port must answer); ``whistle fsim call`` places a call into it; SIGTERM
stops it with status 0.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from click.testing import CliRunner

from fsim.client import EslClient
from whistle_cli import main

ROOT = Path(__file__).resolve().parents[2]
WHISTLE = [sys.executable, "-c", "from whistle_cli import main; main()"]
STARTUP = 30.0  # real seconds for a subprocess to import everything and listen
TIMEOUT = 15.0
READY = re.compile(rb"fsim: Event Socket on 127\.0\.0\.1:(\d+),")  # its line once it listens
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fsim_and_fsim_call_explain_themselves():
    for command, option in ((["fsim"], "--xml-curl-url"), (["fsim", "call"], "--digits")):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output and option in result.output


def test_a_malformed_esl_address_is_a_usage_error():
    result = invoke("fsim", "call", "--esl", "localhost", "--to", "2000")
    assert result.exit_code == 2
    assert "expected HOST:PORT" in result.output


def test_calling_when_no_fsim_runs_is_one_clear_line_and_status_1():
    port = free_port()
    result = invoke("fsim", "call", "--esl", f"127.0.0.1:{port}", "--to", "2000")
    assert result.exit_code == 1
    assert result.output == f"Error: cannot connect to 127.0.0.1:{port}: connection refused\n"


def test_an_invalid_scenario_file_names_each_problem(tmp_path: Path):
    scenario = tmp_path / "bad.json"
    scenario.write_text('{"callers": [{"from": "1000"}], "speed": 2}')
    result = invoke("fsim", "--esl", "127.0.0.1:0", "--scenario", str(scenario))
    assert result.exit_code == 1
    assert "$.callers[0].to: is required" in result.output and "$.speed: unknown field" in result.output


def test_a_port_already_in_use_is_one_clear_line_and_status_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("fsim", "--esl", f"127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}:")
    assert len(result.output.splitlines()) == 1


async def whistle(*args: str, timeout: float = TIMEOUT) -> tuple[int, str]:
    """Run ``whistle <args>`` to its end; its exit status and its output (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        *WHISTLE, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode()


@asynccontextmanager
async def running_fsim() -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """``whistle fsim`` on a free port (``--esl 127.0.0.1:0``), 100x faster than real time, once it listens:
    the process and the port it reports. Killed if still running at the end."""
    process = await asyncio.create_subprocess_exec(
        *WHISTLE, "fsim", "--esl", "127.0.0.1:0", "--time-scale", "0.01",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(STARTUP):
            while not (ready := READY.match(line := await process.stdout.readline())):
                assert line, f"whistle fsim exited early with {await process.wait()}"
        yield process, int(ready.group(1))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_whistle_fsim_runs_takes_a_call_from_whistle_fsim_call_and_stops_on_sigterm():
    async with running_fsim() as (fsim, port):
        async with await EslClient.connect("127.0.0.1", port, timeout=TIMEOUT) as esl:  # the port answers
            assert (await esl.api("status")).startswith("UP ")

        status, output = await whistle(
            "fsim",
            "call",
            "--esl",
            f"127.0.0.1:{port}",
            "--from",
            "1000",
            "--to",
            "park_me",
            "--hangup-after",
            "0.1",
        )

        assert status == 0, output
        placed = re.search(
            rf"^call ({UUID}): placed loopback/park_me/default from 1000$", output, re.MULTILINE
        )
        assert placed, output
        uuid = placed.group(1)
        assert re.search(rf"^call {uuid}: parked \(dialplan leg {UUID}\)$", output, re.MULTILINE), output
        assert f"call {uuid}: hung up NORMAL_CLEARING" in output

        status, output = await whistle(
            "fsim", "call", "--esl", f"127.0.0.1:{port}", "--password", "no", "--to", "1"
        )
        assert (status, output) == (1, f"Error: 127.0.0.1:{port} refused the password: -ERR invalid\n")

        fsim.send_signal(signal.SIGTERM)
        assert fsim.stdout is not None
        async with asyncio.timeout(5.0):  # promptly
            rest = await fsim.stdout.read()
            assert await fsim.wait() == 0
        assert b"fsim: stopping" in rest
