"""The fields of a form as a person sees them, and how to put a value into each kind.

:func:`scan` reads the form in one call (labels, names, kinds, options, repeated rows and their
"Add line" button) and stamps every control so it can be found again. :func:`set_value` puts a
Python value into one field through the skill context, choosing the right step for the widget:
typing, choosing an option of a select, radio group or autocomplete list, ticking a checkbox,
attaching a file, or picking a day in a calendar.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from operator_agent.errors import InvalidActionError, SkillFailedError, ValueNotOfferedError
from operator_agent.observe.refs import ElementRef
from operator_agent.skills import SkillContext

from ._calendar import pick_date
from ._match import Candidate, best_option
from ._page import script

__all__ = ["FIELD_ATTR", "Field", "FormScan", "Group", "Option", "as_text", "candidate", "scan", "set_value"]

FIELD_ATTR = "data-oa-field"
_TRUE = {"true", "yes", "y", "1", "on", "checked", "x"}
_FALSE = {"false", "no", "n", "0", "off", "unchecked", ""}


@dataclass(frozen=True)
class Option:
    """One option of a select or radio group."""

    label: str
    value: str
    stamp: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class RowRef:
    """Where a field sits in a group of repeated rows."""

    group: str
    row: int
    header: str


@dataclass(frozen=True)
class Field:
    """One field of the form (a radio group counts as one field)."""

    stamp: str
    kind: str
    labels: tuple[str, ...]
    name: str
    id: str
    placeholder: str
    required: bool
    disabled: bool
    readonly: bool
    value: str
    host: str
    row: RowRef | None
    options: tuple[Option, ...] = ()

    @property
    def title(self) -> str:
        """What to call the field in a message."""
        return (self.labels[0] if self.labels else "") or self.name or self.id or self.kind


@dataclass(frozen=True)
class Group:
    """Repeated rows of fields (line items), with the button that adds a row."""

    stamp: str
    label: str
    rows: int
    add: str | None
    add_label: str


@dataclass(frozen=True)
class FormScan:
    """Everything :func:`scan` found."""

    scope: str
    fields: list[Field]
    groups: list[Group]
    buttons: list[dict[str, Any]] = field(default_factory=list)

    def group(self, stamp: str) -> Group | None:
        """The group with this stamp, if still on the page."""
        return next((g for g in self.groups if g.stamp == stamp), None)

    def row_fields(self, stamp: str, row: int) -> list[Field]:
        """The fields of one row of a group."""
        return [f for f in self.fields if f.row is not None and f.row.group == stamp and f.row.row == row]


def _field(raw: dict[str, Any]) -> Field:
    row = raw.get("group")
    options = tuple(
        Option(label=str(o.get("label", "")), value=str(o.get("value", "")), stamp=str(o.get("stamp", "")),
               disabled=bool(o.get("disabled", False)))
        for o in raw.get("options", [])
    )  # fmt: skip
    return Field(
        stamp=raw["stamp"],
        kind=raw["kind"],
        labels=tuple(raw["labels"]),
        name=raw["name"],
        id=raw["id"],
        placeholder=raw["placeholder"],
        required=bool(raw["required"]),
        disabled=bool(raw["disabled"]),
        readonly=bool(raw["readonly"]),
        value=raw["value"],
        host=raw["host"],
        row=RowRef(group=row["stamp"], row=int(row["row"]), header=row["header"]) if row else None,
        options=options,
    )


async def scan(
    ctx: SkillContext, *, within: Locator | None = None, hint: str = "", timeout_s: float = 8.0
) -> FormScan:
    """Read the form (the one with the most fields, or ``within``), waiting for fields to show.

    Raises:
        SkillFailedError: If no field shows up within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if within is not None:
                raw: dict[str, Any] = await within.evaluate(script("fields"), [FIELD_ATTR, hint])
            else:
                raw = await ctx.page.evaluate(
                    f"(args) => ({script('fields')})(null, args)", [FIELD_ATTR, hint]
                )
        except PlaywrightError as exc:
            raw = {"scope": "", "fields": [], "groups": [], "buttons": [], "error": str(exc).splitlines()[0]}
        if raw["fields"] or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.2)
    if not raw["fields"]:
        raise SkillFailedError(f"no form field is visible on {ctx.page.url}", step="find the form")
    groups = [
        Group(stamp=g["stamp"], label=g["label"], rows=int(g["rows"]), add=g["add"], add_label=g["addLabel"])
        for g in raw["groups"]
    ]
    return FormScan(scope=raw["scope"], fields=[_field(f) for f in raw["fields"]], groups=groups,
                    buttons=list(raw["buttons"]))  # fmt: skip


def locator(ctx: SkillContext, stamp: str) -> Locator:
    """A locator for a stamped element (CSS pierces open shadow roots)."""
    return ctx.page.locator(f'[{FIELD_ATTR}="{stamp}"]')


_ROLES = {
    "checkbox": "checkbox",
    "radio": "radio",
    "select": "combobox",
    "combobox": "combobox",
    "file": "button",
}
_TAGS = {"select": "select", "textarea": "textarea", "editable": "div"}


def element(
    ctx: SkillContext, item: Field, *, stamp: str | None = None, name: str | None = None
) -> ElementRef:
    """The field as an element ref, so a step acts on it without looking it up again."""
    kind = "radio" if stamp is not None else item.kind
    return ElementRef(
        ref=stamp or item.stamp,
        frame=ctx.page.main_frame,
        selector=f'[{FIELD_ATTR}="{stamp or item.stamp}"]',
        role=_ROLES.get(kind, "textbox"),
        name=name or item.title,
        tag=_TAGS.get(kind, "input"),
        input_type={"checkbox": "checkbox", "radio": "radio", "file": "file", "date": "date"}.get(
            kind, "text"
        )
        if _TAGS.get(kind, "input") == "input"
        else None,
    )


def candidate(item: Field) -> Candidate:
    """The texts a record key may match for this field, the visible ones counting most."""
    texts: list[str] = []
    weights: list[float] = []
    for label in item.labels:
        texts.append(label)
        weights.append(1.0)
    for text, weight in ((item.name, 1.0), (item.row.header if item.row else "", 0.95), (item.id, 0.8),
                         (item.placeholder, 0.8)):  # fmt: skip
        if text:
            texts.append(text)
            weights.append(weight)
    return Candidate(key=item.stamp, texts=tuple(texts), weights=tuple(weights))


def as_text(value: Any) -> str:
    """How a Python value is typed into a text field."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def truthy(value: Any, *, what: str) -> bool:
    """A checkbox's wanted state from a bool or a word such as "yes".

    Raises:
        SkillFailedError: If the value is not a yes/no.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueNotOfferedError(
        f'{what} is a checkbox; give true or false, not "{value}"',
        step=f"check {what}",
        fields=[what.strip('"')],
    )


async def _choose_listed(ctx: SkillContext, wanted: str, *, what: str) -> str | None:
    """Click the suggestion that ``wanted`` names among the visible options; None if none is shown."""
    options = ctx.page.locator('[role="option"]').filter(visible=True)
    deadline = time.monotonic() + 2.0
    texts: list[str] = []
    while time.monotonic() < deadline:
        texts = [" ".join(t.split()) for t in await options.all_inner_texts()]
        if texts:
            break
        await asyncio.sleep(0.1)
    if not texts:
        return None
    index = best_option(wanted, [(t, t) for t in texts])
    if index is None:
        shown = ", ".join(f'"{t}"' for t in texts[:10])
        raise ValueNotOfferedError(
            f'{what} offers no option matching "{wanted}"; it offers {shown}',
            step=f"choose {what}",
            fields=[what.strip('"')],
        )
    await ctx.click(options.nth(index))
    return texts[index]


async def choose_in_combobox(
    ctx: SkillContext, target: Locator | ElementRef, wanted: str, *, what: str
) -> str:
    """Type into an autocomplete field and pick the suggestion that matches ``wanted``.

    Returns:
        What the field shows afterwards.
    """
    outcome = await ctx.fill(target, wanted)
    chosen = await _choose_listed(ctx, wanted, what=what)
    field = target.locator() if isinstance(target, ElementRef) else target
    try:
        shown = await field.input_value(timeout=2000)
    except PlaywrightError:
        shown = outcome.field_value or ""
    if chosen is None:
        ctx.log.info("no suggestions appeared; the typed text stays", field=what)
    return shown


async def set_value(ctx: SkillContext, item: Field, value: Any) -> str:
    """Put ``value`` into the field the way its widget wants it; returns what the field shows.

    Raises:
        SkillFailedError: If the value does not fit the field (no such option, not a yes/no...).
        ActionError: If a step could not be carried out.
    """
    target = element(ctx, item)
    what = f'"{item.title}"'
    if item.disabled:
        raise SkillFailedError(f"{what} is disabled", step=f"fill {what}")
    if item.kind == "checkbox":
        wanted = truthy(value, what=what)
        await ctx.check(target, wanted)
        return "checked" if wanted else "unchecked"
    if item.kind in ("select", "radio-group"):
        options = [o for o in item.options if not (item.kind == "select" and not o.value and not o.label)]
        index = best_option(as_text(value), [(o.label, o.value) for o in options])
        if index is None:
            listed = ", ".join(f'"{o.label}"' for o in options[:15])
            raise ValueNotOfferedError(f'{what} has no option "{as_text(value)}"; its options are {listed}',
                                       step=f"choose {what}", fields=[item.title])  # fmt: skip
        option = options[index]
        if item.kind == "select":
            await ctx.select(target, option.label or option.value)
        else:
            await ctx.check(element(ctx, item, stamp=option.stamp, name=option.label))
        return option.label
    if item.kind == "file":
        outcome = await ctx.upload(target, as_text(value))
        return outcome.field_value or ""
    if item.kind == "combobox":
        return await choose_in_combobox(ctx, target, as_text(value), what=what)
    text = as_text(value)
    if item.readonly and item.kind in ("date-text", "date"):
        day = value if isinstance(value, date) else _parse_day(text, what)
        return await pick_date(ctx, target.locator(), day)
    try:
        outcome = await ctx.fill(target, text)
    except InvalidActionError as exc:
        if "read-only" in str(exc) and item.kind in ("date-text", "date", "text"):
            day = value if isinstance(value, date) else _parse_day(text, what)
            return await pick_date(ctx, target.locator(), day)
        raise
    return outcome.field_value or ""


def _parse_day(text: str, what: str) -> date:
    from operator_agent.act.dates import parse_date

    try:
        return parse_date(text)
    except InvalidActionError as exc:
        raise ValueNotOfferedError(
            f"{what} needs a date: {exc}", step=f"fill {what}", fields=[what.strip('"')]
        ) from None
