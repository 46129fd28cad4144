"""Running one skill step through the action executor, exactly like a model's action.

:class:`StepRunner` turns a target (a locator, a name, an element ref) into an element ref, asks the
approval gate, hands the action to the :class:`~operator_agent.act.ActionExecutor`, retries when the
element was re-rendered away, records the step and turns a failed outcome into a typed error.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import Locator

from operator_agent.act import ActionExecutor, ActionOutcome, Tabs
from operator_agent.act.targets import Seen
from operator_agent.actions import Action, PageAction
from operator_agent.errors import (
    ActionError,
    ActionFailedError,
    InvalidActionError,
    PolicyBlockedError,
    StaleRefError,
    UnknownRefError,
)
from operator_agent.guardrails.policy import Policy
from operator_agent.observe.refs import ElementRef, RefMap
from operator_agent.skills._elements import element_ref
from operator_agent.skills._trail import Trail

__all__ = ["StepRunner", "Target"]

Target = Locator | str | ElementRef
"""An element to act on: a locator, what it is called (see :meth:`SkillContext.locate`), or an
:class:`~operator_agent.observe.refs.ElementRef` (from an observation, or built by a skill that
already knows a selector for the element)."""

_ERRORS: dict[str, type[ActionError]] = {
    "UnknownRefError": UnknownRefError,
    "StaleRefError": StaleRefError,
    "InvalidActionError": InvalidActionError,
}
_STALE_RETRIES = 2


class StepRunner:
    """Acts for one skill context.

    Args:
        tabs: The run's tabs.
        trail: The context's approvals and steps.
        secrets: Named secret values for ``fill(secret=...)``.
        run_dir: Returns the run folder (created on first use); uploads are taken from it.
        upload_dirs: More folders files may be uploaded from.
        locate: Finds an element by name (the context's locator chain).
        policy: The engine's guardrail policy; every step is judged by it when given.
        action_timeout_s: The time budget of one step.
        locate_timeout_s: How long a located element may take to be attached.
        max_attempts: How many times a transient failure is tried.
    """

    def __init__(
        self,
        *,
        tabs: Tabs,
        trail: Trail,
        secrets: Mapping[str, str],
        run_dir: Callable[[], Path],
        upload_dirs: Sequence[str | os.PathLike[str]],
        locate: Callable[[str], Awaitable[Locator]],
        policy: Policy | None = None,
        action_timeout_s: float,
        locate_timeout_s: float,
        max_attempts: int,
    ) -> None:
        self._tabs = tabs
        self._trail = trail
        self._policy = policy
        self._secrets = secrets
        self._run_dir = run_dir
        self._upload_dirs = tuple(Path(d) for d in upload_dirs)
        self._locate = locate
        self.action_timeout_s = action_timeout_s
        self._locate_timeout_s = locate_timeout_s
        self.max_attempts = max_attempts
        self._executor: ActionExecutor | None = None
        self._ref_prefix = "s" + uuid.uuid4().hex[:4]
        self._ref_counter = 0
        self._handed: tuple[ElementRef, Seen] | None = None

    def executor(self) -> ActionExecutor:
        """The context's executor (built on first use, when the run folder is known)."""
        if self._executor is None:
            self._executor = ActionExecutor(
                tabs=self._tabs,
                secrets=self._secrets,
                upload_dirs=(self._run_dir(), *self._upload_dirs),
                action_timeout_s=self.action_timeout_s,
                max_attempts=self.max_attempts,
            )
        return self._executor

    async def element(self, target: Target) -> ElementRef:
        """The element ref for a target, stamping a located element with a ref of its own."""
        if isinstance(target, ElementRef):
            return target
        element, _ = await self._element_seen(target)
        return element

    async def _element_seen(self, target: Target) -> tuple[ElementRef, Seen | None]:
        """:meth:`element`, and what was read with it for the executor when it was found just now."""
        if isinstance(target, ElementRef):
            handed, self._handed = self._handed, None
            return target, handed[1] if handed is not None and handed[0] is target else None
        locator = await self._locate(target) if isinstance(target, str) else target
        self._ref_counter += 1
        return await element_ref(
            locator, ref=f"{self._ref_prefix}{self._ref_counter}", timeout_ms=self._locate_timeout_s * 1000
        )

    @contextlib.contextmanager
    def seen(self, element: ElementRef, seen: Seen | None) -> Iterator[None]:
        """Within the block, the next step on ``element`` uses what its finder read with it."""
        self._handed = (element, seen) if seen is not None else None
        try:
            yield
        finally:
            self._handed = None

    async def act(
        self,
        kind: str,
        target: Target | None,
        make: Callable[[str | None], Action],
        *,
        irreversible: bool,
        arguments: dict[str, Any],
        executor: ActionExecutor | None = None,
    ) -> ActionOutcome:
        """Carry out one step; raises the typed error of a failed outcome.

        Args:
            kind: The action kind, for the step record and the approval request.
            target: The element, or ``None`` for actions without one.
            make: Builds the action from the element's ref.
            irreversible: Whether the step needs approval.
            arguments: What the approver is shown.
            executor: Another executor to use (for one-off secrets).
        """
        started = time.perf_counter()
        described: str | None = target if isinstance(target, str) else None
        gated = False
        attempt = 0
        while True:
            element: ElementRef | None = None
            seen: Seen | None = None
            if target is not None:
                try:
                    element, seen = await self._element_seen(target)
                except ActionError as exc:
                    self._trail.record(kind, described, False, str(exc), started)
                    raise
                described = element.describe()
            if not gated:
                action = make(element.ref if element else None)
                flagged = await self._judge(action, element, kind=kind, described=described, started=started)
                await self._trail.gate(kind, described, arguments, irreversible=irreversible or flagged)
                gated = True
                if irreversible or flagged:
                    seen = None  # the page had time to change while the approval was asked
            refs = RefMap(_refs={element.ref: element}) if element is not None else RefMap()
            acting = executor or self.executor()
            outcome = await acting.execute(make(element.ref if element else None), refs=refs, seen=seen)
            if outcome.ok or outcome.error != "StaleRefError" or target is None or attempt >= _STALE_RETRIES:
                break
            # The element was re-rendered away; find it again by the same description.
            attempt += 1
            self._trail.log().debug(
                "skill step retried on a re-rendered element", kind=kind, target=described
            )
        self.finish(kind, described, outcome, started, irreversible)
        return outcome

    async def _judge(
        self, action: Action, element: ElementRef | None, *, kind: str, described: str | None, started: float
    ) -> bool:
        """Whether the engine policy wants approval for this step; a blocked step raises."""
        if self._policy is None or not isinstance(action, PageAction):
            return False
        verdict = await self._policy.assess(
            action,
            element,
            page=self._tabs.page,
            skill=self._trail.skill_name,
            skill_irreversible=any(scope.irreversible for scope in self._trail.scopes),
        )
        if verdict.blocked:
            message = "blocked by policy: " + "; ".join(verdict.reasons)
            self._trail.record(kind, described, False, message, started)
            raise PolicyBlockedError(message)
        return verdict.needs_approval

    def finish(
        self, kind: str, target: str | None, outcome: ActionOutcome, started: float, irreversible: bool
    ) -> None:
        """Record a step's outcome; raise its typed error if it failed."""
        self._trail.record(kind, target, outcome.ok, outcome.message, started)
        if outcome.ok and irreversible:
            self._trail.irreversible_done += 1
        if not outcome.ok:
            error = _ERRORS.get(outcome.error or "", ActionFailedError)
            raise error(outcome.message)
