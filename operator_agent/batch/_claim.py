"""A worker's claim on one batch item in Redis, kept alive by a heartbeat (scale-out).

The claim is a Redis key holding the worker's token, with a short expiry (``ttl_s``). While the
worker lives, a daemon thread renews it every third of that. A worker that dies (``kill -9``, its
machine lost) stops renewing, so its claim lapses ``ttl_s`` later at most, and another worker may
take the item up, after the idempotency check. A claim that lapsed under a living worker (the
process was frozen for longer than ``ttl_s``, or Redis lost the key) is reported through
``on_lost``, so that worker stops the item instead of running it beside another one.

Renewing and releasing compare the token first (one Lua script each), so a worker never touches a
claim that has passed to another worker. The Redis client is passed in: this module imports neither
Redis nor Celery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from operator_agent.errors import ConfigurationError
from operator_agent.logs import get_logger

__all__ = ["ItemClaim"]

_log = get_logger("operator_agent.batch.claim")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class ItemClaim:
    """One worker's claim on one item: taken with :meth:`acquire`, renewed until :meth:`release`.

    Args:
        store: A Redis client (``redis.Redis``).
        key: The claim's key (``redis_keys(...).lock``).
        token: This worker's token; only the holder of the token renews or releases the claim.
        ttl_s: How long the claim outlives the last renewal.
        on_lost: Called once, from the heartbeat thread, when the claim turns out to be gone.

    Raises:
        ConfigurationError: ``ttl_s`` is not positive.
    """

    def __init__(
        self, *, store: Any, key: str, token: str, ttl_s: float, on_lost: Callable[[], None]
    ) -> None:
        if ttl_s <= 0:
            raise ConfigurationError(f"a claim's ttl_s must be positive, got {ttl_s}")
        self.key = key
        self.token = token
        self.ttl_s = ttl_s
        self.lost = False
        self._store = store
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _ttl_ms(self) -> int:
        return max(int(self.ttl_s * 1000), 1)

    def acquire(self) -> bool:
        """Take the claim if nobody holds it, and start renewing it.

        Returns:
            Whether this worker now holds the claim.
        """
        if not self._store.set(self.key, self.token, nx=True, px=self._ttl_ms):
            return False
        self._thread = threading.Thread(target=self._beat, name=f"claim-heartbeat {self.key}", daemon=True)
        self._thread.start()
        return True

    def release(self) -> None:
        """Stop renewing, and delete the claim if this worker still holds it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl_s)
        self._store.eval(_RELEASE, 1, self.key, self.token)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                renewed = self._store.eval(_RENEW, 1, self.key, self.token, self._ttl_ms)
            except Exception as exc:  # Redis unreachable for a moment: try again at the next beat
                _log.warning("could not renew an item claim", key=self.key, error=repr(exc))
                continue
            if not renewed and not self._stop.is_set():
                self.lost = True
                _log.error(
                    "this worker's claim on an item lapsed; the item is stopped here",
                    key=self.key,
                    ttl_s=self.ttl_s,
                )
                self._on_lost()
                return
