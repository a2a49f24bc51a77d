"""temporal_route: rules by cycle, in the right time zone, with the clock set by the test."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA
from whapps.callflow.modules import temporal_route
from whapps.callflow.modules.temporal_route import GREGORIAN_EPOCH, active

NEW_YORK = dt.timezone(dt.timedelta(hours=-4))  # fixed offsets for rule arithmetic; zones in the flow tests
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
OFFICE = {"cycle": "weekly", "wdays": WEEKDAYS, "time_window_start": 9 * 3600, "time_window_stop": 17 * 3600}


def gregorian(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + GREGORIAN_EPOCH


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("rule", "moment", "expected"),
    [
        (OFFICE, at(2024, 6, 3, 10, 0), True),  # Monday 10:00
        (OFFICE, at(2024, 6, 3, 17, 0), False),  # the stop second is outside
        (OFFICE, at(2024, 6, 3, 8, 59, 59), False),
        (OFFICE, at(2024, 6, 8, 10, 0), False),  # Saturday
        ({**OFFICE, "enabled": False}, at(2024, 6, 3, 10, 0), False),
        ({"cycle": "weekly", "wdays": ["sunday"], "enabled": True}, at(2024, 6, 3, 10, 0), True),
        ({"cycle": "date", "start_date": gregorian(dt.date(2024, 7, 4))}, at(2024, 7, 4, 23, 0), True),
        ({"cycle": "date", "start_date": gregorian(dt.date(2024, 7, 4))}, at(2025, 7, 4, 12, 0), False),
        (
            {"cycle": "daily", "interval": 2, "start_date": gregorian(dt.date(2024, 6, 1))},
            at(2024, 6, 3, 1),
            True,
        ),
        (
            {"cycle": "daily", "interval": 2, "start_date": gregorian(dt.date(2024, 6, 1))},
            at(2024, 6, 4, 1),
            False,
        ),
        ({"cycle": "daily", "start_date": gregorian(dt.date(2024, 6, 1))}, at(2024, 5, 31, 1), False),
        (
            {
                "cycle": "weekly",
                "interval": 2,
                "wdays": ["monday"],
                "start_date": gregorian(dt.date(2024, 6, 5)),
            },
            at(2024, 6, 17, 12),
            True,
        ),
        (
            {
                "cycle": "weekly",
                "interval": 2,
                "wdays": ["monday"],
                "start_date": gregorian(dt.date(2024, 6, 5)),
            },
            at(2024, 6, 10, 12),
            False,
        ),
        ({"cycle": "monthly", "days": [1, 15]}, at(2024, 6, 15, 12), True),
        ({"cycle": "monthly", "days": [1, 15]}, at(2024, 6, 16, 12), False),
        ({"cycle": "monthly", "ordinal": "last", "wdays": ["friday"]}, at(2024, 5, 31, 12), True),
        ({"cycle": "monthly", "ordinal": "last", "wdays": ["friday"]}, at(2024, 5, 24, 12), False),
        ({"cycle": "monthly", "ordinal": "first", "wdays": ["monday"]}, at(2024, 6, 3, 12), True),
        ({"cycle": "monthly", "ordinal": "second", "wdays": ["monday"]}, at(2024, 6, 3, 12), False),
        ({"cycle": "monthly", "ordinal": "every", "wdays": ["wensday"]}, at(2024, 6, 5, 12), True),
        ({"cycle": "yearly", "month": 12, "days": [25]}, at(2024, 12, 25, 12), True),
        ({"cycle": "yearly", "month": 11, "days": [25]}, at(2024, 12, 25, 12), False),
        (
            {"cycle": "yearly", "month": 11, "ordinal": "fourth", "wdays": ["thursday"]},
            at(2024, 11, 28, 9),
            True,
        ),
    ],
)
def test_when_a_rule_is_active(rule: dict[str, Any], moment: dt.datetime, expected: bool) -> None:
    assert active(rule, moment) is expected


def route(*rules: str, **data: Any) -> dict[str, Any]:
    children = {
        rule: {"module": "play", "data": {"id": f"/system_media/{rule}", "answer": False}} for rule in rules
    }
    children["_"] = {"module": "play", "data": {"id": "/system_media/closed", "answer": False}}
    return {"module": "temporal_route", "data": {"rules": list(rules), **data}, "children": children}


def clock(monkeypatch: pytest.MonkeyPatch, utc: dt.datetime) -> None:
    monkeypatch.setattr(temporal_route, "now", lambda: utc)


async def rule(h: CallflowHarness, rule_id: str, **fields: Any) -> None:
    await h.save({"_id": rule_id, "pvt_type": "temporal_rule", "name": rule_id, **fields})


async def test_the_first_active_rule_in_the_account_zone_names_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with CallflowHarness() as h:
        await h.account(timezone="America/New_York")
        await rule(h, "holiday", cycle="yearly", month=6, days=[4])
        await rule(h, "office", **OFFICE)
        await rule(h, "also-office", **OFFICE)
        clock(monkeypatch, dt.datetime(2024, 6, 3, 13, 30, tzinfo=dt.UTC))  # 09:30 in New York
        switch = h.switch()
        await h.run(switch, route("holiday", "office", "also-office"))
        assert [c["Media-Name"] for c in switch.of("play")] == ["/system_media/office"]


async def test_no_active_rule_goes_to_the_default_child(monkeypatch: pytest.MonkeyPatch) -> None:
    async with CallflowHarness() as h:
        await h.account(timezone="America/New_York")
        await rule(h, "office", **OFFICE)
        clock(monkeypatch, dt.datetime(2024, 6, 3, 12, 30, tzinfo=dt.UTC))  # 08:30 in New York
        switch = h.switch()
        await h.run(switch, route("office"))
        assert [c["Media-Name"] for c in switch.of("play")] == ["/system_media/closed"]


async def test_the_data_timezone_overrides_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    async with CallflowHarness() as h:
        await h.account(timezone="America/New_York")
        await rule(h, "office", **OFFICE)
        clock(monkeypatch, dt.datetime(2024, 6, 3, 8, 30, tzinfo=dt.UTC))  # 10:30 in Paris, 04:30 in New York
        switch = h.switch()
        await h.run(switch, route("office", timezone="Europe/Paris"))
        assert [c["Media-Name"] for c in switch.of("play")] == ["/system_media/office"]


async def test_missing_rules_and_other_documents_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    async with CallflowHarness() as h:
        await h.account()
        media = await h.save({"pvt_type": "media", "name": "x", "media_source": "upload"})
        clock(monkeypatch, dt.datetime(2024, 6, 3, 12, 0, tzinfo=dt.UTC))
        switch = h.switch()
        await h.run(switch, route("missing", media["_id"]))
        assert [c["Media-Name"] for c in switch.of("play")] == ["/system_media/closed"]


async def test_an_unknown_time_zone_fails_with_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, route("office", timezone="Mars/Olympus_Mons"))
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]
