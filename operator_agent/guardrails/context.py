"""What the guardrail knows about an element: gathered by one ``evaluate`` in the page.

:func:`gather_context` runs a single script on the target element and returns an
:class:`ElementContext`: the element's labels (accessible name, text, aria-label, title, value,
placeholder, icon hints), its form (method, action, default button, how many fields block implicit
submission), and the dialog it sits in (title, text, whether it is open and modal). The rules in
:mod:`operator_agent.guardrails.heuristics` read only this snapshot, so they are pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from playwright.async_api import ElementHandle, JSHandle, Locator

from operator_agent.act.targets import evaluate_element, evaluate_on
from operator_agent.observe.refs import ElementRef

__all__ = [
    "Control",
    "DialogInfo",
    "ElementContext",
    "FormInfo",
    "Submission",
    "context_from_dict",
    "gather_context",
]

# One script, evaluated with the element as its argument. It moves from a label to its control and
# from an inner node (an icon inside a button) to the interactive element that holds it.
_GATHER_JS: Final = r"""
(node) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const clip = (s, n) => { const t = clean(s); return t.length > n ? t.slice(0, n) : t; };
  const up = (n) => n.parentElement ||
    (n.getRootNode && n.getRootNode() !== n ? n.getRootNode().host : null) || null;
  const closest = (n, sel) => {
    for (let c = n; c; c = up(c)) { if (c.nodeType === 1 && c.matches(sel)) return c; }
    return null;
  };
  const attr = (n, a) => (n.getAttribute && n.getAttribute(a)) || '';
  const ACTIVE = 'button, a[href], input, select, textarea, summary, [role=button], [role=link], ' +
    '[role=menuitem], [role=menuitemcheckbox], [role=menuitemradio], [role=tab], [role=option], ' +
    '[role=checkbox], [role=radio], [role=switch], [contenteditable=""], [contenteditable=true]';
  let el = node.nodeType === 1 ? node : node.parentElement;
  if (el.tagName === 'LABEL' && el.control) el = el.control;
  else if (!el.matches(ACTIVE)) { const a = closest(el, ACTIVE); if (a) el = a; }
  const doc = el.ownerDocument;
  const byIds = (n, ids) => {
    const root = n.getRootNode && n.getRootNode().getElementById ? n.getRootNode() : doc;
    return clean(ids.split(/\s+/).filter(Boolean).map((id) => {
      const t = root.getElementById(id) || doc.getElementById(id);
      return t ? t.textContent : '';
    }).join(' '));
  };
  const isSubmitter = (n) => (n.tagName === 'BUTTON' && n.type === 'submit') ||
    (n.tagName === 'INPUT' && (n.type === 'submit' || n.type === 'image'));
  const typeOf = (n) => {
    const t = n.tagName;
    if (t === 'INPUT' || t === 'BUTTON') return n.type || '';
    return attr(n, 'type').toLowerCase();
  };
  const implicitRole = (n) => {
    const t = n.tagName.toLowerCase(), ty = typeOf(n);
    if (t === 'button' || t === 'summary') return 'button';
    if (t === 'a') return n.hasAttribute('href') ? 'link' : 'generic';
    if (t === 'select') return n.multiple || n.size > 1 ? 'listbox' : 'combobox';
    if (t === 'textarea') return 'textbox';
    if (t === 'input') {
      if (['button', 'submit', 'reset', 'image', 'file'].includes(ty)) return 'button';
      if (ty === 'checkbox' || ty === 'radio') return ty;
      if (ty === 'range') return 'slider';
      if (ty === 'search') return 'searchbox';
      if (ty === 'hidden') return 'none';
      return 'textbox';
    }
    if (n.isContentEditable) return 'textbox';
    return 'generic';
  };
  const visibleText = (n) => {
    if (n.tagName === 'INPUT' || n.tagName === 'SELECT' || n.tagName === 'TEXTAREA') return '';
    return clip(n.innerText !== undefined ? n.innerText : n.textContent, 300);
  };
  const innerLabels = (n) => {
    const out = [];
    for (const d of n.querySelectorAll('img[alt], [aria-label], [title], svg title')) {
      const v = d.tagName.toLowerCase() === 'title'
        ? d.textContent : (attr(d, 'alt') || attr(d, 'aria-label') || attr(d, 'title'));
      if (clean(v)) out.push(clean(v));
      if (out.length >= 4) break;
    }
    return clip(out.join(' '), 200);
  };
  const iconHints = (n) => {
    const out = [];
    const nodes = [n, ...Array.from(n.querySelectorAll('i, svg, span, img, use, em')).slice(0, 20)];
    for (const d of nodes) {
      const c = typeof d.className === 'string' ? d.className : attr(d, 'class');
      if (c) out.push(c);
      const href = attr(d, 'href') || attr(d, 'xlink:href');
      if (d.tagName.toLowerCase() === 'use' && href) out.push(href);
      if (d.tagName === 'IMG') out.push((attr(d, 'src').split('/').pop() || '').split('?')[0]);
      const icon = attr(d, 'data-icon');
      if (icon) out.push(icon);
    }
    return clip(out.join(' '), 400);
  };
  const nameOf = (n) => {
    const lb = attr(n, 'aria-labelledby');
    if (lb) { const t = byIds(n, lb); if (t) return clip(t, 200); }
    const al = clean(attr(n, 'aria-label'));
    if (al) return clip(al, 200);
    const t = n.tagName;
    const ty = typeOf(n);
    if (t === 'INPUT') {
      if (ty === 'submit' || ty === 'button' || ty === 'reset') {
        return clip(n.value, 200) || (ty === 'submit' ? 'Submit' : ty === 'reset' ? 'Reset' : '');
      }
      if (ty === 'image') return clean(attr(n, 'alt')) || clean(n.value) || 'Submit';
    }
    if ((t === 'INPUT' || t === 'SELECT' || t === 'TEXTAREA') && n.labels && n.labels.length) {
      return clip(Array.from(n.labels).map((l) => l.textContent).join(' '), 200);
    }
    const text = visibleText(n);
    if (text) return text;
    const inner = innerLabels(n);
    if (inner) return inner;
    return clip(attr(n, 'title') || attr(n, 'placeholder'), 200);
  };
  const control = (n) => ({
    tag: n.tagName.toLowerCase(),
    role: (attr(n, 'role').split(/\s+/)[0] || implicitRole(n)).toLowerCase(),
    type: typeOf(n),
    name: nameOf(n),
    text: visibleText(n),
    aria_label: clip(attr(n, 'aria-label'), 200),
    labelled_by: attr(n, 'aria-labelledby') ? clip(byIds(n, attr(n, 'aria-labelledby')), 200) : '',
    title: clip(attr(n, 'title'), 200),
    value: (n.tagName === 'INPUT' && ['submit', 'button', 'reset', 'image'].includes(n.type)) ||
      n.tagName === 'BUTTON' ? clip(n.value, 120) : '',
    placeholder: clip(attr(n, 'placeholder'), 120),
    inner_labels: innerLabels(n),
    classes: clip(typeof n.className === 'string' ? n.className : attr(n, 'class'), 200),
    icons: iconHints(n),
    editable: !!n.isContentEditable,
  });
  const submission = (b, form) => ({
    control: control(b),
    method: b.hasAttribute('formmethod') ? b.formMethod : form.method,
    action: b.hasAttribute('formaction') ? b.formAction : form.action,
  });
  const BLOCKING = new Set(['text', 'search', 'url', 'tel', 'email', 'password', 'date', 'month', 'week',
    'time', 'datetime-local', 'number']);
  const associated = ['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
  const form = associated ? el.form : closest(el, 'form');
  let formInfo = null;
  if (form) {
    const controls = Array.from(form.elements);
    const submitters = controls.filter(isSubmitter);
    formInfo = {
      method: form.method,
      action: form.action,
      name: clip(attr(form, 'aria-label') || attr(form, 'name') || attr(form, 'id'), 80),
      role: attr(form, 'role').toLowerCase(),
      blocking_fields: controls.filter((c) => c.tagName === 'INPUT' && BLOCKING.has(c.type)).length,
      submit_buttons: submitters.length,
      default: submitters.length ? submission(submitters[0], form) : null,
    };
  }
  // A dialog's own words: its text without the labels of its buttons, links and fields.
  const proseOf = (root) => {
    const skip = 'button, a, input, select, textarea, option, script, style, [role=button], ' +
      '[aria-hidden=true]';
    const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const parts = [];
    let size = 0;
    for (let t = walker.nextNode(); t && size < 400; t = walker.nextNode()) {
      const parent = t.parentElement;
      if (!parent || parent.closest(skip)) continue;
      const value = clean(t.textContent);
      if (value) { parts.push(value); size += value.length + 1; }
    }
    return clip(parts.join(" "), 400);
  };
  const dlg = closest(el, 'dialog, [role=dialog], [role=alertdialog], [aria-modal=true]');
  let dialog = null;
  if (dlg) {
    let modal = dlg.getAttribute('aria-modal') === 'true' || attr(dlg, 'role') === 'alertdialog';
    try {
      modal = modal || (dlg.tagName === 'DIALOG' && dlg.matches(':modal'));
    } catch (e) { /* engines without :modal */ }
    const shown = typeof dlg.checkVisibility === 'function' ? dlg.checkVisibility() : true;
    let title = attr(dlg, 'aria-labelledby') ? byIds(dlg, attr(dlg, 'aria-labelledby')) : '';
    if (!title) title = clean(attr(dlg, 'aria-label'));
    if (!title) {
      const h = dlg.querySelector('h1, h2, h3, h4, h5, h6, [role=heading]');
      if (h) title = h.textContent;
    }
    const clickable = 'button, [role=button], input[type=submit], input[type=button], a[href]';
    const buttons = Array.from(dlg.querySelectorAll(clickable)).slice(0, 12).map((b) => clip(nameOf(b), 60));
    dialog = {
      title: clip(title, 200),
      description: attr(dlg, 'aria-describedby') ? clip(byIds(dlg, attr(dlg, 'aria-describedby')), 400) : '',
      text: proseOf(dlg),
      open: (dlg.tagName !== 'DIALOG' || dlg.open) && shown,
      modal,
      buttons,
    };
  }
  const own = isSubmitter(el) && el.form ? submission(el, el.form) : null;
  const link = closest(el, 'a[href]');
  return {
    control: control(el),
    href: link ? link.href : '',
    raw_href: link ? attr(link, 'href') : '',
    download: link ? link.hasAttribute('download') : false,
    own_submission: own,
    form: formInfo,
    dialog,
    frame_url: doc.location ? doc.location.href : '',
  };
}
"""


@dataclass(frozen=True, slots=True)
class Control:
    """One control's identity and every label it carries (all from the page, all untrusted).

    Attributes:
        tag: Lower-case tag name.
        role: The explicit ARIA role, else the implicit one (``button``, ``link``, ``textbox``...).
        type: The ``type`` of an input or button (``submit``, ``button``, ``text``...), else ``""``.
        name: The accessible name, computed the way a screen reader would, roughly.
        text: The visible text.
        aria_label: The ``aria-label`` attribute.
        labelled_by: The text of the elements named by ``aria-labelledby``.
        title: The ``title`` attribute.
        value: The ``value`` of a button or of a button-like input.
        placeholder: The ``placeholder`` attribute.
        inner_labels: ``alt``/``aria-label``/``title`` of the icons inside.
        classes: The ``class`` attribute.
        icons: Class names, sprite references and image file names of the element and its icons.
        editable: True for contenteditable elements.
    """

    tag: str
    role: str
    type: str = ""
    name: str = ""
    text: str = ""
    aria_label: str = ""
    labelled_by: str = ""
    title: str = ""
    value: str = ""
    placeholder: str = ""
    inner_labels: str = ""
    classes: str = ""
    icons: str = ""
    editable: bool = False

    def labels(self) -> tuple[str, ...]:
        """Every distinct label source that names the control's action, name first."""
        sources = (
            self.name,
            self.text,
            self.aria_label,
            self.labelled_by,
            self.title,
            self.value,
            self.inner_labels,
        )
        return tuple(dict.fromkeys(source for source in sources if source))

    def shown(self) -> str:
        """The label to show a person, clipped."""
        for source in (self.name, self.text, self.value, self.aria_label, self.title, self.placeholder):
            if source:
                return source if len(source) <= 60 else source[:57] + "..."
        return ""


@dataclass(frozen=True, slots=True)
class Submission:
    """What submitting a form through one button would do.

    Attributes:
        control: The submit button.
        method: ``get``, ``post`` or ``dialog`` (``formmethod`` on the button wins over the form's).
        action: The absolute URL the form is sent to (``formaction`` wins over the form's).
    """

    control: Control
    method: str
    action: str


@dataclass(frozen=True, slots=True)
class FormInfo:
    """The form an element belongs to.

    Attributes:
        method: The form's own method (``get``, ``post`` or ``dialog``).
        action: The form's absolute action URL.
        name: Its ``aria-label``, ``name`` or ``id``.
        role: Its explicit role (``search`` for a search form).
        blocking_fields: How many of its fields block implicit submission (text-like inputs).
        submit_buttons: How many submit buttons it has.
        default: The submission through its default button (the first submit button), if any.
    """

    method: str
    action: str
    name: str = ""
    role: str = ""
    blocking_fields: int = 0
    submit_buttons: int = 0
    default: Submission | None = None


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """The dialog an element sits in.

    Attributes:
        title: The dialog's title (``aria-labelledby``, ``aria-label`` or first heading).
        description: The text named by ``aria-describedby``.
        text: The dialog's own text (without the labels of its buttons and fields), clipped.
        open: True when the dialog is open and rendered.
        modal: True for modal dialogs (``aria-modal``, ``alertdialog``, ``showModal()``).
        buttons: The names of the dialog's buttons and links.
    """

    title: str
    description: str = ""
    text: str = ""
    open: bool = True
    modal: bool = False
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ElementContext:
    """Everything the heuristics read about one element.

    Attributes:
        control: The element itself (moved from a label to its control, from an icon to its button).
        href: The absolute ``href`` of the link the element is or sits in, else ``""``.
        raw_href: That link's ``href`` attribute as written (``#``, ``javascript:...``).
        download: True when that link has a ``download`` attribute.
        own_submission: When the element is a submit button of a form: what clicking it submits.
        form: The element's form, if any.
        dialog: The dialog the element sits in, if any.
        frame_url: The URL of the frame that holds the element.
    """

    control: Control
    href: str = ""
    raw_href: str = ""
    download: bool = False
    own_submission: Submission | None = None
    form: FormInfo | None = None
    dialog: DialogInfo | None = None
    frame_url: str = ""


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _control(data: Mapping[str, Any]) -> Control:
    return Control(
        tag=_str(data, "tag"),
        role=_str(data, "role"),
        type=_str(data, "type"),
        name=_str(data, "name"),
        text=_str(data, "text"),
        aria_label=_str(data, "aria_label"),
        labelled_by=_str(data, "labelled_by"),
        title=_str(data, "title"),
        value=_str(data, "value"),
        placeholder=_str(data, "placeholder"),
        inner_labels=_str(data, "inner_labels"),
        classes=_str(data, "classes"),
        icons=_str(data, "icons"),
        editable=bool(data.get("editable")),
    )


def _submission(data: Any) -> Submission | None:
    if not isinstance(data, Mapping):
        return None
    return Submission(
        control=_control(data.get("control") or {}),
        method=_str(data, "method") or "get",
        action=_str(data, "action"),
    )


def context_from_dict(data: Mapping[str, Any]) -> ElementContext:
    """Build an :class:`ElementContext` from the gathering script's result."""
    form_data = data.get("form")
    form = None
    if isinstance(form_data, Mapping):
        form = FormInfo(
            method=_str(form_data, "method") or "get",
            action=_str(form_data, "action"),
            name=_str(form_data, "name"),
            role=_str(form_data, "role"),
            blocking_fields=int(form_data.get("blocking_fields") or 0),
            submit_buttons=int(form_data.get("submit_buttons") or 0),
            default=_submission(form_data.get("default")),
        )
    dialog_data = data.get("dialog")
    dialog = None
    if isinstance(dialog_data, Mapping):
        buttons = dialog_data.get("buttons") or []
        dialog = DialogInfo(
            title=_str(dialog_data, "title"),
            description=_str(dialog_data, "description"),
            text=_str(dialog_data, "text"),
            open=bool(dialog_data.get("open")),
            modal=bool(dialog_data.get("modal")),
            buttons=tuple(str(button) for button in buttons if isinstance(button, str)),
        )
    return ElementContext(
        control=_control(data.get("control") or {}),
        href=_str(data, "href"),
        raw_href=_str(data, "raw_href"),
        download=bool(data.get("download")),
        own_submission=_submission(data.get("own_submission")),
        form=form,
        dialog=dialog,
        frame_url=_str(data, "frame_url"),
    )


async def gather_context(
    target: ElementHandle | JSHandle | Locator | ElementRef, *, timeout_ms: float = 2_000
) -> ElementContext:
    """Read an element's context with one script evaluation.

    Args:
        target: The element, as a handle, an element ref, or a locator that finds exactly one
            element.
        timeout_ms: For a locator or a ref, how long to wait for the element to be attached.

    Returns:
        The snapshot the heuristics work on.

    Raises:
        playwright.async_api.Error: If the element cannot be found (a locator times out) or is detached.
    """
    if isinstance(target, ElementRef):
        data = await evaluate_element(target, _GATHER_JS, timeout_ms=timeout_ms)
    elif isinstance(target, Locator):
        data = await evaluate_on(target, _GATHER_JS, timeout_ms=timeout_ms)
    else:
        data = await target.evaluate(_GATHER_JS)
    if not isinstance(data, Mapping):
        data = {}
    return context_from_dict(data)
