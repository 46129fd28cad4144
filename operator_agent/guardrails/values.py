"""What an action would submit: the fields of the form behind its target, secrets masked.

An approval is bound to these values (through the action fingerprint), so a form that changes
between the approval and the click needs a new approval.
"""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from operator_agent.act.targets import evaluate_on
from operator_agent.logs import get_logger
from operator_agent.observe.refs import SECRET_ATTRIBUTE, ElementRef

__all__ = ["MASK", "submitted_values"]

MASK = "•••"

_log = get_logger("operator_agent.guardrails")

_READ = """(el, [secretAttr, mask]) => {
  const form = el.form || (el.closest && el.closest('form'));
  if (!form) return {};
  const out = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    const type = (field.type || '').toLowerCase();
    if (['submit', 'button', 'reset', 'image'].includes(type)) continue;
    if ((type === 'checkbox' || type === 'radio') && !field.checked) continue;
    let value;
    if (type === 'password' || field.hasAttribute(secretAttr) || field.name.toLowerCase().includes('token')) {
      value = mask;
    } else if (type === 'file') {
      value = Array.from(field.files || []).map((f) => f.name + ' (' + f.size + ' bytes)').join(', ');
    } else if (field.tagName === 'SELECT' && field.multiple) {
      value = Array.from(field.selectedOptions).map((o) => o.value).join(', ');
    } else {
      value = String(field.value ?? '');
    }
    const key = out[field.name] === undefined ? field.name : field.name + '[' + Object.keys(out).length + ']';
    out[key] = value.length > 500 ? value.slice(0, 500) + '…' : value;
  }
  if (el.name && el.value && (el.type === 'submit' || el.tagName === 'BUTTON')) out[el.name] = el.value;
  return out;
}"""


async def submitted_values(element: ElementRef | None) -> dict[str, str]:
    """The name/value pairs the form of ``element`` would submit, with secrets masked.

    Password fields, fields filled from a secret and hidden one-time tokens are shown as ``•••``.
    An element outside a form (or one that is gone) submits nothing: ``{}``.
    """
    if element is None:
        return {}
    try:
        values = await evaluate_on(element.locator().first, _READ, [SECRET_ATTRIBUTE, MASK], timeout_ms=2_000)
    except PlaywrightError as exc:
        _log.debug("could not read the form values of the target", target=element.describe(), error=str(exc))
        return {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}
