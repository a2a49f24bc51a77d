"""Log lines that carry the call they are about: ``call_id=...`` whenever a record has one."""

from __future__ import annotations

import logging


class CallIdFormatter(logging.Formatter):
    """Appends ``call_id=<id>`` to records logged with ``extra={"call_id": ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        call_id = getattr(record, "call_id", None)
        return f"{line} call_id={call_id}" if call_id else line


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with time, level, logger and message, plus the call id where there is one."""
    handler = logging.StreamHandler()
    handler.setFormatter(CallIdFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
