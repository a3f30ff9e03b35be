"""A small in-process sliding-window rate limiter for unauthenticated endpoints.

In-process on purpose: one gateway process per host keeps it honest, and several workers each enforce the
limit (so the effective limit is per worker). A shared limiter (the database or a cache) belongs with scaling out.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindowLimiter:
    limit: int
    window_seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def allow(self, key: str, *, now: float | None = None) -> float | None:
        """None when the call may go ahead (and counts it); otherwise seconds until it may."""
        moment = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= moment - self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window_seconds - moment
        hits.append(moment)
        if len(self._hits) > 10_000:  # forget idle callers rather than grow without bound
            for idle in [k for k, v in self._hits.items() if not v]:
                del self._hits[idle]
        return None
