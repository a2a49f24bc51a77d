"""Call control: the commands whapps send to a call's control queue, executed on FreeSWITCH in order.

- :mod:`ecallmgr.control.commands`: call command -> FreeSWITCH application(s) or API command (pure);
- :mod:`ecallmgr.control.queue`: ``CallControl``, one call's queue (Insert-At, completions, errors, ack);
- :mod:`ecallmgr.control.manager`: ``CallControlManager``, every controlled call of this ecallmgr.
"""

from ecallmgr.control.commands import CommandRefused, FsApi, FsApp, Plan, plan, resolve_media
from ecallmgr.control.manager import CallControlManager
from ecallmgr.control.queue import CallControl, control_queue_name

__all__ = [
    "CallControl",
    "CallControlManager",
    "CommandRefused",
    "FsApi",
    "FsApp",
    "Plan",
    "control_queue_name",
    "plan",
    "resolve_media",
]
