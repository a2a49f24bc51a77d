"""The conference hand-off: the request carries the room and options; nobody taking it follows _."""

from __future__ import annotations

from tests.whapps.scripted import CallflowHarness
from tests.whapps.test_module_voicemail import FALLBACK, other_whapp
from whapps.callflow.executor import FAILURE_MEDIA


async def test_a_conference_is_handed_off_with_its_options() -> None:
    async with CallflowHarness() as h:
        account = await h.account()
        room = await h.save({"pvt_type": "conference", "name": "Weekly"})
        received = await other_whapp(h, "conference.join", "taken")
        switch = h.switch()
        data = {
            "id": room["_id"],
            "moderator": True,
            "welcome_prompt": {"play": True, "media_id": "/system_media/hi"},
            "play_exit_tone": False,
        }
        await h.run(switch, {"module": "conference", "data": data})
        assert not switch.hung_up and switch.applications() == []
        [request] = received
        assert (request["Account-ID"], request["Conference-ID"], request["Moderator"]) == (
            account,
            room["_id"],
            True,
        )
        assert (request["Play-Welcome"], request["Welcome-Media"], request["Play-Exit-Tone"]) == (
            True,
            "/system_media/hi",
            False,
        )
        assert "Play-Entry-Tone" not in request


async def test_a_conference_nobody_takes_follows_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "conference", "data": {"timeout": 0.05}, "children": {"_": FALLBACK}})
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == "/system_media/fallback"


async def test_a_missing_conference_fails_before_asking_anyone() -> None:
    async with CallflowHarness() as h:
        await h.account()
        received = await other_whapp(h, "conference.join", "taken")
        switch = h.switch()
        await h.run(switch, {"module": "conference", "data": {"id": "missing"}})
        assert received == []
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]
