"""The README's usage example runs as written (with the model endpoint pointed at the fake server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from operator_agent.models import tool_call
from operator_agent.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A run in ten lines", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its usage example"
    return match.group(1)


def test_readme_example_is_at_most_ten_lines_and_runs(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    code = _example()
    assert len(code.strip().splitlines()) <= 10
    fake_openai.enqueue(
        tool_call("fill", ref="e5", text="ops.agent"),
        tool_call("fill", ref="e6", secret="password"),
        tool_call("click", ref="e7"),
    )
    fake_openai.enqueue(tool_call("done", output=3, confidence=0.9))
    env = {
        "PATH": "/usr/bin:/bin",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_MODEL": "fake-model",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("completed 3 ")
    sent = str(fake_openai.requests[1].body)
    assert "Northwind-Ops-2026!" not in sent  # the password never reached the model
