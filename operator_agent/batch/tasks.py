"""How one item runs: the :class:`ItemTask` protocol and its three adapters.

* :class:`SkillTask`: the item's fields become a skill's arguments (no model, deterministic);
* :class:`AgentTask`: the item runs as an agent task (a prompt made from its fields);
* :class:`CompiledSkillTask`: a compiled skill replays the item; if it cannot finish before the
  irreversible step, a model (an :class:`AgentTask`) takes over.

A task may add, as attributes or methods:

* ``already_done(ctx, item) -> bool``: the idempotency check ("does invoice INV-1042 exist?"). The
  runner calls it before retrying an item that may have had its effect (interrupted by a crash,
  or failed after an irreversible step was approved), and skips the item if it is done;
* ``sign_in(run)``: signs a fresh browser context in; the pool reuses its storage state;
* ``input_model``: a pydantic model the item's data must validate against before it runs;
* ``classify(exc)``: overrides :func:`~operator_agent.batch.outcome.classify_error` for this task;
* ``pooled``: ``False`` for tasks that open their own browser context (agents);
* ``needs_browser``: ``False`` for tasks that do not use a browser at all (API calls, tests).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, TypeAdapter

from operator_agent.batch.context import ItemContext
from operator_agent.batch.outcome import ErrorClass, ItemOutcome, TransientItemError, classify_error
from operator_agent.batch.pool import SignIn
from operator_agent.batch.records import ItemRecord
from operator_agent.budget import Budget
from operator_agent.errors import ApprovalDeniedError, ConfigurationError
from operator_agent.guardrails.policy import Policy
from operator_agent.models import Model
from operator_agent.result import RunResult
from operator_agent.secrets import SecretValue
from operator_agent.skills import Skill

__all__ = [
    "AgentTask",
    "CompiledSkillTask",
    "IdempotencyCheck",
    "ItemTask",
    "SkillTask",
    "shadow_outcome",
]

IdempotencyCheck = Callable[[ItemContext, ItemRecord], Awaitable[bool]]
"""``async def already_done(ctx, item) -> bool``: whether the item's effect is already on the site."""

_ANY = TypeAdapter(Any)


@runtime_checkable
class ItemTask(Protocol):
    """Runs one batch item. Return an :class:`ItemOutcome`, or raise (the runner classifies it)."""

    @property
    def name(self) -> str:
        """The task's name, kept in the journal (a batch always runs the same task)."""
        ...

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        """Do the item's work."""
        ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        return _ANY.dump_python(value, mode="json")
    except Exception:
        return repr(value)


def shadow_outcome(ctx: ItemContext, *, steps: Sequence[str] = ()) -> ItemOutcome:
    """The outcome of a shadow run that stopped at its irreversible step: what it would have submitted."""
    captured = ctx.captured or {}
    target = captured.get("target") or "-"
    return ItemOutcome(
        status="completed",
        output={
            "shadow": True,
            "would_submit": captured.get("values", {}),
            "step": f"{captured.get('kind', '?')} on {target}",
            "url": captured.get("url", ""),
        },
        reason=f"shadow run stopped before {captured.get('kind', 'the irreversible step')} on {target}",
        steps=list(steps or ctx.steps),
    )


class SkillTask:
    """Runs each item with a skill: the item's fields are the skill's arguments.

    Args:
        skill: The skill (made with ``@skill``).
        name: The task's name; the skill's by default.
        arguments: Turns an item's data into the skill's arguments (say, rows of a CSV into
            ``lines=[...]``); the data as it is by default. Values are validated and converted
            by the skill (``"2026-10-31"`` becomes a date), and invalid ones send the item to
            review with the skill's message.
        start_url: The page to open first when the context is not on that site yet.
        secrets: Named secrets the skill fills by name.
        model: For skills that use ``ctx.act``/``ctx.extract``.
        already_done: The idempotency check (see the module docstring).
        sign_in: Signs a fresh context in (see :class:`~operator_agent.batch.ContextPool`).
        input_model: A pydantic model the item's data must fit before the skill runs.
        upload_dirs: Folders the skill may upload files from (besides the item's own folder).
        action_timeout_s: The time budget of one step.
    """

    pooled = True

    def __init__(
        self,
        skill: Skill[Any],
        *,
        name: str | None = None,
        arguments: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
        start_url: str | None = None,
        secrets: Mapping[str, str] | None = None,
        model: Model | None = None,
        already_done: IdempotencyCheck | None = None,
        sign_in: SignIn | None = None,
        input_model: type[BaseModel] | None = None,
        upload_dirs: Sequence[str | Path] = (),
        action_timeout_s: float = 10,
    ) -> None:
        if not isinstance(skill, Skill):
            raise ConfigurationError(f"SkillTask needs a skill made with @skill, got {type(skill).__name__}")
        self.skill = skill
        self._name = name or skill.name
        self._arguments = arguments
        self.start_url = start_url
        self._secrets = dict(secrets or {})
        self._model = model
        self.already_done: IdempotencyCheck | None = (
            self._from_start_page(already_done) if already_done else None
        )
        self.sign_in = sign_in
        self.input_model = input_model
        self._upload_dirs = [Path(d) for d in upload_dirs]
        self._action_timeout_s = action_timeout_s

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.skill.name!r})"

    def arguments_for(self, item: ItemRecord) -> dict[str, Any]:
        """The skill's arguments for an item, validated.

        Raises:
            ConfigurationError: The item's data does not fit the skill's parameters.
        """
        raw = dict(self._arguments(dict(item.data)) if self._arguments else item.data)
        return self.skill.validate_arguments(raw)

    def _from_start_page(self, check: IdempotencyCheck) -> IdempotencyCheck:
        """The check, run from the start page (a fresh context is still on a blank tab)."""

        async def already_done(ctx: ItemContext, item: ItemRecord) -> bool:
            await self.open_start_page(ctx)
            return await check(ctx, item)

        return already_done

    async def open_start_page(self, ctx: ItemContext) -> None:
        """Open :attr:`start_url` unless the page already is on that site."""
        if self.start_url is None:
            return
        from urllib.parse import urlsplit

        here, there = urlsplit(ctx.page.url), urlsplit(self.start_url)
        if (here.scheme, here.netloc) != (there.scheme, there.netloc):
            await ctx.page.goto(self.start_url, wait_until="domcontentloaded")

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        arguments = self.arguments_for(item)
        await self.open_start_page(ctx)
        skill_ctx = ctx.skill_context(
            secrets=self._secrets,
            model=self._model,
            upload_dirs=self._upload_dirs,
            action_timeout_s=self._action_timeout_s,
        )
        try:
            value = await self.skill(skill_ctx, **arguments)
        except ApprovalDeniedError:
            if ctx.shadow and ctx.captured is not None:
                return shadow_outcome(ctx)
            raise
        return ItemOutcome(
            status="completed",
            output=_jsonable(value),
            reason=f"skill {self.skill.name} finished in {len(skill_ctx.steps)} steps",
            steps=list(ctx.steps),
        )


class AgentTask:
    """Runs each item as an agent task: a prompt made from the item's fields, in a fresh context.

    Each item gets its own :class:`~operator_agent.Agent` run in the batch's browser, starting from
    the batch's signed-in storage state, with the batch's approvals. The run's status maps to the
    item's: ``completed`` (its confidence is checked against the batch threshold), ``needs_review``
    and ``denied`` go to review, ``failed`` is retried, ``budget_exhausted`` goes to review.

    Args:
        model: The model, or a function making one per item (scripted models in tests keep state).
        task: The prompt, with ``{field}`` placeholders filled from the item, or a function of it.
        start_url: The page to start from (placeholders allowed), or a function of the item.
        name: The task's name.
        output_type: The type the run's output must validate against.
        budget: Each item run's budget.
        policy: Which actions need approval.
        secrets: Named secrets the model fills by name (never shown to it).
        instructions: House rules added to every prompt.
        confidence_threshold: A ``done`` below it ends the run ``needs_review``.
        allowed_domains: Hosts the runs may reach.
        upload_dirs: Folders files may be uploaded from.
        screenshots: Save a screenshot per step in each item's trace.
        already_done: The idempotency check.
        sign_in: Signs a fresh context in.
        input_model: A pydantic model the item's data must fit first.
    """

    pooled = False

    def __init__(
        self,
        *,
        model: Model | Callable[[ItemRecord], Model],
        task: str | Callable[[dict[str, Any]], str],
        start_url: str | Callable[[dict[str, Any]], str],
        name: str = "agent",
        output_type: Any = None,
        budget: Budget | None = None,
        policy: Policy | None = None,
        secrets: Mapping[str, SecretValue] | None = None,
        instructions: str = "",
        confidence_threshold: float = 0.8,
        allowed_domains: Sequence[str] | None = None,
        upload_dirs: Sequence[str | Path] = (),
        screenshots: bool = True,
        already_done: IdempotencyCheck | None = None,
        sign_in: SignIn | None = None,
        input_model: type[BaseModel] | None = None,
    ) -> None:
        self._model = model
        self._task = task
        self._start_url = start_url
        self._name = name
        self.output_type = output_type
        self.budget = budget
        self.policy = policy
        self._secrets = dict(secrets or {})
        self._instructions = instructions
        self.confidence_threshold = confidence_threshold
        self._allowed = list(allowed_domains) if allowed_domains is not None else None
        self._upload_dirs = list(upload_dirs)
        self._screenshots = screenshots
        self.already_done = already_done
        self.sign_in = sign_in
        self.input_model = input_model

    @property
    def name(self) -> str:
        return self._name

    def _text(self, template: str | Callable[[dict[str, Any]], str], data: dict[str, Any]) -> str:
        if callable(template):
            return template(data)
        try:
            return template.format(**data)
        except (KeyError, IndexError) as exc:
            from operator_agent.errors import ItemRejectedError

            raise ItemRejectedError(
                f"the item has no field {exc} that the task's text needs", fields=[str(exc).strip("'")]
            ) from None

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        from operator_agent.agent import Agent

        if ctx.session is None:
            raise ConfigurationError("AgentTask needs the batch's browser; it was started without one")
        model = self._model if isinstance(self._model, Model) else self._model(item)
        agent = Agent(
            model=model,
            budget=self.budget,
            approver=ctx.approver(),
            policy=self.policy,
            on_denial="stop",
            confidence_threshold=self.confidence_threshold,
            secrets=self._secrets,
            trace_dir=ctx.item_dir / "traces",
            screenshots=self._screenshots,
            playwright_trace=False,
            browser=ctx.session,
            storage_state=ctx.storage_state,
            instructions=self._instructions,
            allowed_domains=self._allowed,
            upload_dirs=self._upload_dirs,
        )
        result = await agent.run(
            self._text(self._task, item.data),
            start_url=self._text(self._start_url, item.data),
            output_type=self.output_type,
            inputs=item.data,
        )
        return self._outcome(ctx, result)

    def _outcome(self, ctx: ItemContext, result: RunResult[Any]) -> ItemOutcome:
        ctx.add_usage(result.usage)
        traces = [result.trace_dir] if result.trace_dir is not None else []
        steps = [
            f"step {s.step}: "
            + ", ".join(f"{a.kind} {a.target or ''} [{'ok' if a.ok else 'FAILED'}]" for a in s.actions)
            for s in result.steps
        ]
        shots = [Path(s.screenshot) for s in result.steps if s.screenshot]
        reasoning = "\n".join(s.model_text for s in result.steps if s.model_text)[-4000:]
        common: dict[str, Any] = {
            "trace_dirs": traces,
            "screenshots": shots,
            "steps": steps,
            "reasoning": reasoning or result.reason,
            "confidence": result.confidence,
        }
        if result.status == "completed":
            return ItemOutcome(
                status="completed", output=_jsonable(result.output), reason=result.reason, **common
            )
        if result.status == "denied":
            if ctx.shadow and ctx.captured is not None:
                return shadow_outcome(ctx, steps=steps)
            return ItemOutcome(status="needs_review", reason=result.reason, review_reason="denied", **common)
        if result.status == "needs_review":
            low = result.confidence is not None and result.confidence < self.confidence_threshold
            why: Literal["low_confidence", "asked_for_human"] = "low_confidence" if low else "asked_for_human"
            return ItemOutcome(status="needs_review", reason=result.reason, review_reason=why, **common)
        if result.status == "budget_exhausted":
            return ItemOutcome(
                status="failed", reason=result.reason, review_reason="budget_exhausted", **common
            )
        ctx.steps.extend(steps)
        raise TransientItemError(f"the agent run failed: {result.reason}", kind="AgentRunFailed")


class CompiledSkillTask(SkillTask):
    """A compiled skill (a recorded run turned into code) with a model to fall back on.

    The skill replays the item without a model. If it fails with a page error (an element it
    cannot find, a layout that changed) *before any irreversible step was approved*, the
    ``fallback`` agent does the item instead, in a fresh context. If an irreversible step was
    already approved, the idempotency check decides: done means done; otherwise the failure goes
    back to the runner (to be retried, or reviewed), never to a second actor.

    Args:
        skill: The compiled skill.
        fallback: The agent task that takes over; ``None`` means no fallback.
        **options: As for :class:`SkillTask`.
    """

    def __init__(
        self,
        skill: Skill[Any],
        *,
        fallback: AgentTask | None,
        name: str | None = None,
        arguments: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
        start_url: str | None = None,
        secrets: Mapping[str, str] | None = None,
        already_done: IdempotencyCheck | None = None,
        sign_in: SignIn | None = None,
        input_model: type[BaseModel] | None = None,
        upload_dirs: Sequence[str | Path] = (),
        action_timeout_s: float = 10,
    ) -> None:
        super().__init__(
            skill,
            name=name,
            arguments=arguments,
            start_url=start_url,
            secrets=secrets,
            already_done=already_done,
            sign_in=sign_in,
            input_model=input_model,
            upload_dirs=upload_dirs,
            action_timeout_s=action_timeout_s,
        )
        self.fallback = fallback
        self.fallbacks = 0

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        try:
            return await super().run(ctx, item)
        except Exception as exc:
            if self.fallback is None or self.classify(exc) != "transient":
                raise
            if ctx.irreversible_approved:
                check = self.already_done
                if check is not None and await check(ctx, item):
                    return ItemOutcome(
                        status="completed",
                        reason=f"the compiled skill failed after its irreversible step ({exc}); the "
                        "idempotency check found the item done",
                        steps=list(ctx.steps),
                    )
                raise
            await ctx.screenshot("replay-failed")
            ctx.steps.append(f"compiled skill failed ({type(exc).__name__}: {exc}); the model takes over")
            ctx.log.warning("compiled skill failed; falling back to the model", error=str(exc)[:300])
            self.fallbacks += 1
            outcome = await self.fallback.run(ctx, item)
            outcome.used_fallback = True
            outcome.steps = list(ctx.steps) + outcome.steps
            return outcome

    def classify(self, exc: BaseException) -> ErrorClass:
        """Errors are classified as usual (see :func:`classify_error`)."""
        return classify_error(exc)
