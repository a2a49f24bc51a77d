"""``whistle demo`` on its embedded backends: the sample company's calls go where the story says."""

from __future__ import annotations

from whistle_demo.run import run_demo


async def test_the_demo_calls_follow_the_attendant() -> None:
    printed: list[str] = []
    callers, timeline = await run_demo(printer=printed.append, timeout=60)
    outcomes = {outcome.name: outcome for outcome in callers}
    assert {name: outcome.answered for name, outcome in outcomes.items()} == {
        "sales": True, "support": True, "operator": True, "silent": True,
    }  # fmt: skip
    assert outcomes["sales"].digits_sent == ["1"] and outcomes["silent"].digits_sent == []

    def story(name: str) -> list[str]:
        return [line.split(name, 1)[1].strip() for line in timeline.lines if f"  {name} " in line]

    assert "bridged to 1101" in story("sales")  # Bob (1102) is busy, Alice answers
    assert "hung up  USER_BUSY" in story("sales>1102")
    # Carol never answers: the call is offered to voicemail, which has no whapp yet to take it
    assert "offered to voicemail.leave (taken only if that whapp runs)" in story("support")
    assert "hung up  NO_ANSWER" in story("support>1103")
    assert "bridged to 1100" in story("operator")
    assert "> play ivr/ivr-thank_you_for_calling.wav" in story("silent")  # retries exhausted
    assert not any("bridged" in line for line in story("silent"))
    assert timeline.lines and all(line in printed for line in timeline.lines)  # printed as it happened
