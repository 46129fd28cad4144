"""FunctionModel: a model whose replies come from a Python function, for tests and demos."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from operator_agent.logs import get_logger
from operator_agent.models.base import Message, ModelResponse, ModelSettings, ToolSpec
from operator_agent.models.replies import ReplyLike, to_response

__all__ = ["FunctionModel", "ReplyFunction"]

ReplyFunction = Callable[
    [tuple[Message, ...], tuple[ToolSpec, ...]],
    ReplyLike | Awaitable[ReplyLike],
]
"""``fn(messages, tools)`` returning (or resolving to) a :data:`ReplyLike`."""

# Looked up per use: a logger bound at import time would ignore a later structlog configuration.
_LOGGER = "operator_agent.models"


class FunctionModel:
    """A :class:`~operator_agent.models.Model` that calls ``fn(messages, tools)`` for each reply.

    ``fn`` may be sync or async, and may return anything :data:`ReplyLike`, so a test reads::

        def operator(messages, tools):
            if "Invoice saved" in messages[-1].content:
                return "done"
            return reply(tool_call("fill", ref="e4", text="ACME"), tool_call("click", ref="e9"))

        model = FunctionModel(operator)

    Exceptions raised by ``fn`` propagate unchanged. Each reply reports ``requests=1``, token
    counts estimated from text length and a cost of 0, unless ``fn`` returns a
    :class:`ModelResponse` with its own usage.

    Args:
        fn: The reply function.
        name: The model name shown in logs and responses.
    """

    def __init__(self, fn: ReplyFunction, *, name: str = "function") -> None:
        self._fn = fn
        self._name = name
        self.call_count = 0

    @property
    def name(self) -> str:
        """The model name given at construction."""
        return self._name

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Call the function with the conversation and tools, and shape its result."""
        frozen_messages, frozen_tools = tuple(messages), tuple(tools)
        self.call_count += 1
        result = self._fn(frozen_messages, frozen_tools)
        if inspect.isawaitable(result):
            result = await result
        response = to_response(result, model_name=self._name, messages=frozen_messages, tools=frozen_tools)
        get_logger(_LOGGER).debug(
            "function model reply",
            model=self._name,
            call=self.call_count,
            tool_calls=[c.name for c in response.tool_calls],
        )
        return response

    def __repr__(self) -> str:
        return f"FunctionModel({getattr(self._fn, '__name__', repr(self._fn))}, name={self._name!r})"
