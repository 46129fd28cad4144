"""Model cassettes: record a model's answers once, replay them deterministically at zero cost.

:class:`CassetteModel` wraps a model. In ``record`` mode it passes every request to the inner model
and writes request and response to a JSON file; in ``replay`` mode it answers from the file and never
calls a model, so a CI job runs the agent's steps exactly as recorded, offline.

Requests are matched in order. Each is stored normalized (messages, tool names and a hash of their
schemas, settings; images reduced to a hash) and keyed by a hash of that, plus a fingerprint of the
observation the agent sent (the page outline). When a replayed request differs from the recorded
one, :class:`~operator_agent.errors.CassetteMismatchError` says which request, what changed (the
page, the conversation, the tools) and shows a unified diff.

Secrets never reach the file: values registered with
:func:`operator_agent.logs.register_secret_values` (an agent registers its secrets) and the values
given as ``redact`` are replaced, as are bearer tokens, API-key-shaped strings and the values of
fields such as ``password`` or ``authorization``. Authentication headers are not part of a model
request at all: the inner model holds them, the cassette never sees them.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ValidationError

from operator_agent.errors import CassetteMismatchError, ConfigurationError, ReplayError
from operator_agent.logs import REDACTED, get_logger, redact_text
from operator_agent.models import Message, Model, ModelResponse, ModelSettings, ToolSpec

__all__ = ["CASSETTE_VERSION", "LOCAL_ORIGINS", "CassetteMode", "CassetteModel"]

CASSETTE_VERSION: Final = 1
CassetteMode = Literal["record", "replay"]

_log = get_logger("operator_agent.replay.cassette")

#: A ``volatile`` pattern for the origins of local mock sites, which get a new port on every run.
LOCAL_ORIGINS: Final = r"https?://(?:127\.0\.0\.1|localhost|\[::1\]):\d+"

_SENSITIVE_KEYS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api_key",
        "api-key",
        "apikey",
        "x-api-key",
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "cookie",
        "set-cookie",
    }
)
_PATTERNS: Final = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}"), REDACTED),
)
_OBSERVATION_MARK = "Current page"
_DIFF_LINES = 120


class CassetteModel:
    """A :class:`~operator_agent.models.Model` that records to, or replays from, a cassette file.

    Args:
        inner: The model to record (required in ``record`` mode; unused in ``replay``).
        path: The cassette file (JSON).
        mode: ``record`` calls ``inner`` and writes the file (starting it afresh); ``replay``
            answers from the file and never calls a model.
        redact: More values that must never be written (on top of registered secrets).
        volatile: Regular expressions for parts of a request that change from run to run (dates,
            generated ids); their matches are masked before requests are compared.

    Raises:
        ConfigurationError: If ``record`` has no inner model, or a ``volatile`` pattern is invalid.
        ReplayError: In ``replay``, if the file is missing, corrupt or of a newer version.
    """

    def __init__(
        self,
        *,
        inner: Model | None = None,
        path: str | os.PathLike[str],
        mode: CassetteMode,
        redact: Sequence[str] = (),
        volatile: Sequence[str] = (),
    ) -> None:
        if mode not in ("record", "replay"):
            raise ConfigurationError(f"CassetteModel mode must be 'record' or 'replay', got {mode!r}")
        if mode == "record" and inner is None:
            raise ConfigurationError("CassetteModel in record mode needs the inner model to record")
        self.path = Path(path)
        self.mode: CassetteMode = mode
        self._inner = inner
        self._redact = tuple(v for v in redact if v)
        try:
            self._volatile = tuple(re.compile(p) for p in volatile)
        except re.error as exc:
            raise ConfigurationError(f"CassetteModel volatile pattern is invalid: {exc}") from None
        self._next = 0
        self.calls = 0
        if mode == "replay":
            self._data = self._load()
        else:
            self._data = {
                "version": CASSETTE_VERSION,
                "model": inner.name if inner is not None else "",
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "interactions": [],
            }

    @property
    def name(self) -> str:
        """The recorded model's name."""
        if self._inner is not None and self.mode == "record":
            return self._inner.name
        return str(self._data.get("model") or "cassette")

    @property
    def interactions(self) -> int:
        """How many request/response pairs the cassette holds."""
        return len(self._data["interactions"])

    @property
    def remaining(self) -> int:
        """In ``replay``, how many recorded interactions have not been replayed yet."""
        return self.interactions - self._next if self.mode == "replay" else 0

    def assert_complete(self) -> None:
        """Check that a replay used every recorded interaction.

        Raises:
            AssertionError: Naming how many were left.
        """
        if self.remaining:
            raise AssertionError(
                f"cassette {self.path}: {self.remaining} of {self.interactions} recorded model requests "
                "were not replayed (the run stopped earlier than when it was recorded)"
            )

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Record or replay one request (see the class description)."""
        self.calls += 1
        normalized = self._normalize(messages, tools, settings)
        key = _digest(_keyed(normalized))
        fingerprint = _digest(_observation(normalized))
        if self.mode == "replay":
            return self._replay(normalized, key, fingerprint)
        assert self._inner is not None
        response = await self._inner.request(messages, tools=tools, settings=settings)
        stored = self._scrub_json(response.model_dump(mode="json"))
        self._data["interactions"].append(
            {
                "index": len(self._data["interactions"]) + 1,
                "key": key,
                "observation": fingerprint,
                "request": normalized,
                "response": stored,
            }
        )
        self._save()
        return response

    # -- replay --------------------------------------------------------------------------------------

    def _replay(self, normalized: dict[str, Any], key: str, fingerprint: str) -> ModelResponse:
        index = self._next + 1
        recorded = self._data["interactions"]
        if self._next >= len(recorded):
            raise CassetteMismatchError(
                f"model request {index} was not recorded: cassette {self.path} holds {len(recorded)} "
                "interactions and the run asked for more; re-record it (mode='record') if the run changed",
                index=index,
            )
        entry = recorded[self._next]
        if entry.get("key") != key:
            raise self._mismatch(index, entry, normalized, fingerprint)
        self._next += 1
        try:
            response = ModelResponse.model_validate(entry["response"])
        except (ValidationError, KeyError) as exc:
            raise ReplayError(
                f"cassette {self.path}: interaction {index} has an invalid response: {exc}"
            ) from None
        _log.debug("cassette replayed a response", cassette=str(self.path), index=index)
        return response

    def _mismatch(
        self, index: int, entry: dict[str, Any], normalized: dict[str, Any], fingerprint: str
    ) -> CassetteMismatchError:
        before: dict[str, Any] = entry.get("request") or {}
        changed = []
        if entry.get("observation") != fingerprint:
            changed.append("the page observation")
        if before.get("tools") != normalized["tools"]:
            changed.append("the tools offered")
        if before.get("settings") != normalized["settings"]:
            changed.append("the settings")
        if _conversation(before) != _conversation(normalized):
            changed.append("the conversation")
        what = ", ".join(changed) or "the request"
        lines = list(
            difflib.unified_diff(
                _lines(before, self._volatile),
                _lines(normalized, self._volatile),
                fromfile=f"recorded request {index}",
                tofile=f"request {index} now",
                n=2,
                lineterm="",
            )
        )
        if len(lines) > _DIFF_LINES:
            lines = [*lines[:_DIFF_LINES], f"... ({len(lines) - _DIFF_LINES} more diff lines)"]
        diff = "\n".join(lines)
        return CassetteMismatchError(
            f"model request {index} does not match cassette {self.path}: {what} changed since it was "
            f"recorded; re-record the cassette (mode='record') if the change is expected\n{diff}",
            index=index,
            diff=diff,
        )

    # -- normalizing, scrubbing, storing --------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = redact_text(text)
        if self._redact:
            text = redact_text(text, self._redact)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def _scrub_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub_arguments(value) if value.lstrip().startswith("{") else self._scrub(value)
        if isinstance(value, dict):
            return {
                k: (REDACTED if k.lower() in _SENSITIVE_KEYS and v else self._scrub_json(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._scrub_json(v) for v in value]
        return value

    def _scrub_arguments(self, text: str) -> str:
        """Tool call arguments are JSON text: scrub the values inside, keep them JSON."""
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return self._scrub(text)
        return json.dumps(self._scrub_json(decoded), ensure_ascii=False, sort_keys=True)

    def _normalize(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], settings: ModelSettings | None
    ) -> dict[str, Any]:
        shown: list[dict[str, Any]] = []
        for message in messages:
            item: dict[str, Any] = {"role": message.role, "content": self._mask(self._scrub(message.content))}
            if message.tool_calls:
                item["tool_calls"] = [
                    {"id": c.id, "name": c.name, "arguments": self._mask(self._scrub_arguments(c.arguments))}
                    for c in message.tool_calls
                ]
            if message.tool_call_id is not None:
                item["tool_call_id"] = message.tool_call_id
            if message.images:
                # Screenshots differ by a pixel from run to run: kept for the record, not compared.
                item["images"] = [_image_digest(image.media_type, image.data_b64) for image in message.images]
            shown.append(item)
        schemas = json.dumps([t.model_dump(mode="json") for t in tools], sort_keys=True)
        return {
            "messages": shown,
            "tools": {"names": [t.name for t in tools], "schemas": _digest(schemas)},
            "settings": settings.model_dump(mode="json", exclude_none=True) if settings is not None else None,
        }

    def _mask(self, text: str) -> str:
        for pattern in self._volatile:
            text = pattern.sub("<volatile>", text)
        return text

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise ReplayError(
                f"no cassette at {self.path}: record it first (CassetteModel(mode='record', inner=...))"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ReplayError(f"cassette {self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise ReplayError(f"cassette {self.path} has no list of interactions; is it a cassette?")
        version = data.get("version")
        if not isinstance(version, int) or version > CASSETTE_VERSION:
            raise ReplayError(
                f"cassette {self.path} has version {version!r}; this operator-agent reads version "
                f"{CASSETTE_VERSION} and older"
            )
        return data

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self._data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)


def _image_digest(media_type: str, data_b64: str) -> str:
    return f"{media_type} sha256:{hashlib.sha256(base64.b64decode(data_b64)).hexdigest()[:16]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _keyed(normalized: dict[str, Any]) -> str:
    messages = [{k: v for k, v in m.items() if k != "images"} for m in normalized["messages"]]
    return json.dumps({**normalized, "messages": messages}, sort_keys=True, ensure_ascii=False)


def _observation(normalized: dict[str, Any]) -> str:
    for message in reversed(normalized["messages"]):
        if message["role"] == "user" and _OBSERVATION_MARK in message["content"]:
            return str(message["content"])
    users = [m["content"] for m in normalized["messages"] if m["role"] == "user"]
    return str(users[-1]) if users else ""


def _conversation(normalized: dict[str, Any]) -> list[Any]:
    return [
        {k: v for k, v in m.items() if k != "images"}
        for m in normalized.get("messages", [])
        if not (m.get("role") == "user" and _OBSERVATION_MARK in str(m.get("content", "")))
    ]


def _lines(normalized: dict[str, Any], volatile: Sequence[re.Pattern[str]]) -> list[str]:
    lines: list[str] = []
    for number, message in enumerate(normalized.get("messages", [])):
        head = f"[{number}] {message.get('role')}"
        if message.get("tool_call_id"):
            head += f" (answers {message['tool_call_id']})"
        lines.append(head + ":")
        lines += [f"    {line}" for line in str(message.get("content", "")).splitlines()]
        for call in message.get("tool_calls", []):
            lines.append(f"    -> {call.get('name')} {call.get('arguments')}")
        for image in message.get("images", []):
            lines.append(f"    [image {image}]")
    tools = normalized.get("tools") or {}
    lines.append(f"tools: {', '.join(tools.get('names', []))} (schemas {tools.get('schemas')})")
    lines.append(f"settings: {json.dumps(normalized.get('settings'), sort_keys=True)}")
    return lines
