"""A token bucket per key (a client address), bounded in memory: for unauthenticated endpoints where every
request costs something (the OAuth callback: a database claim, an audit row; issue 22 item 9)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class KeyedRateLimiter:
    """``burst`` requests at once per key, refilled at ``per_minute``; at most ``max_keys`` keys are tracked (the
    least recently seen is forgotten first, so a flood of distinct addresses cannot grow memory)."""

    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("per_minute, burst and max_keys must be positive")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self.refused = 0

    def take(self, key: str) -> int:
        """0 when the request may go ahead (one token taken), else the whole seconds until it may (Retry-After)."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        self.refused += 1
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
