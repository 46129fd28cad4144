"""The flagship demo runs unattended, end to end, the way `make demo` runs it in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("approve", "submitted 1 time(s)"), ("deny", "submitted 0 time(s)")],
)
def test_demo_runs_unattended_and_decides_by_the_stated_policy(
    tmp_path: Path, policy: str, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["DEMO_APPROVAL"] = policy
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "invoice_demo.py")],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "SCRIPTED STAND-IN" in out
    assert f"decided by policy '{policy}'" in out
    assert "approval pause" in out
    assert expected in out
    if policy == "approve":
        assert "completed" in out
    else:
        assert "denied" in out
    # The trace holds no secret.
    for path in (tmp_path / "runs").rglob("*.jsonl"):
        assert "Northwind-Ops-2026!" not in path.read_text()
