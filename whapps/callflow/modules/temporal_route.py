"""``temporal_route``: route by time of day, day of week and date, in the account's time zone.

``data.rules`` are ``temporal_rule`` documents, tried in order; the first active one names the child
(``Next(rule_id)``), none gives ``_``. The zone is ``data.timezone``, else the account's ``timezone``,
else UTC. A rule is active when today is one of its days and the time of day is within
``[time_window_start, time_window_stop)`` (seconds; the whole day by default); ``enabled`` true/false
forces it on/off. Its days, counted from ``start_date`` (Gregorian seconds, as Kazoo stores them) every
``interval`` cycles:

* ``date``: the start date only; ``daily``: every ``interval`` days;
* ``weekly``: the ``wdays`` of every ``interval``-th week;
* ``monthly``: the ``days`` (of the month) or the ``ordinal`` ``wdays`` (first monday, last friday,
  every tuesday) of every ``interval``-th month;
* ``yearly``: the same within ``month``, every ``interval`` years.

Tests set the clock by replacing :func:`now`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from whapps.callflow.flow import FlowContext, ModuleFailed, Next, Outcome, module
from whistle_common.store import NotFound

log = logging.getLogger(__name__)

GREGORIAN_EPOCH = 62167219200  # Gregorian seconds (from year 0) at 1970-01-01T00:00:00Z
WEEKDAYS = {name: index for index, name in enumerate(calendar.day_name[i].lower() for i in range(7))}
WEEKDAYS["wensday"] = 2  # Kazoo's historical spelling, still found in old documents
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
DAY_SECONDS = 86400


def now() -> dt.datetime:
    """The current time (aware, UTC); replaced by tests."""
    return dt.datetime.now(dt.UTC)


def _start(rule: Mapping[str, Any]) -> dt.date:
    seconds = rule.get("start_date")
    if seconds is None:
        return dt.date(1970, 1, 1)
    return dt.datetime.fromtimestamp(int(seconds) - GREGORIAN_EPOCH, dt.UTC).date()


def _weekday_matches(rule: Mapping[str, Any], day: dt.date) -> bool:
    wdays = {WEEKDAYS.get(str(name).lower()) for name in rule.get("wdays") or ()}
    if day.weekday() not in wdays:
        return False
    ordinal = rule.get("ordinal", "every")
    if ordinal == "every":
        return True
    if ordinal == "last":
        return day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 + 1 == ORDINALS.get(ordinal, 0)


def _day_of_month_matches(rule: Mapping[str, Any], day: dt.date) -> bool:
    if rule.get("days"):
        return day.day in {int(d) for d in rule["days"]}
    return _weekday_matches(rule, day)


def occurs_on(rule: Mapping[str, Any], day: dt.date) -> bool:
    """Whether ``day`` (a local date) is one of the rule's days."""
    start = _start(rule)
    if day < start:
        return False
    interval = max(1, int(rule.get("interval", 1)))
    cycle = rule.get("cycle")
    if cycle == "date":
        return day == start
    if cycle == "daily":
        return (day - start).days % interval == 0
    if cycle == "weekly":
        monday, first_monday = (
            day - dt.timedelta(days=day.weekday()),
            start - dt.timedelta(days=start.weekday()),
        )
        weeks = (monday - first_monday).days // 7
        return weeks % interval == 0 and _weekday_matches({**rule, "ordinal": "every"}, day)
    if cycle == "monthly":
        months = (day.year - start.year) * 12 + day.month - start.month
        return months % interval == 0 and _day_of_month_matches(rule, day)
    if cycle == "yearly":
        in_month = day.month == int(rule.get("month", 0))
        return (day.year - start.year) % interval == 0 and in_month and _day_of_month_matches(rule, day)
    return False


def active(rule: Mapping[str, Any], moment: dt.datetime) -> bool:
    """Whether ``rule`` is in force at ``moment`` (a local, aware time)."""
    if rule.get("enabled") is not None:
        return bool(rule["enabled"])
    second = moment.hour * 3600 + moment.minute * 60 + moment.second
    window_start = int(rule.get("time_window_start", 0))
    window_stop = int(rule.get("time_window_stop", DAY_SECONDS))
    return occurs_on(rule, moment.date()) and window_start <= second < window_stop


async def _zone(ctx: FlowContext, data: Mapping[str, Any]) -> ZoneInfo:
    name = data.get("timezone")
    if not name:
        try:
            account = await ctx.whapp.lookup.doc(ctx.account_id, ctx.account_id)
        except NotFound:
            account = {}
        name = account.get("timezone") or "UTC"
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ModuleFailed(f"unknown time zone {name!r}") from error


@module("temporal_route")
async def temporal_route(ctx: FlowContext, data: Mapping[str, Any]) -> Outcome:
    where = {"call_id": ctx.call.call_id}
    zone = await _zone(ctx, data)
    moment = now().astimezone(zone)
    for rule_id in data.get("rules", ()):
        try:
            rule = await ctx.whapp.lookup.doc(ctx.account_id, rule_id)
        except NotFound:
            log.warning("temporal rule %s does not exist; skipped", rule_id, extra=where)
            continue
        if rule.get("pvt_type") != "temporal_rule":
            log.warning("%s is a %s, not a temporal rule; skipped", rule_id, rule.get("pvt_type"),
                        extra=where)  # fmt: skip
            continue
        if active(rule, moment):
            log.info("temporal rule %s (%s) is active at %s", rule_id, rule.get("name"), moment, extra=where)
            return Next(rule_id)
    log.info("no temporal rule is active at %s", moment, extra=where)
    return Next("_")
