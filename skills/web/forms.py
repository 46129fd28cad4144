"""fill_form: put a record into a form by its labels, whatever the widgets, and report what happened."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import SkillFailedError
from operator_agent.skills import SkillContext, skill

from ._fields import FormScan, Group, candidate, locator, scan, set_value
from ._match import pick, similarity
from ._page import dismiss, script, settle

__all__ = ["FillFormResult", "fill_form", "page_errors"]

# A submit button with one of these words does something that cannot be undone: ask first. A label
# that also says "save" or "continue" still asks ("Save and submit").
_IRREVERSIBLE = re.compile(
    r"submit|send|pay|approve|reject|delete|remove|confirm|transfer|publish|purchase|\border\b|\byes\b", re.I
)


# How long the page must stay still (DOM and network) before the form is read, and after
# submitting before its errors are: one render pass is far shorter; requests in flight keep it busy.
_QUIET_MS = 100


class FillFormResult(BaseModel):
    """What ``fill_form`` did.

    Attributes:
        filled: Record key → what the field it went into is called (``lines[2].quantity`` for rows).
        unmapped: Record keys no field matched (nothing was typed for them).
        errors: The validation errors the page showed after submitting (empty if none or not submitted).
        submitted: Whether the submit button was clicked.
        url: The page's address at the end.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    filled: dict[str, str] = Field(default_factory=dict)
    unmapped: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    submitted: bool = False
    url: str = ""


def _is_rows(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _bonus(value: Any, kind: str) -> float:
    """How well a value's type suits a widget."""
    if isinstance(value, bool):
        return 0.15 if kind == "checkbox" else (-0.1 if kind in ("radio-group", "select") else -0.4)
    if kind == "checkbox":
        return (
            -0.2 if not isinstance(value, str) or value.lower() not in ("yes", "no", "true", "false") else 0.0
        )
    return 0.0


def _scalar_mapping(record: Mapping[str, Any], form: FormScan) -> dict[str, str]:
    keys = [k for k, v in record.items() if not _is_rows(v)]
    fields = {f.stamp: f for f in form.fields if f.row is None}
    matches: dict[str, str] = {}
    # Type fit shifts the scores a little, so "urgent": True lands on the checkbox, not a text field.
    scored: list[tuple[float, str, str]] = []
    for key in keys:
        for stamp, item in fields.items():
            score = candidate(item).score(key) + _bonus(record[key], item.kind)
            if score >= 0.5:
                scored.append((score, key, stamp))
    scored.sort(key=lambda s: -s[0])
    used: set[str] = set()
    for _, key, stamp in scored:
        if key in matches or stamp in used:
            continue
        matches[key] = stamp
        used.add(stamp)
    return matches


def _group_for(key: str, items: Sequence[Mapping[str, Any]], form: FormScan, taken: set[str]) -> Group | None:
    item_keys = sorted({k for item in items for k in item})
    best: tuple[float, Group | None] = (0.0, None)
    for group in form.groups:
        if group.stamp in taken:
            continue
        row = form.row_fields(group.stamp, 0)
        if not row:
            continue
        matched = pick(item_keys, [candidate(f) for f in row])
        coverage = sum(score for _, score in matched.values()) / max(len(item_keys), 1)
        score = coverage + 0.3 * max(similarity(key, group.label), similarity(key, group.add_label))
        if score > best[0]:
            best = (score, group)
    return best[1] if best[0] >= 0.4 else None


async def _fill_rows(
    ctx: SkillContext,
    key: str,
    items: Sequence[Mapping[str, Any]],
    form: FormScan,
    group: Group,
    result: dict[str, Any],
) -> FormScan:
    for index, item in enumerate(items):
        current = form.group(group.stamp)
        if current is None:
            raise SkillFailedError(f'the rows for "{key}" left the page', step=f"fill {key}[{index}]")
        if index >= current.rows:
            if current.add is None:
                raise SkillFailedError(
                    f'"{key}" has {index} item(s) but the form shows {current.rows} row(s) '
                    'and no "Add" button',
                    step=f"add a row for {key}[{index}]",
                )
            await ctx.click(locator(ctx, current.add))
            form = await scan(ctx, hint="")
            refreshed = form.group(group.stamp)
            if refreshed is None or refreshed.rows <= index:
                raise SkillFailedError(
                    f'clicking "{current.add_label}" did not add a row', step=f"add {key}[{index}]"
                )
        row = form.row_fields(group.stamp, index)
        matches = pick(list(item), [candidate(f) for f in row])
        by_stamp = {f.stamp: f for f in row}
        for item_key, value in item.items():
            name = f"{key}[{index}].{item_key}"
            if item_key not in matches:
                result["unmapped"].append(name)
                continue
            field = by_stamp[matches[item_key][0]]
            if value is None:
                continue
            await set_value(ctx, field, value)
            result["filled"][name] = field.title
    return form


async def page_errors(ctx: SkillContext) -> list[str]:
    """The validation errors the page shows now (alerts, summaries, inline errors, invalid fields)."""
    errors: list[str] = await ctx.page.evaluate(script("errors"))
    return errors


def _submit_button(form: FormScan, label: str) -> str | None:
    """The stamp of the form's button with this label (or the closest wording)."""
    wanted = label.strip().casefold()
    for button in form.buttons:
        if str(button["label"]).strip().casefold() == wanted:
            return str(button["stamp"])
    scored = [(similarity(label, str(b["label"])), str(b["stamp"])) for b in form.buttons if b["label"]]
    scored.sort(key=lambda s: -s[0])
    return scored[0][1] if scored and scored[0][0] >= 0.6 else None


@skill
async def fill_form(
    ctx: SkillContext,
    *,
    record: dict[str, Any],
    submit: str | None = None,
    submit_irreversible: bool | None = None,
) -> FillFormResult:
    """Fill the form on the page from a record, matching keys to fields by their labels and names.

    Handles text, number and date fields (native and calendar pickers), selects, radio buttons,
    checkboxes, autocomplete comboboxes, file fields and repeated rows (a list of records, one per
    line item, adding rows with the form's "Add" button). Keys are matched loosely, so
    "invoice_number" finds "Invoice no.". Reports keys it could not place and, after submitting,
    the validation errors the page shows.

    Args:
        record: Field name or label → value. Use true/false for checkboxes, the option's label or
            value for choices, a file name (in the run folder) for file fields, and a list of
            objects for repeated rows such as line items.
        submit: The label of the button to click once the form is filled, such as "Save draft";
            leave empty to fill only.
        submit_irreversible: Whether that click cannot be undone and needs approval; guessed from
            the label when not given ("Submit", "Send", "Pay", "Confirm"... need approval).
    """
    await settle(ctx, timeout_s=10, quiet_ms=_QUIET_MS)
    await dismiss(ctx)
    form = await scan(ctx)
    result: dict[str, Any] = {"filled": {}, "unmapped": []}
    mapping = _scalar_mapping(record, form)
    fields = {f.stamp: f for f in form.fields}
    for key, value in record.items():
        if _is_rows(value):
            continue
        if key not in mapping:
            result["unmapped"].append(key)
            continue
        if value is None:
            continue
        field = fields[mapping[key]]
        await set_value(ctx, field, value)
        result["filled"][key] = field.title
    taken: set[str] = set()
    for key, value in record.items():
        if not _is_rows(value):
            continue
        items = [dict(item) for item in value]
        group = _group_for(key, items, form, taken)
        if group is None:
            result["unmapped"].append(key)
            continue
        taken.add(group.stamp)
        form = await _fill_rows(ctx, key, items, form, group, result)
    errors: list[str] = []
    submitted = False
    if submit:
        stamp = _submit_button(form, submit)
        button = locator(ctx, stamp) if stamp else await ctx.locate(role="button", name=submit)
        irreversible = submit_irreversible
        if irreversible is None:
            irreversible = bool(_IRREVERSIBLE.search(submit))
        await ctx.click(button, irreversible=irreversible)
        submitted = True
        await settle(ctx, timeout_s=15, quiet_ms=_QUIET_MS)
        errors = await page_errors(ctx)
    if result["unmapped"]:
        ctx.log.info(
            "record keys without a field", keys=result["unmapped"], fields=[f.title for f in form.fields]
        )
    return FillFormResult(
        filled=result["filled"],
        unmapped=result["unmapped"],
        errors=errors,
        submitted=submitted,
        url=ctx.page.url,
    )
