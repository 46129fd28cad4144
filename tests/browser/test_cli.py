"""`operator-agent run` end to end: the real OpenAIModel over HTTP to the fake server, a real browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_agent.cli import main
from operator_agent.models import tool_call
from operator_agent.testing.fake_openai import FakeOpenAIServer
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "agent"


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(args)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, f"--json must print exactly one line on stdout, got {out!r}"
    return code, json.loads(out[0])


def test_run_json_completed(
    pages: LocalServer, fake_openai: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openai.enqueue(tool_call("click", ref="e1"), prompt_tokens=500, completion_tokens=10)
    fake_openai.enqueue(tool_call("done", output={"count": 1}), prompt_tokens=520, completion_tokens=10)
    code, summary = _run(
        [
            "run",
            "Increment the counter once and report it",
            "--start-url",
            pages.url + "/index.html",
            "--model",
            "fake-model",
            "--base-url",
            fake_openai.base_url,
            "--trace-dir",
            str(tmp_path),
            "--allowed-domain",
            "127.0.0.1",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    assert summary["status"] == "completed"
    assert summary["output"] == {"count": 1}
    assert summary["steps"] == 2
    assert summary["usage"]["input_tokens"] == 1020  # type: ignore[index]
    assert Path(str(summary["trace_dir"])).joinpath("trace.jsonl").is_file()


def test_run_json_not_completed_exits_nonzero(
    pages: LocalServer, fake_openai: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The model declares the click irreversible; with --approval ask and no terminal it is denied.
    fake_openai.enqueue(tool_call("click", ref="e1", irreversible=True, reason="count"))
    fake_openai.enqueue(tool_call("fail", reason="approval was denied"))
    code, summary = _run(
        [
            "run",
            "x",
            "--start-url",
            pages.url + "/index.html",
            "--model",
            "fake-model",
            "--base-url",
            fake_openai.base_url,
            "--trace-dir",
            str(tmp_path),
            "--json",
        ],
        capsys,
    )
    assert code == 1
    assert summary["status"] == "failed"
    denial = json.dumps(fake_openai.requests[1].body["messages"])
    assert "no terminal to ask" in denial


def test_run_without_a_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = _run(["run", "x", "--start-url", "http://127.0.0.1:9/", "--json"], capsys)
    assert code == 3
    assert summary["error"] == "ConfigurationError"
    assert "OPENAI_MODEL" in str(summary["message"])


def test_start_url_outside_the_allowlist_is_refused(
    fake_openai: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = _run(
        [
            "run",
            "x",
            "--start-url",
            "http://127.0.0.1:9/",
            "--model",
            "m",
            "--base-url",
            fake_openai.base_url,
            "--allowed-domain",
            "erp.example.com",
            "--json",
        ],
        capsys,
    )
    assert code == 3
    assert "outside the allowed domains" in str(summary["message"])
