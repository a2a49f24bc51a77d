"""Pure translations of FreeSWITCH events into Kazoo-style bus messages (no I/O: ecallmgr's hot path).

- ``call_event(fs, origin=...)``: channel event -> ``call_event``, or None when Kazoo would not publish it;
- ``cdr(fs, origin=...)``: CHANNEL_HANGUP_COMPLETE -> ``cdr``;
- ``registration(fs, origin=...)``: sofia::register -> ``registration_success``, or None;
- ``app_names``: FreeSWITCH <-> Kazoo application names.

``fs`` is a flat mapping of the event's headers with values already decoded. The results are valid
against ``schemas/api/`` (the tests check every recorded event); they are not validated here, to keep
the per-event cost down: the publisher validates.
"""

from ecallmgr.translate.app_names import FS_TO_KAZOO, KAZOO_TO_FS, kazoo_application_name
from ecallmgr.translate.call_event import call_event, event_name
from ecallmgr.translate.cdr import cdr
from ecallmgr.translate.registration import registration

__all__ = [
    "FS_TO_KAZOO",
    "KAZOO_TO_FS",
    "call_event",
    "cdr",
    "event_name",
    "kazoo_application_name",
    "registration",
]
