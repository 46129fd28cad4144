"""A pool of browser contexts in one browser: at most N at a time, fewer when memory runs short.

Every context starts signed in: the pool signs in once (with the task's ``sign_in``), saves the
storage state (cookies, local storage) and opens each further context from it. When a run finds
itself signed out (``SessionExpiredError``), the next context asks for a fresh sign-in; the pool
signs in again only once per expiry, however many workers ask at the same moment.

With ``reuse=True`` a context goes back to the pool after a successful item and the next item
runs in it (faster: no new context, already on the site); with ``reuse=False`` each item gets its
own, fresh context (stronger isolation). A context whose item failed is always closed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from operator_agent.batch.memory import descendant_memory_mb
from operator_agent.batch.outcome import TransientItemError, classify_error
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.errors import ConfigurationError
from operator_agent.logs import get_logger

__all__ = ["ContextPool", "SignIn"]

SignIn = Callable[[RunContext], Awaitable[None]]
"""Signs a fresh browser context in to the site (its storage state is then saved and reused)."""

_log = get_logger("operator_agent.batch.pool")
_SIGN_IN_ATTEMPTS = 3


class ContextPool:
    """Browser contexts for a batch's workers.

    Args:
        session: The started browser (``None`` for tasks that need none: :meth:`acquire` then fails).
        size: The most contexts open at once (the batch's concurrency).
        state_path: Where the signed-in storage state is saved (readable by its owner only).
        sign_in: Signs a fresh context in; ``None`` when the site needs no sign-in, or when
            ``storage_state`` already holds a signed-in state.
        storage_state: A storage-state file to start from (made earlier, say with
            ``RunContext.save_storage_state``).
        reuse: Keep a context for the next item after a success.
        memory_ceiling_mb: No new context opens while the browser's processes use more than
            this; ``None`` for no ceiling. At least one context is always allowed.

    Raises:
        ConfigurationError: ``size`` is below 1 or the ceiling is not positive.
    """

    def __init__(
        self,
        *,
        session: BrowserSession | None,
        size: int,
        state_path: Path,
        sign_in: SignIn | None = None,
        storage_state: str | os.PathLike[str] | None = None,
        reuse: bool = True,
        memory_ceiling_mb: float | None = None,
    ) -> None:
        if size < 1:
            raise ConfigurationError(f"ContextPool size must be at least 1, got {size}")
        if memory_ceiling_mb is not None and memory_ceiling_mb <= 0:
            raise ConfigurationError(f"memory_ceiling_mb must be positive, got {memory_ceiling_mb}")
        self._session = session
        self.size = size
        self._state_path = state_path
        self._sign_in = sign_in
        self._state: Path | None = Path(storage_state) if storage_state is not None else None
        self.reuse = reuse
        self.memory_ceiling_mb = memory_ceiling_mb
        self._idle: list[RunContext] = []
        self._open = 0
        self.peak = 0
        self.held_back = 0
        self._generation = 0
        self._cond = asyncio.Condition()
        self._sign_in_lock = asyncio.Lock()

    @property
    def open(self) -> int:
        """Contexts open now (in use or idle)."""
        return self._open

    @property
    def state_file(self) -> Path | None:
        """The signed-in storage state new contexts start from, once there is one."""
        return self._state

    @property
    def generation(self) -> int:
        """How many times the pool has signed in; pass it back to :meth:`acquire` to refresh."""
        return self._generation

    def memory_mb(self) -> float | None:
        """Resident memory of the browser's processes now, in MB (``None`` if unknown)."""
        return descendant_memory_mb()

    def _memory_allows(self) -> bool:
        if self.memory_ceiling_mb is None:
            return True
        used = self.memory_mb()
        return used is None or used < self.memory_ceiling_mb

    async def acquire(self, *, refresh_after: int | None = None) -> RunContext:
        """A signed-in context; waits while the pool is full (or memory is short).

        Args:
            refresh_after: Sign in again first, unless the pool signed in since this generation
                (the value of :attr:`generation` when the caller's run failed).

        Raises:
            TransientItemError: Signing in kept failing.
            BrowserError: The browser refused a new context.
        """
        async with self._cond:
            while True:
                if self._idle and refresh_after is None:
                    return self._idle.pop()
                if self._idle:
                    # A refresh is asked for: idle contexts carry the old session.
                    stale = self._idle.pop()
                    self._open -= 1
                    await stale.close()
                if self._open < self.size and (self._open == 0 or self._memory_allows()):
                    self._open += 1
                    self.peak = max(self.peak, self._open)
                    break
                if self._open < self.size:
                    self.held_back += 1
                    _log.warning(
                        "memory ceiling reached; waiting for a context to free up",
                        ceiling_mb=self.memory_ceiling_mb,
                        open=self._open,
                    )
                await self._cond.wait()
        try:
            return await self._new_context(refresh_after)
        except BaseException:
            async with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    async def release(self, run: RunContext, *, healthy: bool) -> None:
        """Give a context back: kept for the next item if reusable and healthy, else closed."""
        keep = self.reuse and healthy and not run.closed and self._memory_allows()
        if not keep:
            await run.close()
        async with self._cond:
            if keep:
                self._idle.append(run)
            else:
                self._open -= 1
            self._cond.notify()

    async def close(self) -> None:
        """Close the idle contexts (contexts in use are closed by the session)."""
        async with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for run in idle:
            await run.close()

    def _browser(self) -> BrowserSession:
        if self._session is None:
            raise ConfigurationError("this batch runs without a browser (its task has needs_browser = False)")
        return self._session

    async def _new_context(self, refresh_after: int | None) -> RunContext:
        if self._sign_in is None:
            return await self._browser().new_context(storage_state=self._state)
        async with self._sign_in_lock:
            needed = self._state is None or (refresh_after is not None and refresh_after == self._generation)
            if not needed:
                return await self._browser().new_context(storage_state=self._state)
            run = await self._signed_in_context()
            self._state = await run.save_storage_state(self._state_path)
            self._generation += 1
            _log.info("signed in; new contexts start from the saved state", generation=self._generation)
            return run

    async def _signed_in_context(self) -> RunContext:
        assert self._sign_in is not None
        sign_in = self._sign_in
        retrying = AsyncRetrying(
            stop=stop_after_attempt(_SIGN_IN_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=5),
            retry=retry_if_exception(lambda exc: classify_error(exc) == "transient"),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    run = await self._browser().new_context()
                    try:
                        await sign_in(run)
                    except BaseException:
                        await run.close()
                        raise
                    return run
        except Exception as exc:
            if classify_error(exc) != "transient":
                raise
            raise TransientItemError(
                f"signing in failed {_SIGN_IN_ATTEMPTS} times: {exc}", kind=type(exc).__name__
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover
