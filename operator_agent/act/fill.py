"""Filling a text field so that the page's own scripts take the value.

``locator.fill`` sets a field's value in one step. Many widgets only react to keystrokes: input
masks, autocomplete comboboxes that fetch suggestions on ``keyup``, JavaScript date pickers. So
after filling, the field's shown value is read back; if it does not show what was asked, the
field is cleared and the text typed like a person would, then read back again. A combobox is also
typed into when no suggestions appeared, and the suggestions it shows are reported. Native date
and time inputs get the ISO value they require; a text field whose placeholder is a date pattern
(``DD/MM/YYYY``) gets the date written in that pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from playwright.async_api import Locator, Page

from operator_agent.act.dates import (
    format_for_field,
    parse_date,
    placeholder_format,
    to_native_value,
)
from operator_agent.act.outcome import StepResult
from operator_agent.act.readback import read_back
from operator_agent.act.targets import FILLABLE_CSS, ElementFacts, Target, element_facts, evaluate_on
from operator_agent.errors import InvalidActionError
from operator_agent.observe.refs import SECRET_ATTRIBUTE

__all__ = ["NATIVE_DATE_TYPES", "SecretValue", "fill_field", "registered", "shown_value"]

NATIVE_DATE_TYPES = frozenset({"date", "datetime-local", "month", "week", "time"})
_TYPE_DELAY_MS = 20
_MAX_SHOWN = 200

_SHOWN_JS = """
(el) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  if (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA') return t.value;
  return t.innerText;
}
"""

# Read after the page's input handlers had a turn: what they queued (a mask reformatting, a
# framework re-rendering) has run, in the same call as the read.
_SHOWN_AFTER_TURN_JS = (
    f"(el) => new Promise((resolve) => setTimeout(() => resolve(({_SHOWN_JS.strip()})(el)), 0))"
)

_OPTIONS_JS = """
(el) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  const visible = (n) => n.checkVisibility ? n.checkVisibility({ visibilityProperty: true })
    : n.getClientRects().length > 0;
  const ids = [];
  for (const n of [t, t.closest('[role="combobox"]')]) {
    if (!n) continue;
    for (const attr of ['aria-controls', 'aria-owns']) {
      ids.push(...(n.getAttribute(attr) || '').split(/\\s+/));
    }
  }
  // Ids resolve in the field's own tree: a combobox inside a shadow root lists options there.
  const home = t.getRootNode ? t.getRootNode() : document;
  const byId = (id) => (home.getElementById ? home.getElementById(id) : null) || document.getElementById(id);
  const roots = [...new Set(ids.filter(Boolean))].map(byId).filter(Boolean);
  let options = [];
  for (const root of (roots.length ? roots : (home === document ? [document] : [home, document]))) {
    options.push(...root.querySelectorAll('[role="option"]'));
  }
  options = options.filter(visible);
  const names = options.map((o) => (o.getAttribute('aria-label') || o.innerText || o.textContent || '')
    .replace(/\\s+/g, ' ').trim()).filter(Boolean);
  if (!names.length && t.list) {
    const typed = (t.value || '').toLowerCase();
    for (const o of t.list.options) {
      const label = (o.label || o.value || '').trim();
      if (label && (!typed || label.toLowerCase().includes(typed) || o.value.toLowerCase().includes(typed))) {
        names.push(o.value && o.label && o.value !== o.label ? `${o.value} (${o.label})` : label);
      }
    }
  }
  return names;
}
"""


@dataclass(frozen=True, slots=True)
class SecretValue:
    """A secret to type into a field: its name (shown) and value (never shown)."""

    name: str
    value: str


async def shown_value(locator: Locator, *, timeout_ms: float, after_turn: bool = False) -> str:
    """What the field shows: the value of an input or textarea, else the element's text.

    Args:
        locator: The field.
        timeout_ms: How long the element may take to be found.
        after_turn: Let the page's queued handlers run first (right after typing into it).
    """
    value: str = await evaluate_on(
        locator, _SHOWN_AFTER_TURN_JS if after_turn else _SHOWN_JS, timeout_ms=timeout_ms
    )
    return value


def _quote(text: str) -> str:
    if len(text) > _MAX_SHOWN:
        text = f"{text[:_MAX_SHOWN]}... ({len(text)} characters)"
    return '"' + text.replace("\n", "\\n") + '"'


def _alnum(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).casefold()


def _collapse(text: str) -> str:
    return " ".join(text.split()).casefold()


def _number(text: str) -> Decimal | None:
    cleaned = re.sub(r"[^\d.\-]", "", text)
    if not re.search(r"\d", text) or not re.fullmatch(r"[\d\s.,\-+$€£¥%]*", text.strip()):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def _same_date(intended: str, shown: str) -> bool:
    try:
        return parse_date(intended) == parse_date(shown)
    except InvalidActionError:
        return False


def registered(intended: str, shown: str, *, combobox: bool) -> bool:
    """Whether the field took the value, allowing for the formatting a widget adds.

    Masks add separators and prefixes (``5551234567`` shows ``+1 (555) 123-4567``), number fields
    add grouping (``1234.5`` shows ``1,234.50``), date widgets rewrite dates, and a combobox may
    complete what was typed (``acme`` shows ``Acme Corp``).
    """
    if intended == shown or _collapse(intended) == _collapse(shown):
        return True
    want, got = _alnum(intended), _alnum(shown)
    if not want:
        return not got
    if got == want:
        return True
    # A mask's own prefix or suffix ("+1", "USD") is short; a longer addition is other text.
    if len(want) >= 4 and len(got) - len(want) <= 3 and (got.endswith(want) or got.startswith(want)):
        return True
    number_want, number_got = _number(intended), _number(shown)
    if number_want is not None and number_got is not None and number_want == number_got:
        return True
    if _same_date(intended, shown):
        return True
    return combobox and _collapse(shown).startswith(_collapse(intended))


def _not_fillable(target: Target, facts: ElementFacts) -> str:
    what = target.describe()
    if facts.tag == "select":
        hint = "use select_option to choose one of its options"
    elif facts.input_type == "file":
        hint = "use upload_file to attach a file"
    elif facts.checkable:
        hint = "use check or uncheck"
    else:
        hint = "fill needs a text field (input, textarea or editable area); use click for buttons and links"
    return f"cannot fill {what}: it is {facts.kind()}, not a text field; {hint}"


async def _editable_locator(target: Target, *, timeout_ms: float) -> tuple[Locator, ElementFacts]:
    facts = await element_facts(target, timeout_ms=timeout_ms)
    locator = target.locator
    if not facts.editable:
        if facts.fillable_descendants != 1:
            raise InvalidActionError(_not_fillable(target, facts))
        # A wrapper (custom combobox, labelled group) around exactly one text field.
        locator = target.locator.locator(FILLABLE_CSS).first
        facts = await element_facts(locator, timeout_ms=timeout_ms)
    if facts.disabled:
        raise InvalidActionError(f"cannot fill {target.describe()}: it is disabled")
    if facts.read_only:
        picker = " (a date picker: click it and choose in its calendar)" if facts.placeholder else ""
        raise InvalidActionError(f"cannot fill {target.describe()}: it is read-only{picker}")
    return locator, facts


def _value_for(facts: ElementFacts, text: str) -> tuple[str, str]:
    """The value to put in the field, and a note when it differs from the text asked for."""
    if facts.input_type in NATIVE_DATE_TYPES:
        value = to_native_value(facts.input_type, text)
        note = (
            f"wrote {_quote(text)} as {_quote(value)} for the {facts.input_type} field"
            if value != text
            else ""
        )
        return value, note
    if facts.input_type == "number":
        # A number field refuses "1,234.50" or "$40"; people (and models) write amounts that way.
        plain = re.sub(r"[\s,$€£¥]", "", text)
        if plain != text and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?", plain, re.IGNORECASE):
            return plain, f"wrote {_quote(text)} as {_quote(plain)} for the number field"
        return text, ""
    fmt = placeholder_format(facts.placeholder)
    if fmt is not None and text.strip():
        try:
            day = parse_date(text, order=fmt.order)
        except InvalidActionError:
            return text, ""
        value = format_for_field(day, fmt)
        note = (
            f"wrote {_quote(text)} as {_quote(value)} (the field's format is {fmt.pattern})"
            if value != text
            else ""
        )
        return value, note
    return text, ""


async def _clear_by_keys(locator: Locator, *, timeout_ms: float) -> None:
    await locator.focus(timeout=timeout_ms)
    await locator.press("ControlOrMeta+a", timeout=timeout_ms)
    await locator.press("Backspace", timeout=timeout_ms)
    remaining = await shown_value(locator, timeout_ms=timeout_ms)
    if remaining and _alnum(remaining):
        # A widget that handles Backspace itself removes one character per press, like for a person.
        await locator.press("End", timeout=timeout_ms)
        for _ in range(min(len(remaining), 200)):
            await locator.press("Backspace", timeout=timeout_ms)
        if _alnum(await shown_value(locator, timeout_ms=timeout_ms)):
            await locator.fill("", timeout=timeout_ms)


# Waits in the page, up to ``waitMs``, for the first suggestions (looking again at every change of
# the document or of the field's shadow root, and every 50 ms for changes no observer reports), then
# for one more animation frame, since suggestions often arrive in more than one render.
_OPTIONS_WAIT_JS = f"""
async (el, waitMs) => {{
  const read = {_OPTIONS_JS.strip()};
  const first = read(el);
  const names = first.length ? first : await new Promise((resolve) => {{
    let done = false;
    const finish = (found) => {{
      if (done) return;
      done = true;
      observer.disconnect();
      clearInterval(poll);
      clearTimeout(limit);
      resolve(found);
    }};
    const look = () => {{ const found = read(el); if (found.length) finish(found); }};
    const observer = new MutationObserver(look);
    const options = {{ subtree: true, childList: true, attributes: true, characterData: true }};
    observer.observe(document, options);
    const home = el.getRootNode ? el.getRootNode() : document;
    if (home !== document) observer.observe(home, options);
    const poll = setInterval(look, 50);
    const limit = setTimeout(() => finish([]), waitMs);
  }});
  if (!names.length) return names;
  await new Promise((resolve) => {{
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 50);
  }});
  const settled = read(el);
  return settled.length ? settled : names;
}}
"""


async def _options(locator: Locator, *, wait_s: float, timeout_ms: float) -> list[str]:
    """The suggestions a combobox shows, waiting up to ``wait_s`` for them to appear (one call)."""
    names: list[str] = await evaluate_on(
        locator, _OPTIONS_WAIT_JS, round(wait_s * 1000), timeout_ms=timeout_ms + wait_s * 1000
    )
    return names


async def fill_field(
    target: Target,
    *,
    page: Page,
    text: str | None,
    secret: SecretValue | None,
    timeout_ms: float,
) -> StepResult:
    """Fill the target with ``text`` (or a secret's value) and report what the field shows.

    Raises:
        InvalidActionError: If the element is not a text field, is disabled or read-only, or the
            text is not a valid value for a native date/time field.
    """
    locator, facts = await _editable_locator(target, timeout_ms=timeout_ms)
    if secret is not None:
        value, note = secret.value, ""
        # Mark first, so an observation taken at any moment hides the value.
        await evaluate_on(
            locator,
            "(el, [attr, name]) => el.setAttribute(attr, name)",
            [SECRET_ATTRIBUTE, secret.name],
            timeout_ms=timeout_ms,
        )
    else:
        value, note = _value_for(facts, text or "")
    await locator.fill(value, timeout=timeout_ms)
    back = await read_back(page, facts.memo, "shown", settle="turn")
    if back is not None:
        shown, settled = str(back.value), back.state
    else:
        shown, settled = await shown_value(locator, timeout_ms=timeout_ms, after_turn=True), None
    options: list[str] = []
    typed_because = ""
    native = facts.input_type in NATIVE_DATE_TYPES
    if facts.combobox and value:
        settled = None
        options = await _options(locator, wait_s=0.3, timeout_ms=timeout_ms)
    took = registered(value, shown, combobox=facts.combobox)
    if not native and value and (not took or (facts.combobox and not options)):
        settled = None
        typed_because = (
            "the field ignored a direct fill" if not took else "no suggestions appeared without keystrokes"
        )
        await _clear_by_keys(locator, timeout_ms=timeout_ms)
        await locator.press_sequentially(
            value, delay=_TYPE_DELAY_MS, timeout=timeout_ms + _TYPE_DELAY_MS * len(value)
        )
        if facts.combobox:
            options = await _options(locator, wait_s=1.5, timeout_ms=timeout_ms)
        shown = await shown_value(locator, timeout_ms=timeout_ms, after_turn=True)
        took = registered(value, shown, combobox=facts.combobox)
    return _report(
        target,
        facts,
        secret=secret,
        value=value,
        shown=shown,
        took=took,
        typed_because=typed_because,
        note=note,
        options=options,
    ).settled_as(settled)


def _report(
    target: Target,
    facts: ElementFacts,
    *,
    secret: SecretValue | None,
    value: str,
    shown: str,
    took: bool,
    typed_because: str,
    note: str,
    options: list[str],
) -> StepResult:
    how = f" by typing it key by key ({typed_because})" if typed_because else ""
    parts: list[str] = []
    if secret is not None:
        if not took:
            return StepResult(
                ok=False,
                error="ActionFailedError",
                message=(
                    f'filled {target.describe()} from secret "{secret.name}"{how}, but the field did not '
                    "keep the value (what it shows is not reported for a secret)"
                ),
            )
        return StepResult(message=f'filled {target.describe()} from secret "{secret.name}"{how}')
    if note:
        parts.append(note)
    if not took:
        return StepResult(
            ok=False,
            error="ActionFailedError",
            field_value=shown,
            message="; ".join(
                [
                    *parts,
                    f"{target.describe()} did not take {_quote(value)}{how}: the field shows {_quote(shown)}",
                ]
            ),
        )
    parts.append(f"filled {target.describe()}{how}; field shows {_quote(shown)}")
    if facts.combobox and value:
        if options:
            listed = ", ".join(_quote(name) for name in options[:15])
            more = f" and {len(options) - 15} more" if len(options) > 15 else ""
            parts.append(f"{len(options)} option(s) appeared: {listed}{more}; pick one to choose it")
        else:
            parts.append("no options appeared")
    return StepResult(message="; ".join(parts), field_value=shown)
