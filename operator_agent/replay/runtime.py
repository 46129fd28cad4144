"""Running a compiled skill: find each step's element through its chain, act, check, heal.

A compiled skill calls one :class:`Replayer` method per recorded step. Each step:

1. finds its element with the first strategy of its locator chain; when that finds nothing (or
   several elements), the next strategies are tried, and whole-text strategies are retried as
   substrings last. A fallback is only taken after a short grace period, so a page that is still
   rendering is not mistaken for a changed one;
2. acts through the :class:`~operator_agent.skills.SkillContext`: its guardrail policy (when it has
   one, as :func:`~operator_agent.replay.replay_skill` gives it) judges the step on the page as it is
   now, so a step the policy finds irreversible asks for approval even if the recording did not;
   steps recorded as irreversible always ask; then the executor acts (read-back, retries);
4. checks its postcondition (the URL it should lead to). A step that failed, or whose
   postcondition failed, is tried again on the next strategy's element, unless it is irreversible;
5. when nothing in the chain works and a model is configured, asks the model once to point at the
   element from the step's recorded intent (:mod:`operator_agent.replay.heal`).

Every heal is kept by the active :class:`ReplaySession` (and logged), so it can be written to the
trace and proposed as a diff of the skill file. Without a model, an unhealable step raises
:class:`~operator_agent.errors.HealingFailedError` naming the step, every strategy tried, and a
screenshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import (
    ActionError,
    ApprovalDeniedError,
    ConfigurationError,
    HealingFailedError,
    PolicyBlockedError,
)
from operator_agent.logs import get_logger
from operator_agent.models import Model
from operator_agent.observe.refs import ElementRef
from operator_agent.replay.locators import (
    capture_locator_chain,
    describe_strategy,
    url_matches,
    validate_chain,
)
from operator_agent.replay.resolve import Chain, Finder, Found, variants
from operator_agent.replay.session import Heal, ReplayedStep, ReplaySession, current_session

if TYPE_CHECKING:
    from operator_agent.act import ActionOutcome
    from operator_agent.skills import SkillContext

__all__ = ["Replayer"]

_log = get_logger("operator_agent.replay")

# How the skill context words a step its policy blocked; such a step is never tried on another element.


class Replayer:
    """Replays the steps of one compiled skill on a skill context.

    Compiled skills make one at their start; each method replays one recorded step.

    Args:
        ctx: The skill context to act through.
        skill: The skill's name.
        source: The skill's file (for heal diffs).
        start_url: The page the recording started on; relative addresses resolve against it when
            the tab shows no page yet.
        params: The skill's arguments (heal diffs write parameters instead of their values).
    """

    def __init__(
        self,
        ctx: SkillContext,
        *,
        skill: str,
        source: str | None = None,
        start_url: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.skill = skill
        self.source = source
        self.start_url = start_url
        self.params = dict(params or {})
        self.session = current_session() or ReplaySession()
        self._log = _log.bind(skill=skill, run_id=ctx.run_id)
        self._finder = Finder(
            page=lambda: ctx.page,
            locate_timeout_s=self.session.locate_timeout_s,
            heal_grace_s=self.session.heal_grace_s,
        )

    # -- the steps --------------------------------------------------------------------------------

    async def goto(self, step: int, url: str, *, expect: Mapping[str, str] | None = None) -> None:
        """Open an address (a path is relative to the current page, or to the recording's start)."""
        page = self.ctx.page
        target = url
        if not url.startswith(("http://", "https://")) and not page.url.startswith(("http://", "https://")):
            if self.start_url is None:
                raise ConfigurationError(
                    f"skill {self.skill} step {step}: cannot open {url!r}: the tab shows no page and the "
                    "skill has no start URL"
                )
            target = urljoin(self.start_url, url)
        absolute = urljoin(page.url, target) if page.url.startswith(("http://", "https://")) else target
        if self.session.take_opened() == (absolute, page.url):
            # The replay opened this very page a moment ago: loading it again would only cost time.
            await self._simple(step, "navigate", f"open {url}", _already_open, expect)
            return
        await self._simple(step, "navigate", f"open {url}", lambda: self.ctx.goto(target), expect)

    async def go_back(self, step: int, *, expect: Mapping[str, str] | None = None) -> None:
        """Go back one page."""

        async def back() -> None:
            await self.ctx.page.go_back(wait_until="domcontentloaded")

        await self._simple(step, "go_back", "go back", back, expect)

    async def switch_tab(self, step: int, index: int) -> None:
        """Make tab ``index`` the current one."""

        async def switch() -> None:
            await self.ctx.tabs.switch_to(index)

        await self._simple(step, "switch_tab", f"switch to tab {index}", switch, None)

    async def click(
        self, step: int, intent: str, *, locators: Chain, button: Literal["left", "right", "middle"] = "left",
        double: bool = False, expect: Mapping[str, str] | None = None, irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Click the step's element."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.click(el, irreversible=flagged, button=button, double=double)

        await self._step(step, "click", intent, locators, act, expect=expect, irreversible=irreversible)

    async def fill(
        self, step: int, intent: str, *, locators: Chain, text: str | None = None, secret: str | None = None,
        submit: bool = False, expect: Mapping[str, str] | None = None, irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Fill the step's field with ``text``, or with the value of the named secret."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.fill(el, text, secret=secret, submit=submit, irreversible=flagged)

        await self._step(step, "fill", intent, locators, act, expect=expect, irreversible=irreversible)

    async def select(
        self, step: int, intent: str, *, locators: Chain, values: Sequence[str],
        expect: Mapping[str, str] | None = None, irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Choose options of the step's ``<select>``."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.select(el, list(values), irreversible=flagged)

        await self._step(
            step, "select_option", intent, locators, act, expect=expect, irreversible=irreversible
        )

    async def check(
        self, step: int, intent: str, *, locators: Chain, expect: Mapping[str, str] | None = None,
        irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Check the step's checkbox or radio button."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.check(el, True, irreversible=flagged)

        await self._step(step, "check", intent, locators, act, expect=expect, irreversible=irreversible,
                         attached_ok=True)  # fmt: skip

    async def uncheck(
        self, step: int, intent: str, *, locators: Chain, expect: Mapping[str, str] | None = None,
        irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Uncheck the step's checkbox."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.check(el, False, irreversible=flagged)

        await self._step(step, "uncheck", intent, locators, act, expect=expect, irreversible=irreversible,
                         attached_ok=True)  # fmt: skip

    async def press(
        self, step: int, intent: str, *, keys: str, locators: Chain | None = None,
        expect: Mapping[str, str] | None = None, irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Press keys on the step's element (or wherever the focus is, without locators)."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            return await self.ctx.press(keys, target=el, irreversible=flagged)

        await self._step(step, "press", intent, locators or [], act, expect=expect, irreversible=irreversible)

    async def hover(self, step: int, intent: str, *, locators: Chain) -> None:
        """Move the mouse over the step's element (nothing on the page changes by itself)."""

        async def act(el: ElementRef | None, flagged: bool) -> None:
            assert el is not None
            await el.locator().hover(timeout=self.session.locate_timeout_s * 1000)

        await self._step(step, "hover", intent, locators, act, expect=None, irreversible=False)

    async def scroll(
        self, step: int, intent: str, *, direction: Literal["up", "down", "left", "right"] = "down",
        amount: float = 1.0, locators: Chain | None = None,
    ) -> None:  # fmt: skip
        """Scroll the page (or the area holding the step's element) by ``amount`` screens."""

        async def act(el: ElementRef | None, flagged: bool) -> None:
            page = self.ctx.page
            if el is not None:
                await el.locator().scroll_into_view_if_needed(timeout=self.session.locate_timeout_s * 1000)
                return
            size = page.viewport_size or {"width": 1280, "height": 800}
            dx = {"left": -1, "right": 1}.get(direction, 0) * size["width"] * amount
            dy = {"up": -1, "down": 1}.get(direction, 0) * size["height"] * amount
            await page.mouse.wheel(dx, dy)

        await self._step(step, "scroll", intent, locators or [], act, expect=None, irreversible=False)

    async def upload(
        self, step: int, intent: str, *, locators: Chain, paths: Sequence[str],
        expect: Mapping[str, str] | None = None, irreversible: bool = False,
    ) -> None:  # fmt: skip
        """Attach files to the step's file field (paths relative to the run and upload folders)."""

        async def act(el: ElementRef | None, flagged: bool) -> ActionOutcome:
            assert el is not None
            return await self.ctx.upload(el, list(paths), irreversible=flagged)

        await self._step(step, "upload_file", intent, locators, act, expect=expect, irreversible=irreversible,
                         attached_ok=True)  # fmt: skip

    async def wait_for(
        self, step: int, intent: str, *, text: str | None = None, locators: Chain | None = None,
        state: Literal["visible", "hidden", "network_idle"] = "visible", timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        """Wait for a text or the step's element to show (or go away), or for the network to be idle."""
        if locators and state == "visible":

            async def act(el: ElementRef | None, flagged: bool) -> None:
                if text is not None and el is not None:
                    await self.ctx.wait_for(text=text, target=el, timeout_s=timeout_s)

            await self._step(step, "wait_for", intent, locators, act, expect=None, irreversible=False)
            return

        async def wait() -> None:
            if locators and state == "hidden":
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    if await self._finder.unique(variants(locators)[0]) is None:
                        return
                    await asyncio.sleep(0.1)
                raise ActionError(f"the element of step {step} did not go away within {timeout_s:g} s")
            await self.ctx.wait_for(text=text, state=state, timeout_s=timeout_s)

        await self._simple(step, "wait_for", intent, wait, None)

    # -- machinery --------------------------------------------------------------------------------

    async def _simple(
        self, step: int, kind: str, intent: str, run: Callable[[], Awaitable[Any]],
        expect: Mapping[str, str] | None,
    ) -> None:  # fmt: skip
        started = time.perf_counter()
        self.session.take_opened()
        try:
            await run()
            problem = await self._postcondition(expect)
        except ActionError as exc:
            self._record(step, kind, intent, False, str(exc), started)
            raise
        if problem is not None:
            shot = await self._screenshot(step)
            self._record(step, kind, intent, False, problem, started)
            raise HealingFailedError(
                f"skill {self.skill} step {step} ({intent}): {problem}" + _shot_note(shot),
                step=step, intent=intent, tried=[problem], screenshot=shot,
            )  # fmt: skip
        self._record(step, kind, intent, True, "ok", started)

    async def _step(
        self,
        step: int,
        kind: str,
        intent: str,
        chain: Chain,
        act: Callable[[ElementRef | None, bool], Awaitable[Any]],
        *,
        expect: Mapping[str, str] | None,
        irreversible: bool,
        attached_ok: bool = False,
    ) -> None:
        started = time.perf_counter()
        self.session.take_opened()
        where = f"skill {self.skill} step {step}"
        validate_chain(chain, where=where)
        if not chain:
            try:
                await act(None, irreversible)
                problem = await self._postcondition(expect)
            except ActionError as exc:
                self._record(step, kind, intent, False, str(exc), started)
                raise
            if problem is not None:
                self._record(step, kind, intent, False, problem, started)
                raise HealingFailedError(f"{where} ({intent}): {problem}", step=step, intent=intent,
                                         tried=[problem])  # fmt: skip
            self._record(step, kind, intent, True, "ok", started)
            return
        avoid: list[ElementRef] = []
        excluded: set[int] = set()
        tried: list[str] = []
        model_used = False
        while True:
            found = await self._finder.resolve(
                chain, attached_ok=attached_ok, avoid=avoid, excluded=excluded, tried=tried
            )
            via: Literal["fallback", "model"] | None = None
            proposed: list[dict[str, str]] = []
            if found is None:
                if model_used or self._model() is None:
                    await self._fail(step, kind, intent, tried, started)
                found, proposed = await self._retarget(step, kind, intent, chain, tried)
                model_used = True
                if found is None:
                    await self._fail(step, kind, intent, tried, started)
                via = "model"
            elif found.index != 0 or found.loose:
                via = "fallback"
                # The element's chain on the page as it is now, read before acting may take it away.
                proposed = _merge(await capture_locator_chain(found.element) or [found.entry], chain)
            assert found is not None
            try:
                with self.ctx.found_with(found.element, found.seen):
                    await act(found.element, irreversible)
                problem = await self._postcondition(expect)
            except ApprovalDeniedError:
                self._record(step, kind, intent, False, "approval denied", started, found=found)
                raise
            except ActionError as exc:
                if irreversible or isinstance(exc, PolicyBlockedError):
                    self._record(step, kind, intent, False, str(exc), started, found=found)
                    raise
                problem = f"{describe_strategy(found.entry)}: the action failed: {exc}"
            if problem is None:
                if via is not None:
                    await self._heal(step, intent, chain, found, via, tried, proposed)
                self._record(step, kind, intent, True, "ok", started, found=found, healed=via)
                return
            tried.append(problem)
            if irreversible:
                # An irreversible step may have had its effect: never do it a second time.
                shot = await self._screenshot(step)
                self._record(step, kind, intent, False, problem, started, found=found)
                raise HealingFailedError(
                    f"{where} ({intent}) is irreversible and its postcondition failed: {problem}; it was not "
                    "retried" + _shot_note(shot),
                    step=step, intent=intent, tried=list(tried), screenshot=shot,
                )  # fmt: skip
            self._log.warning("replay step retried on another element", step=step, problem=problem)
            avoid.append(found.element)
            if via != "model":
                excluded.add(found.index)

    def _model(self) -> Model | None:
        if self.session.model is not None:
            return self.session.model
        return self.ctx.model

    async def _retarget(
        self, step: int, kind: str, intent: str, chain: Chain, tried: list[str]
    ) -> tuple[Found | None, list[dict[str, str]]]:
        from operator_agent.replay.heal import retarget

        model = self._model()
        assert model is not None
        result = await retarget(
            model, self.ctx.page, skill=self.skill, step=step, kind=kind, intent=intent, chain=chain,
            tried=tried, on_usage=self.session.add_usage,
        )  # fmt: skip
        if result.element is None:
            tried.append(f"model-assisted re-targeting: {result.message}")
            return None, []
        proposed = result.chain or [dict(e) for e in chain]
        entry = proposed[0] if proposed else {"css": result.element.selector}
        return Found(element=result.element, index=-1, entry=dict(entry), loose=False), _merge(
            proposed, chain
        )

    async def _heal(
        self, step: int, intent: str, chain: Chain, found: Found, via: Literal["fallback", "model"],
        tried: list[str], proposed: list[dict[str, str]],
    ) -> None:  # fmt: skip
        heal = Heal(
            skill=self.skill, source=self.source, step=step, intent=intent, via=via,
            why="; ".join(tried[: len(chain)]) or "the first strategy found nothing", used=found.entry,
            recorded=[dict(e) for e in chain], proposed=proposed, params=_jsonable(self.params),
        )  # fmt: skip
        self.session.add_heal(heal)
        self._log.warning("replay step healed", step=step, via=via, strategy=describe_strategy(found.entry))

    async def _postcondition(self, expect: Mapping[str, str] | None) -> str | None:
        if not expect:
            return None
        page = self.ctx.page
        deadline = time.monotonic() + self.session.postcondition_timeout_s
        if "url" in expect:
            pattern = expect["url"]
            while not url_matches(page.url, pattern):
                if time.monotonic() >= deadline:
                    return f"expected the page to be at {pattern}, but it is at {page.url}"
                await asyncio.sleep(0.05)
        if "text" in expect:
            wanted = expect["text"]
            try:
                await page.get_by_text(wanted).first.wait_for(
                    state="visible", timeout=max(deadline - time.monotonic(), 0.1) * 1000
                )
            except PlaywrightError:
                return f"expected the text {wanted!r} on the page, but it did not show"
        return None

    async def _fail(self, step: int, kind: str, intent: str, tried: list[str], started: float) -> None:
        shot = await self._screenshot(step)
        model_note = "" if self._model() is not None else "; no model is configured to re-target it"
        message = (
            f"skill {self.skill} step {step} ({intent}): no strategy of its locator chain found exactly one "
            f"element on {self.ctx.page.url}{model_note}; tried: " + "; ".join(tried) + _shot_note(shot)
        )
        self._record(step, kind, intent, False, message, started)
        raise HealingFailedError(message, step=step, intent=intent, tried=list(tried), screenshot=shot)

    async def _screenshot(self, step: int) -> str | None:
        page = self.ctx.page
        folder = self.session.screenshot_dir or (self.ctx.run_dir / "replay")
        path = folder / f"{self.skill}-step-{step:03d}-failed.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            masks = [page.locator("input[type=password]"), page.locator("[data-oa-secret]")]
            await page.screenshot(path=str(path), mask=masks, timeout=5000)
        except (PlaywrightError, OSError) as exc:
            self._log.warning("no screenshot of the failed step", step=step, error=str(exc).splitlines()[0])
            return None
        return str(path)

    def _record(
        self, step: int, kind: str, intent: str, ok: bool, message: str, started: float, *,
        found: Found | None = None, healed: Literal["fallback", "model"] | None = None,
    ) -> None:  # fmt: skip
        url = "" if self.ctx.page.is_closed() else self.ctx.page.url
        record = ReplayedStep(
            skill=self.skill, step=step, kind=kind, intent=intent, ok=ok,
            strategy=describe_strategy(found.entry) if found is not None else None, healed=healed,
            message=message[:2000], url=url, locators=[found.entry] if found is not None else [],
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )  # fmt: skip
        self.session.add_step(record)
        self._log.info("replay step", step=step, kind=kind, ok=ok, healed=healed, strategy=record.strategy)


async def _already_open() -> None:
    return None


def _merge(first: Sequence[Mapping[str, str]], then: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    merged: list[dict[str, str]] = []
    for entry in [*first, *then]:
        item = dict(entry)
        if item not in merged:
            merged.append(item)
    return merged


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    from pydantic import TypeAdapter

    dumped: dict[str, Any] = TypeAdapter(dict[str, Any]).dump_python(dict(values), mode="json")
    return dumped


def _shot_note(path: str | None) -> str:
    return f" (screenshot: {path})" if path else ""
