"""The ``@skill`` decorator: a typed async function becomes a :class:`~operator_agent.skills.Skill`.

Everything about the skill comes from the function, so nothing is declared twice: the name (the
function's), the description (the docstring's first paragraph), each parameter's type, default
and description (the docstring's ``Args:`` section) and the JSON schema a model sees, built with
pydantic. A function that cannot become a skill raises
:class:`~operator_agent.errors.SkillDefinitionError` naming the function, its file and the problem.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from operator_agent.actions import ActionKind
from operator_agent.errors import SkillDefinitionError
from operator_agent.skills._docstring import parse_docstring
from operator_agent.skills.model import RESERVED_PARAMETERS, Skill

__all__ = ["skill"]

R = TypeVar("R")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
ACTION_KINDS: frozenset[str] = frozenset(typing.get_args(ActionKind))


def _where(func: Callable[..., Any]) -> str:
    try:
        source = inspect.getsourcefile(func) or "<unknown file>"
        line = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return f"{getattr(func, '__qualname__', func)!s}"
    return f"{func.__qualname__} ({source}:{line})"


def _fail(func: Callable[..., Any], problem: str) -> SkillDefinitionError:
    return SkillDefinitionError(f"cannot make a skill of {_where(func)}: {problem}")


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: _strip_titles(value)
            for key, value in schema.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise _fail(func, f"its annotations cannot be resolved ({type(exc).__name__}: {exc})") from None


def _check_context(func: Callable[..., Any], first: inspect.Parameter | None, hints: dict[str, Any]) -> None:
    from operator_agent.skills.context import SkillContext

    if first is None or first.kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise _fail(
            func,
            "its first parameter must be the SkillContext, as in `async def f(ctx: SkillContext, *, ...)`",
        )
    annotation = hints.get(first.name)
    if annotation is not None and not (isinstance(annotation, type) and issubclass(annotation, SkillContext)):
        raise _fail(
            func, f"its first parameter '{first.name}' must be annotated SkillContext, not {annotation!r}"
        )


def _arguments_model(
    func: Callable[..., Any],
    name: str,
    params: list[inspect.Parameter],
    hints: dict[str, Any],
    docs: dict[str, str],
) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise _fail(func, f"*{param.name} is not allowed: a skill's parameters must be named and typed")
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise _fail(func, f"**{param.name} is not allowed: a skill's parameters must be named and typed")
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise _fail(
                func, f"parameter '{param.name}' is positional-only; make it keyword-only (after `*`)"
            )
        if param.name not in hints:
            raise _fail(
                func, f"parameter '{param.name}' has no type annotation; every parameter must be typed"
            )
        if param.name in RESERVED_PARAMETERS:
            raise _fail(
                func,
                f"parameter '{param.name}' has a reserved name "
                f"(reserved: {', '.join(sorted(RESERVED_PARAMETERS))}); "
                "rename it",
            )
        description = docs.get(param.name)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], Field(default=default, description=description))
    try:
        model = create_model(
            f"{name}_arguments",
            __config__=ConfigDict(extra="forbid", frozen=True),
            **fields,
        )
    except Exception as exc:
        raise _fail(func, f"its parameters cannot be validated ({type(exc).__name__}: {exc})") from None
    result: type[BaseModel] = model
    return result


def _schema(func: Callable[..., Any], model: type[BaseModel]) -> dict[str, Any]:
    try:
        raw = model.model_json_schema()
    except Exception as exc:
        raise _fail(
            func, f"no JSON schema can be built for its parameters ({type(exc).__name__}: {exc})"
        ) from None
    schema: dict[str, Any] = _strip_titles(raw)
    schema.pop("description", None)
    parameters: dict[str, Any] = {"type": "object", "properties": schema.get("properties", {})}
    if schema.get("required"):
        parameters["required"] = list(schema["required"])
    parameters["additionalProperties"] = False
    if "$defs" in schema:
        parameters["$defs"] = schema["$defs"]
    return parameters


def _build(
    func: Callable[..., Awaitable[R]], *, name: str | None, description: str | None, irreversible: bool
) -> Skill[R]:
    if isinstance(func, Skill):
        raise _fail(func.function, "it is already a skill; apply @skill once")
    if not inspect.iscoroutinefunction(func):
        raise _fail(func, "a skill must be an `async def` function")
    skill_name = name if name is not None else func.__name__
    if not _NAME.match(skill_name):
        raise _fail(
            func, f"the name {skill_name!r} must be 1-64 letters, digits or '_', not starting with a digit"
        )
    if skill_name in ACTION_KINDS:
        raise _fail(
            func,
            f"the name {skill_name!r} is an action kind; a skill must not shadow a built-in action "
            f"({', '.join(sorted(ACTION_KINDS))})",
        )
    doc = parse_docstring(func.__doc__)
    text = (description if description is not None else doc.summary).strip()
    if not text:
        raise _fail(
            func,
            "it has no description: write a docstring (its first paragraph tells the model what it does)",
        )
    params = list(inspect.signature(func).parameters.values())
    hints = _hints(func)
    _check_context(func, params[0] if params else None, hints)
    model = _arguments_model(func, skill_name, params[1:], hints, doc.args)
    parameters = _schema(func, model)
    returns = hints.get("return", Any)
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(Any if returns is type(None) else returns)
    except Exception as exc:
        raise _fail(
            func, f"its return type {returns!r} cannot be serialized ({type(exc).__name__}: {exc})"
        ) from None
    return Skill(
        function=func,
        name=skill_name,
        description=text,
        irreversible=irreversible,
        parameters_schema=parameters,
        arguments_model=model,
        return_adapter=adapter,
        source=inspect.getsourcefile(func),
    )


@overload
def skill(func: Callable[..., Awaitable[R]], /) -> Skill[R]: ...


@overload
def skill(
    *, name: str | None = None, description: str | None = None, irreversible: bool = False
) -> Callable[[Callable[..., Awaitable[R]]], Skill[R]]: ...


def skill(
    func: Callable[..., Awaitable[R]] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    irreversible: bool = False,
) -> Skill[R] | Callable[[Callable[..., Awaitable[R]]], Skill[R]]:
    """Make an async function a skill; use as ``@skill`` or ``@skill(irreversible=True)``.

    The function's first parameter is the :class:`~operator_agent.skills.SkillContext`; every
    other parameter must be typed (pydantic-compatible) and is best made keyword-only. Its
    Google-style docstring gives the description (first paragraph) and each parameter's
    description (``Args:``).

    Args:
        func: The function (when used as a bare ``@skill``).
        name: The skill's name; the function's name by default.
        description: What the skill does, for the model; the docstring's first paragraph by default.
        irreversible: The skill as a whole cannot be undone (it pays, sends, deletes...): it asks
            for approval once, with its arguments, before its first step.

    Raises:
        SkillDefinitionError: If the function is not async, a parameter is untyped, ``*args`` or
            ``**kwargs`` are used, the name is invalid or an action kind, there is no
            description, or no JSON schema can be built; the message names the function and file.
    """
    if func is not None:
        return _build(func, name=name, description=description, irreversible=irreversible)

    def decorate(inner: Callable[..., Awaitable[R]]) -> Skill[R]:
        return _build(inner, name=name, description=description, irreversible=irreversible)

    return decorate
