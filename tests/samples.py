"""Valid sample messages the bus tests publish."""

from __future__ import annotations

from whistle_common.bus import Bus


def cdr(bus: Bus, call_id: str) -> dict:
    """A CDR as ecallmgr publishes it when a call ends."""
    return bus.build(
        "cdr",
        call_id=call_id,
        timestamp=1795411510,
        hangup_cause="NORMAL_CLEARING",
        duration_seconds=12,
        billing_seconds=10,
        ringing_seconds=2,
    )
