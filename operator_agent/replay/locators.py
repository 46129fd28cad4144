"""Locator chains: several ways to find one element again, captured while a run records.

A model acts on refs (``e12``) that die with the observation. For a run to replay without the
model, each step keeps a *locator chain* for its element: a list of strategies, most robust first
(ARIA role and accessible name, label, placeholder, test id, id, visible text, CSS), each a small
dict such as ``{"role": "button", "name": "Save draft"}`` or ``{"css": 'input[name="number"]'}``.
Every strategy in a chain matched exactly that element, and only it, when it was captured.

:func:`capture_locator_chain` captures a chain, :func:`build_locator` turns one strategy back into
a Playwright locator, and :func:`postcondition` derives what a step should leave behind (the URL it
led to) so a replay can tell that the page drifted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Final, cast
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page

from operator_agent.errors import ConfigurationError
from operator_agent.logs import get_logger
from operator_agent.observe.refs import ElementRef
from operator_agent.skills.locate import ARIA_ROLES

__all__ = [
    "STRATEGY_KEYS",
    "build_locator",
    "capture_locator_chain",
    "describe_strategy",
    "postcondition",
    "url_matches",
    "url_pattern",
    "validate_chain",
]

_log = get_logger("operator_agent.replay")

#: The keys a strategy may hold. ``role`` goes with an optional ``name``; every other strategy is
#: one key. The order is the order of robustness a chain is captured in.
STRATEGY_KEYS: Final[tuple[str, ...]] = ("role", "label", "placeholder", "test_id", "id", "text", "css")
_ALLOWED: Final[frozenset[str]] = frozenset({*STRATEGY_KEYS, "name"})

# Ids that frameworks generate (React's ":r3:", "ember123", uuids, long digit runs) change between
# page loads; a chain that relied on them would break on the next run.
_GENERATED_ID = re.compile(
    r"(^:.*:$)|(\d{3,})|([0-9a-f]{8,})|(^(ember|react|vp|mui|radix|headlessui)[-_]?\d)", re.IGNORECASE
)
_MAX_TEXT = 80

# Reads everything a chain can be made of, in one round trip. CSS candidates are checked for
# uniqueness inside the element's own root (document or shadow root); an element inside open shadow
# roots is reached by chaining the hosts' selectors, which Playwright's CSS engine pierces.
_CAPTURE_JS: Final = r"""
(el) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const quote = (v) => '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  const tag = el.localName;
  const rootOf = (n) => n.getRootNode ? n.getRootNode() : document;
  const unique = (root, selector, target) => {
    try {
      const found = root.querySelectorAll(selector);
      return found.length === 1 && found[0] === target;
    } catch (e) { return false; }
  };
  const STATE = /^(is-|has-|active|focus|hover|selected|open|disabled|invalid|valid|ng-|js-)/;
  const candidates = (n) => {
    const t = n.localName;
    const out = [];
    const name = n.getAttribute('name');
    const type = n.getAttribute('type');
    const value = n.getAttribute('value');
    if (name && value !== null && (t === 'button' || (t === 'input' &&
        ['radio', 'checkbox', 'submit', 'button', 'reset'].includes((type || '').toLowerCase())))) {
      out.push(`${t}[name=${quote(name)}][value=${quote(value)}]`);
    }
    if (name) out.push(`${t}[name=${quote(name)}]`);
    // A custom element's tag name is as distinctive as an attribute.
    if (t.includes('-')) out.push(t);
    const href = n.getAttribute('href');
    if (t === 'a' && href && !href.startsWith('javascript:')) out.push(`a[href=${quote(href)}]`);
    for (const a of ['data-testid', 'data-test-id', 'data-test', 'data-qa', 'data-cy']) {
      if (n.hasAttribute(a)) out.push(`${t}[${a}=${quote(n.getAttribute(a))}]`);
    }
    if (type) out.push(`${t}[type=${quote(type)}]`);
    const role = n.getAttribute('role');
    if (role) out.push(`${t}[role=${quote(role)}]`);
    for (const attr of Array.from(n.attributes)) {
      if (attr.name.startsWith('data-') && !attr.name.startsWith('data-oa-')) {
        out.push(`${t}[${attr.name}]`);
        if (type) out.push(`${t}[type=${quote(type)}][${attr.name}]`);
      }
    }
    const classes = Array.from(n.classList).filter((c) => !STATE.test(c) && !/\d{3,}/.test(c));
    if (classes.length) out.push(t + classes.map((c) => '.' + CSS.escape(c)).join(''));
    // A form's address survives a redesign: qualify the candidates by it.
    const form = n.form || (n.closest ? n.closest('form') : null);
    const action = form ? form.getAttribute('action') : null;
    if (action && !/\d{3,}/.test(action)) {
      for (const c of out.slice()) out.push(`form[action=${quote(action)}] ${c}`);
    }
    return out;
  };
  const path = (n) => {
    // The shortest "ancestor child" path from the nearest ancestor with a stable id.
    const steps = [];
    for (let c = n; c && c.nodeType === 1; c = c.parentElement) {
      let step = c.localName;
      if (c !== n && c.id && !/\d{3,}/.test(c.id)) { steps.unshift('#' + CSS.escape(c.id)); break; }
      const parent = c.parentElement;
      if (parent) {
        const same = Array.from(parent.children).filter((s) => s.localName === c.localName);
        if (same.length > 1) step += `:nth-of-type(${same.indexOf(c) + 1})`;
      }
      steps.unshift(step);
      if (!parent) break;
    }
    return steps.join(' > ');
  };
  const local = (n) => {
    // Unique selectors for n inside its own root, best first; a positional one when none is unique.
    const root = rootOf(n);
    const found = [];
    for (const c of candidates(n)) {
      const plain = c.startsWith('form[action=') ? c.slice(c.indexOf('] ') + 2) : null;
      if (plain !== null && found.includes(plain)) continue;
      if (!found.includes(c) && unique(root, c, n)) found.push(c);
    }
    found.splice(4);
    if (found.length < 2) {
      // Qualify the first non-unique candidate by its nearest repeated ancestor (table rows, list items).
      const base = candidates(n)[0];
      if (base) {
        for (let a = n.parentElement; a && a !== root; a = a.parentElement) {
          const parent = a.parentElement;
          if (!parent) break;
          const same = Array.from(parent.children).filter((s) => s.localName === a.localName);
          if (same.length > 1) {
            const q = `${a.localName}:nth-of-type(${same.indexOf(a) + 1}) ${base}`;
            if (unique(root, q, n)) found.push(q);
            break;
          }
        }
      }
    }
    const p = path(n);
    if (found.length < 2 && !found.includes(p) && unique(root, p, n)) found.push(p);
    return found;
  };
  let css = local(el);
  // Inside shadow roots: prefix with the host's best selector, host by host.
  for (let r = rootOf(el); r && r.host; r = rootOf(r.host)) {
    const hosts = local(r.host);
    if (!hosts.length) { css = []; break; }
    css = css.map((c) => hosts[0] + ' ' + c);
  }
  const labels = [];
  for (const l of Array.from(el.labels || [])) {
    const s = clean(l.innerText);
    if (s) labels.push(s);
  }
  const labelledby = el.getAttribute('aria-labelledby');
  if (labelledby) {
    const root = rootOf(el);
    const s = clean(labelledby.split(/\s+/).map((id) => {
      const n = root.getElementById ? root.getElementById(id) : document.getElementById(id);
      return n ? n.textContent : '';
    }).join(' '));
    if (s) labels.push(s);
  }
  const aria = clean(el.getAttribute('aria-label'));
  if (aria) labels.push(aria);
  let testId = '';
  for (const a of ['data-testid', 'data-test-id']) {
    if (el.getAttribute(a)) { testId = el.getAttribute(a); break; }
  }
  const textual = ['a', 'button', 'summary', 'option', 'li', 'label', 'th', 'td', 'span', 'div',
    'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p'].includes(tag) || el.getAttribute('role');
  const text = textual && !['input', 'textarea', 'select'].includes(tag) ? clean(el.innerText) : '';
  return {
    labels, placeholder: clean(el.getAttribute('placeholder')), testId, id: el.id || '',
    text, css, inShadow: rootOf(el) !== document,
  };
}
"""


def validate_chain(chain: Sequence[Mapping[str, str]], *, where: str = "locator chain") -> None:
    """Check that every strategy of a chain is well formed.

    Raises:
        ConfigurationError: If a strategy is empty, has an unknown key, a non-string or blank value,
            ``name`` without ``role``, several strategies in one dict, or an unknown ARIA role.
    """
    for index, entry in enumerate(chain, start=1):
        if not isinstance(entry, Mapping) or not entry:
            raise ConfigurationError(f"{where}: strategy {index} must be a non-empty dict, got {entry!r}")
        unknown = set(entry) - _ALLOWED
        if unknown:
            raise ConfigurationError(
                f"{where}: strategy {index} has unknown key(s) {', '.join(sorted(unknown))}; "
                f"use one of {', '.join(STRATEGY_KEYS)} (and name with role)"
            )
        for key, value in entry.items():
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{where}: strategy {index} key {key!r} needs a non-blank string")
        kinds = [key for key in entry if key != "name"]
        if "name" in entry and "role" not in entry:
            raise ConfigurationError(f"{where}: strategy {index} has name without role")
        if len(kinds) != 1:
            raise ConfigurationError(
                f"{where}: strategy {index} mixes {', '.join(kinds)}; give one strategy per dict"
            )
        if "role" in entry and entry["role"] not in ARIA_ROLES:
            raise ConfigurationError(f"{where}: strategy {index} has unknown ARIA role {entry['role']!r}")


def describe_strategy(entry: Mapping[str, str]) -> str:
    """One strategy in a few words, such as ``role=button name="Save"`` or ``css input[name="q"]``."""
    if "role" in entry:
        name = entry.get("name")
        return f"role={entry['role']}" + (f' name="{name}"' if name else "")
    key = next(iter(entry))
    value = entry[key]
    return f"css {value}" if key == "css" else f'{key.replace("_", " ")} "{value}"'


def _whole(text: str) -> re.Pattern[str]:
    words = [re.escape(part) for part in text.split()]
    return re.compile(r"^\s*" + r"\s+".join(words) + r"\s*$", re.IGNORECASE)


def build_locator(scope: Page | Frame | Locator, entry: Mapping[str, str], *, loose: bool = False) -> Locator:
    """The Playwright locator of one strategy.

    Texts match whole (ignoring case and runs of spaces); with ``loose`` they match as substrings.

    Args:
        scope: Where to search: a page, a frame, or inside an element.
        entry: One strategy of a chain.
        loose: Match texts as substrings.
    """
    s: Any = scope
    if "role" in entry:
        name = entry.get("name")
        if name is None:
            return cast(Locator, s.get_by_role(entry["role"]))
        return cast(Locator, s.get_by_role(entry["role"], name=name if loose else _whole(name)))
    if "label" in entry:
        return cast(Locator, s.get_by_label(entry["label"] if loose else _whole(entry["label"])))
    if "placeholder" in entry:
        value = entry["placeholder"]
        return cast(Locator, s.get_by_placeholder(value if loose else _whole(value)))
    if "test_id" in entry:
        return cast(Locator, s.get_by_test_id(entry["test_id"]))
    if "id" in entry:
        ident = entry["id"].replace("\\", "\\\\").replace('"', '\\"')
        return cast(Locator, s.locator(f'[id="{ident}"]'))
    if "text" in entry:
        return cast(Locator, s.get_by_text(entry["text"] if loose else _whole(entry["text"])))
    if "css" in entry:
        return cast(Locator, s.locator(entry["css"]))
    raise ConfigurationError(f"not a locator strategy: {dict(entry)!r}")


def _candidates(element: ElementRef, info: Mapping[str, Any]) -> list[dict[str, str]]:
    chain: list[dict[str, str]] = []
    if element.role in ARIA_ROLES and element.name:
        chain.append({"role": element.role, "name": element.name})
    for label in info.get("labels", []):
        chain.append({"label": str(label)})
    if info.get("placeholder"):
        chain.append({"placeholder": str(info["placeholder"])})
    if info.get("testId"):
        chain.append({"test_id": str(info["testId"])})
    ident = str(info.get("id") or "")
    if ident and not _GENERATED_ID.search(ident):
        chain.append({"id": ident})
    text = str(info.get("text") or "")
    if text and len(text) <= _MAX_TEXT:
        chain.append({"text": text})
    for css in info.get("css", []):
        chain.append({"css": str(css)})
    unique: list[dict[str, str]] = []
    for entry in chain:
        if entry not in unique:
            unique.append(entry)
    return unique


async def _count(locator: Locator) -> int:
    try:
        return await locator.count()
    except PlaywrightError:
        return 0


async def _finds_only(element: ElementRef, entry: Mapping[str, str], *, visible: bool) -> bool:
    """Whether the strategy finds exactly one element in the page, and that it is ``element``."""
    page = element.frame.page
    frames = [page.main_frame, *(f for f in page.frames if f is not page.main_frame and not f.is_detached())]
    total = 0
    for frame in frames:
        locator = build_locator(frame, entry)
        if visible:
            locator = locator.filter(visible=True)
        total += await _count(locator)
        if total > 1:
            return False
    if total != 1:
        return False
    mine = build_locator(element.frame, entry)
    return await _count(mine.and_(element.frame.locator(element.selector))) == 1


async def capture_locator_chain(element: ElementRef) -> list[dict[str, str]]:
    """Capture the ways to find ``element`` again, most robust first.

    Strategies are tried in this order: role and accessible name, label, placeholder, test id, id
    (unless it looks generated), visible text, then CSS selectors built from stable attributes
    (``name``, ``value``, ``href``, test attributes, ``type``, data attributes, classes), with a
    positional path last. A strategy is kept only if it matches this element and no other one
    in the page (iframes included); the checks run concurrently, so capturing costs a few round
    trips. Call it before the action runs, while the element is on the page.

    Args:
        element: An element of the current observation.

    Returns:
        The chain; empty only if the element left the page.
    """
    try:
        handle = await element.locator().element_handle(timeout=2000)
    except PlaywrightError:
        _log.debug("locator chain not captured: the element left the page", ref=element.ref)
        return []
    try:
        info: dict[str, Any] = await handle.evaluate(_CAPTURE_JS)
        visible = await handle.is_visible()
    except PlaywrightError as exc:
        _log.debug("locator chain not captured", ref=element.ref, error=str(exc).splitlines()[0])
        return []
    finally:
        with contextlib.suppress(PlaywrightError):
            await handle.dispose()
    candidates = _candidates(element, info)
    checks = await asyncio.gather(*(_finds_only(element, entry, visible=visible) for entry in candidates))
    chain = [entry for entry, ok in zip(candidates, checks, strict=True) if ok]
    _log.debug("locator chain captured", ref=element.ref, strategies=len(chain), of=len(candidates))
    return chain


def url_pattern(url: str, *, base: str | None = None) -> str:
    """A pattern for the URL a step led to, stable across runs.

    The path is kept, with every segment that holds digits (record ids) turned into ``*``; the
    query and fragment are dropped. When ``url`` is on the same origin as ``base``, only the path
    is returned (``/invoices/*``), so the pattern holds when the site runs on another port.

    Args:
        url: The URL after the step.
        base: The run's start URL.
    """
    parts = urlsplit(url)
    segments = ["*" if any(ch.isdigit() for ch in seg) else seg for seg in parts.path.split("/")]
    path = "/".join(segments) or "/"
    if base is not None:
        origin = urlsplit(base)
        if (origin.scheme, origin.netloc) == (parts.scheme, parts.netloc):
            return path
    return f"{parts.scheme}://{parts.netloc}{path}"


def url_matches(url: str, pattern: str) -> bool:
    """Whether ``url`` fits a pattern made by :func:`url_pattern` (a path-only pattern matches any origin)."""
    parts = urlsplit(url)
    if pattern.startswith("/"):
        return fnmatchcase(parts.path or "/", pattern)
    return fnmatchcase(f"{parts.scheme}://{parts.netloc}{parts.path or '/'}", pattern)


def postcondition(
    *, url_before: str, url_after: str | None, navigated: bool, base: str | None
) -> dict[str, str] | None:
    """What a recorded step should leave behind, for a replay to check: the URL it led to.

    Args:
        url_before: The page URL when the step ran.
        url_after: The page URL after it.
        navigated: Whether the step changed the page.
        base: The run's start URL (same-origin URLs become path patterns).

    Returns:
        ``{"url": pattern}`` when the step led to another address, else ``None``.
    """
    if not navigated or not url_after:
        return None
    after = url_pattern(url_after, base=base)
    if url_matches(url_before, after) and urlsplit(url_before).path == urlsplit(url_after).path:
        return None
    return {"url": after}
