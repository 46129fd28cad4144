"""Actions on one element: click, hover, select, check, press, scroll, upload.

Each handler acts through a Playwright locator (which waits for the element to be actionable),
reads back the element's new state where there is one, and returns a :class:`StepResult` whose
message tells the model what the page now shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import ElementHandle, Locator, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from operator_agent.act.failures import action_delivered
from operator_agent.act.outcome import StepResult
from operator_agent.act.readback import read_back
from operator_agent.act.targets import ElementFacts, Target, element_facts, evaluate_on
from operator_agent.act.watch import PageState
from operator_agent.actions import Check, Click, Scroll, Uncheck
from operator_agent.errors import InvalidActionError
from operator_agent.observe.refs import REF_ATTRIBUTE, SECRET_ATTRIBUTE

__all__ = [
    "check_element",
    "click_element",
    "focus_report",
    "hover_element",
    "press_keys",
    "resolve_upload_paths",
    "scroll",
    "select_options",
    "upload_files",
]

_MAX_LISTED = 20


async def click_element(target: Target, action: Click, *, timeout_ms: float) -> StepResult:
    """Click (or double-click) the target with the given button."""
    try:
        if action.double:
            await target.locator.dblclick(button=action.button, timeout=timeout_ms)
        else:
            await target.locator.click(button=action.button, timeout=timeout_ms)
    except PlaywrightTimeoutError as exc:
        # The click happened; only the wait for the page it opened ran out (the executor waits on).
        if not action_delivered(exc):
            raise
    if action.double:
        verb = "double-clicked"
    else:
        verb = "clicked" if action.button == "left" else f"{action.button}-clicked"
    return StepResult(message=f"{verb} {target.describe()}")


async def hover_element(target: Target, *, timeout_ms: float) -> StepResult:
    """Move the mouse over the target."""
    await target.locator.hover(timeout=timeout_ms)
    return StepResult(message=f"the mouse is over {target.describe()}")


def _wrong_kind(verb: str, target: Target, facts: ElementFacts, needs: str) -> InvalidActionError:
    if facts.tag == "select":
        hint = "use select_option"
    elif facts.editable:
        hint = "use fill to type into it"
    elif facts.checkable:
        hint = "use check or uncheck"
    elif facts.input_type == "file":
        hint = "use upload_file"
    else:
        hint = "use click"
    return InvalidActionError(f"cannot {verb} {target.describe()}: it is {facts.kind()}, not {needs}; {hint}")


_OPTIONS_JS = """
(el) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  return [...t.options].map((o, index) => ({
    index, label: (o.label || o.textContent || '').replace(/\\s+/g, ' ').trim(), value: o.value,
    disabled: o.disabled || !!(o.parentElement && o.parentElement.disabled), selected: o.selected,
  }));
}
"""


def _pick(wanted: str, options: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The option a requested value names: by label, then by value (exact, then ignoring case)."""
    folded = " ".join(wanted.split()).casefold()
    rules: list[tuple[str, str]] = [
        ("label", wanted.strip()),
        ("label_folded", folded),
        ("value", wanted),
        ("value_folded", folded),
    ]
    for key, expected in rules:
        field, _, folding = key.partition("_")
        for option in options:
            actual = str(option[field])
            if (actual.casefold() if folding else actual) == expected:
                return option
    return None


async def select_options(
    target: Target, values: Sequence[str], *, page: Page, timeout_ms: float
) -> StepResult:
    """Select options of a native ``<select>`` by label, then value, and report the selection."""
    facts = await element_facts(target, timeout_ms=timeout_ms)
    if facts.tag != "select":
        if facts.combobox or facts.role in ("listbox", "combobox"):
            raise InvalidActionError(
                f"cannot select_option on {target.describe()}: it is a custom {facts.kind()}, not a native "
                "<select>; click it to open its list, then click the option (or fill it to type and pick a "
                "suggestion)"
            )
        raise _wrong_kind("select_option on", target, facts, "a <select> drop-down")
    if facts.disabled:
        raise InvalidActionError(f"cannot select_option on {target.describe()}: it is disabled")
    if len(values) > 1 and not facts.multiple:
        raise InvalidActionError(
            f"{target.describe()} takes one option, but {len(values)} were given; give one value"
        )
    options: list[dict[str, Any]] = await evaluate_on(target.locator, _OPTIONS_JS, timeout_ms=timeout_ms)
    chosen: list[dict[str, Any]] = []
    for wanted in values:
        option = _pick(wanted, options)
        if option is None:
            labels = ", ".join(f'"{o["label"]}"' for o in options[:_MAX_LISTED])
            more = f" and {len(options) - _MAX_LISTED} more" if len(options) > _MAX_LISTED else ""
            raise InvalidActionError(
                f'{target.describe()} has no option "{wanted}"; its options are {labels or "none"}{more}'
            )
        if option["disabled"]:
            raise InvalidActionError(f'the option "{option["label"]}" of {target.describe()} is disabled')
        chosen.append(option)
    await target.locator.select_option(index=[o["index"] for o in chosen], timeout=timeout_ms)
    # A choice's change handler may load another page: the page gets its next frame first.
    back = await read_back(page, facts.memo, "selected", settle="frame")
    if back is not None:
        selected = [str(label) for label in back.value]
    else:
        after: list[dict[str, Any]] = await evaluate_on(target.locator, _OPTIONS_JS, timeout_ms=timeout_ms)
        selected = [o["label"] for o in after if o["selected"]]
    shown = ", ".join(selected)
    picked = ", ".join(f'"{o["label"]}"' for o in chosen)
    return StepResult(
        message=f'selected {picked} in {target.describe()}; field shows "{shown}"', field_value=shown
    ).settled_as(back.state if back is not None else None)


async def check_element(
    target: Target, action: Check | Uncheck, *, page: Page, timeout_ms: float
) -> StepResult:
    """Check or uncheck a checkbox, radio button or switch, and report its state."""
    verb = action.kind
    facts = await element_facts(target, timeout_ms=timeout_ms)
    if not facts.checkable:
        raise _wrong_kind(verb, target, facts, "a checkbox, radio button or switch")
    radio = facts.input_type == "radio" or facts.role in ("radio", "menuitemradio")
    if verb == "uncheck" and radio:
        raise InvalidActionError(
            f"cannot uncheck {target.describe()}: a radio button is unchecked by checking another option "
            "of its group"
        )
    if facts.disabled:
        raise InvalidActionError(f"cannot {verb} {target.describe()}: it is disabled")
    want = verb == "check"
    if facts.checked == want:
        return StepResult(message=f"{target.describe()} was already {verb}ed; nothing changed")
    if want:
        await target.locator.check(timeout=timeout_ms)
    else:
        await target.locator.uncheck(timeout=timeout_ms)
    back = await read_back(page, facts.memo, "checked", settle="turn")
    if back is not None:
        checked = bool(back.value)
    else:
        checked = bool((await element_facts(target.locator, timeout_ms=timeout_ms)).checked)
    state = "checked" if checked else "unchecked"
    return StepResult(message=f"{verb}ed {target.describe()}; it is now {state}").settled_as(
        back.state if back is not None else None
    )


_FOCUS_JS = """
([refAttr, secretAttr]) => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const tag = el.tagName.toLowerCase();
  const type = (el.getAttribute('type') || 'text').toLowerCase();
  const inputRoles = {
    checkbox: 'checkbox', radio: 'radio', button: 'button', submit: 'button', range: 'slider',
  };
  const implicit = tag === 'input' ? (inputRoles[type] || (el.hasAttribute('list') ? 'combobox' : 'textbox'))
    : ({ textarea: 'textbox', select: 'combobox', button: 'button', a: 'link' })[tag] || tag;
  const label = (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].innerText) ||
    el.getAttribute('placeholder') || el.innerText || el.getAttribute('title') || '')
    .replace(/\\s+/g, ' ').trim();
  const secret = el.hasAttribute(secretAttr) || (tag === 'input' && el.type === 'password');
  const textual = (tag === 'input' && !['checkbox', 'radio', 'button', 'submit', 'file'].includes(el.type))
    || tag === 'textarea';
  return {
    ref: el.getAttribute(refAttr), role: el.getAttribute('role') || implicit, label: label.slice(0, 60),
    value: textual && !secret ? el.value : null, secret,
  };
}
"""


async def focus_report(page: Page) -> str:
    """Where the keyboard focus is, for the model: ``focus is on textbox "Email" [e4] showing "..."``."""
    try:
        info: dict[str, Any] | None = await page.evaluate(_FOCUS_JS, [REF_ATTRIBUTE, SECRET_ATTRIBUTE])
    except PlaywrightError:
        return ""
    if info is None:
        return "nothing has focus"
    what = info["role"]
    name = f' "{info["label"]}"' if info["label"] else ""
    ref = f" [{info['ref']}]" if info["ref"] else ""
    value = f' showing "{info["value"]}"' if info["value"] is not None else ""
    return f"focus is on {what}{name}{ref}{value}"


async def press_keys(page: Page, target: Target | None, keys: str, *, timeout_ms: float) -> StepResult:
    """Press keys on the target (focusing it first) or on whatever has focus."""
    try:
        if target is not None:
            await target.locator.press(keys, timeout=timeout_ms)
        else:
            await page.keyboard.press(keys)
    except PlaywrightTimeoutError as exc:
        if not action_delivered(exc):
            raise
    except PlaywrightError as exc:
        if "unknown key" in exc.message.lower():
            raise InvalidActionError(
                f'"{keys}" is not a key name; use names such as Enter, Tab, Escape, Backspace, ArrowDown, '
                "PageDown, F2, a, or combinations such as Control+A and Shift+Tab"
            ) from None
        raise
    where = f" in {target.describe()}" if target is not None else ""
    focus = "" if page.is_closed() else await focus_report(page)
    return StepResult(message=f"pressed {keys}{where}" + (f"; {focus}" if focus else ""))


_SCROLL_JS = """
(el, [dx, dy]) => {
  const root = document.scrollingElement || document.documentElement;
  const scrolls = (n) => {
    const s = getComputedStyle(n);
    const can = (v) => v === 'auto' || v === 'scroll' || v === 'overlay';
    return (dy && can(s.overflowY) && n.scrollHeight > n.clientHeight) ||
      (dx && can(s.overflowX) && n.scrollWidth > n.clientWidth);
  };
  let box = el;
  const top = (n) => n === document.body || n === document.documentElement;
  while (box && !top(box) && !scrolls(box)) box = box.parentElement;
  const page = !box || top(box);
  if (page) box = root;
  const width = page ? window.innerWidth : box.clientWidth;
  const height = page ? window.innerHeight : box.clientHeight;
  const before = [box.scrollLeft, box.scrollTop];
  box.scrollBy({ left: dx * width, top: dy * height, behavior: 'instant' });
  return {
    page, own: box === el, x: box.scrollLeft, y: box.scrollTop, before,
    maxX: Math.max(box.scrollWidth - width, 0), maxY: Math.max(box.scrollHeight - height, 0),
  };
}
"""


async def scroll(page: Page, target: Target | None, action: Scroll, *, timeout_ms: float) -> StepResult:
    """Scroll the page, or the scrollable area holding the target, and report the new position."""
    sign = -1 if action.direction in ("up", "left") else 1
    horizontal = action.direction in ("left", "right")
    delta = [sign * action.amount, 0] if horizontal else [0, sign * action.amount]
    if target is not None:
        result: dict[str, Any] = await evaluate_on(target.locator, _SCROLL_JS, delta, timeout_ms=timeout_ms)
    else:
        result = await page.evaluate(f"([dx, dy]) => ({_SCROLL_JS})(document.body, [dx, dy])", delta)
    if result["page"]:
        area = "the page"
    elif result["own"] and target is not None:
        area = target.describe()
    else:
        area = f"the scrollable area around {target.describe() if target else 'the element'}"
    axis, index, limit = ("x", 0, result["maxX"]) if horizontal else ("y", 1, result["maxY"])
    position = round(result[axis])
    before = round(result["before"][index])
    where = f"now at {position} of {round(limit)} px" + (
        f" ({round(100 * position / limit)}%)" if limit else ""
    )
    screens = f"{action.amount:g} screen" + ("" if action.amount == 1 else "s")
    if position == before:
        edge = {"up": "top", "down": "bottom", "left": "left edge", "right": "right edge"}[action.direction]
        return StepResult(message=f"{area} is already at its {edge}; nothing moved ({where})")
    return StepResult(message=f"scrolled {area} {action.direction} by {screens}; {where}")


def _available_files(roots: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for root in roots:
        if root.is_dir():
            names.extend(str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file())
    return names


def resolve_upload_paths(paths: Sequence[str], upload_dirs: Sequence[Path]) -> list[Path]:
    """Find each requested file inside the upload folders.

    Relative paths are looked up in each folder in turn; absolute paths must lie inside one.
    Symbolic links are resolved first, so a link cannot lead outside the folders.

    Raises:
        InvalidActionError: If uploads are not enabled, a path leads outside the folders, or a
            file does not exist; the message lists the files that may be uploaded.
    """
    if not upload_dirs:
        raise InvalidActionError("file uploads are not enabled for this run: no upload folder is configured")
    roots = [Path(d).resolve() for d in upload_dirs]
    found: list[Path] = []
    for requested in paths:
        candidate_paths = (
            [Path(requested)] if Path(requested).is_absolute() else [root / requested for root in roots]
        )
        outside = False
        match: Path | None = None
        for candidate in candidate_paths:
            resolved = candidate.resolve()
            if not any(resolved.is_relative_to(root) for root in roots):
                outside = True
                continue
            if resolved.is_file():
                match = resolved
                break
        if match is None:
            available = _available_files(roots)
            listed = ", ".join(f'"{name}"' for name in available[:_MAX_LISTED]) or "none"
            more = f" and {len(available) - _MAX_LISTED} more" if len(available) > _MAX_LISTED else ""
            problem = "is outside the folder of files you may upload" if outside else "does not exist"
            raise InvalidActionError(
                f'cannot upload "{requested}": it {problem}; the files you may upload are {listed}{more}'
            )
        found.append(match)
    return found


_FILES_JS = """
(el) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  return t.files ? [...t.files].map((f) => f.name) : [];
}
"""


async def _attached_names(element: Locator | ElementHandle, *, timeout_ms: float) -> list[str]:
    if isinstance(element, ElementHandle):
        handle_names: list[str] = await element.evaluate(_FILES_JS)
        return handle_names
    names: list[str] = await evaluate_on(element, _FILES_JS, timeout_ms=timeout_ms)
    return names


async def upload_files(page: Page, target: Target, files: Sequence[Path], *, timeout_ms: float) -> StepResult:
    """Attach files to a file input, or through the file chooser a button opens."""
    facts = await element_facts(target, timeout_ms=timeout_ms)
    settled: PageState | None = None
    if facts.tag == "input" and facts.input_type == "file":
        if facts.disabled:
            raise InvalidActionError(f"cannot upload to {target.describe()}: it is disabled")
        if len(files) > 1 and not facts.multiple:
            raise InvalidActionError(f"{target.describe()} takes one file, but {len(files)} were given")
        await target.locator.set_input_files(list(files), timeout=timeout_ms)
        back = await read_back(page, facts.memo, "files", settle="turn")
        if back is not None:
            names, settled = [str(name) for name in back.value], back.state
        else:
            names = await _attached_names(target.locator, timeout_ms=timeout_ms)
    else:
        try:
            async with page.expect_file_chooser(timeout=min(timeout_ms, 3000)) as chooser_info:
                await target.locator.click(timeout=timeout_ms)
            chooser = await chooser_info.value
        except PlaywrightTimeoutError:
            raise InvalidActionError(
                f"cannot upload to {target.describe()}: it is {facts.kind()}, not a file field, and "
                "clicking it did not open a file picker; use the ref of the file field (or of its Browse "
                "button)"
            ) from None
        if len(files) > 1 and not chooser.is_multiple():
            raise InvalidActionError(
                f"the file picker of {target.describe()} takes one file, but {len(files)} were given"
            )
        await chooser.set_files(list(files), timeout=timeout_ms)
        names = await _attached_names(chooser.element, timeout_ms=timeout_ms)
    shown = ", ".join(names)
    attached = ", ".join(f'"{p.name}"' for p in files)
    return StepResult(
        message=f'attached {attached} to {target.describe()}; field has "{shown}"', field_value=shown
    ).settled_as(settled)
