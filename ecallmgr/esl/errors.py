"""Exceptions of the ESL client (the parser's :class:`FrameError` lives in :mod:`ecallmgr.esl.parser`)."""

from __future__ import annotations


class EslError(Exception):
    """Base class of the ESL client's errors."""


class AuthError(EslError):
    """FreeSWITCH refused the password (``-ERR invalid``) or the ACL (``text/rude-rejection``)."""


class EslDisconnected(EslError):
    """The connection was lost (or closed) while this request was waiting for its answer."""


class CommandError(EslError):
    """A command was refused (``-ERR ...`` in Reply-Text), e.g. a bgapi FreeSWITCH did not accept."""
