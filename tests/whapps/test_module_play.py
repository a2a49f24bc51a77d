"""The play module: media documents, paths, answer, terminators, loops, and a missing media."""

from __future__ import annotations

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA
from whapps.callflow.modules.play import ANY_KEY


async def test_a_media_document_is_played_from_the_account_after_answering() -> None:
    async with CallflowHarness() as h:
        account = await h.account()
        media = await h.save({"pvt_type": "media", "name": "welcome", "media_source": "upload"})
        switch = h.switch()
        await h.run(switch, {"module": "play", "data": {"id": media["_id"]}})
        assert switch.applications() == ["answer", "play", "hangup"]
        play = switch.of("play")[0]
        assert play["Media-Name"] == f"/{account}/{media['_id']}"
        assert play["Terminators"] == list(ANY_KEY)
        assert "Loop-Count" not in play


async def test_a_path_plays_as_is_without_answering_with_loops_and_no_terminators() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        data = {"id": "tone_stream://%(200,0,440)", "answer": False, "loop_count": 3, "terminators": []}
        await h.run(switch, {"module": "play", "data": data, "children": {"_": {"module": "hangup"}}})
        assert switch.applications() == ["play", "hangup"]
        play = switch.of("play")[0]
        assert (play["Media-Name"], play["Loop-Count"], play["Terminators"]) == (
            "tone_stream://%(200,0,440)",
            3,
            [],
        )


async def test_endless_playback_is_asked_for() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(
            switch, {"module": "play", "data": {"id": "/system_media/hold", "endless_playback": True}}
        )
        assert switch.of("play")[0]["Endless-Playback"] is True


async def test_a_missing_media_document_fails_with_the_prompt() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        flow = {"module": "play", "data": {"id": "f" * 32}, "children": {"_": {"module": "hangup"}}}
        await h.run(switch, flow)
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == FAILURE_MEDIA


async def test_a_document_that_is_not_media_is_refused() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu = await h.save({"pvt_type": "menu", "name": "main"})
        switch = h.switch()
        await h.run(switch, {"module": "play", "data": {"id": menu["_id"]}})
        assert [c["Media-Name"] for c in switch.of("play")] == [FAILURE_MEDIA]


async def test_play_without_an_id_is_invalid_data() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, {"module": "play", "data": {"loop_count": 0}})
        assert switch.applications() == ["play", "hangup"]
        assert switch.of("play")[0]["Media-Name"] == FAILURE_MEDIA
