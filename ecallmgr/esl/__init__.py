"""ecallmgr's own asyncio Event Socket client (see DESIGN.md section 6 for why not greenswitch).

:mod:`ecallmgr.esl.parser` frames and decodes the byte stream; :mod:`ecallmgr.esl.client` holds one
reconnecting connection per FreeSWITCH node.
"""

from ecallmgr.esl.client import EslClient, encode_command
from ecallmgr.esl.errors import AuthError, CommandError, EslDisconnected, EslError
from ecallmgr.esl.parser import Event, Frame, FrameError, FrameParser, Headers

__all__ = [
    "AuthError",
    "CommandError",
    "EslClient",
    "EslDisconnected",
    "EslError",
    "Event",
    "Frame",
    "FrameError",
    "FrameParser",
    "Headers",
    "encode_command",
]
