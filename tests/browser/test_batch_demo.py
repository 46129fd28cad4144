"""examples/batch_demo.py runs a small month-end batch end to end, the way a person would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_batch_demo_enters_each_good_invoice_once_and_routes_the_bad_ones(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch_demo.py"), "--count", "3", "--keep"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "Batch demo-month-end: finished" in out
    assert "'completed': 3, 'failed': 0, 'needs_review': 2" in out
    assert "INV-DEMO-BAD-VENDOR: rejected_by_site — the back office refused the invoice" in out
    assert "Unknown vendor “Nonexistent Supplies Ltd”" in out
    assert "INV-DEMO-BAD-AMOUNT: invalid_input — the item's data is invalid: unit_price" in out
    assert "3 invoices submitted; each good one exactly once: True" in out
    report = tmp_path / "runs" / "batch-demo" / "report" / "report.html"
    assert report.is_file()
    assert "<svg" in report.read_text()
