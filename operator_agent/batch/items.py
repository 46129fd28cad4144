"""Batch items and where they come from: Python iterables, CSV files and JSONL files.

Every item has a *key*: the idempotency key of the work it stands for (an invoice number, a ticket
id). The journal holds one row per key, so the same invoice can never be entered twice by the same
batch, whatever crashes and resumes happen. The key comes from a field of the item (``key="number"``)
or from a function; without either, it is a digest of the item's content, so an unchanged input
file gives the same keys on every run.

A key that shows up twice in the input is not dropped silently: the second occurrence becomes an
item of its own (``KEY#2``) that goes straight to review, saying which line it repeats.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import ConfigurationError

__all__ = [
    "BatchItem",
    "KeySpec",
    "load_items",
    "read_csv",
    "read_items",
    "read_jsonl",
]

KeySpec = str | Callable[[Mapping[str, Any]], str] | None
"""How an item's key is found: a field name, a function of the item's data, or ``None`` (a digest)."""

_MAX_KEY_CHARS = 200


class BatchItem(BaseModel):
    """One unit of work of a batch.

    Attributes:
        key: The idempotency key, unique in the batch (an invoice number, a ticket id).
        data: The item's input, as JSON-compatible values.
        source: Where it came from, such as ``invoices.csv:12`` (line 12), for people.
        duplicate_of: For a repeated key, the key of the first occurrence; such an item goes to
            review instead of running.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, max_length=_MAX_KEY_CHARS)
    data: dict[str, Any]
    source: str = ""
    duplicate_of: str | None = None


@dataclass
class _Seen:
    source: str
    count: int


def _digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "item-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_data(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        dumped: dict[str, Any] = value.model_dump(mode="json")
        return dumped
    if isinstance(value, Mapping):
        # A round trip through JSON makes dates, decimals and the like plain values the journal keeps.
        loaded: dict[str, Any] = json.loads(json.dumps(dict(value), ensure_ascii=False, default=str))
        return loaded
    raise ConfigurationError(
        f"batch item {where} is a {type(value).__name__}; items are pydantic models or mappings"
    )


def _key_of(data: Mapping[str, Any], key: KeySpec, where: str) -> str:
    if key is None:
        return _digest(data)
    if callable(key):
        value = key(data)
    else:
        if key not in data or data[key] in (None, ""):
            raise ConfigurationError(
                f"batch item {where} has no value for its key field {key!r}; "
                f"its fields are: {', '.join(sorted(data)) or 'none'}"
            )
        value = data[key]
    text = str(value).strip()
    if not text:
        raise ConfigurationError(f"batch item {where} has an empty key")
    if len(text) > _MAX_KEY_CHARS:
        raise ConfigurationError(f"batch item {where} has a key longer than {_MAX_KEY_CHARS} characters")
    return text


def load_items(
    values: Iterable[BaseModel | Mapping[str, Any]],
    *,
    key: KeySpec = None,
    source: str = "item",
) -> list[BatchItem]:
    """Turn models or mappings into batch items with keys; repeated keys become review items.

    Args:
        values: The items, in order.
        key: The field holding each item's key, a function returning it, or ``None`` for a digest
            of the item's content.
        source: A name for where the values come from; each item's ``source`` is ``NAME:N``
            (N counting from 1, or the file line for files).

    Raises:
        ConfigurationError: An item is not a model or mapping, or has no usable key.
    """
    return list(_keyed(((f"{source}:{n}", v) for n, v in enumerate(values, start=1)), key=key))


def _keyed(numbered: Iterable[tuple[str, Any]], *, key: KeySpec) -> Iterator[BatchItem]:
    seen: dict[str, _Seen] = {}
    for where, value in numbered:
        data = _as_data(value, where)
        item_key = _key_of(data, key, where)
        first = seen.get(item_key)
        if first is None:
            seen[item_key] = _Seen(source=where, count=1)
            yield BatchItem(key=item_key, data=data, source=where)
            continue
        first.count += 1
        yield BatchItem(key=f"{item_key}#{first.count}", data=data, source=where, duplicate_of=item_key)


def read_csv(
    path: str | os.PathLike[str],
    *,
    key: KeySpec = None,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> list[BatchItem]:
    """Read items from a CSV file with a header row; every value is a string, empty cells are ``""``.

    Args:
        path: The file.
        key: The column holding each row's key (or a function, or ``None`` for a digest).
        delimiter: The column separator.
        encoding: The file's encoding; the default also accepts a byte-order mark (Excel exports).

    Raises:
        ConfigurationError: The file is missing, has no header, or a row has more cells than the
            header or no usable key.
    """
    file = Path(path)
    try:
        handle = file.open(newline="", encoding=encoding)
    except OSError as exc:
        raise ConfigurationError(f"cannot read batch input {file}: {exc}") from exc
    with handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise ConfigurationError(f"batch input {file} has no header row")
        rows: list[tuple[str, dict[str, Any]]] = []
        for row in reader:
            where = f"{file.name}:{reader.line_num}"
            if None in row:
                raise ConfigurationError(f"{where} has more cells than the header has columns")
            if not any((v or "").strip() for v in row.values()):
                continue
            rows.append((where, {k.strip(): (v or "").strip() for k, v in row.items()}))
    return list(_keyed(rows, key=key))


def read_jsonl(
    path: str | os.PathLike[str], *, key: KeySpec = None, encoding: str = "utf-8"
) -> list[BatchItem]:
    """Read items from a JSON Lines file: one JSON object per line; blank lines are skipped.

    Raises:
        ConfigurationError: The file is missing, a line is not a JSON object, or has no usable key.
    """
    file = Path(path)
    try:
        lines = file.read_text(encoding=encoding).splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read batch input {file}: {exc}") from exc
    rows: list[tuple[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file.name}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{where} is not valid JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(value, dict):
            raise ConfigurationError(f"{where} holds a JSON {type(value).__name__}, not an object")
        rows.append((where, value))
    return list(_keyed(rows, key=key))


def read_items(path: str | os.PathLike[str], *, key: KeySpec = None) -> list[BatchItem]:
    """Read a CSV (``.csv``) or JSON Lines (``.jsonl``, ``.ndjson``) file, by its extension.

    Raises:
        ConfigurationError: The extension is neither, or the file cannot be read.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv(path, key=key)
    if suffix in {".jsonl", ".ndjson"}:
        return read_jsonl(path, key=key)
    raise ConfigurationError(
        f"batch input {path}: expected a .csv or .jsonl file, got {suffix or 'no extension'}"
    )
