"""read_table and find_rows: read a data table across its pages, or find the rows matching criteria."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.act.dates import parse_date
from operator_agent.errors import InvalidActionError, SkillFailedError
from operator_agent.skills import SkillContext, skill

from ._fields import FormScan, locator, scan, set_value
from ._match import Candidate, best_option, pick, similarity
from ._page import dismiss, script, settle

__all__ = ["FoundRows", "TableData", "TableRow", "find_rows", "read_table"]

TABLE_ATTR = "data-oa-table"


class TableRow(BaseModel):
    """One row of a table.

    Attributes:
        cells: Column name → the cell's text.
        link: The first link of the row (usually to the record's page), if any.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cells: dict[str, str]
    link: str | None = None


class TableData(BaseModel):
    """A table read across its pages.

    Attributes:
        name: The table's caption or heading.
        columns: The column names, in order.
        rows: Every row read.
        pages_read: How many pages were read.
        complete: Whether the last page was reached (false if ``max_pages`` stopped the reading).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    columns: list[str]
    rows: list[TableRow]
    pages_read: int
    complete: bool


class FoundRows(BaseModel):
    """The rows matching the criteria.

    Attributes:
        columns: The table's column names.
        rows: The matching rows, in the order the table showed them.
        pages_read: How many pages were read.
        complete: Whether every page was searched (false if ``limit`` or ``max_pages`` stopped it).
        filters: What was set on the page to narrow the table (search text, filters, sorting).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[str]
    rows: list[TableRow]
    pages_read: int
    complete: bool
    filters: list[str] = Field(default_factory=list)


async def _read(ctx: SkillContext, hint: str | None) -> dict[str, Any]:
    for _ in range(30):
        try:
            data: dict[str, Any] | None = await ctx.page.evaluate(script("table"), [TABLE_ATTR, hint or ""])
        except PlaywrightError:
            data = None
        if data is not None:
            return data
        await settle(ctx, timeout_s=1)
    raise SkillFailedError(f"no data table is visible on {ctx.page.url}", step="find the table")


def _rows(data: dict[str, Any]) -> list[TableRow]:
    columns: list[str] = data["columns"]
    rows = []
    for raw in data["rows"]:
        cells = {
            (columns[i] if i < len(columns) else f"column {i + 1}"): text
            for i, text in enumerate(raw["cells"])
        }
        rows.append(TableRow(cells=cells, link=raw["link"]))
    return rows


async def _next_page(ctx: SkillContext, data: dict[str, Any], hint: str | None) -> dict[str, Any] | None:
    """Go to the next page of the table and read it; None when there is no next page."""
    if not data["next"]:
        return None
    before = [r["cells"] for r in data["rows"]]
    await ctx.click(ctx.page.locator(f'[{TABLE_ATTR}="{data["next"]}"]'))
    await settle(ctx, timeout_s=15)
    await dismiss(ctx)
    following = await _read(ctx, hint)
    if [r["cells"] for r in following["rows"]] == before:
        raise SkillFailedError(
            "the table showed the same rows after going to the next page", step="next page"
        )
    return following


@skill
async def read_table(ctx: SkillContext, *, table: str | None = None, max_pages: int = 10) -> TableData:
    """Read a data table into records (column name → cell text), following its pages.

    Args:
        table: Part of the table's caption or heading, when the page has several tables; the
            biggest table is read otherwise.
        max_pages: The most pages to read.
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    data = await _read(ctx, table)
    rows = _rows(data)
    pages = 1
    while pages < max_pages:
        following = await _next_page(ctx, data, table)
        if following is None:
            break
        data = following
        rows += _rows(data)
        pages += 1
    return TableData(
        name=data["name"], columns=data["columns"], rows=rows, pages_read=pages, complete=not data["next"]
    )


def _number(text: str) -> Decimal | None:
    cleaned = re.sub(r"[^\d.\-]", "", text.replace(",", ""))
    if not cleaned or not re.search(r"\d", cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def _matches(cell: str, wanted: str) -> bool:
    if " ".join(wanted.split()).casefold() in " ".join(cell.split()).casefold():
        return True
    a, b = _number(cell), _number(wanted)
    if a is not None and b is not None and re.fullmatch(r"[\d\s.,\-+$€£¥%A-Z]*", wanted.strip()):
        return a == b
    try:
        return parse_date(cell) == parse_date(wanted)
    except InvalidActionError:
        return False


def _sort_key(text: str) -> Any:
    number = _number(text)
    if number is not None and re.fullmatch(r"[\d\s.,\-+$€£¥%A-Z]*", text.strip()):
        return (0, number, "")
    try:
        return (1, Decimal(parse_date(text).toordinal()), "")
    except InvalidActionError:
        return (2, Decimal(0), text.casefold())


def _sorted(values: list[str], descending: bool) -> bool:
    keys = [_sort_key(v) for v in values if v]
    return keys == sorted(keys, reverse=descending)


async def _apply_filters(ctx: SkillContext, criteria: dict[str, str], columns: dict[str, str]) -> list[str]:
    """Use the page's own search box and filter drop-downs for the criteria they cover."""
    try:
        form: FormScan = await scan(ctx, timeout_s=1.0)
    except SkillFailedError:
        return []
    applied: list[str] = []
    used_search = False
    search_field = None
    for key, wanted in criteria.items():
        column = columns[key]
        for field in form.fields:
            names_column = (
                field.kind == "select"
                and max(similarity(column, t) for t in (*field.labels, field.name) if t) >= 0.6
            )
            if names_column and best_option(wanted, [(o.label, o.value) for o in field.options]) is not None:
                await set_value(ctx, field, wanted)
                applied.append(f"{field.title} = {wanted}")
                break
        else:
            if used_search:
                continue
            for field in form.fields:
                texts = (*field.labels, field.name, field.placeholder)
                is_search = any(re.search(r"search|find|query|filter|^q$", t, re.I) for t in texts if t)
                if (
                    field.kind in ("text", "combobox")
                    and is_search
                    and similarity(column, field.placeholder) >= 0.5
                ):
                    await set_value(ctx, field, wanted)
                    applied.append(f'search "{wanted}" ({field.placeholder})')
                    used_search = True
                    search_field = field
                    break
    if applied:
        submit = next((b for b in form.buttons if b["submit"]), None)
        if submit is not None:
            await ctx.click(locator(ctx, submit["stamp"]))
        elif search_field is not None:
            await ctx.press("Enter", target=locator(ctx, search_field.stamp))
        await settle(ctx, timeout_s=15)
        await dismiss(ctx)
    return applied


async def _sort(ctx: SkillContext, data: dict[str, Any], column: str, descending: bool) -> dict[str, Any]:
    """Click the column's header until the table is sorted the wanted way (at most three clicks)."""
    wanted = "descending" if descending else "ascending"
    for attempt in range(4):
        sorter = next((s for s in data["sorters"] if s["column"] == column), None)
        if sorter is None:
            raise SkillFailedError(f'the column "{column}" cannot be sorted on this page', step="sort")
        if sorter["sort"] == wanted:
            return data
        if sorter["sort"] == "none" and attempt > 0:
            # The page does not say how it is sorted: look at the values.
            index = data["columns"].index(column)
            values = [r["cells"][index] for r in data["rows"] if index < len(r["cells"])]
            if _sorted(values, descending):
                return data
        if attempt == 3:
            break
        await ctx.click(ctx.page.locator(f'[{TABLE_ATTR}="{sorter["stamp"]}"]'))
        await settle(ctx, timeout_s=15)
        await dismiss(ctx)
        data = await _read(ctx, None)
    raise SkillFailedError(f'the table could not be sorted {wanted} by "{column}"', step="sort")


@skill
async def find_rows(
    ctx: SkillContext,
    *,
    criteria: dict[str, str],
    sort_by: str | None = None,
    descending: bool = False,
    limit: int | None = None,
    max_pages: int = 20,
    table: str | None = None,
) -> FoundRows:
    """Find the rows of a data table that match criteria, using the page's search, filters,
    sorting and pages.

    A cell matches when it contains the wanted text (ignoring case), or equals it as a number or
    a date. The page's own search box and filter drop-downs are used when they cover a criterion;
    every criterion is still checked on every row.

    Args:
        criteria: Column name → the text the cell must contain, such as {"Vendor": "Acme",
            "Status": "Approved"}.
        sort_by: A column to sort the table by first.
        descending: Sort from the highest (or latest) value down.
        limit: Stop after this many matching rows.
        max_pages: The most pages to read.
        table: Part of the table's caption or heading, when the page has several tables.
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    data = await _read(ctx, table)
    columns: list[str] = data["columns"]
    mapping = pick(list(criteria), [Candidate(key=c, texts=(c,)) for c in columns])
    missing = [key for key in criteria if key not in mapping]
    if missing:
        raise SkillFailedError(
            f"the table has no column for {', '.join(repr(m) for m in missing)}; its columns are "
            + ", ".join(f'"{c}"' for c in columns),
            step="match criteria to columns",
        )
    by_key = {key: mapping[key][0] for key in criteria}
    filters = await _apply_filters(ctx, criteria, by_key)
    if filters:
        data = await _read(ctx, table)
    if sort_by is not None:
        target = pick([sort_by], [Candidate(key=c, texts=(c,)) for c in data["columns"]])
        if sort_by not in target:
            raise SkillFailedError(f'the table has no column "{sort_by}" to sort by', step="sort")
        data = await _sort(ctx, data, target[sort_by][0], descending)
        filters.append(f"sorted by {target[sort_by][0]}, {'descending' if descending else 'ascending'}")
    found: list[TableRow] = []
    pages = 1
    complete = False
    while True:
        for row in _rows(data):
            if all(_matches(row.cells.get(by_key[key], ""), wanted) for key, wanted in criteria.items()):
                found.append(row)
                if limit is not None and len(found) >= limit:
                    return FoundRows(columns=data["columns"], rows=found, pages_read=pages, complete=False,
                                     filters=filters)  # fmt: skip
        if pages >= max_pages:
            complete = not data["next"]
            break
        following = await _next_page(ctx, data, table)
        if following is None:
            complete = True
            break
        data = following
        pages += 1
    return FoundRows(
        columns=data["columns"], rows=found, pages_read=pages, complete=complete, filters=filters
    )
