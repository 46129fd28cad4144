"""Engine-side rules that tell an irreversible page action from a safe one.

:func:`judge` looks at one action and the :class:`~operator_agent.guardrails.context.ElementContext`
of its element and says whether the action is irreversible, with the reasons in words. The rules:

* Hover, scroll, wait, go back, switch tab, check/uncheck, select, upload, and filling a field
  without submitting are safe; so are clicks on checkboxes, tabs, text fields and reset buttons.
* A form submission (a submit button, Enter in a field with a default button or implicit
  submission, ``fill(submit=True)``) is irreversible when its button names an irreversible action,
  when it goes to a destructive endpoint, when it confirms an open dialog that announces one, or when
  it is a POST whose button is not clearly a safe one (save draft, search, next, preview, log in,
  cancel...). A GET submission is safe unless one of the first three holds.
* Any other button (scripted buttons, menu items, links without a real ``href``) is irreversible when
  its label names an irreversible or data-committing action, when it confirms a dialog that
  announces one, when it is styled as destructive, or when it is an unlabeled icon button whose icon
  means delete, send, pay or approve.
* A link is irreversible when it points to a destructive endpoint (``/invoices/7/delete``) or its
  label names an irreversible action; navigating to such a URL is too.
* Enter in a field outside any form only reaches page scripts: it is irreversible (a chat box sends)
  unless the field is a search, filter or combobox field.

Page content can only raise the bar here: a label that looks safe never hides an irreversible word in
another label source of the same element, and dialog text only ever adds reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urljoin

from operator_agent.actions import (
    Check,
    Click,
    Fill,
    GoBack,
    Hover,
    Navigate,
    PageAction,
    Press,
    Scroll,
    SelectOption,
    SwitchTab,
    Uncheck,
    UploadFile,
    WaitFor,
)
from operator_agent.guardrails.context import Control, ElementContext, Submission
from operator_agent.guardrails.endpoints import destructive_endpoint, shown_url
from operator_agent.guardrails.vocabulary import LabelReading, read_label, read_statement

__all__ = ["Effect", "Finding", "destructive_endpoint", "judge", "needs_context"]

Effect = Literal["none", "edit", "navigate", "activate", "submit"]
"""What an action does: nothing lasting, edits a field, opens a URL, activates a control, submits a form."""


@dataclass(frozen=True, slots=True)
class Finding:
    """The heuristics' answer for one action.

    Attributes:
        irreversible: True when the action needs a person's approval.
        reasons: Why, in words; for a safe action, why it is safe.
        effect: What the action does (used by URL-pattern rules: ``submit`` and ``activate`` count as
            submitting).
        subject: The element whose label decided, as shown in the reasons (``button 'Pay'``).
    """

    irreversible: bool
    reasons: tuple[str, ...]
    effect: Effect
    subject: str = ""


# -- controls ------------------------------------------------------------------------------------------

_TOGGLE_ROLES: Final = frozenset(
    {"checkbox", "radio", "switch", "option", "tab", "menuitemcheckbox", "menuitemradio", "treeitem"}
)
_FIELD_ROLES: Final = frozenset({"textbox", "searchbox", "combobox", "listbox", "spinbutton", "slider"})
_TEXT_INPUTS: Final = frozenset(
    {
        "text",
        "search",
        "url",
        "tel",
        "email",
        "password",
        "date",
        "month",
        "week",
        "time",
        "datetime-local",
        "number",
    }
)
_DANGER_CLASS: Final = re.compile(
    r"(?:^|[\s_-])(?:danger|destructive|destroy|delete|critical)(?:$|[\s_-])", re.I
)
_BUTTON_CLASS: Final = re.compile(r"(?:^|[\s_-])(?:btn|button)(?:$|[\s_-])", re.I)
_ICON_MEANINGS: Final = (
    (re.compile(r"trash|(?:^|[\s_-])bin(?:$|[\s_-])|delete|garbage|wastebasket", re.I), "delete"),
    (re.compile(r"paper-?plane|(?:^|[\s_-])send(?:$|[\s_-])", re.I), "send"),
    (re.compile(r"credit-?card|(?:^|[\s_-])pay(?:ment)?(?:$|[\s_-])|money|cash|banknote", re.I), "pay"),
    (re.compile(r"(?:^|[\s_-])(?:check|checkmark|tick|thumbs-?up|approve)(?:$|[\s_-])", re.I), "approve"),
)
_GLYPH_MEANINGS: Final = (
    (frozenset("🗑❌⌫"), "delete"),
    (frozenset("➤✉📧📨📤"), "send"),
    (frozenset("💳💰💸$€£"), "pay"),
    (frozenset("✓✔☑👍"), "approve"),
)
_HARMLESS_GLYPHS: Final = frozenset("×✕✖✗⨯xX‹›«»←→↑↓⟵⟶▾▼▲▴☰⋮⋯…+＋−-?ⓘℹ🔍⚙")

Kind = Literal["toggle", "field", "file", "reset", "submit", "link", "button"]


def _is_link(context: ElementContext) -> bool:
    raw = context.raw_href.strip().lower()
    return bool(context.href) and bool(raw) and not raw.startswith(("#", "javascript:"))


def _kind(context: ElementContext) -> Kind:
    control = context.control
    if control.tag == "input":
        if control.type in ("checkbox", "radio"):
            return "toggle"
        if control.type == "file":
            return "file"
        if control.type == "reset":
            return "reset"
        if control.type in ("submit", "image"):
            return "submit" if context.own_submission is not None else "button"
        if control.type == "button":
            return "button"
        return "field"
    if control.tag == "button":
        if control.type == "reset":
            return "reset"
        if context.own_submission is not None:
            return "submit"
        return "toggle" if control.role in _TOGGLE_ROLES else "button"
    if control.tag in ("select", "textarea") or control.editable:
        return "field"
    if control.role in _TOGGLE_ROLES:
        return "toggle"
    if control.role in _FIELD_ROLES:
        return "field"
    if _is_link(context):
        return "link"
    return "button"


def _describe(control: Control, *, link_as_button: bool = False) -> str:
    role = control.role or control.tag or "element"
    if link_as_button:
        role = "link styled as a button"
    label = control.shown()
    return f"{role} '{label}'" if label else f"unnamed {role}"


def _styled_as_button(context: ElementContext) -> bool:
    control = context.control
    return control.role == "button" or bool(_BUTTON_CLASS.search(control.classes))


def _icon_meaning(control: Control) -> str | None:
    """What an icon-only control's icon means, if it means something irreversible."""
    glyphs = set(control.text.replace(" ", ""))
    for chars, meaning in _GLYPH_MEANINGS:
        if glyphs & chars:
            return meaning
    for pattern, meaning in _ICON_MEANINGS:
        if pattern.search(control.icons):
            return meaning
    return None


def _has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


# -- reading a control's labels ----------------------------------------------------------------------------


@dataclass
class _Reading:
    strong: list[str] = field(default_factory=list)
    generic: list[str] = field(default_factory=list)
    dismiss: bool = False
    safe: str | None = None
    forward: bool = False

    @property
    def commits(self) -> bool:
        return bool(self.strong or self.generic)


def _read_control(control: Control, extra: Iterable[str] = ()) -> _Reading:
    """Read every label source; irreversible words from any source count, safety only from the name."""
    out = _Reading()
    primary: LabelReading | None = None
    for label in (*control.labels(), *extra):
        reading = read_label(label)
        if primary is None:
            primary = reading
        out.strong.extend(word for word in reading.strong if word not in out.strong)
        out.generic.extend(word for word in reading.generic if word not in out.generic)
    if primary is not None and not out.commits:
        out.dismiss = primary.dismiss
        out.safe = primary.safe
        out.forward = primary.forward
    return out


@dataclass
class _Case:
    """Reasons gathered while judging one action: a headline saying what it does, then why it matters."""

    effect: Effect
    subject: str
    headline: str
    raised: list[str] = field(default_factory=list)

    def raise_(self, detail: str) -> None:
        if detail not in self.raised:
            self.raised.append(detail)

    def finish(self, safe_detail: str = "") -> Finding:
        if self.raised:
            return Finding(True, (self.headline, *self.raised), self.effect, self.subject)
        return Finding(False, (self.headline + safe_detail,), self.effect, self.subject)


def _label_reasons(case: _Case, reading: _Reading, *, count_generic: bool) -> None:
    if reading.strong:
        case.raise_(f"its label names an irreversible action ({', '.join(reading.strong)})")
    if reading.generic and count_generic:
        case.raise_(f"its label commits data ({', '.join(reading.generic)})")


def _dialog_reasons(case: _Case, context: ElementContext, reading: _Reading) -> None:
    """A button that is not a dismiss or safe one confirms whatever its open dialog announces."""
    # A closed dialog counts too: a click waits for its button to show, and then confirms it.
    dialog = context.dialog
    if dialog is None or reading.dismiss or (reading.safe and not reading.forward):
        return
    statement = read_statement(" ".join((dialog.title, dialog.description, dialog.text)))
    words = list(dict.fromkeys((*statement.strong, *statement.generic)))
    if words:
        title = dialog.title or "(untitled)"
        kind = ("modal dialog" if dialog.modal else "dialog") if dialog.open else "closed dialog"
        case.raise_(f"it confirms the {kind} '{title[:80]}' ({', '.join(words[:4])})")


def _danger_reasons(case: _Case, control: Control, reading: _Reading) -> None:
    if reading.dismiss:
        return
    for token in control.classes.split():
        if _DANGER_CLASS.search(token):
            case.raise_(f"it is styled as a destructive button (class '{token}')")
            return


def _icon_reasons(case: _Case, control: Control, reading: _Reading) -> None:
    """Icon-only buttons: named only by an attribute, or not named at all."""
    if reading.dismiss or _has_words(control.text):
        return
    named_by = "aria-label" if control.aria_label or control.labelled_by else "title" if control.title else ""
    if named_by or control.inner_labels:
        if named_by and reading.commits:
            case.raise_(f"it is an icon-only button, named only by its {named_by}")
        return
    # No words and no label: the icon is all there is.
    meaning = _icon_meaning(control)
    glyphs = set(control.text.replace(" ", ""))
    if meaning is not None:
        case.raise_(f"it is an unlabeled icon button whose icon means '{meaning}'")
    elif not glyphs or not glyphs <= _HARMLESS_GLYPHS:
        case.raise_("it has no label, so what it does cannot be told")


# -- the cases ------------------------------------------------------------------------------------------


def _submission(
    context: ElementContext,
    submission: Submission | None,
    *,
    method: str,
    action: str,
    lead: str,
    page_url: str,
    extra: Iterable[str] = (),
) -> Finding:
    """A form submission through ``submission`` (or an implicit one without a button)."""
    where = f"{method.upper()} {shown_url(action, context.frame_url or page_url)}"
    control = submission.control if submission is not None else None
    subject = _describe(control) if control is not None else "the form"
    headline = f"{lead}{subject} submits {where}" if control is not None else f"{lead}submits {where}"
    case = _Case("submit", subject, headline)
    reading = _read_control(control, extra) if control is not None else _Reading()
    _label_reasons(case, reading, count_generic=method != "get")
    token = destructive_endpoint(action)
    if token is not None and method != "dialog":
        case.raise_(f"it goes to a destructive endpoint ({token})")
    _dialog_reasons(case, context, reading)
    if control is not None:
        _danger_reasons(case, control, reading)
    if method == "post" and not case.raised:
        if reading.safe or reading.dismiss:
            return case.finish(f", but it is a '{reading.safe}' button")
        if context.form is not None and context.form.role == "search":
            return case.finish(" from a search form")
        case.raise_(
            "a POST changes data on the server, and its button is not a draft, search or navigation one"
        )
    if method == "dialog":
        return case.finish(", which only closes the dialog: nothing leaves the page")
    return case.finish(", a read-only GET")


def _button(context: ElementContext, *, lead: str, extra: Iterable[str]) -> Finding:
    """A button that submits no form: scripts decide what it does, so its words are all we have."""
    control = context.control
    subject = _describe(control, link_as_button=control.tag == "a" and _styled_as_button(context))
    case = _Case("activate", subject, f"{lead}{subject}")
    reading = _read_control(control, extra)
    _label_reasons(case, reading, count_generic=True)
    _dialog_reasons(case, context, reading)
    _danger_reasons(case, control, reading)
    _icon_reasons(case, control, reading)
    return case.finish(
        " submits no form and dismisses"
        if reading.dismiss
        else " submits no form and names no irreversible action"
    )


def _link(context: ElementContext, *, lead: str, page_url: str, extra: Iterable[str]) -> Finding:
    control = context.control
    styled = _styled_as_button(context)
    subject = _describe(control, link_as_button=styled)
    where = f"GET {shown_url(context.href, context.frame_url or page_url)}"
    case = _Case("navigate", subject, f"{lead}{subject} opens {where}")
    if context.download:
        return case.finish(", a download")
    reading = _read_control(control, extra)
    token = destructive_endpoint(context.href)
    if token is not None:
        case.raise_(f"it points to a destructive endpoint ({token})")
    _label_reasons(case, reading, count_generic=False)
    _dialog_reasons(case, context, reading)
    if styled:
        _danger_reasons(case, control, reading)
        _icon_reasons(case, control, reading)
    return case.finish()


def _activate(context: ElementContext, *, lead: str, page_url: str, extra: Iterable[str]) -> Finding:
    """A click (or Enter/Space on a button or link)."""
    kind = _kind(context)
    subject = _describe(context.control)
    if kind == "toggle":
        return Finding(False, (f"{lead}{subject} only toggles it",), "edit", subject)
    if kind == "field":
        return Finding(False, (f"{lead}{subject} only focuses it",), "none", subject)
    if kind == "file":
        return Finding(False, (f"{lead}{subject} only opens a file chooser",), "none", subject)
    if kind == "reset":
        return Finding(False, (f"{lead}{subject} only resets the form in the page",), "edit", subject)
    if kind == "submit":
        own = context.own_submission
        assert own is not None
        return _submission(
            context, own, method=own.method, action=own.action, lead=lead, page_url=page_url, extra=extra
        )
    if kind == "link":
        return _link(context, lead=lead, page_url=page_url, extra=extra)
    return _button(context, lead=lead, extra=extra)


def _enter_in_field(context: ElementContext, *, lead: str, page_url: str, modified: bool) -> Finding:
    """Enter (or Ctrl/Cmd+Enter) in a field: implicit submission of its form, if any."""
    control = context.control
    subject = _describe(control)
    multiline = control.tag == "textarea" or control.editable
    is_text = control.tag == "input" and (
        control.type in _TEXT_INPUTS or control.type in ("checkbox", "radio")
    )
    form = context.form
    if multiline and not modified:
        if form is None:
            # Chat-like editors send on Enter through scripts; their own words are all we have.
            return _field_without_form(context, lead=lead, subject=subject)
        return Finding(False, (f"{lead}{subject} adds a new line; it does not submit",), "edit", subject)
    if form is None:
        if control.type in ("checkbox", "radio"):
            return Finding(
                False, (f"{lead}{subject}, which is in no form, submits nothing",), "none", subject
            )
        return _field_without_form(context, lead=lead, subject=subject)
    if not (is_text or multiline):
        return Finding(False, (f"{lead}{subject} does not submit its form",), "none", subject)
    via = f"{lead}{subject} submits its form: "
    if form.default is not None:
        default = form.default
        return _submission(
            context, default, method=default.method, action=default.action, lead=via, page_url=page_url
        )
    if form.blocking_fields == 1 or modified:
        return _submission(context, None, method=form.method, action=form.action, lead=via, page_url=page_url)
    return Finding(
        False,
        (f"{lead}{subject} does not submit: its form has no submit button and several fields",),
        "edit",
        subject,
    )


def _field_without_form(context: ElementContext, *, lead: str, subject: str) -> Finding:
    """Enter in a field outside any form: only page scripts act on it (a search box, or a chat that sends)."""
    control = context.control
    case = _Case("activate", subject, f"{lead}{subject}, which is in no form")
    reading = _read_control(control)
    _label_reasons(case, reading, count_generic=True)
    _dialog_reasons(case, context, reading)
    if case.raised:
        return case.finish()
    placeholder = read_label(control.placeholder) if control.placeholder else None
    searchy = control.type == "search" or control.role in ("searchbox", "combobox")
    if reading.safe or reading.dismiss or searchy:
        return case.finish(f", and it is a '{reading.safe or control.role}' field")
    if placeholder is not None and placeholder.safe and not placeholder.commits:
        return case.finish(f", and its placeholder says '{placeholder.safe}'")
    case.raise_("page scripts act on Enter there (a chat box sends), and it is not a search or filter field")
    return case.finish()


_ENTER_KEYS: Final = frozenset({"enter", "numpadenter", "return"})
_SPACE_KEYS: Final = frozenset({" ", "space"})
_MODIFIERS: Final = frozenset({"control", "meta", "controlormeta", "ctrl", "cmd", "command"})


def _parse_keys(keys: str) -> tuple[str, frozenset[str]]:
    parts = keys.split("+") if keys != "+" else ["+"]
    key = parts[-1] if parts[-1] else "+"
    return key.strip().lower() or key, frozenset(part.strip().lower() for part in parts[:-1])


def needs_context(action: PageAction) -> bool:
    """Whether judging ``action`` needs its element's context (clicks, Enter, submitting fills)."""
    if isinstance(action, Click):
        return action.button == "left" or action.double
    if isinstance(action, Fill):
        return action.submit
    if isinstance(action, Press):
        key, _ = _parse_keys(action.keys)
        return key in _ENTER_KEYS or key in _SPACE_KEYS
    return False


_PASSIVE: Final[dict[type[PageAction], str]] = {
    Hover: "hovering changes nothing on the server",
    Scroll: "scrolling changes nothing on the server",
    WaitFor: "waiting changes nothing on the server",
    GoBack: "going back in the history changes nothing on the server",
    SwitchTab: "switching tabs changes nothing on the server",
    Check: "checking a box only changes the page until a form is submitted",
    Uncheck: "unchecking a box only changes the page until a form is submitted",
    SelectOption: "choosing an option only changes the page until a form is submitted",
    UploadFile: "attaching a file only fills a field until a form is submitted",
}


def judge(
    action: PageAction,
    context: ElementContext | None,
    *,
    page_url: str = "",
    extra_labels: Iterable[str] = (),
) -> Finding:
    """Decide whether one page action is irreversible.

    Args:
        action: The action the model proposes.
        context: Its element's context (for a key press without a ref: the focused element's), or
            ``None`` when the action has no element or it could not be read.
        page_url: The page's URL, to resolve relative URLs and shorten same-site ones in reasons.
        extra_labels: More names of the element from the observation; they can only raise the bar.

    Returns:
        The finding, with its reasons in words.
    """
    extra = tuple(label for label in extra_labels if label)
    for cls, why in _PASSIVE.items():
        if isinstance(action, cls):
            return Finding(
                False, (why,), "edit" if cls in (Check, Uncheck, SelectOption, UploadFile) else "none"
            )
    if isinstance(action, Navigate):
        url = urljoin(page_url, action.url) if page_url else action.url
        token = destructive_endpoint(url)
        where = f"GET {shown_url(url, page_url)}"
        if token is not None:
            return Finding(True, (f"navigating to a destructive endpoint ({token}): {where}",), "navigate")
        return Finding(False, (f"navigating is a read-only {where}",), "navigate")
    if isinstance(action, Fill) and not action.submit:
        return Finding(False, ("filling a field without submitting changes nothing on the server",), "edit")
    if not needs_context(action):
        if isinstance(action, Click):
            return Finding(False, (f"a {action.button} click opens a menu; it activates nothing",), "none")
        if isinstance(action, Press):
            return Finding(False, (f"pressing {action.keys} submits nothing",), "none")
        return Finding(False, (f"{type(action).__name__} changes nothing on the server",), "none")
    if context is None:
        return Finding(
            True,
            ("the action's element could not be inspected, so it is treated as irreversible",),
            "activate",
        )
    if isinstance(action, Click):
        lead = "double click on " if action.double else "click on "
        return _activate(context, lead=lead, page_url=page_url, extra=extra)
    if isinstance(action, Fill):
        return _enter_in_field(
            context, lead="filling and pressing Enter in ", page_url=page_url, modified=False
        )
    assert isinstance(action, Press)
    key, modifiers = _parse_keys(action.keys)
    kind = _kind(context)
    lead = f"pressing {action.keys} on "
    if kind in ("submit", "button", "link"):
        return _activate(context, lead=lead, page_url=page_url, extra=extra)
    if key in _SPACE_KEYS:
        return Finding(
            False, (f"pressing Space on {_describe(context.control)} only toggles or types",), "edit"
        )
    if kind == "toggle" and context.control.tag != "input":
        return Finding(False, (f"{lead}{_describe(context.control)} only toggles it",), "edit")
    return _enter_in_field(
        context, lead=f"pressing {action.keys} in ", page_url=page_url, modified=bool(modifiers & _MODIFIERS)
    )
