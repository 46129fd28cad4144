"""Fuzzy matching of record keys to labels: the back office's v1 → v2 rewordings still match."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from operator_agent.skills import bundled_skills


@pytest.fixture(scope="module")
def match() -> ModuleType:
    forms = bundled_skills()["fill_form"].function.__module__
    return importlib.import_module(forms.rsplit(".", 1)[0] + "._match")


# (record key, v1 label, v2 label) for every field of the new-invoice form.
INVOICE_FIELDS = [
    ("vendor", "Vendor", "Vendor name"),
    ("invoice_number", "Invoice number", "Invoice no."),
    ("invoice_date", "Invoice date", "Date of invoice"),
    ("due_date", "Due date", "Payment due"),
    ("currency", "Currency", "Currency code"),
    ("payment_terms", "Payment terms", "Terms"),
    ("urgent", "Mark as urgent", "Urgent payment"),
    ("notes", "Notes", "Internal notes"),
]


@pytest.mark.parametrize("variant", [1, 2])
def test_each_invoice_key_picks_its_own_field_in_both_layouts(match: ModuleType, variant: int) -> None:
    # Field names are part of the candidates, as in fill_form: the form keeps them across layouts.
    names = {"vendor": "vendor", "invoice_number": "number", "invoice_date": "invoice_date",
             "due_date": "due_date", "currency": "currency", "payment_terms": "payment_terms",
             "urgent": "urgent", "notes": "notes"}  # fmt: skip
    candidates = [
        match.Candidate(key=key, texts=(labels[variant - 1], names[key])) for key, *labels in INVOICE_FIELDS
    ]
    keys = [key for key, *_ in INVOICE_FIELDS]
    picked = match.pick(keys, candidates)
    assert {key: value[0] for key, value in picked.items()} == {key: key for key in keys}


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("invoice_number", "Invoice no."),
        ("invoice_date", "Date of invoice"),
        ("quantity", "Qty, item 1"),
        ("unit_price", "Price per unit, item 2"),
        ("vendor", "Vendor name"),
        ("account_holder", "Account holder"),
        ("Invoice number", "invoiceNumber"),
    ],
)
def test_rewordings_and_abbreviations_score_as_close(match: ModuleType, key: str, label: str) -> None:
    assert match.similarity(key, label) >= 0.8


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("due_date", "Invoice date"),
        ("quantity", "Price per unit, item 1"),
        ("amount", "Notes"),
        ("vendor", "Currency"),
    ],
)
def test_different_fields_score_low(match: ModuleType, key: str, label: str) -> None:
    assert match.similarity(key, label) <= 0.5


def test_options_match_by_label_value_prefix_or_words(match: ModuleType) -> None:
    terms = [
        ("Net 15 days", "net15"),
        ("Net 30 days", "net30"),
        ("Net 60 days", "net60"),
        ("Due on receipt", "receipt"),
    ]
    assert match.best_option("Net 30 days", terms) == 1
    assert match.best_option("net60", terms) == 2
    assert match.best_option("Net 30", terms) == 1
    assert match.best_option("receipt", terms) == 3
    assert match.best_option("Net 45", terms) is None
    vendors = [("Cobalt Cloud Hosting BV NL", "Cobalt Cloud Hosting BV NL"), ("Cobalt Steel AB SE", "x")]
    assert match.best_option("Cobalt Cloud Hosting BV", vendors) == 0


def test_ties_between_options_are_no_match(match: ModuleType) -> None:
    assert match.best_option("Berl", [("Berlin North", "1"), ("Berlin South", "2")]) is None
