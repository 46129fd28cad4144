"""One-line replies for test models: ``reply(tool_call("click", ref="e3"))``.

:class:`~operator_agent.models.FunctionModel` and :class:`~operator_agent.models.ScriptedModel`
accept anything of type :data:`ReplyLike` and turn it into a :class:`ModelResponse`:

- a ``str``: a text-only reply;
- a :class:`ToolCall` (from :func:`tool_call` or :func:`raw_tool_call`): a reply with that call;
- a sequence of those: several tool calls (and text) in one reply;
- a :class:`ModelResponse` (from :func:`reply`, or built by hand) used as it is.

A response whose usage is empty (``Usage()``, as :func:`reply` leaves it) gets an estimate from
the text lengths (about four characters per token, cost 0); an empty ``model_name`` becomes the
test model's name.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from typing import Any, TypeAlias

from operator_agent.errors import ConfigurationError
from operator_agent.models.base import Message, ModelResponse, ToolCall, ToolSpec, Usage

__all__ = ["ReplyLike", "estimate_usage", "raw_tool_call", "reply", "to_response", "tool_call"]

ReplyLike: TypeAlias = ModelResponse | ToolCall | str | Sequence[ToolCall | str]
"""What a test model's function or script may give for one reply."""

# Roughly what a vision model charges for one low-detail image.
_IMAGE_TOKENS = 85
_CHARS_PER_TOKEN = 4


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_call(name: str, /, **arguments: Any) -> ToolCall:
    """A tool call with JSON-encoded keyword arguments and a fresh id.

    Example: ``tool_call("fill", ref="e4", text="ACME Ltd")``.

    Args:
        name: The tool's name.
        **arguments: The call's arguments; they must be JSON-serializable.

    Raises:
        ConfigurationError: If an argument cannot be encoded as JSON.
    """
    try:
        encoded = json.dumps(arguments, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"arguments of tool call {name!r} are not JSON-serializable: {exc}") from exc
    return ToolCall(id=_new_call_id(), name=name, arguments=encoded)


def raw_tool_call(name: str, arguments: str, *, call_id: str | None = None) -> ToolCall:
    """A tool call with its argument text given verbatim, valid JSON or not.

    Use it to test how the agent copes with a model that sends broken arguments.

    Args:
        name: The tool's name.
        arguments: The raw argument text.
        call_id: The call id; a fresh one by default.
    """
    return ToolCall(id=call_id or _new_call_id(), name=name, arguments=arguments)


def reply(*parts: ToolCall | str, finish_reason: str | None = None) -> ModelResponse:
    """One model reply made of text and tool calls, in one line.

    Strings are joined (with a newline) into the reply text; tool calls keep their order.
    Usage and model name are filled in by the test model that returns the reply.

    Args:
        *parts: Text and tool calls.
        finish_reason: Defaults to ``tool_calls`` when there are calls, else ``stop``.
    """
    texts = [p for p in parts if isinstance(p, str)]
    calls = tuple(p for p in parts if isinstance(p, ToolCall))
    reason = finish_reason or ("tool_calls" if calls else "stop")
    return ModelResponse(
        text="\n".join(texts), tool_calls=calls, usage=Usage(), model_name="", finish_reason=reason
    )


def estimate_usage(messages: Sequence[Message], tools: Sequence[ToolSpec], response: ModelResponse) -> Usage:
    """A plausible usage for a test reply: about four characters per token, cost 0."""
    input_chars = 0
    images = 0
    for message in messages:
        input_chars += len(message.content)
        images += len(message.images)
        for call in message.tool_calls:
            input_chars += len(call.name) + len(call.arguments)
    for tool in tools:
        input_chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    output_chars = len(response.text) + sum(len(c.name) + len(c.arguments) for c in response.tool_calls)
    return Usage(
        requests=1,
        input_tokens=math.ceil(input_chars / _CHARS_PER_TOKEN) + images * _IMAGE_TOKENS,
        output_tokens=math.ceil(output_chars / _CHARS_PER_TOKEN),
        cost_usd=0.0,
    )


def to_response(
    value: ReplyLike, *, model_name: str, messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> ModelResponse:
    """Turn a :data:`ReplyLike` into a complete :class:`ModelResponse`.

    Raises:
        ConfigurationError: If ``value`` is none of the accepted shapes.
    """
    if isinstance(value, ModelResponse):
        response = value
    elif isinstance(value, str | ToolCall):
        response = reply(value)
    elif isinstance(value, Sequence) and all(isinstance(p, str | ToolCall) for p in value):
        response = reply(*value)
    else:
        raise ConfigurationError(
            f"test model {model_name!r} got a reply of type {type(value).__name__}; expected a "
            "ModelResponse, a ToolCall, a str, or a sequence of ToolCall and str"
        )
    updates: dict[str, Any] = {}
    if not response.model_name:
        updates["model_name"] = model_name
    if response.usage == Usage():
        updates["usage"] = estimate_usage(messages, tools, response)
    return response.model_copy(update=updates) if updates else response
