"""The result of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from operator_agent.models import Usage
from operator_agent.trace import RunStatus, StepRecord

__all__ = ["RunResult", "RunStatus"]

OutputT = TypeVar("OutputT")


@dataclass(frozen=True)
class RunResult(Generic[OutputT]):
    """What a run produced.

    Attributes:
        run_id: The run's id (also the name of its trace directory).
        status: How the run ended.
        output: The validated output when ``status == "completed"``, else ``None``.
        reason: Why the run ended as it did, in words (the model's summary, its question for a
            person, the failure, which budget ran out).
        usage: Model requests, tokens and cost of the whole run.
        steps: One record per loop step.
        trace_dir: The run's trace directory, when tracing was on.
        extracted: Everything ``extract`` returned during the run, in order.
        confidence: The confidence the model gave with ``done``, if it finished.
    """

    run_id: str
    status: RunStatus
    output: OutputT | None
    reason: str
    usage: Usage
    steps: list[StepRecord]
    trace_dir: Path | None
    extracted: list[Any] = field(default_factory=list)
    confidence: float | None = None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"
