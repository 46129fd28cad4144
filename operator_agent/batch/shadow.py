"""Shadow runs against human results: the parallel trial a BPO team runs before it switches over.

A batch run with ``mode="shadow"`` does all the work up to, but not including, each irreversible
step, and keeps what it *would* have submitted (the form's values at that moment). People do the
same items by hand as usual; :func:`compare_shadow` then sets both side by side, field by field,
after normalising what should not count as a difference (case, spacing, ``1,250.5`` against
``1250.50``, ``31/10/2026`` against ``2026-10-31``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.batch.items import read_items
from operator_agent.batch.journal import Journal
from operator_agent.batch.records import ItemRecord
from operator_agent.errors import ConfigurationError

__all__ = ["ShadowComparison", "compare_shadow", "normalise"]

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


def normalise(value: Any) -> str:
    """A value as compared: trimmed, single-spaced, case-folded; numbers and dates in one form."""
    text = " ".join(str(value if value is not None else "").split()).casefold()
    if _NUMBER.match(text):
        try:
            return format(Decimal(text.replace(",", "")).normalize(), "f")
        except InvalidOperation:
            return text
    if match := _DMY.match(text):
        try:
            return date(int(match[3]), int(match[2]), int(match[1])).isoformat()
        except ValueError:
            return text
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return text


class ShadowComparison(BaseModel):
    """A shadow batch set against human results.

    Attributes:
        batch_id: The shadow batch.
        compared: Items present on both sides.
        matched: Of those, items whose every compared field agrees.
        agreement_rate: ``matched / compared``.
        fields: Reference column → submitted field, as compared.
        mismatches: Per item that differs: ``{"key": ..., "differences": {column: {"machine": ...,
            "reference": ...}}}``.
        missing: Reference keys without a shadow result (not run, or in review).
        extra: Shadow results without a reference row.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    compared: int
    matched: int
    agreement_rate: float | None
    fields: dict[str, str]
    mismatches: list[dict[str, Any]] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    extra: list[str] = Field(default_factory=list)


def _machine_value(item: ItemRecord, field: str) -> Any:
    output = item.output if isinstance(item.output, dict) else {}
    submitted = output.get("would_submit")
    if isinstance(submitted, dict) and field in submitted:
        return submitted[field]
    if field in output:
        return output[field]
    return None


def compare_shadow(
    journal: Journal,
    batch_id: str,
    *,
    reference: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    key: str,
    fields: Mapping[str, str],
) -> ShadowComparison:
    """Compare what a shadow batch would have submitted with the human results.

    Args:
        journal: The journal holding the batch.
        batch_id: The shadow batch (a live batch works too: its outputs are compared).
        reference: The human results: a CSV or JSONL file, or rows.
        key: The reference's column holding the item key (the batch's keys).
        fields: Reference column → the submitted field it must equal, such as
            ``{"invoice_number": "number", "unit_price": "line_unit_price"}``.

    Raises:
        ConfigurationError: No fields to compare, or the reference cannot be read or has no ``key``.
    """
    if not fields:
        raise ConfigurationError("compare_shadow needs at least one field to compare")
    if isinstance(reference, str | os.PathLike):
        rows = {item.key: item.data for item in read_items(reference, key=key)}
    else:
        rows = {}
        for row in reference:
            if key not in row:
                raise ConfigurationError(f"a reference row has no {key!r} column: {sorted(row)}")
            rows[str(row[key])] = dict(row)
    results = {i.key: i for i in journal.items(batch_id) if i.state == "completed" and i.output is not None}
    mismatches: list[dict[str, Any]] = []
    compared = matched = 0
    for item_key, row in rows.items():
        item = results.get(item_key)
        if item is None:
            continue
        compared += 1
        differences = {}
        for column, field in fields.items():
            machine, human = _machine_value(item, field), row.get(column)
            if normalise(machine) != normalise(human):
                differences[column] = {"machine": machine, "reference": human}
        if differences:
            mismatches.append({"key": item_key, "differences": differences})
        else:
            matched += 1
    return ShadowComparison(
        batch_id=batch_id,
        compared=compared,
        matched=matched,
        agreement_rate=round(matched / compared, 4) if compared else None,
        fields=dict(fields),
        mismatches=mismatches,
        missing=sorted(k for k in rows if k not in results),
        extra=sorted(k for k in results if k not in rows),
    )
