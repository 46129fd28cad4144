"""The vocabulary every model speaks: messages, tool specs, tool calls, responses, usage.

The agent loop only ever talks to a :class:`Model`; whether that is a real endpoint
(:class:`~operator_agent.models.OpenAIModel`) or a test double
(:class:`~operator_agent.models.FunctionModel`, :class:`~operator_agent.models.ScriptedModel`)
does not change a line of it. Every type here is a frozen pydantic model that rejects unknown
fields, and each constructor checks the shape rules of the Chat Completions conversation (a tool
result names the call it answers, only user messages carry images, ...) so a malformed
conversation fails where it is built, not as a 400 from a server three layers away.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from operator_agent.errors import ModelResponseError

__all__ = [
    "ImagePart",
    "Message",
    "Model",
    "ModelResponse",
    "ModelSettings",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# The function-name rule of the Chat Completions API; a name outside it is a 400 from the server.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ImagePart(BaseModel):
    """An image attached to a user message, for vision models (typically a page screenshot).

    Attributes:
        media_type: ``image/png`` or ``image/jpeg``.
        data_b64: The image bytes, base64-encoded (standard alphabet, no data-URL prefix).
    """

    model_config = _FROZEN

    media_type: Literal["image/png", "image/jpeg"]
    data_b64: str

    @field_validator("data_b64")
    @classmethod
    def _check_base64(cls, value: str) -> str:
        if not value:
            raise ValueError("data_b64 is empty: an image needs its base64-encoded bytes")
        if value.startswith("data:"):
            raise ValueError("data_b64 must hold bare base64, not a data: URL")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data_b64 is not valid base64: {exc}") from exc
        return value

    @classmethod
    def from_bytes(
        cls, data: bytes, *, media_type: Literal["image/png", "image/jpeg"] = "image/png"
    ) -> ImagePart:
        """Wrap raw image bytes (such as ``await page.screenshot()``).

        Args:
            data: The encoded image file.
            media_type: Its format.
        """
        return cls(media_type=media_type, data_b64=base64.b64encode(data).decode("ascii"))

    @property
    def data_url(self) -> str:
        """The image as a ``data:`` URL, the form Chat Completions accepts inline."""
        return f"data:{self.media_type};base64,{self.data_b64}"


class ToolSpec(BaseModel):
    """A tool the model may call: its name, what it does, and a JSON schema of its arguments.

    Attributes:
        name: 1-64 letters, digits, ``_`` or ``-``.
        description: What the tool does, written for the model.
        parameters: A JSON schema whose top level is an object.
    """

    model_config = _FROZEN

    name: str
    description: str
    parameters: dict[str, Any]

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _TOOL_NAME.match(value):
            raise ValueError(f"tool name {value!r} must be 1-64 characters of letters, digits, '_' or '-'")
        return value

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise ValueError(
                'tool parameters must be a JSON schema with "type": "object" at the top, '
                f"got type={value.get('type')!r}"
            )
        return value


class ToolCall(BaseModel):
    """One tool call the model asked for.

    Attributes:
        id: The call id; the tool result message must quote it as ``tool_call_id``.
        name: The tool's name.
        arguments: The arguments exactly as the model sent them: JSON text that may be invalid,
            so the agent can tell the model what was wrong and ask again.
    """

    model_config = _FROZEN

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments decoded as a JSON object (empty text counts as ``{}``).

        Raises:
            ModelResponseError: If the text is not JSON, or is JSON but not an object. The message
                names the tool and the call, so it can be sent back to the model as it is.
        """
        if not self.arguments.strip():
            return {}
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError as exc:
            raise ModelResponseError(
                f"arguments of tool call {self.name!r} (id {self.id}) are not valid JSON: {exc.msg} "
                f"at line {exc.lineno} column {exc.colno}; got {_gist(self.arguments, 120)!r}"
            ) from exc
        if not isinstance(value, dict):
            raise ModelResponseError(
                f"arguments of tool call {self.name!r} (id {self.id}) must be a JSON object, "
                f"got {type(value).__name__}: {_gist(self.arguments, 120)!r}"
            )
        return value


class Message(BaseModel):
    """One turn of a Chat Completions conversation.

    Prefer the constructors :meth:`system`, :meth:`user`, :meth:`assistant` and :meth:`tool`.

    Attributes:
        role: Who speaks.
        content: The text.
        images: Images shown to the model; user messages only.
        tool_calls: The calls the model made; assistant messages only.
        tool_call_id: The call a tool message answers; tool messages only (and required there).
    """

    model_config = _FROZEN

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> Message:
        if self.images and self.role != "user":
            raise ValueError(f"only user messages may carry images, not a {self.role} message")
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"only assistant messages may carry tool_calls, not a {self.role} message")
        if self.role == "tool":
            if not self.tool_call_id:
                raise ValueError("a tool message needs tool_call_id: the id of the tool call it answers")
        elif self.tool_call_id is not None:
            raise ValueError(f"only tool messages may carry tool_call_id, not a {self.role} message")
        if self.role == "assistant" and not self.content and not self.tool_calls:
            raise ValueError("an assistant message needs content or tool_calls")
        if self.role == "user" and not self.content and not self.images:
            raise ValueError("a user message needs content or images")
        if self.role == "system" and not self.content:
            raise ValueError("a system message needs content")
        return self

    @classmethod
    def system(cls, content: str) -> Message:
        """A system (instructions) message."""
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str = "", *, images: Sequence[ImagePart] = ()) -> Message:
        """A user message, optionally with images (for vision models)."""
        return cls(role="user", content=content, images=tuple(images))

    @classmethod
    def assistant(cls, content: str = "", *, tool_calls: Sequence[ToolCall] = ()) -> Message:
        """An assistant message, as the model produced it (text, tool calls or both)."""
        return cls(role="assistant", content=content, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        """The result of one tool call, sent back to the model."""
        return cls(role="tool", content=content, tool_call_id=tool_call_id)


class Usage(BaseModel):
    """What model requests consumed. Add two with ``+``.

    ``input_tokens`` counts all prompt tokens, cached ones included; ``cached_input_tokens`` says
    how many of them were served from the provider's prompt cache (billed at a lower rate).
    ``cost_usd`` is None when the price of a model is unknown: the library never guesses.
    """

    model_config = _FROZEN

    requests: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def _is_empty(self) -> bool:
        return self == _EMPTY_USAGE

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        # An empty Usage() is the identity, so sum(usages, Usage()) keeps a known cost known;
        # otherwise one unknown cost makes the total unknown.
        if self._is_empty():
            return other
        if other._is_empty():
            return self
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cost_usd=cost,
        )


_EMPTY_USAGE = Usage()


class ModelResponse(BaseModel):
    """One reply of a model: text, tool calls, or both.

    Attributes:
        text: The assistant text (empty when the model only called tools).
        tool_calls: The tool calls, in the order the model made them.
        usage: What this reply cost.
        model_name: The model that answered, as the server named it.
        finish_reason: Why the model stopped (``stop``, ``tool_calls``, ``length`` ...), if known.
    """

    model_config = _FROZEN

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage
    model_name: str
    finish_reason: str | None = None

    def to_message(self) -> Message:
        """This reply as the assistant message to append to the conversation.

        Raises:
            ModelResponseError: If the reply is empty (no text and no tool calls).
        """
        if not self.text and not self.tool_calls:
            raise ModelResponseError(
                f"model {self.model_name!r} returned an empty reply (no text, no tool calls; "
                f"finish_reason={self.finish_reason!r})"
            )
        return Message.assistant(self.text, tool_calls=self.tool_calls)


class ModelSettings(BaseModel):
    """Per-request knobs. None leaves the server's default.

    Attributes:
        temperature: Sampling temperature, 0-2.
        max_output_tokens: Upper bound on the reply's tokens.
        parallel_tool_calls: Whether the model may call several tools in one reply.
        tool_choice: ``required`` (the default: an operator always acts through tools), ``auto``
            or ``none``. Ignored when a request has no tools.
    """

    model_config = _FROZEN

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_output_tokens: int | None = Field(default=None, gt=0)
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "required", "none"] = "required"


@runtime_checkable
class Model(Protocol):
    """Anything that turns a conversation and a set of tools into a :class:`ModelResponse`."""

    @property
    def name(self) -> str:
        """A name for logs and traces (the model name for real endpoints)."""
        ...

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Ask the model for its next reply.

        Args:
            messages: The conversation so far, oldest first.
            tools: The tools the model may call.
            settings: Per-request settings; None for the model's defaults.

        Raises:
            ModelError: Or a subclass, when no usable reply could be obtained.
        """
        ...


def _gist(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
