"""The callflow modules, one file each; importing this package registers every one of them.

Each file registers its handlers with :func:`whapps.callflow.flow.module` and has a data schema in
``schemas/callflow/<module>.json``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from whapps.callflow.flow import MODULES, Handler


@cache  # the executor asks for every node of every call: import (and list the package) once
def load() -> dict[str, Handler]:
    """Import every module file of this package (once) and return the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return MODULES
