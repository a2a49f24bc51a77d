"""Simulated far ends for ``originate``/``bridge`` to ``user/...`` and ``sofia/...``: answer, ring, busy...

An :class:`EndpointDirectory` maps dial targets to an :class:`Endpoint` behaviour::

    directory = EndpointDirectory()
    directory.add("user/1000", Endpoint.answers(after=2))      # rings 2 s, then answers
    directory.add("user/1001", Endpoint.rings_out())            # rings until the originate timeout: NO_ANSWER
    directory.add("user/1002", Endpoint.busy())                 # USER_BUSY at once
    directory.add("sofia/gw/*", Endpoint.rejects("CALL_REJECTED", after=0.5))
    directory.add("user/1003", Endpoint.answers(after=1, hangup_after=30))  # far end hangs up after 30 s

Patterns are ``fnmatch`` globs matched against the target without its ``{}``/``[]`` variables (``user/1000``,
``user/1000@127.0.0.1``, ``sofia/internal/1000@host``), exact entries first, then globs in insertion order.
A target nobody matches gets :attr:`EndpointDirectory.default` (None makes ``user/`` targets
USER_NOT_REGISTERED and other targets NO_ROUTE_DESTINATION).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsim.channels.channel import Channel


@dataclass(frozen=True)
class Endpoint:
    """What a simulated far end does with a call; all times in simulated seconds from the INVITE."""

    answer_after: float | None = 0.0  # None: never answers (rings until the originate timeout)
    ring_after: float | None = 0.0  # when it sends 180 (CHANNEL_PROGRESS); None: never
    early_media_after: float | None = None  # when it sends 183 (CHANNEL_PROGRESS_MEDIA); None: never
    reject_cause: str | None = None  # set: the call fails with this cause after reject_after
    reject_after: float = 0.0
    hangup_after: float | None = None  # the far end hangs up this long after answering
    hangup_cause: str = "NORMAL_CLEARING"

    @classmethod
    def answers(cls, after: float = 0.0, *, hangup_after: float | None = None, ring: bool = True) -> Endpoint:
        """Rings (unless ``ring`` is false), answers after ``after`` seconds, optionally hangs up later."""
        return cls(answer_after=after, ring_after=0.0 if ring else None, hangup_after=hangup_after)

    @classmethod
    def rings_out(cls) -> Endpoint:
        """Rings and never answers: the originate fails with NO_ANSWER when its timeout expires."""
        return cls(answer_after=None, ring_after=0.0)

    @classmethod
    def busy(cls, after: float = 0.0) -> Endpoint:
        """Answers 486 Busy Here: USER_BUSY."""
        return cls(answer_after=None, ring_after=None, reject_cause="USER_BUSY", reject_after=after)

    @classmethod
    def rejects(cls, cause: str, *, after: float = 0.0, ring: bool = False) -> Endpoint:
        """Fails the call with ``cause`` (e.g. CALL_REJECTED, UNALLOCATED_NUMBER) after ``after`` seconds."""
        return cls(
            answer_after=None, ring_after=0.0 if ring else None, reject_cause=cause, reject_after=after
        )


ANSWERS = Endpoint.answers()


class EndpointDirectory:
    """Dial targets to simulated endpoint behaviours."""

    def __init__(self, default: Endpoint | None = ANSWERS) -> None:
        self.default = default
        self._exact: dict[str, Endpoint] = {}
        self._globs: list[tuple[str, Endpoint]] = []

    def add(self, pattern: str, endpoint: Endpoint) -> None:
        """Register ``endpoint`` for targets matching ``pattern`` (an exact target or an fnmatch glob)."""
        if any(char in pattern for char in "*?["):
            self._globs.append((pattern, endpoint))
        else:
            self._exact[pattern] = endpoint

    def remove(self, pattern: str) -> None:
        self._exact.pop(pattern, None)
        self._globs = [(glob, endpoint) for glob, endpoint in self._globs if glob != pattern]

    def lookup(self, target: str) -> Endpoint | None:
        """The behaviour for ``target``; a ``user/<id>@<domain>`` target also matches ``user/<id>``."""
        candidates = [target]
        if target.startswith("user/") and "@" in target:
            candidates.append(target.split("@", 1)[0])
        for candidate in candidates:
            if candidate in self._exact:
                return self._exact[candidate]
        for candidate in candidates:
            for glob, endpoint in self._globs:
                if fnmatch.fnmatchcase(candidate, glob):
                    return endpoint
        return self.default


async def drive_endpoint(channel: Channel, endpoint: Endpoint) -> None:
    """Play a simulated far end's part: 180, 183, answer or reject, and an optional hangup after answer."""
    clock = channel.switch.clock
    started = clock.now()
    steps = [
        (endpoint.ring_after, "ring"),
        (endpoint.early_media_after, "early"),
        (endpoint.reject_after if endpoint.reject_cause else None, "reject"),
        (endpoint.answer_after if not endpoint.reject_cause else None, "answer"),
    ]
    for at, step in sorted(((at, step) for at, step in steps if at is not None), key=lambda item: item[0]):
        if not await _sleep_while_up(channel, started + at - clock.now()):
            return
        if step == "ring":
            channel.mark_ring_ready()
        elif step == "early":
            channel.mark_pre_answered()
        elif step == "reject":
            channel.hangup(endpoint.reject_cause)
            return
        else:
            channel.answer()
    if endpoint.hangup_after is not None and channel.answered:
        if await _sleep_while_up(channel, endpoint.hangup_after):
            channel.hangup(endpoint.hangup_cause)


async def _sleep_while_up(channel: Channel, seconds: float) -> bool:
    """Sleep ``seconds`` simulated seconds; False as soon as the channel hangs up."""
    if seconds > 0:
        try:
            await channel.switch.clock.wait_for(channel.hungup_event.wait(), seconds)
        except TimeoutError:
            pass
    return channel.up
