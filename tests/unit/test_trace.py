from __future__ import annotations

import json
from pathlib import Path

import pytest

from operator_agent.errors import TraceError
from operator_agent.models import Usage
from operator_agent.trace import (
    TRACE_SCHEMA_VERSION,
    ActionRecord,
    RunEndRecord,
    RunStartRecord,
    StepRecord,
    TraceWriter,
    read_trace,
)


def _write_run(directory: Path, *, secrets: frozenset[str] = frozenset()) -> None:
    writer = TraceWriter(directory=directory, redact=lambda: secrets)
    writer.write(
        RunStartRecord(run_id="r1", task="enter invoice", start_url="http://127.0.0.1:1/", model_name="m")
    )
    writer.write(
        StepRecord(
            run_id="r1",
            step=1,
            url="http://127.0.0.1:1/login",
            title="Login",
            observation_tokens=120,
            observation_digest="abc",
            actions=[
                ActionRecord(
                    tool_call_id="c1",
                    kind="fill",
                    arguments={"ref": "e2", "text": "hunter2-secret"},
                    ok=True,
                    message="field shows 'hunter2-secret'",
                )
            ],
            usage=Usage(requests=1, input_tokens=100, output_tokens=10),
        )
    )
    writer.write(RunEndRecord(run_id="r1", status="completed", steps=1, duration_s=1.5, output={"n": 1}))
    writer.close()


def test_trace_round_trip_validates_every_record(tmp_path: Path) -> None:
    _write_run(tmp_path)
    records = read_trace(tmp_path)
    assert [r.type for r in records] == ["run_start", "step", "run_end"]
    step = records[1]
    assert isinstance(step, StepRecord)
    assert step.actions[0].kind == "fill"
    assert step.usage.input_tokens == 100
    assert all(r.schema_version == TRACE_SCHEMA_VERSION for r in records)


def test_trace_writer_never_writes_secret_values(tmp_path: Path) -> None:
    _write_run(tmp_path, secrets=frozenset({"hunter2-secret"}))
    text = (tmp_path / "trace.jsonl").read_text()
    assert "hunter2-secret" not in text
    assert "[REDACTED]" in text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"type": "step", "run_id": "r"}), "invalid trace record"),
        (json.dumps({"type": "run_end", "run_id": "r", "schema_version": 99}), "newer than the supported"),
    ],
)
def test_corrupt_traces_give_clear_errors_with_line_numbers(tmp_path: Path, line: str, expected: str) -> None:
    _write_run(tmp_path)
    with (tmp_path / "trace.jsonl").open("a") as f:
        f.write(line + "\n")
    with pytest.raises(TraceError, match=expected) as info:
        read_trace(tmp_path)
    assert "trace.jsonl:4" in str(info.value)


def test_missing_trace_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no trace found"):
        read_trace(tmp_path / "nope")
