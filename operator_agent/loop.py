"""One run of the observe–plan–act loop, stepped one iteration at a time.

:class:`AgentRun` is what ``Agent.iter()`` yields: iterate it to advance the run step by step;
``Agent.run()`` simply iterates it to the end. Each step observes the page, asks the model, checks
each action against the approval rule, executes what may run, and writes one trace record.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from playwright.async_api import Error as PlaywrightError
from pydantic import TypeAdapter, ValidationError

from operator_agent.act import NOT_EXECUTED, ActionExecutor
from operator_agent.actions import (
    Action,
    AskHuman,
    Done,
    Extract,
    Fail,
    PageAction,
    parse_tool_call,
)
from operator_agent.budget import Budget
from operator_agent.errors import ActionError, InvalidActionError, OperatorAgentError
from operator_agent.guardrails.approval import Approver
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.guardrails.gate import ApprovalGate, audit_log_for
from operator_agent.guardrails.policy import Policy
from operator_agent.logs import get_logger, redact_text
from operator_agent.models import ImagePart, Model, ModelSettings, ToolCall, ToolSpec, Usage
from operator_agent.observe import Observation, ObserveOptions, observe
from operator_agent.observe.refs import ElementRef
from operator_agent.prompts import HistoryEntry, PromptState, build_messages
from operator_agent.replay.locators import capture_locator_chain
from operator_agent.result import RunResult
from operator_agent.secrets import SecretStore
from operator_agent.skills import SkillContext, SkillRegistry, approval_callback
from operator_agent.steps import (
    LoopDetector,
    action_record,
    jsonable,
    may_submit,
    outcome_text,
    signature,
    summarize,
    target_of,
    tool_specs,
)
from operator_agent.trace import (
    ActionRecord,
    RunEndRecord,
    RunStartRecord,
    RunStatus,
    StepRecord,
    TraceWriter,
)

if TYPE_CHECKING:
    from operator_agent.browser import RunContext

__all__ = ["AgentRun", "LoopSettings"]


@dataclass(frozen=True)
class LoopSettings:
    """Everything the loop needs that does not change during a run (built by ``Agent``)."""

    model: Model
    budget: Budget
    observe_options: ObserveOptions
    approver: Approver
    policy: Policy = field(default_factory=Policy)
    skills: SkillRegistry = field(default_factory=SkillRegistry)
    record_locators: bool = True
    on_denial: Literal["continue", "stop"] = "continue"
    confidence_threshold: float = 0.8
    screenshots: bool = True
    vision: bool = False
    loop_warn_after: int = 3
    loop_stop_after: int = 5
    history_keep: int = 12
    extra_instructions: str = ""


class AgentRun:
    """A run in progress; iterate it to step the loop (``async for step in run``).

    The run ends when the model finishes, fails or asks for a person, when a budget runs out, or
    when an error makes it impossible to continue; :attr:`result` is set then.
    """

    def __init__(
        self,
        *,
        settings: LoopSettings,
        browser: RunContext,
        run_id: str,
        task: str,
        start_url: str,
        output_type: Any,
        inputs: Mapping[str, Any],
        trace: TraceWriter | None,
        allowlist: DomainAllowlist | None = None,
        secrets: SecretStore | None = None,
        upload_dirs: Sequence[Path] = (),
    ) -> None:
        self.run_id = run_id
        self._allowlist = allowlist
        self._gate = ApprovalGate(
            approver=settings.approver,
            run_id=run_id,
            audit=audit_log_for(trace.directory if trace is not None else None),
        )
        self._secrets = secrets if secrets is not None else SecretStore()
        self._s = settings
        self._browser = browser
        self._task = task
        self._start_url = start_url
        self._output_type = output_type
        self._adapter: TypeAdapter[Any] | None = TypeAdapter(output_type) if output_type is not None else None
        self._trace = trace
        self._executor = ActionExecutor(tabs=browser, secrets=self._secrets, upload_dirs=upload_dirs)
        self._tools = [ToolSpec(**spec) for spec in [*tool_specs(), *settings.skills.tool_specs()]]
        self._skill_context = SkillContext(
            tabs=browser,
            secrets=self._secrets,
            approve=approval_callback(
                settings.approver, run_id=run_id, tabs=browser, step=lambda: len(self._steps) + 1
            ),
            model=settings.model,
            run_dir=trace.directory if trace is not None else None,
            upload_dirs=upload_dirs,
            run_id=run_id,
            on_usage=self._add_usage,
            policy=settings.policy,
        )
        self._prompt = PromptState(
            task=task,
            inputs=dict(inputs),
            secret_names=tuple(self._secrets),
            output_schema=self._adapter.json_schema() if self._adapter is not None else None,
            extra_instructions=settings.extra_instructions,
        )
        self._log = get_logger("operator_agent.run", run_id=run_id)
        self._steps: list[StepRecord] = []
        self._history: list[HistoryEntry] = []
        self._last_calls: list[ToolCall] = []
        self._last_results: list[tuple[str, str]] = []
        self._notices: list[str] = []
        self._usage = Usage()
        self._extracted: list[Any] = []
        self._invalid_replies = 0
        self._loops = LoopDetector(warn_after=settings.loop_warn_after, stop_after=settings.loop_stop_after)
        self._started = time.monotonic()
        self._result: RunResult[Any] | None = None
        self._begun = False

    # -- public surface -------------------------------------------------------------------------

    @property
    def result(self) -> RunResult[Any] | None:
        """The result once the run has ended, else ``None``."""
        return self._result

    @property
    def steps(self) -> list[StepRecord]:
        """The steps taken so far."""
        return list(self._steps)

    @property
    def usage(self) -> Usage:
        """Model usage so far."""
        return self._usage

    def __aiter__(self) -> AsyncIterator[StepRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[StepRecord]:
        while self._result is None:
            record = await self.step()
            if record is not None:
                yield record

    async def step(self) -> StepRecord | None:
        """Run one iteration of the loop; returns its record, or ``None`` if the run has ended."""
        if self._result is not None:
            return None
        try:
            if not self._begun:
                await self._begin()
            return await self._step()
        except (OperatorAgentError, PlaywrightError) as exc:
            # Typed library errors and browser failures end the run clearly instead of escaping it.
            self._log.error("run failed", error=type(exc).__name__, detail=str(exc))
            await self.finish("failed", f"{type(exc).__name__}: {exc}")
            return None

    async def finish(
        self, status: RunStatus, reason: str, *, output: Any = None, confidence: float | None = None
    ) -> None:
        """End the run with this status (idempotent: the first call wins)."""
        if self._result is not None:
            return
        self._result = RunResult(
            run_id=self.run_id,
            status=status,
            output=output if status == "completed" else None,
            reason=redact_text(reason, self._secrets.known_values()),
            usage=self._usage,
            steps=list(self._steps),
            trace_dir=self._trace.directory if self._trace else None,
            extracted=list(self._extracted),
            confidence=confidence,
        )
        if self._trace is not None:
            self._trace.write(
                RunEndRecord(
                    run_id=self.run_id,
                    status=status,
                    reason=self._result.reason,
                    output=jsonable(output) if status == "completed" else None,
                    steps=len(self._steps),
                    usage=self._usage,
                    duration_s=round(time.monotonic() - self._started, 3),
                )
            )
        self._log.info("run finished", status=status, reason=self._result.reason, steps=len(self._steps))

    # -- the loop -------------------------------------------------------------------------------

    async def _begin(self) -> None:
        self._begun = True
        if self._trace is not None:
            self._trace.write(
                RunStartRecord(
                    run_id=self.run_id,
                    task=self._task,
                    start_url=self._start_url,
                    model_name=self._s.model.name,
                    inputs=jsonable(self._prompt.inputs),
                    output_schema=self._prompt.output_schema,
                )
            )
        self._log.info("run started", task=self._task, start_url=self._start_url, model=self._s.model.name)
        await self._browser.page.goto(self._start_url, wait_until="domcontentloaded")

    async def _step(self) -> StepRecord | None:
        number = len(self._steps) + 1
        exhausted = self._s.budget.exceeded(usage=self._usage, steps=len(self._steps))
        if exhausted:
            await self.finish("budget_exhausted", exhausted)
            return None
        log = self._log.bind(step=number)
        page = self._browser.page

        t0 = time.monotonic()
        obs = await observe(page, options=self._s.observe_options)
        observe_ms = (time.monotonic() - t0) * 1000
        stuck, warning = self._loops.observe(obs.digest)
        if warning is not None:
            self._notices.append(warning)
        if stuck is not None:
            await self.finish("failed", stuck)
            return None
        screenshot_path, image = await self._screenshot(number, with_image=self._s.vision)
        notices = self._collect_notices()

        t1 = time.monotonic()
        messages = build_messages(
            state=self._prompt,
            history=self._history,
            last_calls=self._last_calls,
            last_results=self._last_results,
            observation_text=obs.text,
            notices=notices,
            screenshot=image,
            history_keep=self._s.history_keep,
        )
        response = await self._s.model.request(
            messages, tools=self._tools, settings=ModelSettings(tool_choice="required")
        )
        model_ms = (time.monotonic() - t1) * 1000
        self._usage = self._usage + response.usage
        log.info(
            "model replied",
            tool_calls=[c.name for c in response.tool_calls],
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
        )

        t2 = time.monotonic()
        records, results, terminal = await self._act(number, obs, response.tool_calls)
        act_ms = (time.monotonic() - t2) * 1000

        record = StepRecord(
            run_id=self.run_id,
            step=number,
            url=obs.url,
            title=obs.title,
            observation_tokens=obs.token_count,
            observation_digest=obs.digest,
            model_text=response.text,
            actions=records,
            events=notices,
            usage=response.usage,
            observe_ms=round(observe_ms, 1),
            model_ms=round(model_ms, 1),
            act_ms=round(act_ms, 1),
            screenshot=screenshot_path,
        )
        self._steps.append(record)
        if self._trace is not None:
            self._trace.write(record)
        self._history.append(HistoryEntry(step=number, summary=summarize(records, response.text)))
        self._last_calls = list(response.tool_calls)
        self._last_results = results

        if not response.tool_calls or all(r.error == "InvalidActionError" for r in records):
            self._invalid_replies += 1
            if self._invalid_replies >= self._s.budget.max_invalid_replies:
                await self.finish(
                    "failed",
                    f"the model gave {self._invalid_replies} replies in a row without a usable tool call",
                )
        else:
            self._invalid_replies = 0
        if terminal is not None and self._result is None:
            await self._terminal(terminal)
        return record

    async def _act(
        self, step: int, obs: Observation, calls: Sequence[ToolCall]
    ) -> tuple[list[ActionRecord], list[tuple[str, str]], Done | AskHuman | Fail | None]:
        """Carry out one reply's tool calls in order; page actions run in batches between approvals."""
        records: list[ActionRecord] = []
        results: list[tuple[str, str]] = []
        batch: list[tuple[ToolCall, PageAction, ElementRef | None]] = []
        stopped: str | None = None
        terminal: Done | AskHuman | Fail | None = None
        signatures: list[str] = []

        async def flush() -> str | None:
            if not batch:
                return None
            actions = cast("list[Action]", [a for _, a, _ in batch])
            chains = await self._locator_chains([element for _, _, element in batch])
            outcomes = await self._executor.execute_many(actions, refs=obs.refs)
            halt: str | None = None
            for (call, _, element), outcome, chain in zip(batch, outcomes, chains, strict=True):
                results.append((call.id, outcome_text(outcome)))
                records.append(action_record(call, element, outcome=outcome, locators=chain))
                if not outcome.executed or outcome.navigated or not outcome.ok:
                    # After a failure or a new page, later calls of this reply (a `done` too) would
                    # rest on a plan that no longer fits: the model observes again first.
                    halt = NOT_EXECUTED
            batch.clear()
            return halt

        if not calls:
            self._notices.append("Your last reply had no tool call: always answer with tool calls.")
        for call in calls:
            if stopped is None and call.name in self._s.skills:
                stopped = await flush()
                if stopped is None:
                    stopped = await self._run_skill(call, results, records)
                    continue
            if stopped is None:
                try:
                    action: Action | None = parse_tool_call(call.name, call.arguments)
                except InvalidActionError as exc:
                    stopped = await flush()
                    results.append((call.id, f"error: {exc}"))
                    records.append(action_record(call, None, message=str(exc), error="InvalidActionError"))
                    continue
            else:
                action = None
            if stopped is not None or action is None:
                results.append((call.id, stopped or NOT_EXECUTED))
                records.append(action_record(call, None, message=stopped or NOT_EXECUTED))
                continue
            element = target_of(action, obs.refs)
            if isinstance(action, PageAction):
                signatures.append(signature(action, element))
                if getattr(action, "ref", None) is not None and element is None:
                    # An unknown ref acts on nothing: the executor reports it back precisely.
                    batch.append((call, action, element))
                    continue
                if may_submit(action):
                    # Judge a click or a key press on the page as it is once the actions before it ran.
                    stopped = await flush()
                    if stopped is not None:
                        results.append((call.id, stopped))
                        records.append(action_record(call, element, message=stopped))
                        continue
                try:
                    verdict = await self._s.policy.assess(action, element, page=self._browser.page)
                except ActionError as exc:
                    # The target left the page while it was being judged: nothing ran; observe again.
                    stopped = await flush() or NOT_EXECUTED
                    results.append((call.id, f"error: {exc}"))
                    records.append(action_record(call, element, message=str(exc), error=type(exc).__name__))
                    continue
                if verdict.blocked:
                    stopped = await flush()
                    message = f"blocked by policy, nothing was done: {'; '.join(verdict.reasons)}"
                    results.append((call.id, message))
                    records.append(action_record(call, element, message=message, error="Blocked"))
                    stopped = stopped or "not executed: an earlier action was blocked"
                    continue
                if not verdict.needs_approval:
                    batch.append((call, action, element))
                    continue
                why = verdict.summary()
                stopped = await flush()
                if stopped is not None:
                    results.append((call.id, stopped))
                    records.append(action_record(call, element, message=stopped))
                    continue
                clearance = await self._gate.clear(
                    step=step,
                    action=action,
                    element=element,
                    why=why,
                    page=self._browser.page,
                    screenshot=self._screenshot_name(step),
                )
                if clearance.approved:
                    batch.append((call, action, element))
                    stopped = await flush()
                    self._gate.executed(clearance, ok=records[-1].ok, message=records[-1].message)
                    continue
                results.append((call.id, clearance.message))
                records.append(action_record(call, element, message=clearance.message, error="Denied"))
                stopped = "not executed: an earlier action was denied"
                if self._s.on_denial == "stop":
                    await self.finish("denied", clearance.message)
                continue
            stopped = await flush()
            if stopped is not None:
                results.append((call.id, stopped))
                records.append(action_record(call, element, message=stopped))
            elif isinstance(action, Extract):
                text = await self._extract(action, obs)
                results.append((call.id, text))
                records.append(
                    action_record(call, element, ok=not text.startswith("error"), message=text[:500])
                )
            else:
                terminal = action
                results.append((call.id, "received"))
                records.append(action_record(call, element, ok=True, message="received"))
                stopped = "not executed: a final action came before it"
        await flush()
        self._loops.acted(signatures)
        return records, results, terminal

    # -- pieces ---------------------------------------------------------------------------------

    async def _locator_chains(self, elements: Sequence[ElementRef | None]) -> list[list[dict[str, str]]]:
        """How to find each target again, captured before acting (a compiled skill replays with it)."""
        if not self._s.record_locators or self._trace is None:
            return [[] for _ in elements]

        async def one(element: ElementRef | None) -> list[dict[str, str]]:
            return await capture_locator_chain(element) if element is not None else []

        return list(await asyncio.gather(*(one(e) for e in elements)))

    async def _run_skill(
        self, call: ToolCall, results: list[tuple[str, str]], records: list[ActionRecord]
    ) -> str:
        """Run a skill the model called; the batch stops after it (the page has changed)."""
        result = await self._s.skills.invoke(call.name, self._skill_context, call.arguments)
        results.append((call.id, result.message))
        records.append(
            action_record(
                call,
                None,
                ok=result.ok,
                message=result.message,
                error=None
                if result.ok
                else ("Denied" if result.denied else result.error or "SkillFailedError"),
            )
        )
        if result.denied and self._s.on_denial == "stop":
            await self.finish("denied", result.message)
        return f"not executed: skill '{call.name}' ran before it; observe again"

    async def _extract(self, action: Extract, obs: Observation) -> str:
        from operator_agent.extract import extract_data

        try:
            data = await extract_data(
                model=self._s.model,
                page=self._browser.page,
                element=target_of(action, obs.refs),
                instruction=action.instruction,
                output_type=self._output_type,
                redact=tuple(self._secrets.known_values()),
                on_usage=self._add_usage,
            )
        except OperatorAgentError as exc:
            return f"error: extraction failed: {exc}"
        self._extracted.append(data)
        return "extracted: " + json.dumps(jsonable(data), ensure_ascii=False, default=str)

    def _screenshot_name(self, step: int) -> str | None:
        if self._trace is None or not self._s.screenshots:
            return None
        return str(self._trace.screenshot_path(step))

    def _add_usage(self, usage: Usage) -> None:
        self._usage = self._usage + usage

    async def _terminal(self, action: Done | AskHuman | Fail) -> None:
        if isinstance(action, Fail):
            await self.finish("failed", action.reason)
        elif isinstance(action, AskHuman):
            await self.finish("needs_review", f"the model asks: {action.question}")
        else:
            await self._done(action)

    async def _done(self, action: Done) -> None:
        try:
            output = self._validate_output(action.output)
        except ValidationError as exc:
            self._notices.append(
                "Your `done` output does not match the required schema: "
                + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'output'}: {e['msg']}" for e in exc.errors()[:5]
                )
                + ". Correct it and call `done` again."
            )
            self._last_results = [
                (cid, "error: output invalid, see notices") if text == "received" else (cid, text)
                for cid, text in self._last_results
            ]
            return
        summary = action.summary or "done"
        if action.confidence < self._s.confidence_threshold:
            await self.finish(
                "needs_review",
                f"confidence {action.confidence:.2f} is below the threshold "
                f"{self._s.confidence_threshold:.2f}: {summary}",
                confidence=action.confidence,
            )
            return
        await self.finish("completed", summary, output=output, confidence=action.confidence)

    def _validate_output(self, raw: Any) -> Any:
        if self._adapter is None:
            return raw
        try:
            return self._adapter.validate_python(raw)
        except ValidationError:
            if isinstance(raw, str):
                return self._adapter.validate_json(raw)
            raise

    async def _screenshot(self, step: int, *, with_image: bool) -> tuple[str | None, ImagePart | None]:
        if not (self._s.screenshots and self._trace is not None) and not with_image:
            return None, None
        page = self._browser.page
        masks = [page.locator("input[type=password]"), page.locator("[data-oa-secret]")]
        png = await page.screenshot(type="png", mask=masks)
        path: str | None = None
        if self._trace is not None and self._s.screenshots:
            target = self._trace.screenshot_path(step)
            target.write_bytes(png)
            path = target.name
        return path, ImagePart.from_bytes(png, media_type="image/png") if with_image else None

    def _collect_notices(self) -> list[str]:
        notices, self._notices = self._notices, []
        for dialog in self._browser.take_dialogs():
            notices.append(
                f"A {dialog.kind} dialog said {dialog.message!r}; it was answered: {dialog.action}."
            )
        if self._allowlist is not None:
            for url in self._allowlist.take_blocked():
                notices.append(f"A request to {url} was blocked: that host is not among the allowed domains.")
        for download in self._browser.take_downloads():
            notices.append(
                f"Downloaded {download.suggested_filename!r} to {download.path} ({download.size} bytes)."
            )
        return notices
