"""ScriptedModel: a model that plays a fixed list of replies in order and records every request."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

from operator_agent.errors import ScriptExhaustedError
from operator_agent.logs import get_logger
from operator_agent.models.base import Message, ModelResponse, ModelSettings, ToolSpec, _gist
from operator_agent.models.replies import ReplyLike, to_response

__all__ = ["ModelRequest", "ScriptEntry", "ScriptedModel"]

# Looked up per use: a logger bound at import time would ignore a later structlog configuration.
_LOGGER = "operator_agent.models"


@dataclass(frozen=True)
class ModelRequest:
    """One request a test model received.

    Attributes:
        messages: The conversation sent.
        tools: The tools offered.
        settings: The settings given, if any.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    settings: ModelSettings | None

    @property
    def last_message(self) -> Message | None:
        """The newest message, usually the latest observation or tool result."""
        return self.messages[-1] if self.messages else None

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The names of the tools offered."""
        return tuple(t.name for t in self.tools)


ScriptEntry: TypeAlias = (
    ReplyLike
    | BaseException
    | type[BaseException]
    | Callable[[ModelRequest], ReplyLike | BaseException | Awaitable[ReplyLike | BaseException]]
)
"""One step of a script: a reply, an exception to raise, or a function of the request."""


class ScriptedModel:
    """A :class:`~operator_agent.models.Model` that returns scripted replies in order.

    Each entry is one of:

    - anything :data:`~operator_agent.models.ReplyLike` (text, tool calls, a ``reply(...)``);
    - an exception instance or class, raised when that step is reached (to test error paths);
    - a callable taking the :class:`ModelRequest` and returning a reply (or an exception to
      raise), sync or async, for replies that depend on what the agent observed.

    Every request is recorded in :attr:`calls`, including one that fails. Asking for more replies
    than the script holds raises :class:`~operator_agent.errors.ScriptExhaustedError`; call
    :meth:`assert_complete` at the end of a test to check every reply was used.

    Args:
        replies: The script.
        name: The model name shown in logs and responses.
    """

    def __init__(self, replies: Sequence[ScriptEntry], *, name: str = "scripted") -> None:
        if isinstance(replies, str):
            # A bare string would be played one character per step.
            replies = [replies]
        self._replies: tuple[ScriptEntry, ...] = tuple(replies)
        self._name = name
        self._next = 0
        self.calls: list[ModelRequest] = []

    @property
    def name(self) -> str:
        """The model name given at construction."""
        return self._name

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._replies) - self._next

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Record the request and play the next step of the script."""
        call = ModelRequest(messages=tuple(messages), tools=tuple(tools), settings=settings)
        self.calls.append(call)
        step = self._next + 1
        if self._next >= len(self._replies):
            raise ScriptExhaustedError(
                f"ScriptedModel {self._name!r} was asked for reply {step} but its script holds "
                f"{len(self._replies)}; last message: {_describe(call.last_message)}"
            )
        entry = self._replies[self._next]
        self._next += 1
        get_logger(_LOGGER).debug("scripted model step", model=self._name, step=step, of=len(self._replies))
        if _is_exception(entry):
            raise entry
        value: object = entry
        if callable(entry) and not isinstance(entry, ModelResponse | str):
            value = entry(call)
            if inspect.isawaitable(value):
                value = await value
            if _is_exception(value):
                raise value
        return to_response(value, model_name=self._name, messages=call.messages, tools=call.tools)  # type: ignore[arg-type]

    def assert_complete(self) -> None:
        """Check the whole script was played.

        Raises:
            AssertionError: Naming how many replies were left unused.
        """
        if self.remaining:
            raise AssertionError(
                f"ScriptedModel {self._name!r}: {self.remaining} of {len(self._replies)} scripted replies "
                f"left unused (the model was asked {len(self.calls)} time(s); next unused reply is "
                f"#{self._next + 1})"
            )

    def __repr__(self) -> str:
        return f"ScriptedModel(name={self._name!r}, step={self._next}/{len(self._replies)})"


def _is_exception(value: object) -> TypeGuard[BaseException | type[BaseException]]:
    return isinstance(value, BaseException) or (isinstance(value, type) and issubclass(value, BaseException))


def _describe(message: Message | None) -> str:
    if message is None:
        return "(no messages)"
    extras = []
    if message.tool_calls:
        extras.append("tool calls: " + ", ".join(c.name for c in message.tool_calls))
    if message.images:
        extras.append(f"{len(message.images)} image(s)")
    suffix = f" [{'; '.join(extras)}]" if extras else ""
    return f"{message.role}: {_gist(message.content, 160)!r}{suffix}"
