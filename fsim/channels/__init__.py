"""The call model of fsim: channels, their registry, originate and the simulated endpoints.

:class:`~fsim.channels.channel.Channel` (data and events in :mod:`fsim.channels.base`, the session task and
media loop in :mod:`fsim.channels.channel`), :class:`~fsim.channels.registry.ChannelRegistry`,
:class:`~fsim.channels.endpoints.EndpointDirectory` / :class:`~fsim.channels.endpoints.Endpoint`.
"""

from fsim.channels.channel import Channel, Wake
from fsim.channels.endpoints import Endpoint, EndpointDirectory
from fsim.channels.registry import ChannelRegistry
from fsim.channels.states import CallState, ChannelState

__all__ = ["CallState", "Channel", "ChannelRegistry", "ChannelState", "Endpoint", "EndpointDirectory", "Wake"]
