"""``whistle fsim``: run the FreeSWITCH simulator, or place a call into a running one."""

from __future__ import annotations

import click


@click.group(help="fsim, the FreeSWITCH simulator: Event Socket, mod_xml_curl, calls, registrations.")
def fsim() -> None:
    pass
