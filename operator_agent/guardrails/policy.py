"""The guardrail policy: allow, ask a person, or block each page action.

:class:`Policy` combines four layers; each can only raise the bar (``allow`` < ``require_approval`` <
``block``):

* **policy** — the user's configuration: ``blocked_selectors`` block, ``irreversible_selectors``,
  ``irreversible_url_patterns`` and ``irreversible_skills`` ask for approval;
* **skill** — a skill that declares its actions irreversible;
* **model** — the model's own ``irreversible`` flag on the action;
* **heuristic** — the engine's reading of the element (:mod:`operator_agent.guardrails.heuristics`).

The user's ``safe_selectors`` and ``safe_skills`` are trusted configuration and may lower the
heuristic layer — and only that layer — for exactly the elements or skills they name. Nothing read
from the page lowers anything.

Example:
    >>> policy = Policy(irreversible_selectors=("#pay-now",), safe_selectors=("#search-panel",))
    >>> verdict = await policy.assess(action, element, page=page)  # doctest: +SKIP
    >>> verdict.decision, verdict.layer, verdict.reasons  # doctest: +SKIP
    ('require_approval', 'heuristic', ("click on button 'Send to payment run' submits POST /invoices", ...))
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final, Literal

from playwright.async_api import ElementHandle, Frame, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel, ConfigDict, field_validator

from operator_agent.act.targets import handle_of
from operator_agent.actions import Fill, Hover, PageAction, Press, Scroll, WaitFor
from operator_agent.errors import ConfigurationError, StaleRefError
from operator_agent.guardrails.context import ElementContext, gather_context
from operator_agent.guardrails.heuristics import Finding, judge, needs_context
from operator_agent.logs import get_logger
from operator_agent.observe.refs import ElementRef

__all__ = ["Decision", "Layer", "Policy", "Verdict"]

_log = get_logger("operator_agent.guardrails")

Decision = Literal["allow", "require_approval", "block"]
Layer = Literal["policy", "heuristic", "model", "skill", "none"]

_RANK: Final[dict[Decision, int]] = {"allow": 0, "require_approval": 1, "block": 2}
# When several layers reach the same decision, the most authoritative one is named as the decider.
_AUTHORITY: Final[tuple[Layer, ...]] = ("policy", "skill", "model", "heuristic")

# How long to wait for the target element to be attached before calling its ref stale.
_LOOKUP_TIMEOUT_MS: Final = 2_000.0

# For each policy selector: does it match the target element (or an ancestor), and the button that
# Enter in the target would submit the form through (or an ancestor of it)?
_MATCH_JS: Final = r"""
(matched, target) => {
  const set = new Set(matched);
  const inside = (n) => {
    const up = (c) => c.parentElement ||
      (c.getRootNode && c.getRootNode() !== c ? c.getRootNode().host : null);
    for (let c = n; c; c = up(c)) { if (set.has(c)) return true; }
    return false;
  };
  // Only a field submits through its form's default button; a button submits itself.
  const buttonTypes = ['submit', 'image', 'button', 'reset'];
  const isField = (target.tagName === 'INPUT' && !buttonTypes.includes(target.type)) ||
    target.tagName === 'TEXTAREA';
  const form = isField ? target.form : null;
  let submitter = null;
  if (form) {
    submitter = Array.from(form.elements).find((n) => (n.tagName === 'BUTTON' && n.type === 'submit') ||
      (n.tagName === 'INPUT' && (n.type === 'submit' || n.type === 'image'))) || null;
  }
  return [inside(target), submitter ? inside(submitter) : false];
}
"""

_FOCUSED_JS: Final = r"""
() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a && a !== document.body && a !== document.documentElement ? a : null;
}
"""

# Actions a blocked element refuses (waiting for it or scrolling near it is not acting on it).
_NOT_ACTING: Final = (Scroll, WaitFor)
# Actions that an irreversible selector does not cover: they cannot change anything.
_PASSIVE: Final = (Scroll, WaitFor, Hover)


class Verdict(BaseModel):
    """The policy's answer for one action.

    Attributes:
        decision: ``allow`` (run it), ``require_approval`` (ask a person first) or ``block`` (never).
        reasons: Every layer that raised the bar, in words, the deciding layer first; for an allowed
            action, why it is allowed.
        layer: The layer that decided; ``none`` when no layer raised the bar.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Decision
    reasons: tuple[str, ...]
    layer: Layer

    @property
    def needs_approval(self) -> bool:
        """True when a person must approve the action before it runs."""
        return self.decision == "require_approval"

    @property
    def blocked(self) -> bool:
        """True when the action must not run at all."""
        return self.decision == "block"

    def summary(self) -> str:
        """One line for a person or an approval request."""
        return f"{self.decision} ({self.layer}): " + "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class _Vote:
    decision: Decision
    layer: Layer
    reason: str


@dataclass(frozen=True, slots=True)
class _Matches:
    """Which policy selectors matched the target element or the button its form submits through."""

    blocked: tuple[str, ...] = ()
    irreversible: tuple[str, ...] = ()
    safe: tuple[str, ...] = ()
    blocked_submitter: tuple[str, ...] = ()
    irreversible_submitter: tuple[str, ...] = ()
    safe_submitter: tuple[str, ...] = ()


def _clean(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    cleaned = tuple(value.strip() for value in values)
    for value in cleaned:
        if not value:
            raise ValueError(f"{what} must not contain empty entries")
    return tuple(dict.fromkeys(cleaned))


class Policy(BaseModel):
    """Decides, before each page action, whether it may run, needs approval, or is blocked.

    Attributes:
        irreversible_selectors: CSS or Playwright selectors of elements the user marks irreversible.
            An element matches when it, or one of its ancestors, matches; a field also matches when
            the button that Enter in it would submit through does.
        safe_selectors: Elements the user declares safe: they lower the heuristic layer only.
        blocked_selectors: Elements no action may touch.
        irreversible_url_patterns: Glob patterns (``*/payments/*``) of page URLs on which every
            submitting action (a form submission or a button activation) needs approval.
        irreversible_skills: Glob patterns of skill names whose actions need approval.
        safe_skills: Glob patterns of skill names whose actions the heuristic layer may not flag.
        heuristics: Whether the engine reads elements to detect irreversible actions itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    irreversible_selectors: tuple[str, ...] = ()
    safe_selectors: tuple[str, ...] = ()
    blocked_selectors: tuple[str, ...] = ()
    irreversible_url_patterns: tuple[str, ...] = ()
    irreversible_skills: tuple[str, ...] = ()
    safe_skills: tuple[str, ...] = ()
    heuristics: bool = True

    @field_validator(
        "irreversible_selectors",
        "safe_selectors",
        "blocked_selectors",
        "irreversible_url_patterns",
        "irreversible_skills",
        "safe_skills",
    )
    @classmethod
    def _no_blank_entries(cls, values: tuple[str, ...], info: Any) -> tuple[str, ...]:
        return _clean(values, str(info.field_name))

    async def assess(
        self,
        action: PageAction,
        element: ElementRef | None,
        *,
        page: Page,
        skill: str | None = None,
        skill_irreversible: bool = False,
    ) -> Verdict:
        """Decide whether ``action`` may run.

        Args:
            action: The page action the model (or a skill) proposes.
            element: The element its ref resolves to; ``None`` when it has no ref (or the ref is
                unknown, in which case the action is not allowed without approval).
            page: The page the action runs on.
            skill: The name of the skill the action belongs to, if any.
            skill_irreversible: True when that skill declares its actions irreversible.

        Returns:
            The verdict: decision, the layer that decided, and the reasons.

        Raises:
            StaleRefError: If the element has left the page.
            ConfigurationError: If one of the policy's selectors is not a valid selector.
        """
        started = time.perf_counter()
        votes: list[_Vote] = []
        if action.irreversible:
            why = action.reason.strip() or "no reason given"
            votes.append(_Vote("require_approval", "model", f"the model declared it irreversible ({why})"))
        if skill_irreversible:
            name = f"'{skill}'" if skill else "of this action"
            votes.append(
                _Vote("require_approval", "skill", f"skill {name} declares its actions irreversible")
            )
        if skill is not None:
            pattern = _first_match(skill, self.irreversible_skills)
            if pattern is not None:
                votes.append(
                    _Vote(
                        "require_approval",
                        "policy",
                        f"the policy marks skill '{skill}' irreversible ({pattern})",
                    )
                )
        safe_skill = _first_match(skill, self.safe_skills) if skill is not None else None

        seen = await self._inspect(action, element, page=page)
        finding, matches = seen.finding, seen.matches
        target = element.describe() if element is not None else "the focused element"
        through_form = finding is not None and finding.effect == "submit" and isinstance(action, Press | Fill)

        blocked = matches.blocked + (matches.blocked_submitter if through_form else ())
        if blocked and not isinstance(action, _NOT_ACTING):
            votes.append(_Vote("block", "policy", f"{target} matches the blocked selector '{blocked[0]}'"))
        marked = matches.irreversible + (matches.irreversible_submitter if through_form else ())
        if marked and not isinstance(action, _PASSIVE):
            votes.append(
                _Vote(
                    "require_approval", "policy", f"{target} matches the irreversible selector '{marked[0]}'"
                )
            )
        if (
            self.irreversible_url_patterns
            and finding is not None
            and finding.effect in ("submit", "activate")
        ):
            for url in dict.fromkeys(u for u in (page.url, seen.frame_url) if u):
                pattern = _first_match(url, self.irreversible_url_patterns)
                if pattern is not None:
                    votes.append(
                        _Vote(
                            "require_approval",
                            "policy",
                            f"every submitting action on {url} needs approval (pattern '{pattern}')",
                        )
                    )
                    break

        notes: list[str] = []
        lowered = False
        if not self.heuristics:
            notes.append("heuristics are off")
        elif finding is not None:
            safe = matches.safe + (matches.safe_submitter if through_form else ())
            if finding.irreversible and (safe or safe_skill):
                trusted = f"safe selector '{safe[0]}'" if safe else f"safe skill pattern '{safe_skill}'"
                notes.append(
                    f"heuristics flagged it ({finding.reasons[0]}), but the user's {trusted} lowers that"
                )
                lowered = True
            elif finding.irreversible:
                votes.extend(_Vote("require_approval", "heuristic", reason) for reason in finding.reasons)
            else:
                notes.extend(finding.reasons)

        verdict = _combine(votes, notes, lowered=lowered)
        elapsed_ms = (time.perf_counter() - started) * 1000
        log = _log.debug if verdict.decision == "allow" else _log.info
        log(
            "guardrail verdict",
            action=_kind_of(action),
            target=target,
            decision=verdict.decision,
            layer=verdict.layer,
            reason=verdict.reasons[0] if verdict.reasons else "",
            elapsed_ms=round(elapsed_ms, 2),
        )
        return verdict

    # -- inspection ---------------------------------------------------------------------------------------

    def _selectors(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys((*self.blocked_selectors, *self.irreversible_selectors, *self.safe_selectors))
        )

    async def _inspect(self, action: PageAction, element: ElementRef | None, *, page: Page) -> _Inspection:
        """Read the element once (its context and the selector matches) and judge the action."""
        pure = not needs_context(action)
        wants_context = not pure and (self.heuristics or bool(self.irreversible_url_patterns))
        selectors = self._selectors()
        press_on_focus = isinstance(action, Press) and action.ref is None
        if not wants_context and not (selectors and (element is not None or press_on_focus)):
            return _Inspection(judge(action, None, page_url=page.url) if pure else None)

        handle: ElementHandle | None = None
        frame: Frame | None = None
        nothing_focused = False
        context: ElementContext | None = None
        matches = _Matches()
        try:
            if element is not None and not selectors:
                # The common case: one round trip, straight through the locator.
                context = await gather_context(element, timeout_ms=_LOOKUP_TIMEOUT_MS)
            else:
                if element is not None:
                    handle = await _resolve(element)
                    frame = element.frame
                elif press_on_focus:
                    handle, frame, nothing_focused = await _focused(page)
                context_job = (
                    gather_context(handle) if wants_context and handle is not None else _no_context()
                )
                match_job = (
                    _match_selectors(frame, handle, self)
                    if selectors and handle is not None and frame is not None
                    else _no_matches()
                )
                context, matches = await asyncio.gather(context_job, match_job)
        except PlaywrightError as exc:
            if element is not None and _is_detached(exc):
                raise StaleRefError(
                    f"element {element.describe()} has left the page since the last observation; "
                    "observe again and use a fresh ref"
                ) from None
            raise
        finally:
            if handle is not None:
                await handle.dispose()

        if pure:
            return _Inspection(judge(action, None, page_url=page.url), matches)
        if not wants_context:
            return _Inspection(None, matches)
        if nothing_focused:
            keys = action.keys if isinstance(action, Press) else ""
            why = f"pressing {keys} with nothing focused submits nothing"
            return _Inspection(Finding(False, (why,), "none"), matches)
        extra = (element.name,) if element is not None and element.name else ()
        finding = judge(action, context, page_url=page.url, extra_labels=extra)
        return _Inspection(finding, matches, context.frame_url if context is not None else "")


@dataclass(frozen=True, slots=True)
class _Inspection:
    finding: Finding | None
    matches: _Matches = _Matches()
    frame_url: str = ""


async def _no_context() -> ElementContext | None:
    return None


async def _no_matches() -> _Matches:
    return _Matches()


def _is_detached(exc: PlaywrightError) -> bool:
    message = str(exc).lower()
    return isinstance(exc, PlaywrightTimeoutError) or "not attached" in message or "detached" in message


async def _resolve(element: ElementRef) -> ElementHandle:
    """The element behind a ref; times out (as a Playwright error) if it is gone."""
    handle = await handle_of(element.locator(), timeout_ms=_LOOKUP_TIMEOUT_MS)
    if handle is None:
        raise StaleRefError(f"element {element.describe()} is no longer on the page")
    return handle


async def _focused(page: Page) -> tuple[ElementHandle | None, Frame | None, bool]:
    """The focused element, descending into frames; the flag is True when nothing is focused."""
    frame: Frame | None = page.main_frame
    for _ in range(8):
        if frame is None:
            return None, None, False
        found = await frame.evaluate_handle(_FOCUSED_JS)
        handle = found.as_element()
        if handle is None:
            await found.dispose()
            return None, None, True
        tag = str(await handle.evaluate("(e) => e.tagName")).upper()
        if tag not in ("IFRAME", "FRAME"):
            return handle, frame, False
        inner = await handle.content_frame()
        await handle.dispose()
        frame = inner
    return None, None, False


async def _match_selectors(frame: Frame, handle: ElementHandle, policy: Policy) -> _Matches:
    selectors = policy._selectors()

    async def one(selector: str) -> tuple[str, bool, bool]:
        try:
            hit = await frame.locator(selector).evaluate_all(_MATCH_JS, handle)
        except PlaywrightError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigurationError(
                f"policy selector {selector!r} could not be used: {first_line}"
            ) from None
        return selector, bool(hit[0]), bool(hit[1])

    results = await asyncio.gather(*(one(selector) for selector in selectors))
    on_target = {selector for selector, target, _ in results if target}
    on_submitter = {selector for selector, _, submitter in results if submitter}

    def pick(group: tuple[str, ...], hits: set[str]) -> tuple[str, ...]:
        return tuple(selector for selector in group if selector in hits)

    return _Matches(
        blocked=pick(policy.blocked_selectors, on_target),
        irreversible=pick(policy.irreversible_selectors, on_target),
        safe=pick(policy.safe_selectors, on_target),
        blocked_submitter=pick(policy.blocked_selectors, on_submitter),
        irreversible_submitter=pick(policy.irreversible_selectors, on_submitter),
        safe_submitter=pick(policy.safe_selectors, on_submitter),
    )


def _first_match(value: str, patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        if fnmatchcase(value, pattern):
            return pattern
    return None


def _kind_of(action: PageAction) -> str:
    kind = getattr(action, "kind", None)
    return kind if isinstance(kind, str) else type(action).__name__


def _combine(votes: list[_Vote], allow_notes: list[str], *, lowered: bool) -> Verdict:
    if not votes:
        reasons = tuple(allow_notes) or ("no layer asks for approval",)
        return Verdict(decision="allow", reasons=reasons, layer="policy" if lowered else "none")
    top = max(votes, key=lambda vote: _RANK[vote.decision]).decision
    deciders = [vote for vote in votes if vote.decision == top]
    layer = min((vote.layer for vote in deciders), key=_AUTHORITY.index)
    ordered = sorted(votes, key=lambda vote: (-_RANK[vote.decision], _AUTHORITY.index(vote.layer)))
    reasons = tuple(dict.fromkeys(f"{_LAYER_WORD[vote.layer]}: {vote.reason}" for vote in ordered))
    notes = tuple(f"note: {note}" for note in allow_notes if note.startswith("heuristics flagged"))
    return Verdict(decision=top, reasons=reasons + notes, layer=layer)


_LAYER_WORD: Final[dict[Layer, str]] = {
    "policy": "policy",
    "skill": "skill",
    "model": "model",
    "heuristic": "heuristics",
    "none": "none",
}
