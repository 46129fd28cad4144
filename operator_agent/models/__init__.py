"""Models: the :class:`Model` protocol, the OpenAI-compatible client and test doubles.

``ALLOW_MODEL_REQUESTS`` is the switch test suites turn off (directly, or with
:func:`override_allow_model_requests`) so that no request can reach a real, non-loopback model
endpoint; :class:`OpenAIModel` raises :class:`~operator_agent.errors.UnexpectedModelRequestError`
instead, before any network I/O.
"""

from __future__ import annotations

from operator_agent.models.base import (
    ImagePart,
    Message,
    Model,
    ModelResponse,
    ModelSettings,
    ToolCall,
    ToolSpec,
    Usage,
)
from operator_agent.models.function import FunctionModel, ReplyFunction
from operator_agent.models.guard import is_loopback_host, override_allow_model_requests
from operator_agent.models.openai import OpenAIModel, retry_after_seconds
from operator_agent.models.pricing import DEFAULT_PRICES, ModelPrice, PriceTable
from operator_agent.models.replies import ReplyLike, raw_tool_call, reply, tool_call
from operator_agent.models.scripted import ModelRequest, ScriptedModel, ScriptEntry

__all__ = [
    "ALLOW_MODEL_REQUESTS",
    "DEFAULT_PRICES",
    "FunctionModel",
    "ImagePart",
    "Message",
    "Model",
    "ModelPrice",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "OpenAIModel",
    "PriceTable",
    "ReplyFunction",
    "ReplyLike",
    "ScriptEntry",
    "ScriptedModel",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "is_loopback_host",
    "override_allow_model_requests",
    "raw_tool_call",
    "reply",
    "retry_after_seconds",
    "tool_call",
]

ALLOW_MODEL_REQUESTS: bool = True
"""Whether :class:`OpenAIModel` may call a non-loopback endpoint. Tests set it to False."""
