"""What a task gets to run one item: the browser, the item's folder, approvals wired to the journal.

Every approval an item asks for (a skill's irreversible step, or an agent's action the policy holds
back) goes through :class:`ItemContext`: the item is ``awaiting_approval`` in the journal while a
person decides, the wait is timed, and an approved step is journalled *before* it is carried out,
so that after a crash the runner knows the effect may have happened. In shadow mode no approval is
asked: the values the step would have submitted are captured and the step is refused, so the run
stops right before the irreversible step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.batch.journal import Journal
from operator_agent.batch.records import ItemRecord
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.guardrails.approval import ApprovalDecision, ApprovalRequest, Approver
from operator_agent.logs import get_logger
from operator_agent.models import Usage
from operator_agent.skills import SkillContext, SkillStep

__all__ = ["SHADOW_DECIDER", "ItemContext", "read_form_values"]

SHADOW_DECIDER = "shadow-mode"
_NOT_A_PERSON = ("policy:", "queue:", "console:no-tty", SHADOW_DECIDER)

# Reads what every form on the page would submit. FormData also sees form-associated custom
# elements (autocomplete widgets); passwords, secret-filled fields and tokens are masked.
_FORM_VALUES_JS = """([secretAttr, mask]) => {
  const out = {};
  for (const form of Array.from(document.forms)) {
    let data;
    try { data = new FormData(form); } catch (e) { continue; }
    const hidden = new Set();
    for (const el of Array.from(form.elements)) {
      const type = (el.type || '').toLowerCase();
      if (el.name && (type === 'password' || el.hasAttribute(secretAttr) || /token|csrf/i.test(el.name))) {
        hidden.add(el.name);
      }
    }
    for (const [name, value] of data.entries()) {
      let shown = typeof value === 'string' ? value : '';
      if (typeof value !== 'string' && value.name) shown = value.name + ' (' + value.size + ' bytes)';
      if (hidden.has(name) || /token|csrf/i.test(name)) shown = mask;
      if (shown.length > 500) shown = shown.slice(0, 500) + '…';
      let key = name;
      let n = 2;
      while (key in out) { key = name + '[' + n + ']'; n += 1; }
      out[key] = shown;
    }
  }
  return out;
}"""


async def read_form_values(page: Page) -> dict[str, str]:
    """What the forms on ``page`` would submit now (``name -> value``), secrets masked.

    Repeated names (line items) get ``[2]``, ``[3]``... suffixes. An unreadable page gives ``{}``.
    """
    from operator_agent.guardrails.values import MASK
    from operator_agent.observe.refs import SECRET_ATTRIBUTE

    try:
        values = await page.evaluate(_FORM_VALUES_JS, [SECRET_ATTRIBUTE, MASK])
    except PlaywrightError:
        return {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


class ItemContext:
    """Everything a task needs to run one item.

    Attributes:
        batch_id: The batch.
        item: The item as the journal holds it (its ``data`` is the input).
        attempt: This attempt's number, from 1.
        item_dir: A folder of the item's own, for traces, screenshots and downloads.
        session: The batch's browser (agent tasks open their own contexts in it); ``None`` for
            tasks that need no browser.
        storage_state: The signed-in storage state, if the batch signs in.
        shadow: Whether the batch runs in shadow mode.
        captured: In shadow mode, what the irreversible step would have submitted.
        steps: What was done, one line per step (skills fill it through :meth:`skill_context`).
        usage: Model usage recorded with :meth:`add_usage`.
    """

    def __init__(
        self,
        *,
        journal: Journal,
        batch_id: str,
        item: ItemRecord,
        attempt: int,
        run: RunContext | None,
        session: BrowserSession | None,
        storage_state: Path | None,
        item_dir: Path,
        approver: Approver,
        shadow: bool,
    ) -> None:
        self._journal = journal
        self.batch_id = batch_id
        self.item = item
        self.attempt = attempt
        self._run = run
        self.session = session
        self.storage_state = storage_state
        self.item_dir = item_dir
        self._approver = approver
        self.shadow = shadow
        self.captured: dict[str, Any] | None = None
        self.steps: list[str] = []
        self.screenshots: list[Path] = []
        self.usage = Usage()
        self.irreversible_approved = 0
        self._asked = 0
        self.log = get_logger("operator_agent.batch", batch_id=batch_id, item=item.key, attempt=attempt)

    @property
    def data(self) -> dict[str, Any]:
        """The item's input."""
        return self.item.data

    @property
    def run(self) -> RunContext:
        """The browser context this item runs in.

        Raises:
            RuntimeError: For tasks that open their own contexts (agent tasks get none).
        """
        if self._run is None:
            raise RuntimeError(f"item {self.item.key} runs without a pooled browser context")
        return self._run

    @property
    def page(self) -> Page:
        """The active tab of :attr:`run`."""
        return self.run.page

    @property
    def run_id(self) -> str:
        """An id for this attempt, used in approval requests and logs."""
        return f"{self.batch_id}/{self.item.key}/{self.attempt}"

    def add_usage(self, usage: Usage) -> None:
        """Count model usage towards the item."""
        self.usage = self.usage + usage

    def skill_context(
        self,
        *,
        secrets: Mapping[str, str] | None = None,
        model: Any = None,
        upload_dirs: Sequence[str | Path] = (),
        action_timeout_s: float = 10,
        locate_timeout_s: float = 8,
    ) -> SkillContext:
        """A :class:`~operator_agent.skills.SkillContext` on this item's page, wired to the batch:
        approvals go through :meth:`approve`, steps are recorded, files live in :attr:`item_dir`."""
        return SkillContext(
            tabs=self.run,
            secrets=secrets,
            approve=self.approve,
            model=model,
            run_dir=self.item_dir,
            upload_dirs=upload_dirs,
            action_timeout_s=action_timeout_s,
            locate_timeout_s=locate_timeout_s,
            run_id=self.run_id,
            on_step=self._on_step,
            on_usage=self.add_usage,
        )

    def _on_step(self, step: SkillStep) -> None:
        target = f" {step.target}" if step.target else ""
        verdict = "ok" if step.ok else "FAILED"
        self.steps.append(f"{step.skill or '-'}: {step.kind}{target} [{verdict}] {step.message}"[:400])

    async def screenshot(self, name: str) -> Path | None:
        """Save a full-page screenshot of the current page into the item's folder (``None`` if it
        cannot be taken, say because the page is gone)."""
        if self._run is None or self._run.closed:
            return None
        path = self.item_dir / f"attempt-{self.attempt}-{name}.png"
        try:
            await self._run.page.screenshot(path=path, full_page=True, timeout=5_000)
        except (PlaywrightError, OSError) as exc:
            self.log.debug("screenshot failed", error=str(exc).splitlines()[0] if str(exc) else "")
            return None
        self.screenshots.append(path)
        return path

    # -- approvals ---------------------------------------------------------------------------------

    async def approve(self, kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        """The approval callback for skills: ``(kind, target, arguments) -> approved``."""
        self._asked += 1
        url = self._run.page.url if self._run is not None and not self._run.closed else ""
        values = await read_form_values(self._run.page) if self._run is not None else {}
        shot = await self.screenshot(f"approval-{self._asked}")
        request = ApprovalRequest(
            run_id=self.run_id,
            step=self._asked,
            kind=kind,
            target=target,
            url=url,
            reason=f"batch {self.batch_id}, item {self.item.key}: this step cannot be undone",
            arguments=_jsonable(arguments),
            values=values,
            screenshot=str(shot) if shot else None,
        )
        decision = await self.decide(request)
        return decision.approved

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        """Decide one approval request through the batch's approver (or capture it in shadow mode)."""
        journal, key = self._journal, self.item.key
        await asyncio.to_thread(
            journal.set_waiting,
            self.batch_id,
            key,
            waiting=True,
            detail={"kind": request.kind, "target": request.target, "url": request.url},
        )
        started = time.monotonic()
        if self.shadow:
            self.captured = {
                "kind": request.kind,
                "target": request.target,
                "url": request.url,
                "values": dict(request.values),
                "arguments": dict(request.arguments),
            }
            decision = ApprovalDecision(
                approved=False,
                reason="shadow mode: the batch stops before every irreversible step",
                decided_by=SHADOW_DECIDER,
            )
        else:
            try:
                decision = await self._approver.decide(request)
            except Exception as exc:  # fail closed: a broken approver approves nothing
                self.log.error("approver failed", error=repr(exc))
                decision = ApprovalDecision(
                    approved=False, reason=f"the approver failed: {exc!r}", decided_by="batch:error"
                )
        waited = time.monotonic() - started
        human = not decision.decided_by.startswith(_NOT_A_PERSON)
        # Journalled before the step runs: after a crash, the item is checked before any retry.
        await asyncio.to_thread(
            journal.note_approval,
            self.batch_id,
            key,
            approved=decision.approved,
            human=human,
            wait_s=waited,
            irreversible=True,
        )
        await asyncio.to_thread(
            journal.set_waiting,
            self.batch_id,
            key,
            waiting=False,
            detail={"approved": decision.approved, "by": decision.decided_by, "reason": decision.reason},
        )
        if decision.approved:
            self.irreversible_approved += 1
        verdict = "approved" if decision.approved else "denied"
        self.steps.append(
            f"approval: {request.kind} on {request.target or '-'} {verdict} by {decision.decided_by}"
        )
        return decision

    def approver(self) -> Approver:
        """This item's approvals as an :class:`~operator_agent.guardrails.Approver` (for agents)."""
        return _ItemApprover(self)


class _ItemApprover:
    def __init__(self, ctx: ItemContext) -> None:
        self._ctx = ctx

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        return await self._ctx.decide(request)


def _jsonable(arguments: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        out[name] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
    return out
