"""Dates and times written the way people write them, turned into what a field needs.

A native ``<input type=date>`` only takes ISO values (``2026-12-31``), while a model writes dates
the way the page or the task did: ``31/12/2026``, ``Dec 31, 2026``... A JavaScript date widget, on
the other hand, wants keystrokes in its own format, which its placeholder usually shows
(``DD/MM/YYYY``). This module converts between the two, and refuses to guess when a date is
ambiguous (``05/06/2026`` with no hint of the order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from typing import Literal

from operator_agent.errors import InvalidActionError

__all__ = [
    "DateOrder",
    "FieldDateFormat",
    "format_for_field",
    "parse_date",
    "parse_time",
    "placeholder_format",
    "to_native_value",
]

#: The order of day, month and year in a numeric date.
DateOrder = Literal["DMY", "MDY", "YMD"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month_name>[A-Za-z]{3,9})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4}|\d{2})"
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+)?"

_NUMERIC = re.compile(r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})")
_NAMED = [
    re.compile(rf"{_WEEKDAY}{_MONTH}\s+{_DAY},?\s+{_YEAR}", re.IGNORECASE),  # Dec 31, 2026
    re.compile(rf"{_WEEKDAY}{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}", re.IGNORECASE),  # 31 Dec 2026
    re.compile(rf"{_DAY}[\-\s]{_MONTH}[\-\s]{_YEAR}", re.IGNORECASE),  # 31-Dec-2026
    re.compile(rf"{_YEAR}[\-\s]{_MONTH}[\-\s]{_DAY}", re.IGNORECASE),  # 2026-Dec-31
]
_TIME = re.compile(
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?",
    re.IGNORECASE,
)


def _year(text: str) -> int:
    value = int(text)
    return 2000 + value if len(text) == 2 else value


def _make_date(year: int, month: int, day: int, original: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidActionError(
            f"{original!r} is not a valid date (year {year}, month {month}, day {day})"
        ) from None


def _numeric(match: re.Match[str], order: DateOrder | None, original: str) -> date:
    a, b, c = match.group("a"), match.group("b"), match.group("c")
    if len(a) == 4:
        return _make_date(int(a), int(b), int(c), original)
    if len(c) not in (2, 4):
        raise InvalidActionError(f"{original!r} is not a date: write it as YYYY-MM-DD")
    first, second, year = int(a), int(b), _year(c)
    if order == "DMY":
        return _make_date(year, second, first, original)
    if order == "MDY":
        return _make_date(year, first, second, original)
    if first > 12 or match.group("sep") == ".":
        # 31/12/2026, or 05.06.2026 which is day-first wherever dots are used.
        return _make_date(year, second, first, original)
    if second > 12 or first == second:
        return _make_date(year, first, second, original)
    raise InvalidActionError(
        f"{original!r} is ambiguous: it could be day/month or month/day; write it as YYYY-MM-DD "
        "or with the month name (such as 5 Jun 2026)"
    )


def _named(match: re.Match[str], original: str) -> date:
    month = _MONTHS[match.group("month_name").lower()]
    return _make_date(_year(match.group("year")), month, int(match.group("day")), original)


def _find_date(text: str, order: DateOrder | None) -> tuple[date, str] | None:
    """The date found at the start of ``text`` and the rest of the text, if any."""
    stripped = text.strip()
    for pattern in _NAMED:
        match = pattern.match(stripped)
        if match and match.group("month_name").lower() in _MONTHS:
            return _named(match, text), stripped[match.end() :]
    match = _NUMERIC.match(stripped)
    if match:
        return _numeric(match, order, text), stripped[match.end() :]
    return None


def parse_date(text: str, *, order: DateOrder | None = None) -> date:
    """Read a date as a person writes it.

    Args:
        text: ``2026-12-31``, ``31/12/2026``, ``12/31/2026``, ``31.12.2026``, ``Dec 31, 2026``,
            ``31 December 2026``, ``Thu, 31 Dec 2026``...
        order: The order of a numeric date when the field tells it (from its placeholder);
            without it, a numeric date must be unambiguous.

    Raises:
        InvalidActionError: If the text is not a date, not a valid one, or ambiguous.
    """
    found = _find_date(text, order)
    if found is None or found[1].strip():
        raise InvalidActionError(
            f"{text!r} is not a date this field understands: write it as YYYY-MM-DD (such as 2026-12-31)"
        )
    return found[0]


def parse_time(text: str) -> time:
    """Read a time of day: ``14:30``, ``2:30 PM``, ``9am``, ``14:30:15``.

    Raises:
        InvalidActionError: If the text is not a valid time.
    """
    match = _TIME.fullmatch(text.strip())
    if match is None or (match.group("minute") is None and match.group("ampm") is None):
        raise InvalidActionError(f"{text!r} is not a time: write it as HH:MM (such as 14:30)")
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    second = int(match.group("second") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise InvalidActionError(f"{text!r} is not a time: the hour must be 1-12 with am/pm")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    try:
        return time(hour, minute, second)
    except ValueError:
        raise InvalidActionError(f"{text!r} is not a valid time") from None


def _time_value(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _month_value(text: str) -> str:
    stripped = text.strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})", stripped)
    numeric = re.fullmatch(r"(\d{1,2})[/.\-](\d{4})", stripped)
    named = re.fullmatch(r"([A-Za-z]{3,9})\.?,?\s+(\d{4})", stripped)
    year = month = None
    if iso:
        year, month = int(iso.group(1)), int(iso.group(2))
    elif numeric:
        year, month = int(numeric.group(2)), int(numeric.group(1))
    elif named and named.group(1).lower() in _MONTHS:
        year, month = int(named.group(2)), _MONTHS[named.group(1).lower()]
    else:
        day = parse_date(stripped)
        year, month = day.year, day.month
    if not 1 <= month <= 12:
        raise InvalidActionError(f"{text!r} is not a month: write it as YYYY-MM (such as 2026-12)")
    return f"{year:04d}-{month:02d}"


def _week_value(text: str) -> str:
    stripped = text.strip()
    match = re.fullmatch(r"(\d{4})-?W(\d{1,2})", stripped, re.IGNORECASE)
    if match:
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise InvalidActionError(f"{text!r} is not a valid week") from None
        return f"{year:04d}-W{week:02d}"
    iso = parse_date(stripped).isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def _datetime_value(text: str) -> str:
    stripped = text.strip()
    iso = re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})[T\s](.+)", stripped)
    if iso:
        day, rest = parse_date(iso.group(1)), iso.group(2)
    else:
        found = _find_date(stripped, None)
        if found is None:
            raise InvalidActionError(
                f"{text!r} is not a date and time: write it as YYYY-MM-DD HH:MM (such as 2026-12-31 14:30)"
            )
        day, rest = found
    rest = rest.strip().lstrip(",").strip()
    rest = re.sub(r"^(?:at|@)\s+", "", rest, flags=re.IGNORECASE)
    if not rest:
        raise InvalidActionError(f"{text!r} has no time of day: write it as YYYY-MM-DD HH:MM")
    return f"{day.isoformat()}T{_time_value(parse_time(rest))}"


def to_native_value(input_type: str, text: str) -> str:
    """The value a native date/time input accepts, from a person's writing.

    Args:
        input_type: ``date``, ``datetime-local``, ``month``, ``week`` or ``time``.
        text: The value as the model wrote it; an empty text clears the field.

    Raises:
        InvalidActionError: If the text cannot be read for that type, or is ambiguous.
    """
    if not text.strip():
        return ""
    if input_type == "date":
        return parse_date(text).isoformat()
    if input_type == "datetime-local":
        return _datetime_value(text)
    if input_type == "month":
        return _month_value(text)
    if input_type == "week":
        return _week_value(text)
    if input_type == "time":
        return _time_value(parse_time(text))
    raise ValueError(f"not a native date or time input type: {input_type!r}")


@dataclass(frozen=True, slots=True)
class FieldDateFormat:
    """A date format read from a field's placeholder, such as ``DD/MM/YYYY``.

    Attributes:
        pattern: The placeholder as written.
        order: The order of day, month and year.
        separator: The character between the parts.
        year_digits: 2 or 4.
        padded: Whether day and month are written with two digits.
    """

    pattern: str
    order: DateOrder
    separator: str
    year_digits: int
    padded: bool


_PLACEHOLDER = re.compile(
    r"(?P<p1>d{1,2}|m{1,2}|y{2}|y{4})(?P<sep>[/.\-\s])(?P<p2>d{1,2}|m{1,2})(?P=sep)(?P<p3>d{1,2}|m{1,2}|y{2}|y{4})",
    re.IGNORECASE,
)


def placeholder_format(placeholder: str) -> FieldDateFormat | None:
    """The date format a placeholder asks for, or ``None`` if it is not a date pattern."""
    match = _PLACEHOLDER.fullmatch(placeholder.strip())
    if match is None:
        return None
    parts = [match.group(name).lower() for name in ("p1", "p2", "p3")]
    letters = "".join(part[0] for part in parts)
    orders: dict[str, DateOrder] = {"dmy": "DMY", "mdy": "MDY", "ymd": "YMD"}
    if letters not in orders:
        return None
    year = next(part for part in parts if part[0] == "y")
    padded = all(len(part) == 2 for part in parts if part[0] != "y")
    return FieldDateFormat(
        pattern=placeholder.strip(),
        order=orders[letters],
        separator=match.group("sep"),
        year_digits=len(year),
        padded=padded,
    )


def format_for_field(value: date, fmt: FieldDateFormat) -> str:
    """Write ``value`` in the field's own format."""
    width = 2 if fmt.padded else 1
    day, month = f"{value.day:0{width}d}", f"{value.month:0{width}d}"
    year = f"{value.year:04d}" if fmt.year_digits == 4 else f"{value.year % 100:02d}"
    parts = {"DMY": (day, month, year), "MDY": (month, day, year), "YMD": (year, month, day)}[fmt.order]
    return fmt.separator.join(parts)
