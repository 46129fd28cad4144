"""Batch items: keys, CSV and JSONL readers, duplicates, and what bad input files get."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from operator_agent.batch import load_items, read_csv, read_items, read_jsonl
from operator_agent.errors import ConfigurationError


class Invoice(BaseModel):
    number: str
    amount: Decimal
    due: date


def test_models_and_mappings_become_json_items_keyed_by_a_field() -> None:
    items = load_items(
        [
            Invoice(number="A-1", amount=Decimal("10.50"), due=date(2026, 10, 31)),
            {"number": "A-2", "amount": 3},
        ],
        key="number",
        source="api",
    )
    assert [(i.key, i.source) for i in items] == [("A-1", "api:1"), ("A-2", "api:2")]
    assert items[0].data == {"number": "A-1", "amount": "10.50", "due": "2026-10-31"}


def test_without_a_key_field_the_key_is_a_stable_digest_of_the_content() -> None:
    first = load_items([{"a": 1, "b": "x"}])
    again = load_items([{"b": "x", "a": 1}])
    other = load_items([{"a": 2, "b": "x"}])
    assert first[0].key == again[0].key != other[0].key
    assert first[0].key.startswith("item-")


def test_a_repeated_key_becomes_a_duplicate_item_pointing_at_the_first() -> None:
    items = load_items([{"n": "A"}, {"n": "B"}, {"n": "A", "x": 1}, {"n": "A"}], key="n")
    assert [(i.key, i.duplicate_of) for i in items] == [("A", None), ("B", None), ("A#2", "A"), ("A#3", "A")]


def test_a_missing_key_names_the_item_and_its_fields() -> None:
    with pytest.raises(
        ConfigurationError, match=r"item:2 has no value for its key field 'n'; its fields are: m"
    ):
        load_items([{"n": "A"}, {"m": "B"}], key="n")


def test_csv_rows_keep_their_line_numbers_and_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("\ufeffnumber,vendor\nA-1, Acme \n,\nA-2,Globex\n", encoding="utf-8")
    items = read_csv(path, key="number")
    assert [(i.key, i.data, i.source) for i in items] == [
        ("A-1", {"number": "A-1", "vendor": "Acme"}, "in.csv:2"),
        ("A-2", {"number": "A-2", "vendor": "Globex"}, "in.csv:4"),
    ]


def test_csv_with_more_cells_than_columns_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("number\nA-1,extra\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"in.csv:2 has more cells"):
        read_csv(path, key="number")


def test_jsonl_lines_must_be_objects(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"number": "A-1"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"in.jsonl:3 holds a JSON list"):
        read_jsonl(path, key="number")
    path.write_text('{"number": "A-1"}\n{"number": "A-2", "lines": [{"qty": 1}]}\n', encoding="utf-8")
    items = read_items(path, key="number")
    assert items[1].data["lines"] == [{"qty": 1}]


def test_read_items_picks_the_reader_by_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"expected a .csv or .jsonl file, got .xlsx"):
        read_items(tmp_path / "in.xlsx")
    with pytest.raises(ConfigurationError, match=r"cannot read batch input"):
        read_items(tmp_path / "missing.csv")


def test_the_batch_package_exports_its_public_names() -> None:
    import inspect

    import operator_agent.batch as batch

    public = {n for n, v in vars(batch).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert public - {"annotations"} == set(batch.__all__)
    assert len(set(batch.__all__)) == len(batch.__all__)
