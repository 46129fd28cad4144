"""Finding a Chromium executable and the command-line switches it runs with.

:func:`find_chromium` looks in a fixed order and never starts the Playwright driver, so it is
cheap enough to run from a Makefile on every call. :func:`chromium_args` returns switches that
suit servers and CI: no first-run screens, no background traffic to the vendor, no GPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from operator_agent.errors import BrowserNotFoundError
from operator_agent.logs import get_logger

__all__ = ["ENV_VAR", "chromium_args", "find_chromium"]

ENV_VAR = "OPERATOR_AGENT_CHROMIUM"
"""The environment variable naming the Chromium executable to use."""

_SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
_SYSTEM_NAMES = ("chromium", "chromium-browser")

# Where each Playwright browser build keeps its executable, relative to its folder, by
# (platform, machine). Current builds first, then the layout older Playwright versions used.
_PLAYWRIGHT_LAYOUTS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "chromium": {
        "linux-x64": (("chrome-linux64", "chrome"), ("chrome-linux", "chrome")),
        "linux-arm64": (("chrome-linux-arm64", "chrome"), ("chrome-linux", "chrome")),
        "mac-x64": (
            (
                "chrome-mac-x64",
                "Google Chrome for Testing.app",
                "Contents",
                "MacOS",
                "Google Chrome for Testing",
            ),
            ("chrome-mac", "Chromium.app", "Contents", "MacOS", "Chromium"),
        ),
        "mac-arm64": (
            (
                "chrome-mac-arm64",
                "Google Chrome for Testing.app",
                "Contents",
                "MacOS",
                "Google Chrome for Testing",
            ),
            ("chrome-mac", "Chromium.app", "Contents", "MacOS", "Chromium"),
        ),
        "win-x64": (("chrome-win64", "chrome.exe"), ("chrome-win", "chrome.exe")),
    },
    "chromium-headless-shell": {
        "linux-x64": (
            ("chrome-headless-shell-linux64", "chrome-headless-shell"),
            ("chrome-linux", "headless_shell"),
        ),
        "linux-arm64": (
            ("chrome-headless-shell-linux-arm64", "chrome-headless-shell"),
            ("chrome-linux", "headless_shell"),
        ),
        "mac-x64": (
            ("chrome-headless-shell-mac-x64", "chrome-headless-shell"),
            ("chrome-mac", "headless_shell"),
        ),
        "mac-arm64": (
            ("chrome-headless-shell-mac-arm64", "chrome-headless-shell"),
            ("chrome-mac", "headless_shell"),
        ),
        "win-x64": (
            ("chrome-headless-shell-win64", "chrome-headless-shell.exe"),
            ("chrome-win", "headless_shell.exe"),
        ),
    },
}

# Switches that keep Chromium quiet on a server: nothing phones home, nothing waits for a person.
_QUIET_SWITCHES = (
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
)

# WebRTC may use UDP only through a proxy that carries UDP (an HTTP proxy does not): with a
# domain allowlist's proxy, ICE/STUN packets could otherwise reach any address, outside every
# other layer. TURN over TCP still works (through the proxy, when the context has one).
_WEBRTC_SWITCH = "--webrtc-ip-handling-policy=disable_non_proxied_udp"


_log = get_logger("operator_agent.browser")


def chromium_args(*, headless: bool) -> list[str]:
    """Command-line switches for Chromium on servers and in CI.

    The same switches work with and without a display. ``--no-sandbox`` is added only when
    running as root, where Chromium's sandbox refuses to start. Playwright adds its own
    ``--headless`` switch from the ``headless`` launch option, so none is added here.
    WebRTC is kept from sending UDP that no proxy carries (``--webrtc-ip-handling-policy``),
    so that a context created with a domain allowlist's proxy cannot reach other hosts that way;
    WebRTC over TCP (TURN) is unaffected.

    Args:
        headless: Whether the browser will run without a window. Headless runs also mute audio
            and hide scrollbars, so screenshots do not depend on the host.

    Returns:
        A fresh list of switches, safe to extend.
    """
    args = [*_QUIET_SWITCHES, _WEBRTC_SWITCH]
    if _running_as_root():
        args.insert(0, "--no-sandbox")
    if headless:
        args += ["--mute-audio", "--hide-scrollbars"]
    return args


def find_chromium(*, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find the Chromium executable to drive.

    Looks, in order, at: ``explicit``; the ``OPERATOR_AGENT_CHROMIUM`` environment variable;
    the Chromium that Playwright installed for its own version (under
    ``PLAYWRIGHT_BROWSERS_PATH`` or Playwright's default cache folder); and the system's
    ``/usr/bin/chromium``, ``/usr/bin/chromium-browser`` and those names on ``PATH``.

    Args:
        explicit: A path chosen by the caller. When given, it is the only candidate.

    Returns:
        The absolute path of an existing executable file.

    Raises:
        BrowserNotFoundError: ``explicit`` or the environment variable names a path that is not
            an executable file (no fallback past what the caller asked for), or no candidate
            exists. ``tried`` lists every place looked at.
    """
    if explicit is not None:
        return _require_executable(Path(explicit), source="the executable_path argument")
    from_env = os.environ.get(ENV_VAR, "")
    if from_env:
        return _require_executable(Path(from_env), source=f"${ENV_VAR}")

    tried: list[str] = [f"${ENV_VAR} (not set)"]
    for candidate in _playwright_candidates(tried):
        if _is_executable(candidate):
            _log.debug("chromium found", path=str(candidate), source="playwright")
            return candidate.absolute()
        tried.append(str(candidate))
    for system_path in _SYSTEM_PATHS:
        candidate = Path(system_path)
        if _is_executable(candidate):
            _log.debug("chromium found", path=str(candidate), source="system")
            return candidate
        tried.append(system_path)
    for name in _SYSTEM_NAMES:
        found = shutil.which(name)
        if found and _is_executable(Path(found)):
            _log.debug("chromium found", path=found, source="PATH")
            return Path(found).absolute()
        tried.append(f"{name} on PATH")

    raise BrowserNotFoundError(
        "no Chromium executable found; tried:\n"
        + "\n".join(f"  - {place}" for place in tried)
        + f"\nTo fix: set {ENV_VAR} to the path of a Chromium or Chrome executable, "
        "or install Debian's chromium package (apt-get install chromium).",
        tried=tried,
    )


def _running_as_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _require_executable(path: Path, *, source: str) -> Path:
    if not path.exists():
        problem = "does not exist"
    elif not path.is_file():
        problem = "is not a file"
    elif not os.access(path, os.X_OK):
        problem = "is not executable"
    else:
        _log.debug("chromium found", path=str(path), source=source)
        return path.absolute()
    raise BrowserNotFoundError(
        f"the Chromium executable given by {source} {problem}: {path}. "
        f"Point it at an existing executable file, or unset it to let operator-agent search.",
        tried=[f"{path} (from {source})"],
    )


def _playwright_platform() -> str | None:
    machine = platform.machine().lower()
    arm = machine in {"arm64", "aarch64"}
    if sys.platform.startswith("linux"):
        return "linux-arm64" if arm else "linux-x64"
    if sys.platform == "darwin":
        return "mac-arm64" if arm else "mac-x64"
    if sys.platform == "win32":
        return "win-x64"
    return None


def _playwright_package_dir() -> Path | None:
    # find_spec on the top-level package locates it without running its code.
    try:
        spec = importlib.util.find_spec("playwright")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _playwright_registry_dir(package_dir: Path | None) -> Path | None:
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH", "")
    if configured == "0":
        return None if package_dir is None else package_dir / "driver" / "package" / ".local-browsers"
    if configured:
        return Path(configured).absolute()
    if sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        cache = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "ms-playwright"


def _playwright_revisions(package_dir: Path) -> dict[str, str]:
    """The browser revisions the installed Playwright expects, read from its ``browsers.json``."""
    manifest = package_dir / "driver" / "package" / "browsers.json"
    try:
        data: Any = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    revisions: dict[str, str] = {}
    for entry in data.get("browsers", []) if isinstance(data, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry.get("revision"):
            revisions[entry["name"]] = str(entry["revision"])
    return revisions


def _playwright_candidates(tried: list[str]) -> list[Path]:
    """Executable paths of the Chromium builds that the installed Playwright would use.

    Notes in ``tried`` why this step found nothing to look at, when that is the case.
    """
    package_dir = _playwright_package_dir()
    if package_dir is None:
        tried.append("Playwright's Chromium (the playwright package is not installed)")
        return []
    host = _playwright_platform()
    registry = _playwright_registry_dir(package_dir)
    revisions = _playwright_revisions(package_dir)
    if host is None or registry is None or not revisions:
        tried.append(f"Playwright's Chromium (cannot tell where Playwright keeps browsers on {sys.platform})")
        return []
    candidates: list[Path] = []
    # The full browser first: it also runs headed. The headless shell is a fallback.
    for name in ("chromium", "chromium-headless-shell"):
        revision = revisions.get(name)
        layouts = _PLAYWRIGHT_LAYOUTS[name].get(host, ())
        if revision is None:
            continue
        folder = registry / f"{name.replace('-', '_')}-{revision}"
        candidates += [folder.joinpath(*parts) for parts in layouts]
    return candidates
