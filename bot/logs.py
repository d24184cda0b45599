"""Logging set-up: one line per record with a correlation id; never bodies, tokens or URLs.

Two filters sit on every handler: ``RedactUrls`` rewrites any record (message, arguments, traceback) that
carries a URL granting the right to post (a Slack ``response_url``, a Teams webhook), whichever library
logged it; ``RateLimitAcceptErrors`` lets one "socket.accept() out of system resource" line through per
interval, without its traceback (asyncio writes one per failed accept when file descriptors run out).
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
REDACTED = "<redacted>"
SLACK_HOOKS_URL = "https://hooks.slack.com"


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.cid = correlation_id.get()
        return True


def _url_pattern(hooks_urls: tuple[str, ...]) -> re.Pattern[str]:
    hosts = "|".join(re.escape(u.rstrip("/")) for u in hooks_urls if u)
    return re.compile(
        rf"(?P<keep>(?:{hosts})/|https?://[^\s/'\"]*\.webhook\.office\.com/)[^\s'\"<>)]+"  # hooks host paths
        r"|(?P<keep2>/(?:commands|actions)/)T[A-Z0-9]+/\d+/[A-Za-z0-9]+"  # a Slack response_url path anywhere
        r"|(?P<keep3>[?&]sig=)[^&\s'\"]+",  # a signed Teams Workflows / Logic Apps URL
        re.IGNORECASE,
    )


class RedactUrls(logging.Filter):
    """Replace posting URLs in a record (message, args and traceback text) before any handler writes it."""

    def __init__(self, hooks_urls: tuple[str, ...] = (SLACK_HOOKS_URL,)) -> None:
        super().__init__()
        self.hooks_urls = tuple(dict.fromkeys((SLACK_HOOKS_URL, *hooks_urls)))
        self._pattern = _url_pattern(self.hooks_urls)

    def _sub(self, text: str) -> str:
        return self._pattern.sub(lambda m: (m.group("keep") or m.group("keep2") or m.group("keep3")) + REDACTED,
                                 text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave it to the handler's own error path
            return True
        redacted = self._sub(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._sub(record.exc_text)
        return True


ACCEPT_ERROR = "socket.accept() out of system resource"


class RateLimitAcceptErrors(logging.Filter):
    """asyncio logs every failed accept (EMFILE) with a traceback: keep one short line per ``interval_s``."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last = float("-inf")
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "asyncio" or not str(record.msg).startswith(ACCEPT_ERROR):
            return True
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self.suppressed += 1
            return False
        self._last = now
        error = record.exc_info[1] if record.exc_info else None
        record.msg = "%s (%s); %d such lines suppressed; at most one every %.0f s"
        record.args = (ACCEPT_ERROR, type(error).__name__ if error else "-", self.suppressed, self.interval_s)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        self.suppressed = 0
        return True


# libraries that log request URLs or SQL parameters at DEBUG (response_url, webhook URLs, tokens)
_CHATTY = ("asyncpg", "slack_sdk", "slack_bolt", "urllib3", "github", "botocore", "msal",
           "microsoft_agents")


def quiet_libraries() -> None:
    """Pin libraries that would log secrets at DEBUG to INFO, whatever the root level is."""
    for name in _CHATTY:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def protect_handlers(hooks_url: str = "") -> None:
    """Put the redaction and accept-error filters on every handler of the root logger (once each)."""
    hooks = hooks_url or os.environ.get("SLACK_HOOKS_URL", "") or SLACK_HOOKS_URL
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactUrls) for f in handler.filters):
            handler.addFilter(RedactUrls((hooks,)))
        if not any(isinstance(f, RateLimitAcceptErrors) for f in handler.filters):
            handler.addFilter(RateLimitAcceptErrors())


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_CorrelationFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(cid)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    protect_handlers()
    quiet_libraries()
