"""Translation between the library's message types and the Chat Completions wire format.

Pure functions, no I/O: :mod:`operator_agent.models.openai` sends what these build and reads what
they parse, and tests check the shapes without a server.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from operator_agent.errors import ModelResponseError
from operator_agent.models.base import Message, ModelSettings, ToolCall, ToolSpec

__all__ = [
    "ImageDetail",
    "MaxTokensParam",
    "build_request_params",
    "message_to_chat",
    "parse_tool_calls",
    "tool_to_chat",
]

ImageDetail = Literal["auto", "low", "high"]
MaxTokensParam = Literal["max_completion_tokens", "max_tokens"]


def message_to_chat(message: Message, *, image_detail: ImageDetail = "auto") -> dict[str, Any]:
    """One :class:`Message` as a Chat Completions message object.

    Images become ``image_url`` parts holding ``data:`` URLs; tool results become ``role=tool``
    messages quoting their ``tool_call_id``.
    """
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        if not message.images:
            return {"role": "user", "content": message.content}
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        parts.extend(
            {"type": "image_url", "image_url": {"url": image.data_url, "detail": image_detail}}
            for image in message.images
        )
        return {"role": "user", "content": parts}
    if message.role == "assistant":
        chat: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            chat["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
        return chat
    return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}


def tool_to_chat(tool: ToolSpec) -> dict[str, Any]:
    """One :class:`ToolSpec` as a Chat Completions function tool."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def build_request_params(
    *,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    settings: ModelSettings,
    image_detail: ImageDetail = "auto",
    max_tokens_param: MaxTokensParam = "max_completion_tokens",
) -> dict[str, Any]:
    """The body fields of a chat completion request, except ``model``.

    Settings left at None are not sent (the server's default applies). ``tool_choice`` and
    ``parallel_tool_calls`` are only sent with tools: servers reject them otherwise.
    """
    params: dict[str, Any] = {"messages": [message_to_chat(m, image_detail=image_detail) for m in messages]}
    if tools:
        params["tools"] = [tool_to_chat(t) for t in tools]
        params["tool_choice"] = settings.tool_choice
        if settings.parallel_tool_calls is not None:
            params["parallel_tool_calls"] = settings.parallel_tool_calls
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.max_output_tokens is not None:
        params[max_tokens_param] = settings.max_output_tokens
    return params


def parse_tool_calls(raw_calls: Sequence[Any], *, model_name: str) -> tuple[ToolCall, ...]:
    """The tool calls of a completion message as :class:`ToolCall` objects.

    Arguments are kept as the raw text the model sent, valid JSON or not. A call without an id
    (some local servers omit it) gets a generated one, so tool results can still quote it.

    Raises:
        ModelResponseError: For a call that is not a function call or has no function name.
    """
    calls: list[ToolCall] = []
    for index, raw in enumerate(raw_calls):
        kind = getattr(raw, "type", None) or "function"  # some local servers omit the type
        function = getattr(raw, "function", None)
        if kind != "function" or function is None:
            raise ModelResponseError(
                f"model {model_name!r} returned tool call #{index + 1} of type {kind!r}; "
                "only function tool calls are supported"
            )
        name = getattr(function, "name", None)
        if not name:
            raise ModelResponseError(
                f"model {model_name!r} returned tool call #{index + 1} without a function name"
            )
        call_id = getattr(raw, "id", None) or f"call_{uuid.uuid4().hex[:24]}"
        calls.append(ToolCall(id=call_id, name=name, arguments=getattr(function, "arguments", None) or ""))
    return tuple(calls)
