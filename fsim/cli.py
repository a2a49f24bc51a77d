"""``whistle fsim``: run the FreeSWITCH simulator, or place a call into a running one.

``whistle fsim --esl 127.0.0.1:8021 --password ClueCon --xml-curl-url URL [--scenario FILE]`` runs fsim in
the foreground until SIGINT or SIGTERM (then it hangs up its calls and exits 0).
``whistle fsim call --from 1000 --to 2000 --digits 1#`` places one call into a running fsim the way the
recordings did: ``bgapi originate {...}loopback/2000/default &park()``, whose ``-b`` leg runs the dialplan
(so mod_xml_curl is asked), then ``uuid_send_dtmf`` on the ``-a`` leg.
"""

from __future__ import annotations

import asyncio
import signal
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass

import click

from fsim.client import EslClient, EslError, EslEvent, EslTimeout
from fsim.runtime import Simulator, SimulatorSettings
from fsim.scenario import ScenarioError, ScenarioReport, load_scenario

Echo = Callable[[str], None]
CALL_EVENTS = ("CHANNEL_PARK", "CHANNEL_ANSWER", "PLAYBACK_STOP", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8021`` for IPv6); raises click.BadParameter."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8021")
    return host.strip("[]"), int(port)


def _address(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    return parse_address(value)


def esl_options(function: Callable[..., None]) -> Callable[..., None]:
    """``--esl`` and ``--password``, the same for running fsim and for calling into it."""
    function = click.option(
        "--password", default="ClueCon", show_default=True, envvar="FSIM_PASSWORD",
        help="Event Socket password [env FSIM_PASSWORD].",
    )(function)  # fmt: skip
    return click.option(
        "--esl", default="127.0.0.1:8021", show_default=True, envvar="FSIM_ESL", callback=_address,
        help="Event Socket HOST:PORT [env FSIM_ESL].",
    )(function)  # fmt: skip


# -- running the simulator ----------------------------------------------------------------------------


@click.group(
    invoke_without_command=True,
    help="fsim, the FreeSWITCH simulator: Event Socket, mod_xml_curl, calls, registrations. Without a "
    "subcommand it runs in the foreground until SIGINT/SIGTERM.",
)
@esl_options
@click.option(
    "--xml-curl-url", envvar="FSIM_XML_CURL_URL",
    help="mod_xml_curl gateway URL for dialplan and directory lookups; without it the static dialplan "
    "(park_me, answer_park, 9999, conf_<room>) and directory (1000, 1001) answer [env FSIM_XML_CURL_URL].",
)  # fmt: skip
@click.option(
    "--xml-curl-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
    help="Seconds a lookup may take before the static XML is used (0: no limit).",
)  # fmt: skip
@click.option(
    "--scenario", type=click.Path(exists=True, dir_okay=False),
    help="JSON scenario of callers, endpoints and registrations to play (see fsim.scenario).",
)  # fmt: skip
@click.option(
    "--time-scale", type=click.FloatRange(min=0, min_open=True),
    help="Real seconds per simulated second (0.01: a hundred times faster) [default: the scenario's, or 1].",
)  # fmt: skip
@click.option("--sounds-dir", type=click.Path(file_okay=False), help="Where relative sound files are found.")
@click.option(
    "--require-registration", is_flag=True,
    help="Calls to user/<id> fail (USER_NOT_REGISTERED) unless the device is registered.",
)  # fmt: skip
@click.option(
    "--domain", default="127.0.0.1", show_default=True,
    help="The SIP domain of the switch: inbound calls' To/Request host, and the static directory's.",
)  # fmt: skip
@click.pass_context
def fsim(
    ctx: click.Context,
    esl: tuple[str, int],
    password: str,
    xml_curl_url: str | None,
    xml_curl_timeout: float,
    scenario: str | None,
    time_scale: float | None,
    sounds_dir: str | None,
    require_registration: bool,
    domain: str,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    try:
        loaded = load_scenario(scenario) if scenario else None
    except ScenarioError as error:
        raise click.ClickException(f"{scenario}: {error}") from error
    settings = SimulatorSettings(
        esl_host=esl[0],
        esl_port=esl[1],
        esl_password=password,
        xml_curl_url=xml_curl_url,
        xml_curl_timeout=xml_curl_timeout,
        time_scale=time_scale or (loaded.time_scale if loaded else 1.0),
        require_registration=require_registration,
        sounds_dir=sounds_dir,
        scenario=loaded,
        domain=domain,
    )
    asyncio.run(serve(settings, click.echo))


async def serve(settings: SimulatorSettings, echo: Echo) -> None:
    """Run a Simulator until SIGINT or SIGTERM, then close it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    simulator = Simulator(settings)
    try:
        try:
            await simulator.start()
        except OSError as error:
            where = f"{settings.esl_host}:{settings.esl_port}"
            raise click.ClickException(f"cannot listen on {where}: {error.strerror or error}") from None
        via = settings.xml_curl_url or "the static dialplan and directory"
        echo(
            f"fsim: Event Socket on {settings.esl_host}:{simulator.esl_port}, routing through {via}, "
            f"time scale {settings.time_scale:g}"
        )
        task = simulator.scenario_task
        if task is not None:
            task.add_done_callback(lambda done: _report(done, echo))
        await stop.wait()  # runs until stopped: the one wait without a timeout
        echo("fsim: stopping")
    finally:
        await simulator.close()
        for number in signals:
            loop.remove_signal_handler(number)


def _report(task: asyncio.Task[ScenarioReport], echo: Echo) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        echo(f"fsim: scenario failed: {task.exception()}")
        return
    for outcome in task.result().callers:
        digits = " ".join(outcome.digits_sent) or "none"
        echo(
            f"fsim: caller {outcome.name} ({outcome.uuid}): answered={outcome.answered}, digits {digits}, "
            f"hung up by {outcome.hung_up_by or 'nobody'}"
        )
    echo("fsim: scenario done; still running")


# -- placing a call -----------------------------------------------------------------------------------


@dataclass
class CallRequest:
    """One call to place: ``loopback/<destination>/<context>`` from ``caller``; times in real seconds."""

    caller: str
    destination: str
    context: str = "default"
    digits: str | None = None
    dtmf_after: str = "answer"  # or "prompt": the first PLAYBACK_STOP of the dialplan leg
    hangup_after: float | None = None  # once the call is up (parked or answered, digits sent)
    timeout: float = 30.0  # to get the call up, and to see it end once hung up
    uuid: str | None = None


@dataclass
class CallOutcome:
    """What became of the call (``uuid`` is the ``-a`` leg, ``dialplan_uuid`` the ``-b`` leg)."""

    uuid: str
    dialplan_uuid: str | None = None
    parked: bool = False
    answered: bool = False
    digits_sent: bool = False
    failure: str | None = None  # the originate's -ERR, or why the tool gave up
    hangup_cause: str | None = None

    @property
    def established(self) -> bool:
        return (self.parked or self.answered) and self.failure is None

    @property
    def ended(self) -> bool:
        return self.hangup_cause is not None or self.failure is not None


class CallDriver:
    """Places one call over an authenticated :class:`EslClient` and reports each step through ``echo``."""

    def __init__(self, esl: EslClient, request: CallRequest, echo: Echo) -> None:
        self.esl = esl
        self.request = request
        self.echo = echo
        self.outcome = CallOutcome(request.uuid or str(uuidlib.uuid4()))
        self._loop = asyncio.get_running_loop()

    async def run(self) -> CallOutcome:
        """Originate, follow the call until it is up (or gone), hang it up if asked; the outcome."""
        request, call = self.request, self.outcome
        job = str(uuidlib.uuid4())
        for header, value in (("Unique-ID", call.uuid), ("variable_origination_uuid", call.uuid)):
            await self.esl.filter(header, value)
        await self.esl.filter("Job-UUID", job)
        await self.esl.subscribe(*CALL_EVENTS)
        variables = f"origination_uuid={call.uuid},origination_caller_id_number={request.caller}"
        target = f"loopback/{request.destination}/{request.context}"
        await self.esl.bgapi(f"originate {{{variables}}}{target} &park()", job_uuid=job)
        self.echo(f"call {call.uuid}: placed {target} from {request.caller}")
        if not await self._follow(request.timeout, until=self._up):
            call.failure = f"not up within {request.timeout:g} s"
            self.echo(f"call {call.uuid}: {call.failure}; hanging up")
            await self._hang_up()
        elif request.hangup_after is not None and not call.ended:
            await self._follow(request.hangup_after, until=lambda: call.ended)
            if not call.ended:
                await self._hang_up()
        if not call.ended:
            self.echo(f"call {call.uuid}: left up")
        return call

    def _up(self) -> bool:
        call = self.outcome
        return call.ended or (call.digits_sent if self.request.digits else call.parked or call.answered)

    async def _follow(self, seconds: float, *, until: Callable[[], bool]) -> bool:
        """Handle events until ``until()`` (True) or ``seconds`` pass (False)."""
        deadline = self._loop.time() + seconds
        while not until():
            try:
                event = await self.esl.event(timeout=max(0.0, deadline - self._loop.time()))
            except EslTimeout:
                return False
            await self._handle(event)
        return True

    async def _hang_up(self) -> None:
        call = self.outcome
        self.echo(f"call {call.uuid}: uuid_kill: {(await self.esl.api(f'uuid_kill {call.uuid}')).strip()}")
        if not await self._follow(self.request.timeout, until=lambda: call.hangup_cause is not None):
            call.failure = call.failure or "no CHANNEL_HANGUP_COMPLETE after uuid_kill"
            self.echo(f"call {call.uuid}: {call.failure}")

    async def _handle(self, event: EslEvent) -> None:
        call, request = self.outcome, self.request
        own = event.get("Unique-ID") == call.uuid
        if event.name == "BACKGROUND_JOB":
            result = (event.body or b"").decode(errors="replace").strip()
            if result.startswith("-ERR"):
                call.failure = call.failure or f"originate failed: {result[5:] or result}"
                self.echo(f"call {call.uuid}: {call.failure}")
        elif event.name == "CHANNEL_PARK" and not own and call.dialplan_uuid is None:
            call.parked, call.dialplan_uuid = True, event.get("Unique-ID")
            self.echo(f"call {call.uuid}: parked (dialplan leg {call.dialplan_uuid})")
        elif event.name == "CHANNEL_ANSWER" and own and not call.answered:
            call.answered = True
            self.echo(f"call {call.uuid}: answered")
            if request.digits and request.dtmf_after == "answer":
                await self._send_digits()
        elif event.name == "PLAYBACK_STOP" and not own:
            if request.digits and request.dtmf_after == "prompt" and not call.digits_sent:
                await self._send_digits()
        elif event.name == "CHANNEL_HANGUP_COMPLETE" and own:
            call.hangup_cause = event.get("Hangup-Cause") or event.get("variable_hangup_cause") or "?"
            duration, billsec = event.get("variable_duration", "?"), event.get("variable_billsec", "?")
            self.echo(
                f"call {call.uuid}: hung up {call.hangup_cause} (duration {duration} s, billsec {billsec} s)"
            )

    async def _send_digits(self) -> None:
        call = self.outcome
        reply = (await self.esl.api(f"uuid_send_dtmf {call.uuid} {self.request.digits}")).strip()
        call.digits_sent = reply.startswith("+OK")
        self.echo(f"call {call.uuid}: uuid_send_dtmf {self.request.digits}: {reply}")


@fsim.command(
    "call", help="Place one call into a running fsim over its Event Socket and report what happens."
)
@esl_options
@click.option("--from", "caller", default="1000", show_default=True, help="Caller id number.")
@click.option("--to", "destination", required=True, help="Destination number the dialplan is run for.")
@click.option("--context", default="default", show_default=True, help="Dialplan context.")
@click.option("--digits", help="DTMF to send on the caller's leg (uuid_send_dtmf), e.g. 1#.")
@click.option(
    "--dtmf-after", type=click.Choice(["answer", "prompt"]), default="answer", show_default=True,
    help="Send the digits once the call is answered, or once its first prompt (playback) ends.",
)  # fmt: skip
@click.option(
    "--hangup-after", type=click.FloatRange(min=0),
    help="Seconds to keep the call once it is up, then hang up (default: leave it up and exit).",
)  # fmt: skip
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
    help="Seconds for the call to come up (parked or answered, digits sent).",
)  # fmt: skip
def call(
    esl: tuple[str, int],
    password: str,
    caller: str,
    destination: str,
    context: str,
    digits: str | None,
    dtmf_after: str,
    hangup_after: float | None,
    timeout: float,
) -> None:
    request = CallRequest(caller, destination, context, digits, dtmf_after, hangup_after, timeout)
    outcome = asyncio.run(place_call(esl, password, request, click.echo))
    if not outcome.established:
        raise click.exceptions.Exit(1)


async def place_call(
    address: tuple[str, int], password: str, request: CallRequest, echo: Echo
) -> CallOutcome:
    """Connect to fsim at ``address`` and place ``request``; ESL failures become a one-line ClickException."""
    try:
        async with await EslClient.connect(*address, password, timeout=5.0) as esl:
            return await CallDriver(esl, request, echo).run()
    except EslError as error:
        raise click.ClickException(str(error)) from None
