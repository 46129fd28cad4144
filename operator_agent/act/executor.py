"""The action executor: carries out page actions through Playwright and reports each outcome.

Every failure becomes an :class:`ActionOutcome` with ``ok=False``, the error class name and a
message the model can act on; the executor never raises for a bad ref, bad arguments or a page
that did not cooperate. Transient Playwright failures (a timeout, an element detached while
acting) are retried a bounded number of times within the action's time budget, except when the
page may already have received the input: a click that may have happened is never repeated.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from operator_agent.act.elements import (
    check_element,
    click_element,
    hover_element,
    press_keys,
    resolve_upload_paths,
    scroll,
    select_options,
    upload_files,
)
from operator_agent.act.failures import (
    describe_playwright_error,
    is_retryable,
    may_have_acted,
    merge_call_logs,
)
from operator_agent.act.fill import SecretValue, fill_field
from operator_agent.act.navigation import go_back, navigate, switch_tab
from operator_agent.act.outcome import NOT_EXECUTED, ActionOutcome, StepResult
from operator_agent.act.tabs import Tabs
from operator_agent.act.targets import (
    Seen,
    Target,
    find_now,
    find_now_with_state,
    in_main_frame,
    resolve_target,
)
from operator_agent.act.waiting import NetworkTracker, wait_for
from operator_agent.act.watch import PageChange, PageWatch, Settle, page_state
from operator_agent.actions import (
    Action,
    Check,
    Click,
    Extract,
    Fill,
    GoBack,
    Hover,
    Navigate,
    Press,
    Scroll,
    SelectOption,
    SwitchTab,
    TerminalAction,
    Uncheck,
    UploadFile,
    WaitFor,
)
from operator_agent.errors import ActionError, ConfigurationError, InvalidActionError, OperatorAgentError
from operator_agent.logs import get_logger, redact_text, register_secret_values
from operator_agent.observe.refs import RefMap

__all__ = ["ActionExecutor"]

# Built per event rather than at import, so a logging configuration made later (by the
# application, or a test capturing logs) always applies.
_log = partial(get_logger, "operator_agent.act")

_Attempt = Callable[[float], Awaitable[StepResult]]


def _retry_unless_acted(error: BaseException) -> bool:
    """For clicks and key presses: retry only a timeout that proves nothing reached the page."""
    return isinstance(error, PlaywrightTimeoutError) and not may_have_acted(error)


async def _nothing() -> None:
    return None


def _settle_for(action: Action) -> Settle:
    """How long the page runs after an action before the executor reads what changed.

    What can submit, navigate or start a request (clicks, keys, a fill that presses Enter, a
    choice whose change handler may load another page) gets the page's next frame; typing and
    ticking get one task turn, which is most of a form's actions.
    """
    if isinstance(action, Fill):
        return "frame" if action.submit else "turn"
    if isinstance(action, Check | Uncheck | UploadFile | Hover | Scroll | WaitFor):
        return "turn"
    return "frame"


def _what(action: Action) -> str:
    ref = getattr(action, "ref", None)
    return f"{action.kind} {ref}" if ref else action.kind


class ActionExecutor:
    """Carries out actions on the current tab.

    Args:
        tabs: The run's tabs; actions go to ``tabs.page``.
        secrets: Secret values by name, for ``fill(secret=...)``. Values never appear in an
            outcome, a message or a log line.
        upload_dirs: The folders ``upload_file`` may take files from; none disables uploads.
        action_timeout_s: The time budget of one action, retries included (``wait_for`` has its
            own timeout).
        max_attempts: How many times a transient failure is tried, in total.

    Raises:
        ConfigurationError: If the timeout is not positive or ``max_attempts`` is below 1.
    """

    def __init__(
        self,
        *,
        tabs: Tabs,
        secrets: Mapping[str, str] | None = None,
        upload_dirs: Sequence[Path] = (),
        action_timeout_s: float = 10,
        max_attempts: int = 3,
    ) -> None:
        if action_timeout_s <= 0:
            raise ConfigurationError(f"action_timeout_s must be positive, got {action_timeout_s}")
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        self._tabs = tabs
        # Kept as given: a SecretStore resolves TOTP codes and providers when a field is filled.
        self._secrets: Mapping[str, str] = secrets if secrets is not None else {}
        self._upload_dirs = tuple(Path(d) for d in upload_dirs)
        self._timeout_s = float(action_timeout_s)
        self._max_attempts = max_attempts
        self._trackers: weakref.WeakKeyDictionary[Page, NetworkTracker] = weakref.WeakKeyDictionary()
        self._found: Target | None = None

    async def execute(self, action: Action, *, refs: RefMap, seen: Seen | None = None) -> ActionOutcome:
        """Carry out one action and report what happened; never raises for an action's failure.

        Args:
            action: A page action (``extract`` and terminal actions belong to the agent loop and
                come back as not executable).
            refs: The refs of the latest observation.
            seen: What was read with the action's element a moment ago, in the main frame (see
                :class:`~operator_agent.act.targets.Seen`); the element is then not looked up
                again before acting. Ignored for an element in a child frame.
        """
        outcome, _ = await self._run(action, refs, seen)
        return outcome

    async def execute_many(self, actions: Sequence[Action], *, refs: RefMap) -> list[ActionOutcome]:
        """Carry out actions in order, stopping early when the page changes under the batch.

        The batch stops after an action that navigates, opens or closes a tab, opens a dialog,
        fails, or detaches an element a later action of the batch targets; the remaining actions
        come back with ``executed=False`` and a message saying why.

        Returns:
            One outcome per action, in order.
        """
        outcomes: list[ActionOutcome] = []
        for index, action in enumerate(actions):
            outcome, change = await self._run(action, refs)
            outcomes.append(outcome)
            rest = actions[index + 1 :]
            if not rest:
                break
            reason = await self._stop_reason(index, outcome, change, rest, refs)
            if reason is not None:
                outcomes.extend(self._skipped(skipped, reason, outcome.url_after) for skipped in rest)
                break
        return outcomes

    async def _stop_reason(
        self,
        index: int,
        outcome: ActionOutcome,
        change: PageChange | None,
        rest: Sequence[Action],
        refs: RefMap,
    ) -> str | None:
        step = f"action {index + 1} ({_what(outcome.action)})"
        if not outcome.ok:
            return f"not executed: {step} failed, so the rest of the plan may not fit the page; observe again"
        if change is None:
            return None
        if change.stops_batch:
            cause = "; ".join(change.effects()) or "the page changed"
            return f"{NOT_EXECUTED} ({step}: {cause})"
        if change.mutated:
            gone = await self._detached_refs(rest, refs)
            if gone:
                return f"{NOT_EXECUTED} ({step} re-rendered the page: {', '.join(gone)} left it)"
        return None

    async def _detached_refs(self, rest: Sequence[Action], refs: RefMap) -> list[str]:
        gone: list[str] = []
        for action in rest:
            ref = getattr(action, "ref", None)
            if not isinstance(ref, str) or ref not in refs or ref in gone:
                continue
            element = refs[ref]
            try:
                attached = not element.frame.is_detached() and await element.locator().count() > 0
            except PlaywrightError:
                attached = False
            if not attached:
                gone.append(ref)
        return gone

    def _skipped(self, action: Action, reason: str, url: str) -> ActionOutcome:
        _log().info("action skipped", kind=action.kind, ref=getattr(action, "ref", None))
        return ActionOutcome(
            action=action,
            ok=False,
            message=reason,
            error=None,
            navigated=False,
            url_after=url,
            field_value=None,
            duration_ms=0.0,
            executed=False,
        )

    def _known_secret_values(self) -> Iterable[str]:
        """The secret values to hide, without resolving providers (a store knows what it handed out)."""
        known = getattr(self._secrets, "known_values", None)
        return known() if callable(known) else self._secrets.values()

    def _tracker(self, page: Page) -> NetworkTracker:
        tracker = self._trackers.get(page)
        if tracker is None:
            tracker = self._trackers[page] = NetworkTracker(page)
        return tracker

    async def _run(
        self, action: Action, refs: RefMap, seen: Seen | None = None
    ) -> tuple[ActionOutcome, PageChange | None]:
        start = time.perf_counter()
        change: PageChange | None = None
        with register_secret_values(self._known_secret_values()):
            if isinstance(action, Extract | TerminalAction):
                result = StepResult(
                    ok=False,
                    error="InvalidActionError",
                    message=f"'{action.kind}' is not carried out on the page: the agent loop handles it",
                )
                url = self._current_url()
            else:
                ref = getattr(action, "ref", None)
                try:
                    page = self._tabs.page
                    self._tracker(page)
                    if isinstance(ref, str) and in_main_frame(refs, ref, page):
                        # The element shares the page's window: one call finds it and snapshots the
                        # page, unless its finder did that a moment ago.
                        if seen is not None:
                            element = refs.resolve(ref)
                            self._found = Target(element=element, locator=element.locator(), facts=seen.facts)
                            before = seen.state
                        else:
                            self._found, before = await find_now_with_state(refs, ref)
                        if before is None:
                            before = await page_state(page)
                        watch = PageWatch.start_from(self._tabs, before=before)
                    else:
                        # Both only read the page: finding the target beside the snapshot saves a round trip.
                        watch, self._found = await asyncio.gather(
                            PageWatch.start(self._tabs),
                            find_now(refs, ref) if isinstance(ref, str) else _nothing(),
                        )
                except (OperatorAgentError, PlaywrightError) as exc:
                    result = StepResult(ok=False, error=type(exc).__name__, message=f"could not act: {exc}")
                    return self._finish(action, result, start, None, self._current_url()), None
                try:
                    result = await self._perform_safely(action, refs, watch.page)
                finally:
                    self._found = None
                try:
                    change = await watch.finish(
                        timeout_s=self._timeout_s, settle=_settle_for(action), settled=result.settled
                    )
                    url = change.url_after
                except (OperatorAgentError, PlaywrightError) as exc:
                    # The action's own result stands; only what it changed could not be read.
                    _log().warning("page change not read", kind=action.kind, error=type(exc).__name__)
                    url = self._current_url()
            return self._finish(action, result, start, change, url), change

    def _current_url(self) -> str:
        try:
            return self._tabs.page.url
        except OperatorAgentError:
            return ""

    async def _perform_safely(self, action: Action, refs: RefMap, page: Page) -> StepResult:
        try:
            return await self._perform(action, refs, page)
        except ActionError as exc:
            return StepResult(ok=False, error=type(exc).__name__, message=str(exc))
        except PlaywrightError as exc:
            timeout = action.timeout_s if isinstance(action, WaitFor) else self._timeout_s
            message = describe_playwright_error(exc, what=self._describe(action, refs), timeout_s=timeout)
            return StepResult(ok=False, error="ActionFailedError", message=message)

    def _describe(self, action: Action, refs: RefMap) -> str:
        ref = getattr(action, "ref", None)
        subject = refs[ref].describe() if isinstance(ref, str) and ref in refs else (ref or "")
        verb = action.kind.replace("_", " ")
        if isinstance(action, Press):
            verb = f"press {action.keys}" + (" in" if subject else "")
        if isinstance(action, Navigate):
            return f"open {action.url}"
        return f"{verb} {subject}".strip()

    def _finish(
        self, action: Action, result: StepResult, start: float, change: PageChange | None, url: str
    ) -> ActionOutcome:
        secrets = list(self._known_secret_values())
        effects = change.effects() if change is not None else []
        # navigate, go_back and switch_tab already say where the tab is.
        effects = [
            e for e in effects if not (e.startswith("the page is now") and url and url in result.message)
        ]
        message = "; ".join([result.message, *effects])
        # Playwright's call logs quote the values they type: never let a secret through.
        message = redact_text(message, secrets)
        secret_fill = isinstance(action, Fill) and action.secret is not None
        field_value = (
            None if secret_fill or result.field_value is None else redact_text(result.field_value, secrets)
        )
        outcome = ActionOutcome(
            action=action,
            ok=result.ok,
            message=message,
            error=result.error,
            navigated=change.navigated if change is not None else False,
            url_after=url,
            field_value=field_value,
            duration_ms=round((time.perf_counter() - start) * 1000, 1),
        )
        fields: dict[str, object] = {
            "kind": action.kind,
            "ref": getattr(action, "ref", None),
            "ok": outcome.ok,
            "duration_ms": outcome.duration_ms,
        }
        if not outcome.ok:
            fields.update(error=outcome.error, message=message)
        if outcome.navigated:
            fields["url_after"] = url
        _log().info("action", **fields)
        return outcome

    async def _attempts(self, attempt: _Attempt, *, retry_on: Callable[[BaseException], bool]) -> StepResult:
        """Run ``attempt`` with a share of the time budget, retrying as ``retry_on`` allows."""
        deadline = time.monotonic() + self._timeout_s
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts) | stop_after_delay(self._timeout_s),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception(retry_on),
            reraise=True,
        )
        failures: list[PlaywrightError] = []
        try:
            async for state in retrying:
                with state:
                    number = state.retry_state.attempt_number
                    remaining = deadline - time.monotonic()
                    # Most of the budget goes to the first attempt (Playwright waits and retries
                    # inside it); later attempts share what is left, after re-finding the target.
                    share = 1.0 if number >= self._max_attempts else 0.6
                    budget_s = max(remaining * share, 0.1)
                    if number > 1:
                        _log().debug("action retry", attempt=number, budget_s=round(budget_s, 2))
                    try:
                        return await attempt(budget_s * 1000)
                    except PlaywrightError as exc:
                        failures.append(exc)
                        raise
        except PlaywrightError as last:
            merged = merge_call_logs(failures or [last])
            if merged is last:
                raise
            raise merged from last
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _target(self, refs: RefMap, ref: str, timeout_ms: float) -> Target:
        found, self._found = self._found, None
        if found is not None and found.element.ref == ref:
            return found  # found as the action began; a retry looks again
        return await resolve_target(refs, ref, wait_s=min(1.0, timeout_ms / 1000))

    def _secret(self, name: str) -> SecretValue:
        if name not in self._secrets:
            names = ", ".join(f'"{n}"' for n in sorted(self._secrets))
            available = (
                f"the available secrets are {names}" if names else "no secrets are configured for this run"
            )
            raise InvalidActionError(f'there is no secret named "{name}"; {available}')
        return SecretValue(name=name, value=self._secrets[name])

    async def _perform(self, action: Action, refs: RefMap, page: Page) -> StepResult:
        timeout_ms = self._timeout_s * 1000
        match action:
            case Click():
                click = action

                async def do_click(budget: float) -> StepResult:
                    target = await self._target(refs, click.ref, budget)
                    return (await click_element(target, click, timeout_ms=budget)).with_note(target.note)

                return await self._attempts(do_click, retry_on=_retry_unless_acted)
            case Fill():
                return await self._fill(action, refs, page)
            case SelectOption():
                select = action

                async def do_select(budget: float) -> StepResult:
                    target = await self._target(refs, select.ref, budget)
                    result = await select_options(target, select.values, page=page, timeout_ms=budget)
                    return result.with_note(target.note)

                return await self._attempts(do_select, retry_on=is_retryable)
            case Check() | Uncheck():
                toggle = action

                async def do_toggle(budget: float) -> StepResult:
                    target = await self._target(refs, toggle.ref, budget)
                    result = await check_element(target, toggle, page=page, timeout_ms=budget)
                    return result.with_note(target.note)

                return await self._attempts(do_toggle, retry_on=is_retryable)
            case Press():
                press = action

                async def do_press(budget: float) -> StepResult:
                    target = await self._target(refs, press.ref, budget) if press.ref is not None else None
                    result = await press_keys(page, target, press.keys, timeout_ms=budget)
                    return result.with_note(target.note if target else "")

                return await self._attempts(do_press, retry_on=_retry_unless_acted)
            case Hover():
                hover = action

                async def do_hover(budget: float) -> StepResult:
                    target = await self._target(refs, hover.ref, budget)
                    return (await hover_element(target, timeout_ms=budget)).with_note(target.note)

                return await self._attempts(do_hover, retry_on=is_retryable)
            case Scroll():
                target = await self._target(refs, action.ref, timeout_ms) if action.ref is not None else None
                result = await scroll(page, target, action, timeout_ms=timeout_ms)
                return result.with_note(target.note if target else "")
            case Navigate():
                return await navigate(page, action.url, timeout_ms=timeout_ms)
            case GoBack():
                return await go_back(page, timeout_ms=timeout_ms)
            case SwitchTab():
                return await switch_tab(self._tabs, action.index)
            case UploadFile():
                files = resolve_upload_paths(action.paths, self._upload_dirs)
                upload = action

                async def do_upload(budget: float) -> StepResult:
                    target = await self._target(refs, upload.ref, budget)
                    result = await upload_files(page, target, files, timeout_ms=budget)
                    return result.with_note(target.note)

                return await self._attempts(do_upload, retry_on=is_retryable)
            case WaitFor():
                return await wait_for(action, page=page, refs=refs, tracker=self._tracker(page))
            case _:
                raise InvalidActionError(f"'{action.kind}' is not an action the executor carries out")

    async def _fill(self, action: Fill, refs: RefMap, page: Page) -> StepResult:
        secret = self._secret(action.secret) if action.secret is not None else None

        async def do_fill(budget: float) -> StepResult:
            target = await self._target(refs, action.ref, budget)
            result = await fill_field(target, page=page, text=action.text, secret=secret, timeout_ms=budget)
            return result.with_note(target.note)

        result = await self._attempts(do_fill, retry_on=is_retryable)
        if action.submit and result.ok:
            # The field has focus after filling (it may be inside the ref's element).
            await page.keyboard.press("Enter")
            result = StepResult(
                message=f"{result.message}; pressed Enter",
                field_value=result.field_value,
                ok=result.ok,
                error=result.error,
            )
        return result
