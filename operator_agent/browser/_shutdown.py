"""Cleanup that must finish even when the task running it is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def run_to_completion(work: Awaitable[T]) -> T:
    """Await ``work`` to the end, even through cancellation of the calling task.

    ``work`` runs in its own task, so cancelling the caller does not interrupt it. If the caller
    is cancelled meanwhile (once or many times), the wait goes on until ``work`` is done and the
    cancellation is raised afterwards, so the caller still unwinds as asked. ``work`` must bound
    its own duration (timeouts), since it is waited for unconditionally.

    Args:
        work: A coroutine or future doing the cleanup.

    Returns:
        What ``work`` returned.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
