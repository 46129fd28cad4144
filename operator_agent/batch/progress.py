"""Progress of a running batch: structured events for machines, a one-line bar for people.

Every change the runner makes is a :class:`BatchEvent`: it is logged (structlog), passed to the
``on_event`` callbacks, and, when the batch runs on a terminal, drawn as a progress bar on stderr::

    month-end [##########..........] 25/50  done 22  failed 1  review 2  approval 0  6.1/min  ETA 4m
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.logs import get_logger

__all__ = ["BatchEvent", "EventKind", "JsonLinesSink", "Progress", "ProgressBar"]

EventKind = Literal[
    "batch_started",
    "item_started",
    "item_retrying",
    "item_waiting_approval",
    "item_finished",
    "item_recovered",
    "memory_ceiling",
    "batch_stopped",
]

_log = get_logger("operator_agent.batch.progress")


class BatchEvent(BaseModel):
    """One thing that happened in a batch, with the batch's counts right after it.

    Attributes:
        kind: What happened.
        batch_id: The batch.
        at: When (UTC).
        key: The item concerned, if any.
        state: The item's state after the event, if any.
        detail: A few words (the error, the reason, the status the batch stopped in).
        total: Items in the batch.
        counts: Items per state.
        rate_per_min: Items finished per minute since this run started.
        eta_s: Estimated seconds to finish the items left, once the rate is known.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    batch_id: str
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    key: str | None = None
    state: str | None = None
    detail: str = ""
    total: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    rate_per_min: float | None = None
    eta_s: float | None = None


EventCallback = Callable[[BatchEvent], None]


class Progress:
    """Builds events with rates and ETA, and hands them to the callbacks.

    Args:
        batch_id: The batch.
        callbacks: Called with each event; one that raises is logged and otherwise ignored.
    """

    def __init__(self, *, batch_id: str, callbacks: list[EventCallback]) -> None:
        self.batch_id = batch_id
        self._callbacks = callbacks
        self._started = time.monotonic()
        self._finished_here = 0

    def emit(
        self,
        kind: EventKind,
        *,
        counts: dict[str, int],
        key: str | None = None,
        state: str | None = None,
        detail: str = "",
    ) -> BatchEvent:
        """Build an event, log it and pass it on."""
        if kind == "item_finished":
            self._finished_here += 1
        elapsed_min = (time.monotonic() - self._started) / 60
        rate = self._finished_here / elapsed_min if self._finished_here and elapsed_min > 0 else None
        left = counts.get("pending", 0) + counts.get("running", 0) + counts.get("awaiting_approval", 0)
        event = BatchEvent(
            kind=kind,
            batch_id=self.batch_id,
            key=key,
            state=state,
            detail=detail[:500],
            total=sum(counts.values()),
            counts=dict(counts),
            rate_per_min=round(rate, 2) if rate is not None else None,
            eta_s=round(left / rate * 60, 1) if rate else None,
        )
        _log.info(f"batch {kind}", batch_id=self.batch_id, key=key, state=state, detail=detail[:200])
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception as exc:  # a broken display must not stop the batch
                _log.error("batch event callback failed", error=repr(exc))
        return event


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -"
    if seconds < 90:
        return f"ETA {seconds:.0f}s"
    if seconds < 5400:
        return f"ETA {seconds / 60:.0f}m"
    return f"ETA {seconds / 3600:.1f}h"


class ProgressBar:
    """Draws the batch's progress on one terminal line (only when the stream is a TTY).

    Args:
        stream: Where to draw; ``sys.stderr`` by default.
        width: Width of the bar in characters.
        force: Draw even if the stream is not a terminal (for tests and logs).
    """

    def __init__(self, *, stream: IO[str] | None = None, width: int = 24, force: bool = False) -> None:
        self._stream = stream
        self.width = width
        self._force = force
        self._drawn = False

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    @property
    def active(self) -> bool:
        """Whether the bar draws (a terminal, or forced)."""
        if self._force:
            return True
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def render(self, event: BatchEvent) -> str:
        """The bar's line for an event."""
        counts = event.counts
        done = counts.get("completed", 0)
        failed = counts.get("failed", 0)
        review = counts.get("needs_review", 0)
        finished = done + failed + review
        total = max(event.total, 1)
        filled = round(self.width * finished / total)
        bar = "#" * filled + "." * (self.width - filled)
        rate = f"{event.rate_per_min:.1f}/min" if event.rate_per_min is not None else "-/min"
        return (
            f"{event.batch_id} [{bar}] {finished}/{event.total}  done {done}  failed {failed}  "
            f"review {review}  approval {counts.get('awaiting_approval', 0)}  {rate}  {_eta(event.eta_s)}"
        )

    def __call__(self, event: BatchEvent) -> None:
        if not self.active:
            return
        line = self.render(event)
        end = "\n" if event.kind == "batch_stopped" else ""
        self.stream.write("\r\x1b[2K" + line + end)
        self.stream.flush()
        self._drawn = end == ""


class JsonLinesSink:
    """Writes each event as one JSON object per line (for dashboards, log shippers, other tools).

    Args:
        stream: An open text stream (``sys.stdout`` for ``--events -``).
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: BatchEvent) -> None:
        self._stream.write(json.dumps(event.model_dump(mode="json"), ensure_ascii=False) + "\n")
        self._stream.flush()
