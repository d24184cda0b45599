"""Health checks run before every traffic shift.

A health check is any callable ``check(version)`` that returns normally when
the given Lambda version (or web release) is healthy and raises
:class:`HealthCheckFailed` otherwise.  Two real ones ship here: an HTTP
endpoint and CloudWatch alarm state; :class:`AllOf` combines them.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .aws import aws_call
from .errors import HealthCheckFailed, InvalidInput

__all__ = ["AlarmHealthCheck", "AllOf", "HealthCheck", "HttpHealthCheck"]

log = logging.getLogger(__name__)

HealthCheck = Callable[[str], None]


def _require_http_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"health url {url!r} must be an absolute http(s) URL")
    return url


@dataclass(frozen=True, slots=True)
class HttpHealthCheck:
    """GET ``url`` (``{version}`` is replaced by the version under test); 2xx is healthy.

    Transient failures are retried ``attempts`` times, ``interval`` seconds apart.
    """

    url: str
    attempts: int = 3
    interval: float = 2.0
    timeout: float = 5.0

    def __post_init__(self) -> None:
        _require_http_url(self.url.replace("{version}", "0"))
        if self.attempts < 1:
            raise InvalidInput("health check attempts must be at least 1")

    def __call__(self, version: str) -> None:
        url = self.url.replace("{version}", urllib.parse.quote(version, safe=""))
        reason = ""
        for attempt in range(1, self.attempts + 1):
            reason = self._probe(url)
            if not reason:
                log.info("health check passed version=%s attempt=%d", version, attempt)
                return
            log.warning("health check failed version=%s attempt=%d reason=%s", version, attempt, reason)
            if attempt < self.attempts:
                time.sleep(self.interval)
        raise HealthCheckFailed(f"health check of version {version} failed: {reason}")

    def _probe(self, url: str) -> str:
        request = urllib.request.Request(  # noqa: S310 (scheme checked)
            url, method="GET", headers={"User-Agent": "chatops-release"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return f"unreachable ({type(exc).__name__})"
        return "" if 200 <= status < 300 else f"HTTP {status}"


@dataclass(frozen=True, slots=True)
class AlarmHealthCheck:
    """Unhealthy when any named CloudWatch alarm is in state ``ALARM``."""

    cloudwatch: Any
    alarm_names: tuple[str, ...]

    def __call__(self, version: str) -> None:
        if not self.alarm_names:
            return
        with aws_call("describe alarms"):
            response = self.cloudwatch.describe_alarms(AlarmNames=list(self.alarm_names))
        found = {str(a["AlarmName"]): str(a["StateValue"]) for a in response.get("MetricAlarms", [])}
        found.update({str(a["AlarmName"]): str(a["StateValue"]) for a in response.get("CompositeAlarms", [])})
        missing = [name for name in self.alarm_names if name not in found]
        if missing:
            raise HealthCheckFailed(f"alarms not found: {', '.join(missing)}")
        firing = sorted(name for name, state in found.items() if state == "ALARM")
        if firing:
            raise HealthCheckFailed(f"version {version}: alarm in ALARM state: {', '.join(firing)}")


@dataclass(frozen=True, slots=True)
class AllOf:
    """Runs every check in order; the first failure wins."""

    checks: Sequence[HealthCheck]

    def __call__(self, version: str) -> None:
        for check in self.checks:
            check(version)
