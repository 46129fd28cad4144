"""Browser helpers that need no browser: file names, launch errors, dialog policy, shielded cleanup."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from operator_agent.browser import DialogPolicy, safe_filename
from operator_agent.browser._shutdown import run_to_completion
from operator_agent.browser.downloads import _reserve_unique
from operator_agent.browser.session import launch_error_gist


@pytest.mark.parametrize(
    ("suggested", "expected"),
    [
        ("report.csv", "report.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        (".bashrc", "bashrc"),
        ("..", "download"),
        ("", "download"),
        ("   ", "download"),
        ("in\x00voice\x1f.pdf", "invoice.pdf"),
        ('what?<is>"this".txt', "whatisthis.txt"),
        ("CON.txt", "_CON.txt"),
        ("trailing dots...", "trailing dots"),
        ("facture été.pdf", "facture été.pdf"),
    ],
)
def test_safe_filename_keeps_a_plain_base_name(suggested: str, expected: str) -> None:
    assert safe_filename(suggested) == expected


def test_safe_filename_shortens_long_names_but_keeps_the_extension() -> None:
    name = safe_filename("é" * 400 + ".xlsx")
    assert name.endswith(".xlsx")
    assert len(name.encode()) <= 180
    assert name.startswith("é")


def test_reserved_names_never_collide(tmp_path: Path) -> None:
    first = _reserve_unique(tmp_path, "report.csv")
    second = _reserve_unique(tmp_path, "report.csv")
    third = _reserve_unique(tmp_path, "README")
    fourth = _reserve_unique(tmp_path, "README")
    assert [p.name for p in (first, second, third, fourth)] == [
        "report.csv",
        "report (1).csv",
        "README",
        "README (1)",
    ]
    assert all(p.parent == tmp_path and p.exists() for p in (first, second, third, fourth))


_LAUNCH_FAILURE = """BrowserType.launch: Target page, context or browser has been closed
Browser logs:

<launching> /opt/chrome/chrome --disable-field-trial-config --headless --no-sandbox
<launched> pid=7311
[pid=7311][err] error while loading shared libraries: libnss3.so: cannot open shared object file
Call log:
  - <launching> /opt/chrome/chrome --disable-field-trial-config --headless --no-sandbox
  - <launched> pid=7311
  - [pid=7311][err] error while loading shared libraries: libnss3.so: cannot open shared object file
  - [pid=7311] <process did exit: exitCode=127, signal=null>
"""


def test_launch_error_gist_keeps_stderr_and_exit_code_not_the_command_line() -> None:
    gist = launch_error_gist(_LAUNCH_FAILURE)
    assert "libnss3.so: cannot open shared object file" in gist
    assert gist.count("libnss3.so") == 1
    assert "exited with code 127" in gist
    assert "--disable-field-trial-config" not in gist


def test_launch_error_gist_hints_at_the_sandbox() -> None:
    message = "BrowserType.launch: Browser closed.\n[pid=5][err] No usable sandbox! Update your kernel\n"
    assert "--no-sandbox" in launch_error_gist(message)


def test_launch_error_gist_without_browser_output_is_the_first_line() -> None:
    message = "BrowserType.launch: Failed to launch chromium because executable doesn't exist at /x"
    assert launch_error_gist(message) == "Failed to launch chromium because executable doesn't exist at /x"


def test_dialog_policy_fails_closed_by_default() -> None:
    policy = DialogPolicy()
    assert policy.action_for("alert") == "accept"
    assert policy.action_for("confirm") == "dismiss"
    assert policy.action_for("prompt") == "dismiss"
    assert policy.action_for("beforeunload") == "accept"


def test_dialog_policy_is_frozen_and_strict() -> None:
    with pytest.raises(ValidationError):
        DialogPolicy(confirm="yes")
    with pytest.raises(ValidationError):
        DialogPolicy(alerts="accept")  # type: ignore[call-arg]
    policy = DialogPolicy()
    with pytest.raises(ValidationError):
        policy.confirm = "accept"  # type: ignore[misc]


async def test_cleanup_finishes_even_when_the_caller_is_cancelled_twice() -> None:
    finished = asyncio.Event()

    async def cleanup() -> None:
        await asyncio.sleep(0.2)
        finished.set()

    async def caller() -> None:
        await run_to_completion(cleanup())

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_cleanup_errors_reach_the_caller() -> None:
    async def cleanup() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await run_to_completion(cleanup())
