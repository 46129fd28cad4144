"""The ``Agent``: hand it a task and a start URL; it observes, plans, acts, and reports back."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from operator_agent.browser import BrowserSession, RunContext
from operator_agent.budget import Budget
from operator_agent.errors import ConfigurationError, SyncInAsyncError
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.guardrails.policy import Policy
from operator_agent.logs import get_logger, register_secret_values
from operator_agent.loop import AgentRun, LoopSettings
from operator_agent.models import Model
from operator_agent.observe import ObserveOptions
from operator_agent.result import RunResult
from operator_agent.secrets import SecretStore, SecretValue
from operator_agent.skills import Skill, SkillRegistry
from operator_agent.trace import TraceWriter

__all__ = ["Agent"]

OutputT = TypeVar("OutputT")

_log = get_logger("operator_agent.agent")


class Agent:
    """An LLM-driven browser operator for one kind of task.

    Configure it once, then call :meth:`run` (async), :meth:`run_sync` or :meth:`iter` for each task.

    Args:
        model: The model that plans: ``OpenAIModel`` for a real endpoint, ``FunctionModel`` or
            ``ScriptedModel`` in tests.
        budget: Limits on steps, tokens, cost and time; every run ends within them.
        skills: Skills the model may call as tools (``load_skills(...)`` or ``bundled_skills()``).
            A skill's steps go through the same policy, approvals and executor as model actions.
        approver: Decides on actions that need approval. Defaults to denying them all
            (``PolicyApprover(mode="deny")``), so nothing irreversible happens unless you say so.
        policy: Which actions are allowed, need approval or are blocked. The default
            :class:`Policy` detects irreversible actions itself (submitting, paying, deleting,
            sending... in several languages) and also honours the model's own declaration; add
            your own selectors, URL patterns and skills to it. Page content can never lower it.
        on_denial: ``continue`` reports a denial to the model and lets it go on; ``stop`` ends
            the run with status ``denied``.
        confidence_threshold: A ``done`` below this confidence ends the run ``needs_review``.
        secrets: Named secrets the model may fill by name: strings, :class:`TOTP` generators or
            provider callables (resolved at fill time). Their values never reach the model, the
            logs or the trace.
        trace_dir: Where each run writes its trace folder (``<trace_dir>/<run_id>/``); ``None``
            turns tracing off.
        screenshots: Save a screenshot per step in the trace.
        playwright_trace: Record a Playwright trace archive (``playwright-trace.zip``). It is
            skipped for runs with secrets, because Playwright records typed values.
        vision: Send a screenshot with each observation (for vision-capable models).
        observe_options: How pages are outlined for the model (token budget and more).
        browser: A started :class:`BrowserSession` to share between runs; by default each run
            starts and stops its own.
        headless: For the browser the agent starts itself.
        storage_state: A storage-state file to start each run logged in.
        output_type: The default type of a run's output; each run may override it.
        instructions: Extra instructions appended to the task (house rules, hints).
        allowed_domains: Hosts the run may reach (subdomains included). Every request of the
            browser context is checked at the network layer; others are blocked and reported to
            the model. ``None`` allows every host.
        upload_dirs: The folders ``upload_file`` may take files from; none disables uploads.
        record_locators: With tracing on, capture for each action a chain of ways to find its
            target again (role and name, label, test id, id, text, CSS), so that
            ``operator-agent compile`` can turn the run into a skill that replays without a model.
    """

    def __init__(
        self,
        *,
        model: Model,
        budget: Budget | None = None,
        approver: Approver | None = None,
        policy: Policy | None = None,
        skills: SkillRegistry | Sequence[Skill[Any]] = (),
        on_denial: Literal["continue", "stop"] = "continue",
        confidence_threshold: float = 0.8,
        secrets: Mapping[str, SecretValue] | None = None,
        trace_dir: str | os.PathLike[str] | None = "runs",
        screenshots: bool = True,
        playwright_trace: bool = True,
        vision: bool = False,
        observe_options: ObserveOptions | None = None,
        browser: BrowserSession | None = None,
        headless: bool = True,
        storage_state: str | os.PathLike[str] | None = None,
        output_type: Any = None,
        instructions: str = "",
        allowed_domains: Sequence[str] | None = None,
        upload_dirs: Sequence[str | os.PathLike[str]] = (),
        record_locators: bool = True,
    ) -> None:
        if not 0 <= confidence_threshold <= 1:
            raise ConfigurationError(
                f"confidence_threshold must be between 0 and 1, got {confidence_threshold}"
            )
        self.model = model
        self.budget = budget or Budget()
        self.approver: Approver = approver or PolicyApprover(mode="deny")
        self.policy = policy or Policy()
        self.skills = skills if isinstance(skills, SkillRegistry) else SkillRegistry(list(skills))
        self._on_denial = on_denial
        self._confidence_threshold = confidence_threshold
        self._secrets = dict(secrets or {})
        static_secrets = SecretStore(self._secrets).known_values()  # validates names and values
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self._screenshots = screenshots
        self._playwright_trace = playwright_trace
        self._vision = vision
        base = observe_options or ObserveOptions()
        redact = tuple(dict.fromkeys((*base.redact, *sorted(static_secrets))))
        self._observe_options = base.model_copy(update={"redact": redact})
        self._browser = browser
        self._headless = headless
        self._storage_state = Path(storage_state) if storage_state is not None else None
        self.output_type = output_type
        self._instructions = instructions
        self._record_locators = record_locators
        self._upload_dirs = tuple(Path(d).resolve() for d in upload_dirs)
        self._allowed = DomainAllowlist.of(allowed_domains).hosts if allowed_domains is not None else None

    def _settings(self) -> LoopSettings:
        return LoopSettings(
            model=self.model,
            budget=self.budget,
            observe_options=self._observe_options,
            approver=self.approver,
            policy=self.policy,
            skills=self.skills,
            record_locators=self._record_locators,
            on_denial=self._on_denial,
            confidence_threshold=self._confidence_threshold,
            screenshots=self._screenshots,
            vision=self._vision,
            extra_instructions=self._instructions,
        )

    @asynccontextmanager
    async def iter(
        self,
        task: str,
        *,
        start_url: str,
        output_type: Any = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[AgentRun]:
        """Open a run and step through it yourself.

        ``async with agent.iter(task, start_url=url) as run: async for step in run: ...``; after
        the loop, ``run.result`` holds the :class:`RunResult`. Leaving the block early ends the
        run as ``failed`` and closes the browser context.

        Args:
            task: What to do, in plain language.
            start_url: The http(s) page to start from.
            output_type: The type the final output must validate against (overrides the agent's).
            inputs: Named input values of this run (shown to the model; a compiled skill turns
                them into parameters).
        """
        if not start_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"start_url must be an http(s) URL, got {start_url!r}")
        allowlist = DomainAllowlist(hosts=self._allowed) if self._allowed is not None else None
        if allowlist is not None and not allowlist.allows(start_url):
            raise ConfigurationError(
                f"start_url {start_url!r} is outside the allowed domains: "
                + ", ".join(sorted(allowlist.hosts))
            )
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        run_dir = self.trace_dir / run_id if self.trace_dir is not None else None
        secrets = SecretStore(self._secrets)
        trace = TraceWriter(directory=run_dir, redact=secrets.known_values) if run_dir else None
        async with AsyncExitStack() as stack:
            stack.enter_context(register_secret_values(secrets.known_values()))
            if trace is not None:
                stack.callback(trace.close)
            session = self._browser
            if session is None:
                session = await stack.enter_async_context(BrowserSession(headless=self._headless))
            context: RunContext = await stack.enter_async_context(
                await session.new_context(
                    downloads_dir=run_dir / "downloads" if run_dir else None,
                    storage_state=self._storage_state,
                    allowlist=allowlist,
                )
            )
            tracing = self._playwright_trace and run_dir is not None and not self._secrets
            if tracing and run_dir is not None:
                await context.context.tracing.start(screenshots=True, snapshots=True, sources=False)
                stack.push_async_callback(_stop_tracing, context, run_dir / "playwright-trace.zip")
            run = AgentRun(
                settings=self._settings(),
                browser=context,
                run_id=run_id,
                task=task,
                start_url=start_url,
                output_type=output_type if output_type is not None else self.output_type,
                inputs=inputs or {},
                trace=trace,
                allowlist=allowlist,
                secrets=secrets,
                upload_dirs=self._upload_dirs,
            )
            try:
                yield run
            except asyncio.CancelledError:
                await run.finish("failed", "the run was cancelled")
                raise
            finally:
                if run.result is None:
                    await run.finish("failed", "the run was left before it finished")

    @overload
    async def run(
        self,
        task: str,
        *,
        start_url: str,
        output_type: type[OutputT],
        inputs: Mapping[str, Any] | None = None,
    ) -> RunResult[OutputT]: ...
    @overload
    async def run(
        self, task: str, *, start_url: str, output_type: None = None, inputs: Mapping[str, Any] | None = None
    ) -> RunResult[Any]: ...

    async def run(
        self,
        task: str,
        *,
        start_url: str,
        output_type: Any = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> RunResult[Any]:
        """Carry out a task from a start URL and return how it ended.

        The run always terminates: on completion, failure, a request for a person, a denial
        (when configured to stop) or when a budget runs out, including the wall-clock timeout.

        Args:
            task: What to do, in plain language.
            start_url: The http(s) page to start from.
            output_type: The type the final output must validate against.
            inputs: Named input values of this run.

        Returns:
            The :class:`RunResult`; check ``result.status``.
        """
        deadline = asyncio.get_running_loop().time() + self.budget.timeout_s
        async with self.iter(task, start_url=start_url, output_type=output_type, inputs=inputs) as run:
            try:
                async with asyncio.timeout_at(deadline):
                    async for _ in run:
                        pass
            except TimeoutError:
                await run.finish(
                    "budget_exhausted", f"wall-clock budget of {self.budget.timeout_s:g} s used up"
                )
        result = run.result
        assert result is not None  # iter() always finishes the run
        return result

    def run_sync(
        self,
        task: str,
        *,
        start_url: str,
        output_type: Any = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> RunResult[Any]:
        """The synchronous form of :meth:`run`, for scripts.

        Raises:
            SyncInAsyncError: When called inside a running event loop (use ``await agent.run()``).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(task, start_url=start_url, output_type=output_type, inputs=inputs))
        raise SyncInAsyncError(
            "Agent.run_sync() was called inside a running event loop; use `await agent.run(...)` instead"
        )


async def _stop_tracing(context: RunContext, path: Path) -> None:
    try:
        await context.context.tracing.stop(path=path)
    except Exception as exc:  # the run's outcome matters more than its archive
        _log.warning("could not save the Playwright trace", path=str(path), error=str(exc))
