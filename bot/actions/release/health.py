"""Health checks run before every traffic shift.

A health check is any callable ``check(version)`` that returns normally when
the given Lambda version (or web release) is healthy and raises
:class:`HealthCheckFailed` otherwise.  An HTTP endpoint and CloudWatch alarm
state judge the service as a whole; :class:`AllOf` combines them.  Two judge
the new version alone (issue 23, item 7): :class:`InvokeHealthCheck` invokes
it by its version qualifier with the service's health event (before it has any
traffic), and :class:`VersionMetricsCheck` reads its own CloudWatch metrics
(``ExecutedVersion``) during each bake.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .aws import aws_call
from .errors import HealthCheckFailed, InvalidInput

__all__ = [
    "AlarmHealthCheck",
    "AllOf",
    "HealthCheck",
    "HttpHealthCheck",
    "InvokeHealthCheck",
    "MetricLimits",
    "VersionMetricsCheck",
]

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


@dataclass(frozen=True, slots=True)
class InvokeHealthCheck:
    """Invoke the version under test directly (``Qualifier=<version>``: Lambda's Invoke API runs that published
    version whatever the alias routes) with the service's health event, synchronously (``RequestResponse``).

    Unhealthy: an ``X-Amz-Function-Error``/``FunctionError`` in the answer (the function raised or timed out; the
    Invoke API still answers 200), a status other than 200, or a payload shaped like an API Gateway proxy response
    (``{"statusCode": …}``) whose status is 400 or more."""

    lambda_client: Any
    function: str
    event: dict[str, Any]

    def __call__(self, version: str) -> None:
        with aws_call(f"invoke version {version} of {self.function}"):
            answer = self.lambda_client.invoke(FunctionName=self.function, Qualifier=version,
                                               InvocationType="RequestResponse",
                                               Payload=json.dumps(self.event).encode())
        body = answer["Payload"].read() if answer.get("Payload") is not None else b""
        if answer.get("FunctionError"):
            raise HealthCheckFailed(f"version {version} raised on its health event ({answer['FunctionError']})")
        if int(answer.get("StatusCode", 0)) != 200:
            raise HealthCheckFailed(f"invoking version {version} answered {answer.get('StatusCode')}")
        status = _proxy_status(body)
        if status is not None and status >= 400:
            raise HealthCheckFailed(f"version {version} answered its health event with status {status}")
        log.info("invoke health check passed function=%s version=%s", self.function, version)


def _proxy_status(body: bytes) -> int | None:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return None
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    return int(status) if isinstance(status, int | str) and str(status).isdigit() else None


@dataclass(frozen=True, slots=True)
class MetricLimits:
    """Most a new version may show over the window: errors and throttles (sums), and its slowest invocation in ms
    (the ``Maximum`` statistic of ``Duration``, which excludes init time)."""

    errors: float = 0.0
    throttles: float = 0.0
    duration_max_ms: float | None = None


@dataclass(frozen=True, slots=True)
class VersionMetricsCheck:
    """The new version's own metrics over the last ``window_seconds``, from CloudWatch ``GetMetricData``.

    Lambda publishes ``AWS/Lambda`` metrics for alias invocations with the dimensions ``FunctionName``,
    ``Resource`` (``<function>:<alias>``) and ``ExecutedVersion`` (the version that ran), so the version getting
    10 % of the alias is judged on its own invocations, not averaged with the old version's 90 %. No data points
    (no traffic yet, or none failing: Lambda sends Errors/Throttles only when there is something to count) passes.
    """

    cloudwatch: Any
    function: str
    alias: str
    window_seconds: float = 300.0
    limits: MetricLimits = MetricLimits()
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __call__(self, version: str) -> None:
        now = self.now()
        start = now - timedelta(seconds=max(60.0, self.window_seconds))
        end = now + timedelta(seconds=60)  # EndTime is exclusive: include the minute in progress
        dims = [{"Name": "FunctionName", "Value": self.function},
                {"Name": "Resource", "Value": f"{self.function}:{self.alias}"},
                {"Name": "ExecutedVersion", "Value": version}]
        wanted = [("errors", "Errors", "Sum"), ("throttles", "Throttles", "Sum")]
        if self.limits.duration_max_ms is not None:
            wanted.append(("duration", "Duration", "Maximum"))
        queries = [{"Id": key, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": name, "Dimensions": dims},
            "Period": 60, "Stat": stat}} for key, name, stat in wanted]
        with aws_call(f"read metrics of version {version} of {self.function}"):
            answer = self.cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
        values = {str(r["Id"]): [float(v) for v in r.get("Values", []) if v is not None]
                  for r in answer.get("MetricDataResults", [])}
        errors, throttles = sum(values.get("errors", [])), sum(values.get("throttles", []))
        if errors > self.limits.errors:
            raise HealthCheckFailed(f"version {version}: {errors:.0f} errors in the last {self.window_seconds:.0f}s")
        if throttles > self.limits.throttles:
            raise HealthCheckFailed(f"version {version}: {throttles:.0f} throttles in the last "
                                    f"{self.window_seconds:.0f}s")
        slowest = max(values.get("duration", []), default=0.0)
        if self.limits.duration_max_ms is not None and slowest > self.limits.duration_max_ms:
            raise HealthCheckFailed(f"version {version}: an invocation took {slowest:.0f} ms, over "
                                    f"{self.limits.duration_max_ms:.0f} ms")
        log.info("metrics check passed function=%s version=%s", self.function, version)
