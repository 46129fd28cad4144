"""Finding Chromium: precedence, failing at once on a bad explicit path, and a useful not-found error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operator_agent.browser import discovery
from operator_agent.browser.discovery import ENV_VAR, chromium_args, find_chromium
from operator_agent.errors import BrowserNotFoundError


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _playwright_chromium_revision() -> str:
    package = discovery._playwright_package_dir()
    assert package is not None
    manifest = json.loads((package / "driver" / "package" / "browsers.json").read_text())
    return str(next(e["revision"] for e in manifest["browsers"] if e["name"] == "chromium"))


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment where no Chromium can be found: empty Playwright cache, no system browser."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(empty / "ms-playwright"))
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(
        discovery, "_SYSTEM_PATHS", (str(empty / "usr-bin-chromium"), str(empty / "usr-bin-chromium-browser"))
    )
    return empty


def test_explicit_path_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    explicit = _executable(tmp_path / "explicit" / "chrome")
    monkeypatch.setenv(ENV_VAR, str(_executable(tmp_path / "env" / "chrome")))
    assert find_chromium(explicit=explicit) == explicit


def test_environment_variable_wins_over_everything_found_by_search(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from_env = _executable(tmp_path / "env" / "chrome")
    monkeypatch.setenv(ENV_VAR, str(from_env))
    # Even with a system Chromium present, the variable decides.
    monkeypatch.setattr(discovery, "_SYSTEM_PATHS", (str(_executable(tmp_path / "system" / "chromium")),))
    assert find_chromium() == from_env


def _bad_path(path: Path, kind: str) -> Path:
    if kind == "not-executable":
        path.write_text("not a program")
        path.chmod(0o644)
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("missing", "does not exist"), ("not-executable", "is not executable"), ("directory", "is not a file")],
)
def test_a_bad_explicit_path_fails_at_once_without_falling_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, problem: str
) -> None:
    bad = _bad_path(tmp_path / "chrome", kind)
    # A perfectly good browser elsewhere must not be used instead of what the caller asked for.
    monkeypatch.setenv(ENV_VAR, str(_executable(tmp_path / "env" / "chrome")))
    with pytest.raises(BrowserNotFoundError) as caught:
        find_chromium(explicit=bad)
    assert problem in str(caught.value)
    assert str(bad) in str(caught.value)
    assert caught.value.tried == [f"{bad} (from the executable_path argument)"]


def test_a_bad_environment_path_fails_at_once(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "_SYSTEM_PATHS", (str(_executable(nowhere / "system" / "chromium")),))
    monkeypatch.setenv(ENV_VAR, str(nowhere / "missing-chrome"))
    with pytest.raises(BrowserNotFoundError, match=f"given by \\${ENV_VAR} does not exist"):
        find_chromium()


def test_finds_the_chromium_playwright_installed_for_its_own_version(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("layout checked for Linux hosts")
    registry = tmp_path / "pw-browsers"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(registry))
    revision = _playwright_chromium_revision()
    # A build of another revision is not what this Playwright drives, so it is ignored.
    _executable(registry / "chromium-1" / "chrome-linux64" / "chrome")
    folder = "chrome-linux-arm64" if discovery._playwright_platform() == "linux-arm64" else "chrome-linux64"
    expected = _executable(registry / f"chromium-{revision}" / folder / "chrome")
    assert find_chromium() == expected


def test_falls_back_to_playwright_headless_shell(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if discovery._playwright_platform() != "linux-x64":
        pytest.skip("layout checked for linux-x64 hosts")
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    package = discovery._playwright_package_dir()
    assert package is not None
    manifest = json.loads((package / "driver" / "package" / "browsers.json").read_text())
    revision = next(e["revision"] for e in manifest["browsers"] if e["name"] == "chromium-headless-shell")
    shell = _executable(
        tmp_path
        / "cache"
        / "ms-playwright"
        / f"chromium_headless_shell-{revision}"
        / "chrome-headless-shell-linux64"
        / "chrome-headless-shell"
    )
    assert find_chromium() == shell


def test_finds_the_system_chromium_on_path(nowhere: Path) -> None:
    on_path = _executable(nowhere / "chromium-browser")
    assert find_chromium() == on_path


def test_nothing_found_lists_every_place_tried_and_how_to_fix_it(nowhere: Path) -> None:
    with pytest.raises(BrowserNotFoundError) as caught:
        find_chromium()
    error = caught.value
    message = str(error)
    assert f"${ENV_VAR} (not set)" in error.tried
    assert any(place.startswith(str(nowhere / "ms-playwright" / "chromium-")) for place in error.tried)
    assert str(nowhere / "usr-bin-chromium") in error.tried
    assert "chromium on PATH" in error.tried
    assert "chromium-browser on PATH" in error.tried
    for place in error.tried:
        assert place in message
    assert f"set {ENV_VAR}" in message
    assert "apt-get install chromium" in message


def test_browsers_path_zero_means_inside_the_playwright_package(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", "0")
    package = discovery._playwright_package_dir()
    assert package is not None
    with pytest.raises(BrowserNotFoundError) as caught:
        find_chromium()
    local = str(package / "driver" / "package" / ".local-browsers")
    assert any(place.startswith(local) for place in caught.value.tried)


def _run_module(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "operator_agent.browser"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_module_prints_the_path_and_exits_zero(tmp_path: Path) -> None:
    chrome = _executable(tmp_path / "chrome")
    result = _run_module({ENV_VAR: str(chrome)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{chrome}\n"


def test_module_prints_the_error_to_stderr_and_exits_one(tmp_path: Path) -> None:
    result = _run_module({ENV_VAR: str(tmp_path / "missing")})
    assert result.returncode == 1
    assert result.stdout == ""
    assert "does not exist" in result.stderr
    assert str(tmp_path / "missing") in result.stderr


def test_args_keep_chromium_quiet_on_a_server() -> None:
    args = chromium_args(headless=True)
    for switch in (
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-gpu",
        "--disable-dev-shm-usage",
    ):
        assert switch in args
    assert len(args) == len(set(args))


def test_no_sandbox_only_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--no-sandbox" in chromium_args(headless=True)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--no-sandbox" not in chromium_args(headless=True)
    assert "--no-sandbox" not in chromium_args(headless=False)


def test_headed_args_carry_no_headless_switches() -> None:
    headed = chromium_args(headless=False)
    assert not [arg for arg in headed if "headless" in arg]
    assert "--hide-scrollbars" not in headed
    assert "--mute-audio" not in headed
    # Everything that keeps the browser quiet applies to headed runs too.
    assert set(headed) <= set(chromium_args(headless=True))
    assert "--disable-background-networking" in headed
