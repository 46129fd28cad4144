"""The :class:`Skill`: a named, typed procedure a script awaits directly or a model calls as one tool."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from operator_agent.errors import ConfigurationError, OperatorAgentError, SkillFailedError
from operator_agent.logs import get_logger, redact_text, register_secret_values
from operator_agent.skills.result import SkillResult, SkillStep

if TYPE_CHECKING:
    from operator_agent.skills.context import ApproveCallback, SkillContext

__all__ = ["RESERVED_PARAMETERS", "Skill"]

R = TypeVar("R")

#: Parameter names a skill may not use: they are options of :meth:`Skill.run_standalone`.
RESERVED_PARAMETERS = frozenset({"ctx", "start_url", "headless", "secrets", "approve", "run_dir"})

_MAX_VALUE_CHARS = 1500
_log = get_logger("operator_agent.skills")


def _describe_error(error: ErrorDetails) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(arguments)"
    if error["type"] == "missing":
        return f"'{path}' is required"
    if error["type"] == "extra_forbidden":
        return f"unexpected argument '{path}'"
    shown = json.dumps(error.get("input"), default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"'{path}': {error['msg'].removeprefix('Value error, ')} (got {shown})"


class Skill(Generic[R]):
    """A skill made by :func:`~operator_agent.skills.skill`; await it like the function it wraps.

    ``await enter_invoice(ctx, vendor="Acme", ...)`` validates the arguments, runs the skill and
    returns its value or raises its typed error. :meth:`invoke` is the model-facing path: JSON in,
    a :class:`~operator_agent.skills.SkillResult` out, never an exception for a skill's failure.

    Attributes:
        name: The skill's name (the tool name a model calls).
        description: What it does, for the model.
        irreversible: Whether the skill as a whole needs approval before it starts.
        function: The wrapped async function.
        source: The file that defines it, if known.
    """

    def __init__(
        self,
        *,
        function: Callable[..., Awaitable[R]],
        name: str,
        description: str,
        irreversible: bool,
        parameters_schema: dict[str, Any],
        arguments_model: type[BaseModel],
        return_adapter: TypeAdapter[Any],
        source: str | None,
    ) -> None:
        self.function = function
        self.name = name
        self.description = description
        self.irreversible = irreversible
        self._schema = parameters_schema
        self._arguments = arguments_model
        self._returns = return_adapter
        self.source = source
        self.__doc__ = function.__doc__
        self.__name__ = name
        self.__module__ = function.__module__
        self.__qualname__ = function.__qualname__
        self.__wrapped__ = function

    def __repr__(self) -> str:
        flag = ", irreversible" if self.irreversible else ""
        return f"<Skill {self.name}{flag} from {self.source or self.__module__}>"

    @property
    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (an object schema, no titles, no extra properties)."""
        return copy.deepcopy(self._schema)

    @property
    def parameter_names(self) -> list[str]:
        """The parameters, in the function's order."""
        return list(self._arguments.model_fields)

    def tool_spec(self) -> dict[str, Any]:
        """The skill as a model tool: ``name``, ``description`` and ``parameters``.

        Same shape as each entry of :func:`operator_agent.actions.action_tool_specs`.
        """
        description = self.description
        if self.irreversible:
            description += " (Irreversible: it asks a person for approval before it starts.)"
        return {"name": self.name, "description": description, "parameters": self.parameters_schema}

    # -- validation ----------------------------------------------------------------------------

    def validate_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and convert arguments against the skill's parameter types.

        Returns:
            The arguments as the function receives them (defaults filled in).

        Raises:
            ConfigurationError: If an argument is missing, unexpected or of the wrong type; the
                message names each problem.
        """
        try:
            validated = self._arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = [_describe_error(error) for error in exc.errors(include_url=False)]
            raise ConfigurationError(
                f"invalid arguments for skill '{self.name}': "
                + "; ".join(problems)
                + f" (it takes: {', '.join(self.parameter_names) or 'no arguments'})"
            ) from None
        return {name: getattr(validated, name) for name in self._arguments.model_fields}

    def _jsonable_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        dumped: dict[str, Any] = TypeAdapter(dict[str, Any]).dump_python(dict(arguments), mode="json")
        return dumped

    # -- running -------------------------------------------------------------------------------

    async def __call__(self, ctx: SkillContext, /, **arguments: Any) -> R:
        """Run the skill with Python arguments; returns its value or raises its error.

        Raises:
            ConfigurationError: If the arguments do not fit the parameters.
            ApprovalDeniedError: If the skill (or a step) needed approval and was denied.
            SkillError, ActionError: If the skill failed; the message says at which step.
        """
        return await self._run(ctx, self.validate_arguments(arguments))

    async def _run(self, ctx: SkillContext, arguments: dict[str, Any]) -> R:
        scope = ctx._trail.push(name=self.name, irreversible=self.irreversible)
        nested = len(ctx._trail.scopes) > 1
        started = time.perf_counter()
        ok = False
        try:
            with register_secret_values(ctx._secret_values()):
                ctx.log.info("skill started", arguments=sorted(arguments))
                if self.irreversible:
                    await ctx._trail.approve_skill(scope, self._jsonable_arguments(arguments))
                value = await self.function(ctx, **arguments)
                ok = True
                return value
        finally:
            ctx.log.info(
                "skill finished", ok=ok, duration_ms=round((time.perf_counter() - started) * 1000, 1)
            )
            ctx._trail.pop(scope)
            if nested:
                ctx._trail.record("skill", self.name, ok, "done" if ok else "failed", started)

    async def run(self, ctx: SkillContext, arguments: Mapping[str, Any]) -> SkillResult:
        """Run with arguments given as a mapping, and report how it went.

        Args:
            ctx: The skill context.
            arguments: The skill's arguments (validated first).

        Returns:
            A :class:`SkillResult`. Invalid arguments and the skill's own failures (typed errors,
            Playwright errors, even a bug in the skill) come back with ``ok=False``; only
            cancellation propagates.
        """
        started = time.perf_counter()
        first = len(ctx._trail.steps)
        try:
            validated = self.validate_arguments(arguments)
        except ConfigurationError as exc:
            return SkillResult(skill=self.name, ok=False, message=str(exc), error="InvalidArguments")
        done_before = ctx._trail.irreversible_done
        try:
            value = await self._run(ctx, validated)
        except (OperatorAgentError, PlaywrightError) as exc:
            return self._failure(
                ctx, exc, first, started, irreversible_done=ctx._trail.irreversible_done > done_before
            )
        except Exception as exc:  # a bug in the skill: report it, do not take the run down
            _log.exception("skill crashed", skill=self.name, error=repr(exc))
            return self._failure(
                ctx, exc, first, started, irreversible_done=ctx._trail.irreversible_done > done_before
            )
        steps = tuple(ctx._trail.steps[first:])
        jsonable = self._dump(value)
        shown = json.dumps(jsonable, ensure_ascii=False, default=str)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        message = f"skill '{self.name}' finished ({len(steps)} steps)" + (
            f"; result: {shown}" if value is not None else ""
        )
        return SkillResult(
            skill=self.name,
            ok=True,
            value=jsonable,
            message=redact_text(message, ctx._secret_values()),
            steps=steps,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def invoke(self, ctx: SkillContext, arguments_json: str) -> SkillResult:
        """Run the skill as a model's tool call.

        Args:
            ctx: The run's skill context.
            arguments_json: The tool call's arguments, a JSON object ("" means none).

        Returns:
            The result; invalid arguments and failures come back with ``ok=False`` and a message
            the model can act on, not as exceptions.
        """
        text = arguments_json.strip()
        try:
            arguments = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            return SkillResult(
                skill=self.name,
                ok=False,
                error="InvalidArguments",
                message=(
                    f"the arguments of skill '{self.name}' are not valid JSON "
                    f"({exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}); send one JSON object"
                ),
            )
        if not isinstance(arguments, dict):
            return SkillResult(
                skill=self.name,
                ok=False,
                error="InvalidArguments",
                message=(
                    f"the arguments of skill '{self.name}' must be a JSON object, "
                    f"not {type(arguments).__name__}"
                ),
            )
        return await self.run(ctx, arguments)

    def _dump(self, value: Any) -> Any:
        try:
            return self._returns.dump_python(value, mode="json")
        except Exception:
            try:
                return TypeAdapter(Any).dump_python(value, mode="json")
            except Exception:
                return repr(value)

    def _failure(
        self, ctx: SkillContext, exc: BaseException, first: int, started: float, *, irreversible_done: bool
    ) -> SkillResult:
        steps = tuple(ctx._trail.steps[first:])
        failed = _failed_step(exc, steps)
        detail = str(exc).strip() or type(exc).__name__
        if isinstance(exc, PlaywrightError):
            detail = detail.splitlines()[0]
        where = f" at {failed}" if failed else ""
        message = f"skill '{self.name}' failed{where}: {detail}"
        if not irreversible_done:
            message += "; no irreversible step was carried out"
        return SkillResult(
            skill=self.name,
            ok=False,
            message=redact_text(message, ctx._secret_values()),
            error=type(exc).__name__,
            failed_step=failed,
            steps=steps,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def run_standalone(
        self,
        *,
        start_url: str,
        headless: bool = True,
        secrets: Mapping[str, str] | None = None,
        approve: ApproveCallback | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        **arguments: Any,
    ) -> R:
        """Start a browser, open ``start_url`` and run the skill: for a script or a quick try-out.

        Args:
            start_url: The page to open first.
            headless: Run Chromium without a window.
            secrets: Named secret values the skill fills by name.
            approve: The approval callback; ``None`` allows every step.
            run_dir: The folder for downloads and uploads; a temporary one when ``None``.
            **arguments: The skill's own arguments.

        Returns:
            The skill's value.

        Raises:
            ConfigurationError: If the arguments do not fit the parameters.
            BrowserError: If Chromium could not be started.
            SkillError, ActionError, ApprovalDeniedError: If the skill failed.
        """
        from operator_agent.browser import BrowserSession
        from operator_agent.skills.context import SkillContext

        validated = self.validate_arguments(arguments)
        async with AsyncExitStack() as stack:
            session = await stack.enter_async_context(BrowserSession(headless=headless))
            folder = Path(run_dir) if run_dir is not None else None
            downloads = folder / "downloads" if folder is not None else None
            run = await stack.enter_async_context(await session.new_context(downloads_dir=downloads))
            await run.page.goto(start_url, wait_until="domcontentloaded")
            ctx = SkillContext(tabs=run, secrets=secrets, approve=approve, run_dir=folder)
            return await self._run(ctx, validated)
        raise AssertionError("unreachable")  # pragma: no cover - the block returns or raises


def _failed_step(exc: BaseException, steps: tuple[SkillStep, ...]) -> str | None:
    if isinstance(exc, SkillFailedError) and exc.step:
        return exc.step
    for step in reversed(steps):
        if not step.ok:
            return step.describe()
    if steps:
        return f"the step after {steps[-1].describe()}"
    return None
