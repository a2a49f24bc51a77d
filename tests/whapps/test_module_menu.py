"""The menu module: greeting and digits, children by key, invalid entries, timeouts, retries, hunting."""

from __future__ import annotations

from typing import Any

from tests.whapps.scripted import CallflowHarness
from whapps.callflow.executor import FAILURE_MEDIA
from whapps.callflow.modules.menu import DEFAULT_EXIT, DEFAULT_GREETING, DEFAULT_INVALID


def say(what: str) -> dict[str, Any]:
    return {"module": "play", "data": {"id": f"/system_media/{what}", "answer": False}}


def menu_node(menu_id: str, **children: Any) -> dict[str, Any]:
    return {"module": "menu", "data": {"id": menu_id}, "children": children}


def played(switch: Any) -> list[str]:
    return [
        c["Media-Name"]
        for c in switch.commands
        if c["Application-Name"] in ("play", "play_and_collect_digits")
    ]


async def make_menu(h: CallflowHarness, **fields: Any) -> str:
    doc = await h.save({"pvt_type": "menu", "name": "main", **fields})
    return str(doc["_id"])


async def test_a_key_with_a_child_goes_there() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu_id = await make_menu(h, hunt=False, media={"greeting": "/system_media/main-menu"}, timeout=7000)
        switch = h.switch(digits=["2"])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales"), "2": say("support")}))
        assert switch.applications() == ["answer", "play_and_collect_digits", "play", "hangup"]
        collect = switch.of("play_and_collect_digits")[0]
        assert (collect["Media-Name"], collect["Maximum-Digits"], collect["Timeout"]) == (
            "/system_media/main-menu",
            1,  # no hunting and one-key children: the first key answers
            7000,
        )
        assert played(switch)[-1] == "/system_media/support"


async def test_an_invalid_key_plays_the_invalid_prompt_and_asks_again() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu_id = await make_menu(h, hunt=False)
        switch = h.switch(digits=["9", "1"])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales")}))
        assert played(switch) == [DEFAULT_GREETING, DEFAULT_INVALID, DEFAULT_GREETING, "/system_media/sales"]


async def test_after_the_retries_the_exit_prompt_then_max_retries() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu_id = await make_menu(h, retries=2, hunt=False, media={"exit_media": "/system_media/bye"})
        switch = h.switch(digits=["", "7"])
        flow = menu_node(menu_id, **{"1": say("sales"), "max_retries": say("operator"), "_": say("default")})
        await h.run(switch, flow)
        assert played(switch) == [
            DEFAULT_GREETING,
            DEFAULT_GREETING,
            DEFAULT_INVALID,
            "/system_media/bye",
            "/system_media/operator",
        ]


async def test_without_max_retries_the_exit_prompt_then_the_default_child() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu_id = await make_menu(h, hunt=False)
        switch = h.switch(digits=["", "", ""])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales"), "_": say("default")}))
        assert played(switch) == [DEFAULT_GREETING] * 3 + [DEFAULT_EXIT, "/system_media/default"]


async def test_no_entry_follows_the_timeout_child_at_once() -> None:
    async with CallflowHarness() as h:
        await h.account()
        menu_id = await make_menu(h, hunt=False)
        switch = h.switch(digits=[""])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales"), "timeout": say("timeout")}))
        assert played(switch) == [DEFAULT_GREETING, "/system_media/timeout"]


async def test_an_extension_is_dialled_through_its_callflow() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await h.save({"pvt_type": "callflow", "numbers": ["2001"], "flow": say("extension-2001")})
        await h.save({"pvt_type": "callflow", "numbers": ["no_match"], "flow": say("offnet")})
        menu_id = await make_menu(h, max_extension_length=4)
        switch = h.switch(digits=["2001"])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales")}))
        assert switch.of("play_and_collect_digits")[0]["Maximum-Digits"] == 4
        assert played(switch)[-1] == "/system_media/extension-2001"


async def test_no_match_and_denied_extensions_are_invalid_entries() -> None:
    async with CallflowHarness() as h:
        await h.account()
        await h.save({"pvt_type": "callflow", "numbers": ["2001"], "flow": say("extension-2001")})
        await h.save({"pvt_type": "callflow", "numbers": ["no_match"], "flow": say("offnet")})
        menu_id = await make_menu(h, retries=2, hunt_deny="^20")
        switch = h.switch(digits=["5555", "2001"])
        await h.run(switch, menu_node(menu_id))
        assert played(switch) == [DEFAULT_GREETING, DEFAULT_INVALID] * 2 + [DEFAULT_EXIT]


async def test_media_ids_of_the_menu_play_from_the_account() -> None:
    async with CallflowHarness() as h:
        account = await h.account()
        greeting = await h.save({"pvt_type": "media", "name": "greeting", "media_source": "upload"})
        menu_id = await make_menu(h, hunt=False, media={"greeting": greeting["_id"]})
        switch = h.switch(digits=["1"])
        await h.run(switch, menu_node(menu_id, **{"1": say("sales")}))
        assert played(switch)[0] == f"/{account}/{greeting['_id']}"


async def test_a_missing_menu_fails_with_the_prompt() -> None:
    async with CallflowHarness() as h:
        await h.account()
        switch = h.switch()
        await h.run(switch, menu_node("missing", **{"1": say("sales")}))
        assert switch.applications() == ["play", "hangup"]
        assert played(switch) == [FAILURE_MEDIA]
