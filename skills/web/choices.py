"""select_date and choose_option: date fields and choices, whatever widget the page uses."""

from __future__ import annotations

from datetime import date

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from operator_agent.errors import SkillFailedError, ValueNotOfferedError
from operator_agent.skills import SkillContext, skill

from ._fields import Field, candidate, choose_in_combobox, scan, set_value
from ._match import best_option
from ._page import dismiss, settle

__all__ = ["choose_option", "select_date"]

_KIND_JS = """
(el) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  const tag = t.tagName.toLowerCase();
  const type = (t.getAttribute('type') || '').toLowerCase();
  const role = (t.getAttribute('role') || '').toLowerCase();
  if (tag === 'select') return 'select';
  if (type === 'radio' || role === 'radiogroup' || t.querySelector('input[type=radio]')) return 'radio';
  if (t.shadowRoot && t.shadowRoot.querySelector('input')) return 'combobox';
  if (role === 'combobox' || t.hasAttribute('list')) return 'combobox';
  if (t.getAttribute('aria-autocomplete')) return 'combobox';
  if (t.getAttribute('aria-haspopup') === 'listbox') return 'listbox';
  if (role === 'button' || tag === 'button') return 'listbox';
  return 'text';
}
"""


async def _field_named(ctx: SkillContext, label: str) -> Field | None:
    """The field of the page's form that the label names best, if the form scan finds it."""
    try:
        form = await scan(ctx, timeout_s=2.0)
    except SkillFailedError:
        return None
    scored = sorted(
        ((candidate(f).score(label), f) for f in form.fields if f.row is None), key=lambda s: -s[0]
    )
    return scored[0][1] if scored and scored[0][0] >= 0.6 else None


@skill
async def select_date(ctx: SkillContext, *, label: str, day: date) -> str:
    """Set a date field: typed in the field's own format, or picked in its calendar if it cannot
    be typed into. Returns what the field shows.

    Args:
        label: The label of the date field, such as "Due date".
        day: The date, as YYYY-MM-DD.
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    field = await _field_named(ctx, label)
    if field is None:
        raise SkillFailedError(f'no date field labelled "{label}" on {ctx.page.url}', step="find the field")
    return await set_value(ctx, field, day)


async def _choose_in_listbox(ctx: SkillContext, target: Locator, option: str, what: str) -> str:
    await ctx.click(target)
    options = ctx.page.locator('[role="option"]').filter(visible=True)
    try:
        await options.first.wait_for(state="visible", timeout=3000)
    except PlaywrightError:
        raise SkillFailedError(f"{what} opened no list of options", step=f"open {what}") from None
    texts = [" ".join(t.split()) for t in await options.all_inner_texts()]
    index = best_option(option, [(t, t) for t in texts])
    if index is None:
        listed = ", ".join(f'"{t}"' for t in texts[:15])
        raise ValueNotOfferedError(
            f'{what} has no option "{option}"; its options are {listed}',
            step=f"choose {what}",
            fields=[what.strip('"')],
        )
    await ctx.click(options.nth(index))
    return texts[index]


@skill
async def choose_option(ctx: SkillContext, *, label: str, option: str) -> str:
    """Choose an option in a drop-down, radio group, list box or autocomplete field (type, then
    pick the matching suggestion). Returns the option chosen, as the page words it.

    Args:
        label: The label of the field, such as "Vendor" or "Payment terms".
        option: The option's text (or value); close wordings are accepted ("Net 30" for "Net 30 days").
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    field = await _field_named(ctx, label)
    if field is not None and field.kind in ("select", "radio-group", "combobox"):
        return await set_value(ctx, field, option)
    target = await ctx.locate(name=label)
    kind: str = await target.evaluate(_KIND_JS)
    what = f'"{label}"'
    if kind == "combobox":
        return await choose_in_combobox(ctx, target, option, what=what)
    if kind == "listbox":
        return await _choose_in_listbox(ctx, target, option, what)
    if kind == "select":
        await ctx.select(target, option)
        return option
    raise SkillFailedError(f"{what} is not a list of options (it is a {kind} field)", step=f"choose {what}")
