"""Dates written by people, turned into what native and scripted date fields need."""

from __future__ import annotations

from datetime import date, time

import pytest

from operator_agent.act.dates import (
    format_for_field,
    parse_date,
    parse_time,
    placeholder_format,
    to_native_value,
)
from operator_agent.errors import InvalidActionError

NEW_YEARS_EVE = date(2026, 12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-31",
        "2026/12/31",
        "31/12/2026",
        "12/31/2026",
        "31.12.2026",
        "31-12-2026",
        "31/12/26",
        "Dec 31, 2026",
        "December 31st 2026",
        "31 Dec 2026",
        "31 December, 2026",
        "Thu, 31 Dec 2026",
        "31-Dec-2026",
        "  2026-12-31  ",
    ],
)
def test_person_formats_read_as_the_same_day(text: str) -> None:
    assert parse_date(text) == NEW_YEARS_EVE


def test_ambiguous_day_month_is_refused_unless_the_field_tells_the_order() -> None:
    with pytest.raises(InvalidActionError, match=r"ambiguous.*YYYY-MM-DD"):
        parse_date("05/06/2026")
    assert parse_date("05/06/2026", order="DMY") == date(2026, 6, 5)
    assert parse_date("05/06/2026", order="MDY") == date(2026, 5, 6)
    assert parse_date("05.06.2026") == date(2026, 6, 5)  # dotted dates are day-first
    assert parse_date("07/07/2026") == date(2026, 7, 7)  # same either way


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31/02/2026", "not a valid date"),
        ("next friday", "not a date this field understands"),
        ("2026-12-31 and more", "not a date this field understands"),
        ("Foo 3, 2026", "not a date this field understands"),
    ],
)
def test_bad_dates_are_refused_with_a_hint(text: str, message: str) -> None:
    with pytest.raises(InvalidActionError, match=message):
        parse_date(text)


def test_times() -> None:
    assert parse_time("14:30") == time(14, 30)
    assert parse_time("2:30 PM") == time(14, 30)
    assert parse_time("12am") == time(0, 0)
    assert parse_time("9 a.m.") == time(9, 0)
    with pytest.raises(InvalidActionError, match="not a time"):
        parse_time("14")
    with pytest.raises(InvalidActionError, match="1-12"):
        parse_time("13:00 pm")


@pytest.mark.parametrize(
    ("input_type", "text", "value"),
    [
        ("date", "Dec 31, 2026", "2026-12-31"),
        ("date", "", ""),
        ("datetime-local", "31/12/2026 2:30 PM", "2026-12-31T14:30"),
        ("datetime-local", "2026-12-31T14:30", "2026-12-31T14:30"),
        ("datetime-local", "Dec 31, 2026 at 9am", "2026-12-31T09:00"),
        ("month", "Dec 2026", "2026-12"),
        ("month", "12/2026", "2026-12"),
        ("month", "31/12/2026", "2026-12"),
        ("week", "2026-W05", "2026-W05"),
        ("week", "2026-12-31", "2026-W53"),
        ("time", "2:30 pm", "14:30"),
        ("time", "14:30:15", "14:30:15"),
    ],
)
def test_native_values(input_type: str, text: str, value: str) -> None:
    assert to_native_value(input_type, text) == value


def test_native_datetime_needs_a_time() -> None:
    with pytest.raises(InvalidActionError, match="no time of day"):
        to_native_value("datetime-local", "2026-12-31")


@pytest.mark.parametrize(
    ("placeholder", "expected"),
    [
        ("DD/MM/YYYY", "01/12/2026"),
        ("mm-dd-yyyy", "12-01-2026"),
        ("YYYY.MM.DD", "2026.12.01"),
        ("d/m/yy", "1/12/26"),
    ],
)
def test_dates_are_written_in_the_fields_own_format(placeholder: str, expected: str) -> None:
    fmt = placeholder_format(placeholder)
    assert fmt is not None
    assert format_for_field(date(2026, 12, 1), fmt) == expected


@pytest.mark.parametrize("placeholder", ["", "Search invoices", "MM/YYYY", "DD/DD/YYYY", "(___) ___-____"])
def test_other_placeholders_are_not_date_formats(placeholder: str) -> None:
    assert placeholder_format(placeholder) is None
