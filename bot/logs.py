"""Logging set-up: one line per record with a correlation id; never bodies, tokens or URLs."""

from __future__ import annotations

import contextvars
import logging
import os

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.cid = correlation_id.get()
        return True


# libraries that log request URLs or SQL parameters at DEBUG (response_url, webhook URLs, tokens)
_CHATTY = ("aiosqlite", "asyncpg", "slack_sdk", "slack_bolt", "urllib3", "github", "botocore", "msal",
           "microsoft_agents")


def quiet_libraries() -> None:
    """Pin libraries that would log secrets at DEBUG to INFO, whatever the root level is."""
    for name in _CHATTY:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_CorrelationFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(cid)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    quiet_libraries()
