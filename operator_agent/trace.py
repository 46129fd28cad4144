"""Run traces: one directory per run with ``trace.jsonl``, screenshots and a Playwright trace.

Each line of ``trace.jsonl`` is one pydantic-validated record: a ``run_start``, one ``step`` per loop
iteration, then a ``run_end``. Records carry a schema version so that tools reading old traces
(replay, the compiler) can refuse what they do not understand instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from operator_agent.errors import TraceError
from operator_agent.logs import redact_text
from operator_agent.models import Usage

__all__ = [
    "TRACE_SCHEMA_VERSION",
    "ActionRecord",
    "RunEndRecord",
    "RunStartRecord",
    "RunStatus",
    "StepRecord",
    "TraceRecord",
    "TraceWriter",
    "read_trace",
]

TRACE_SCHEMA_VERSION = 1

RunStatus = Literal["completed", "failed", "needs_review", "denied", "budget_exhausted"]
"""How a run ended:

* ``completed``: the model called ``done``, the output validated and its confidence was high enough;
* ``failed``: the model gave up, the run got stuck, or an error made it impossible to go on;
* ``needs_review``: the model asked for a person, or finished with low confidence;
* ``denied``: an action that needed approval was denied and the run is configured to stop then;
* ``budget_exhausted``: steps, tokens, cost or wall-clock time ran out.
"""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = TRACE_SCHEMA_VERSION
    run_id: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))


class RunStartRecord(_Record):
    """The first record of a run: what was asked."""

    type: Literal["run_start"] = "run_start"
    task: str
    start_url: str
    model_name: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = None


class ActionRecord(BaseModel):
    """One action the model asked for and what came of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_call_id: str
    kind: str
    arguments: dict[str, Any]
    target: str | None = None
    ok: bool
    message: str
    error: str | None = None
    navigated: bool = False
    url_after: str | None = None
    duration_ms: float = 0.0
    locators: list[dict[str, str]] = Field(default_factory=list)


class StepRecord(_Record):
    """One iteration of the loop: observation, the model's reply, actions and outcomes."""

    type: Literal["step"] = "step"
    step: int
    url: str
    title: str
    observation_tokens: int
    observation_digest: str
    model_text: str = ""
    actions: list[ActionRecord] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    observe_ms: float = 0.0
    model_ms: float = 0.0
    act_ms: float = 0.0
    screenshot: str | None = None


class RunEndRecord(_Record):
    """The last record of a run."""

    type: Literal["run_end"] = "run_end"
    status: RunStatus
    reason: str = ""
    output: Any = None
    steps: int
    usage: Usage = Field(default_factory=Usage)
    duration_s: float


TraceRecord = Annotated[RunStartRecord | StepRecord | RunEndRecord, Field(discriminator="type")]
_RECORD_ADAPTER: TypeAdapter[RunStartRecord | StepRecord | RunEndRecord] = TypeAdapter(TraceRecord)


class TraceWriter:
    """Writes one run's trace directory.

    Args:
        directory: The run's own directory; created if missing.
        redact: Returns the values that must never be written (asked at every write, so values
            revealed during the run count too); they are replaced before anything hits the disk.
    """

    def __init__(self, *, directory: Path, redact: Callable[[], Iterable[str]] | None = None) -> None:
        self.directory = directory
        self._redact = redact
        directory.mkdir(parents=True, exist_ok=True)
        self._file = (directory / "trace.jsonl").open("a", encoding="utf-8")

    @property
    def path(self) -> Path:
        """The ``trace.jsonl`` file."""
        return self.directory / "trace.jsonl"

    def write(self, record: RunStartRecord | StepRecord | RunEndRecord) -> None:
        """Append one record and flush it, so a crash loses at most the step under way."""
        line = record.model_dump_json()
        if self._redact is not None:
            line = redact_text(line, self._redact())
        self._file.write(line + "\n")
        self._file.flush()

    def screenshot_path(self, step: int) -> Path:
        """Where the screenshot of ``step`` goes."""
        return self.directory / f"step-{step:03d}.png"

    def close(self) -> None:
        """Close the file; idempotent."""
        if not self._file.closed:
            self._file.close()


def read_trace(directory: str | Path) -> list[RunStartRecord | StepRecord | RunEndRecord]:
    """Read and validate a run's ``trace.jsonl``.

    Args:
        directory: A run directory (or the ``trace.jsonl`` file itself).

    Raises:
        TraceError: If the file is missing, a line is not valid JSON, a record does not validate,
            or its schema version is newer than this library understands. The message names the
            file and line.
    """
    path = Path(directory)
    if path.is_dir():
        path = path / "trace.jsonl"
    if not path.is_file():
        raise TraceError(f"no trace found at {path}")
    records: list[RunStartRecord | StepRecord | RunEndRecord] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if isinstance(version, int) and version > TRACE_SCHEMA_VERSION:
            raise TraceError(
                f"{path}:{number}: trace schema version {version} is newer than the supported "
                f"{TRACE_SCHEMA_VERSION}; upgrade operator-agent"
            )
        try:
            records.append(_RECORD_ADAPTER.validate_python(raw))
        except ValidationError as exc:
            raise TraceError(f"{path}:{number}: invalid trace record: {exc.errors()[0]['msg']}") from None
    return records
