"""Which events an Event Socket connection receives.

This module holds the subscription model shared by every connection (``event``, ``nixevent``,
``noevents``, ``filter``, ``myevents``), with mod_event_socket's semantics and reply texts:

- ``event [plain|json|xml] NAME... [CUSTOM subclass...]``: subscriptions accumulate; ``ALL`` takes every
  event; after ``CUSTOM`` every token is a subclass;
- ``filter``: once any filter exists an event passes only if a positive filter matches and no negative
  one does (``H V`` compares case-insensitively, ``/re/flags`` is a regular expression, a ``-`` prefix
  makes a filter negative); header names are matched case-insensitively;
- ``myevents``: only events whose Unique-ID is the bound channel (or BACKGROUND_JOBs it owns).

``Subscriptions.wants`` is called for every event on every connection, so it rejects on the event name
first (a set lookup) and scans headers only when a filter or ``myevents`` asks for it.
"""

from __future__ import annotations

import re

from fsim.events import FORMATS, PLAIN, Event

# switch_event.c EVENT_NAMES, in order.
EVENT_NAMES = (
    "CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER "
    "CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD "
    "CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA "
    "CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID API "
    "LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH "
    "MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE "
    "MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE "
    "PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML NOTIFY "
    "PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS CHANNEL_DATA GENERAL "
    "COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED SEND_INFO RECV_INFO "
    "RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START RECORD_STOP PLAYBACK_START "
    "PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA MEDIA_BUG_START MEDIA_BUG_STOP CONFERENCE_DATA_QUERY "
    "CONFERENCE_DATA CALL_SETUP_REQ CALL_SETUP_RESULT CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED "
    "CERT_RELOAD ALL"
).split()
_KNOWN = frozenset(EVENT_NAMES)
_EVERY_TYPE = _KNOWN - {"ALL"}
# What ``myevents`` subscribes to (parse_command).
MYEVENTS_TYPES = frozenset(
    "CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA CHANNEL_DESTROY "
    "CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_ORIGINATE "
    "CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_STATE "
    "CHANNEL_UNBRIDGE CHANNEL_UNPARK DETECTED_SPEECH DTMF NOTALK TALK".split()
)


def event_type(token: str) -> str | None:
    """switch_name_event: the event type a client token names (any case, ``SWITCH_EVENT_`` prefix allowed)."""
    upper = token.upper()
    if upper in _KNOWN:
        return upper
    if len(upper) > 13 and upper[13:] in _KNOWN:
        return upper[13:]
    return None


def header_value(headers: list[tuple[str, str]], name: str, lowered: str) -> str | None:
    """The first value of a header, its name compared case-insensitively (``lowered`` is ``name.lower()``)."""
    size = len(name)
    for key, value in headers:
        if len(key) == size and (key == name or key.lower() == lowered):
            return value
    return None


def _regex(expression: str) -> re.Pattern[str] | None:
    """switch_regex_perform for ``/re/flags``: None when it cannot match (no closing ``/``, bad pattern)."""
    pattern, slash, flags = expression[1:].rpartition("/")
    if not slash:
        return None
    options = (re.IGNORECASE if "i" in flags else 0) | (re.DOTALL if "s" in flags else 0)
    try:
        return re.compile(pattern, options)
    except re.error:
        return None


class Filter:
    """One ``filter H V``: the header it reads, and how it compares (worked out once, when added)."""

    __slots__ = ("compare", "is_regex", "lowered", "name", "positive", "regex", "value")

    def __init__(self, name: str, value: str) -> None:
        rest, positive = value, True
        while rest and rest[0] in "+- ":  # leading +/- (and spaces) choose positive or negative
            positive = {"+": True, "-": False}.get(rest[0], positive)
            rest = rest[1:]
        self.name, self.value, self.lowered = name, value, name.lower()
        self.positive = positive
        self.compare = rest.lower()  # compared case-insensitively, like strcasecmp
        self.is_regex = value.startswith("/")
        self.regex = _regex(rest) if self.is_regex else None


class Subscriptions:
    """What one connection asked to receive, and the event format it receives it in."""

    def __init__(self) -> None:
        self.format = PLAIN
        self.enabled = False  # LFLAG_EVENTS
        self.all = False
        self.types: set[str] = set()
        self.custom: set[str] = set()
        self.custom_all = False  # ``ALL`` took every subclass ...
        self.custom_nixed: set[str] = set()  # ... except those nixed since
        self.filters: list[Filter] = []
        self.myevents = False

    def wants(self, event: Event, session: str | None) -> bool:
        """Whether this connection receives ``event`` (``session``: the channel ``myevents`` bound)."""
        if not self.enabled:
            return False
        if not self.all:
            name = event.name
            if name not in self.types:
                return False
            if name == "CUSTOM":
                subclass = event.subclass
                if subclass is not None and subclass not in self.custom:
                    if not self.custom_all or subclass in self.custom_nixed:
                        return False
        if self.myevents:
            unique_id = header_value(event.headers, "Unique-ID", "unique-id")
            if unique_id is None or (session is not None and unique_id != session):
                # Only a BACKGROUND_JOB carries Job-Owner-UUID: skip that scan for every other event.
                if session is None or event.name != "BACKGROUND_JOB":
                    return False
                if header_value(event.headers, "Job-Owner-UUID", "job-owner-uuid") != session:
                    return False
        return not self.filters or self._filtered(event)

    def _filtered(self, event: Event) -> bool:
        values: dict[str, str | None] = {}
        send = False
        for rule in self.filters:
            if rule.lowered in values:
                value = values[rule.lowered]
            else:
                value = values[rule.lowered] = header_value(event.headers, rule.name, rule.lowered)
            if value is None or (send and rule.positive):
                continue
            if rule.is_regex:
                matched = rule.regex is not None and rule.regex.search(value) is not None
            else:
                matched = value.lower() == rule.compare
            if matched:
                if not rule.positive:
                    return False
                send = True
        return send

    def event_command(self, rest: str) -> str:
        """``event [format] NAME... [CUSTOM subclass...]`` (``rest``: the line after ``event``)."""
        keys, custom = 0, False
        for position, token in enumerate(_tokens(rest)):
            if position == 0 and token.lower() in FORMATS:
                self.format = token.lower()
            elif custom:
                self.custom.add(token)
                self.custom_nixed.discard(token)
            elif (kind := event_type(token)) is not None:
                keys += 1
                if kind == "ALL":
                    self.all = self.custom_all = True
                    self.types |= _EVERY_TYPE
                self.types.add(kind)
                custom = custom or kind == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.enabled = True
        return f"+OK event listener enabled {self.format}"

    def nixevent_command(self, rest: str) -> str:
        """``nixevent NAME... [CUSTOM subclass...]``: nixing one name under ALL keeps all the others."""
        keys, custom = 0, False
        for token in _tokens(rest):
            if custom:
                self.custom.discard(token)
                if self.custom_all:
                    self.custom_nixed.add(token)
            elif (kind := event_type(token)) is not None:
                keys += 1
                if kind == "CUSTOM":
                    custom = True
                elif kind == "ALL":
                    self.all = False
                    self.types.clear()
                else:
                    if self.all:
                        self.all = False
                        self.types = set(_EVERY_TYPE)
                    self.types.discard(kind)
        if not keys:
            return "-ERR no keywords supplied"
        self.enabled = True
        return "+OK events nixed"

    def noevents_command(self) -> str:
        if not self.enabled:
            return "-ERR not listening for events"
        self.enabled = self.all = self.custom_all = False
        self.types.clear()
        self.custom.clear()
        self.custom_nixed.clear()
        return "+OK no longer listening for events"

    def enable_myevents(self) -> None:
        self.types |= MYEVENTS_TYPES
        self.myevents = self.enabled = True

    def filter_command(self, rest: str) -> str:
        """``filter [add] H V``, ``filter delete H [V]``, ``filter delete all`` (``rest``: after the word)."""
        name, value = _split(rest.lstrip(" "))
        if name.lower() == "delete" and value is not None:
            name, value = _split(value)
            if name.lower() == "all":
                self.filters.clear()
            else:
                lowered = name.lower()
                self.filters = [
                    rule
                    for rule in self.filters
                    if rule.lowered != lowered or (value and rule.value != value)
                ]
            return f"+OK filter deleted. [{name}][{value or ''}]"
        if value is None:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, value = _split(value)
            if value is None:
                return f"+OK filter added. [{name}]=[(null)]"
        if value:
            self.filters.append(Filter(name, value))
        else:  # adding an empty value deletes the header, as switch_event_add_header_string does
            self.filters = [rule for rule in self.filters if rule.lowered != name.lower()]
        return f"+OK filter added. [{name}]=[{value}]"


def _tokens(rest: str) -> list[str]:
    """The words after the command word (parse_command splits at each single space)."""
    start = rest.find(" ")
    return rest[start + 1 :].split(" ") if start >= 0 else []


def _split(text: str) -> tuple[str, str | None]:
    """Split at the first space; the second part is None when there is no space at all."""
    head, space, tail = text.partition(" ")
    return head, (tail if space else None)
