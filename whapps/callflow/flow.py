"""What a callflow module is given and what it answers: the :class:`FlowContext` and the outcomes.

A module is an async function ``handle(ctx, data) -> Outcome`` registered with :func:`module`::

    @module("play")
    async def play(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
        await ctx.call.play(media_path(data["id"]))
        return NEXT

It returns :data:`NEXT` (the default child ``_``), ``Next(key)`` (the child ``key``, else ``_``),
:data:`STOP` (the flow ends here: back to a stacked flow, or hang up), ``Branch(flow)`` (jump to another
flow, coming back to this node's ``_`` child when it stops) or :data:`HANDED_OFF` (another whapp took the
call: the flow ends without hanging up). A module that cannot do its job raises :class:`ModuleFailed`; the
executor logs it and ends the call with a prompt. ``ctx.children`` holds the running node's children, for
modules whose choice depends on which exist (menu).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from whapps.call import Call
from whistle_common.store import NotFound

if TYPE_CHECKING:
    from whapps.callflow.service import Callflow


class ModuleFailed(Exception):
    """A module could not do its job (missing document, bad data...); the message says why."""


@dataclass(frozen=True)
class Next:
    """Continue with child ``key``; without it, with ``_``; without that, the flow stops."""

    key: str = "_"


@dataclass(frozen=True)
class Stop:
    """The flow ends here (a stacked flow resumes, or the call is hung up)."""


@dataclass(frozen=True)
class Branch:
    """Run ``flow`` (an action node) instead, returning to this node's ``_`` child when it stops."""

    flow: Mapping[str, Any]
    callflow_id: str | None = None


@dataclass(frozen=True)
class HandedOff:
    """Another whapp now drives the call (voicemail, conference): the flow ends and the call is left up."""


Outcome = Next | Stop | Branch | HandedOff
NEXT = Next()
STOP = Stop()
HANDED_OFF = HandedOff()


@dataclass
class FlowContext:
    """Everything a module may use: the call, its account, the callflow, and the whapp's services."""

    call: Call
    account_id: str
    callflow: Mapping[str, Any]
    whapp: Callflow
    capture_group: str | None = None  # the text a pattern matched
    capture_groups: dict[str, str] = field(default_factory=dict)  # its named groups
    children: Mapping[str, Any] = field(default_factory=dict)  # the running node's children, by key

    @property
    def callflow_id(self) -> str:
        return str(self.callflow.get("_id", ""))

    async def document(self, doc_id: str, pvt_type: str) -> dict[str, Any]:
        """The account's ``pvt_type`` document ``doc_id``; ModuleFailed when there is none of that type."""
        try:
            doc = await self.whapp.lookup.doc(self.account_id, doc_id)
        except NotFound as error:
            raise ModuleFailed(f"no {pvt_type} {doc_id} in account {self.account_id}") from error
        if doc.get("pvt_type") != pvt_type:
            raise ModuleFailed(f"{doc_id} is a {doc.get('pvt_type')} document, not a {pvt_type}")
        return doc


Handler = Callable[[FlowContext, Mapping[str, Any]], Awaitable[Outcome]]
MODULES: dict[str, Handler] = {}


def module(name: str) -> Callable[[Handler], Handler]:
    """Register ``handle`` as callflow module ``name`` (its data schema is schemas/callflow/<name>.json)."""

    def register(handle: Handler) -> Handler:
        if name in MODULES:
            raise ValueError(f"callflow module {name!r} is registered twice")
        MODULES[name] = handle
        return handle

    return register
