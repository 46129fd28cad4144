"""The review queue: the items a person must look at, with everything needed to decide.

An item lands here when it ends below the confidence threshold, asks for a person, is denied, has
bad input, is refused by the site, or runs out of retries. :meth:`ReviewQueue.show` gives a person
the item's input, what was done (steps), screenshots, the model's reasoning and the error;
:meth:`ReviewQueue.resolve` records what they decided (journalled with their name):

* ``accepted``: the result is right as it is; the item counts as completed;
* ``done_manually``: they did it by hand; completed;
* ``retry``: run it again (optionally with corrected data) at the next ``resume``;
* ``skipped``: it will not be done.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from operator_agent.batch.journal import Journal
from operator_agent.batch.records import ItemEvent, ItemRecord, Resolution
from operator_agent.errors import ConfigurationError, ReviewConflictError
from operator_agent.logs import get_logger

__all__ = ["ReviewEntry", "ReviewQueue"]

_log = get_logger("operator_agent.batch.review")
_RESOLUTIONS: tuple[Resolution, ...] = ("accepted", "done_manually", "retry", "skipped")


class ReviewEntry(BaseModel):
    """One review item with its history: what a person needs to decide.

    Attributes:
        item: The item (input, state, error, output, artifacts).
        events: Its history, oldest first.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: ItemRecord
    events: list[ItemEvent]

    def describe(self) -> str:
        """A plain-text account for a terminal."""
        item = self.item
        lines = [
            f"item      : {item.key}  (batch {item.batch_id}, {item.source or 'no source'})",
            f"state     : {item.state}  review reason: {item.review_reason or '-'}  "
            f"attempts: {item.attempts}",
            f"reason    : {item.reason or '-'}",
        ]
        if item.error and item.error != item.reason:
            lines.append(f"error     : {item.error_kind}: {item.error}")
        if item.confidence is not None:
            lines.append(f"confidence: {item.confidence:.2f}")
        lines.append("input     :")
        lines += [f"  {name} = {value!r}" for name, value in item.data.items()]
        if item.output is not None:
            lines.append(f"output    : {item.output!r}")
        steps = item.artifacts.get("steps") or []
        if steps:
            lines.append("what was done:")
            lines += [f"  {step}" for step in steps[-30:]]
        reasoning = item.artifacts.get("reasoning")
        if reasoning:
            lines.append("model's reasoning:")
            lines += [f"  {line}" for line in str(reasoning).splitlines()[-20:]]
        for shot in item.artifacts.get("screenshots") or []:
            lines.append(f"screenshot: {shot}")
        for trace in item.artifacts.get("trace_dirs") or []:
            lines.append(f"trace     : {trace}")
        if item.artifacts.get("item_dir"):
            lines.append(f"folder    : {item.artifacts['item_dir']}")
        if item.resolution:
            lines.append(f"resolution: {item.resolution} by {item.resolved_by}: {item.resolution_note}")
        lines.append("history   :")
        for event in self.events[-30:]:
            detail = ", ".join(f"{k}={v}" for k, v in event.detail.items() if v not in ("", None, {}))
            lines.append(f"  {event.at:%Y-%m-%d %H:%M:%S} {event.event} {detail}".rstrip())
        return "\n".join(lines)


class ReviewQueue:
    """The items of a journal that wait for a person.

    Args:
        journal: The journal, or the path of its file.
    """

    def __init__(self, *, journal: Journal | str | os.PathLike[str]) -> None:
        self.journal = journal if isinstance(journal, Journal) else Journal(path=journal)

    def list(self, batch_id: str | None = None) -> list[ItemRecord]:
        """The unresolved review items of one batch (or of every batch), in input order."""
        batches = [batch_id] if batch_id is not None else [b.id for b in self.journal.batches()]
        found: list[ItemRecord] = []
        for batch in batches:
            found += [i for i in self.journal.items(batch, states=("failed", "needs_review")) if i.in_review]
        return found

    def show(self, batch_id: str, key: str) -> ReviewEntry:
        """One item with its history.

        Raises:
            UnknownBatchItemError: There is no such item.
        """
        return ReviewEntry(
            item=self.journal.item(batch_id, key), events=self.journal.events(batch_id, key=key)
        )

    def resolve(
        self,
        batch_id: str,
        key: str,
        *,
        resolution: Resolution,
        by: str,
        note: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> ItemRecord:
        """Record a person's decision on a review item.

        Args:
            batch_id: The batch.
            key: The item.
            resolution: ``accepted``, ``done_manually``, ``retry`` or ``skipped``.
            by: Who decided (kept in the journal).
            note: Why, in their words (required to skip).
            data: Corrected input, for ``retry`` only (replaces the item's data).

        Raises:
            UnknownBatchItemError: There is no such item.
            ReviewConflictError: The item is not waiting for review (or was resolved already).
            ConfigurationError: An unknown resolution, no name, data without ``retry``, or a
                skip without a note.
        """
        if resolution not in _RESOLUTIONS:
            raise ConfigurationError(
                f"unknown resolution {resolution!r}; expected one of {', '.join(_RESOLUTIONS)}"
            )
        if not by.strip():
            raise ConfigurationError(f"resolving {key!r} needs the name of who decides (by=...)")
        if data is not None and resolution != "retry":
            raise ConfigurationError("corrected data can only come with a retry")
        if resolution == "skipped" and not note.strip():
            raise ConfigurationError(f"skipping {key!r} needs a note saying why")

        def check(record: ItemRecord) -> None:
            if not record.in_review:
                why = (
                    f"was already resolved ({record.resolution} by {record.resolved_by})"
                    if record.resolution
                    else (f"is {record.state}, not waiting for review")
                )
                raise ReviewConflictError(f"item {key!r} of batch {batch_id!r} {why}")
            if resolution == "accepted" and record.output is None:
                raise ReviewConflictError(
                    f"item {key!r} has no result to accept; resolve it as done_manually, retry or skipped"
                )

        record = self.journal.resolve(
            batch_id, key, resolution=resolution, by=by, note=note, data=data, check=check
        )
        _log.info("review item resolved", batch_id=batch_id, key=key, resolution=resolution, by=by)
        return record
