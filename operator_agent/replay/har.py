"""Mock sites from recordings: record a run's traffic as a HAR, serve it offline in CI.

:func:`record_har` makes a browser context write every response it gets into a HAR file (written
when the context closes); :func:`sanitize_har` then removes cookies, authentication headers and
secret values from it; :func:`replay_har` serves a context from the file with Playwright's
``route_from_har``, so a CI job runs against a mock made from the real site, with no network.

Limits (see ``docs/replay.md``): requests are matched by method, URL and POST body, so a page that
puts the time, a random token or a nonce into a URL or a form is not found in the recording
(``not_found="abort"`` fails it loudly, ``"fallback"`` lets it reach the network). A replayed site
has no state: a POST answers what it answered when recorded, whatever was posted before, and a
request the recording never made cannot be answered. Record the flows a test replays, with the
same inputs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from re import Pattern
from typing import Any, Final, Literal
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import ConfigurationError, ReplayError
from operator_agent.logs import REDACTED, get_logger, redact_text

__all__ = ["SENSITIVE_HEADERS", "record_har", "replay_har", "sanitize_har"]

_log = get_logger("operator_agent.replay.har")

#: Headers removed from every recorded request and response.
SENSITIVE_HEADERS: Final = frozenset(
    {
        "cookie",
        "set-cookie",
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-auth-token",
        "x-csrf-token",
    }
)
# Query and form fields whose values are replaced.
_SENSITIVE_FIELDS: Final = re.compile(r"(?i)(pass(word)?|passwd|secret|token|api[-_]?key|otp|totp|code)$")


async def record_har(
    context: BrowserContext,
    path: str | os.PathLike[str],
    *,
    url: str | Pattern[str] | None = None,
    content: Literal["embed", "attach"] = "embed",
) -> Path:
    """Record the traffic of a browser context into a HAR file, written when the context closes.

    Call it before the context opens the site. The requests still reach the real site; their
    responses are recorded. Run :func:`sanitize_har` on the file afterwards.

    Args:
        context: The Playwright context (``run_context.context`` for an operator-agent run).
        path: The HAR file to write (``.har``, or ``.zip`` to keep bodies as separate files).
        url: Only record requests whose URL matches this glob or pattern (say, the site's origin).
        content: ``embed`` keeps bodies inside the HAR; ``attach`` stores them next to it.

    Returns:
        The HAR path.

    Raises:
        ReplayError: If Playwright refused to record.
    """
    target = Path(path)
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    try:
        await context.route_from_har(target, url=url, update=True, update_content=content, update_mode="full")
    except PlaywrightError as exc:
        raise ReplayError(
            f"could not start recording a HAR into {target}: {str(exc).splitlines()[0]}"
        ) from None
    _log.info("recording HAR", path=str(target), url=str(url) if url is not None else None)
    return target


async def replay_har(
    context: BrowserContext,
    path: str | os.PathLike[str],
    *,
    url: str | Pattern[str] | None = None,
    not_found: Literal["abort", "fallback"] = "abort",
) -> None:
    """Serve a browser context's requests from a HAR recording.

    Args:
        context: The Playwright context.
        path: A HAR file made by :func:`record_har` (and :func:`sanitize_har`).
        url: Only serve requests whose URL matches this glob or pattern; others go to the network.
        not_found: What happens to a request the recording does not hold: ``abort`` fails it
            (the default: a CI job stays offline), ``fallback`` lets it through.

    Raises:
        ReplayError: If the file is missing or not a HAR.
    """
    source = Path(path)
    if not await asyncio.to_thread(source.is_file):
        raise ReplayError(f"no HAR recording at {source}; record one with record_har()")
    if source.suffix != ".zip":
        await asyncio.to_thread(_check_har, source)
    try:
        await context.route_from_har(source, url=url, not_found=not_found)
    except PlaywrightError as exc:
        raise ReplayError(f"could not serve from the HAR {source}: {str(exc).splitlines()[0]}") from None
    _log.info("serving from HAR", path=str(source), not_found=not_found)


def _check_har(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path} is not a HAR file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("log"), dict):
        raise ReplayError(f"{path} is not a HAR file (no 'log' object)")
    entries = data["log"].get("entries")
    if not isinstance(entries, list):
        raise ReplayError(f"{path} is not a HAR file (no list of entries)")
    return data


def _hide(text: str, secrets: Sequence[str]) -> str:
    """``text`` without the registered secret values and ``secrets``."""
    text = redact_text(text)
    return redact_text(text, secrets) if secrets else text


def _clean_headers(headers: Any, secrets: Sequence[str]) -> list[dict[str, Any]]:
    if not isinstance(headers, list):
        return []
    kept = [
        h for h in headers if isinstance(h, dict) and str(h.get("name", "")).lower() not in SENSITIVE_HEADERS
    ]
    for header in kept:
        if isinstance(header.get("value"), str):
            header["value"] = _hide(header["value"], secrets)
    return kept


def _redact_pairs(text: str) -> str:
    """``a=1&password=x`` with the values of sensitive fields replaced; everything else verbatim."""
    pieces = []
    for piece in text.split("&"):
        name, sep, value = piece.partition("=")
        if sep and value and _SENSITIVE_FIELDS.search(unquote_plus(name)):
            piece = f"{name}={quote(REDACTED)}"
        pieces.append(piece)
    return "&".join(pieces)


def _clean_query(url: str, secrets: Sequence[str]) -> str:
    parts = urlsplit(url)
    if parts.query:
        url = urlunsplit(parts._replace(query=_redact_pairs(parts.query)))
    return _hide(url, secrets)


def _clean_post(post: Any, secrets: Sequence[str]) -> None:
    if not isinstance(post, dict):
        return
    for param in post.get("params", []) or []:
        if not isinstance(param, dict) or not isinstance(param.get("value"), str):
            continue
        if _SENSITIVE_FIELDS.search(str(param.get("name", ""))) and param["value"]:
            param["value"] = REDACTED
        else:
            param["value"] = _hide(param["value"], secrets)
    text = post.get("text")
    if isinstance(text, str) and text:
        if "x-www-form-urlencoded" in str(post.get("mimeType", "")):
            text = _redact_pairs(text)
        post["text"] = _hide(text, secrets)


def sanitize_har(path: str | os.PathLike[str], *, redact: Iterable[str] = ()) -> int:
    """Remove what must not be kept from a HAR file, in place.

    Cookies and the headers in :data:`SENSITIVE_HEADERS` are dropped from every request and
    response; the values of query and form fields named like a password, token, key or code are
    replaced with ``[REDACTED]``; every value in ``redact`` (and every secret registered with
    :func:`operator_agent.logs.register_secret_values`) is replaced wherever it appears in URLs,
    posted data and text bodies.

    Args:
        path: The HAR file (not a ``.zip``).
        redact: Secret values to remove.

    Returns:
        How many entries the file holds.

    Raises:
        ReplayError: If the file is not a HAR.
        ConfigurationError: If it is a ``.zip`` archive (sanitize the ``.har`` form instead).
    """
    source = Path(path)
    if source.suffix == ".zip":
        raise ConfigurationError(
            f"{source}: sanitize a .har file (record with a .har path and content='embed')"
        )
    data = _check_har(source)
    secrets = [value for value in redact if value]
    entries = data["log"]["entries"]
    for entry in entries:
        request = entry.get("request", {})
        response = entry.get("response", {})
        for part in (request, response):
            part["headers"] = _clean_headers(part.get("headers"), secrets)
            part["cookies"] = []
        if isinstance(request.get("url"), str):
            request["url"] = _clean_query(request["url"], secrets)
        if isinstance(request.get("queryString"), list):
            for item in request["queryString"]:
                if _SENSITIVE_FIELDS.search(str(item.get("name", ""))) and item.get("value"):
                    item["value"] = REDACTED
                elif isinstance(item.get("value"), str):
                    item["value"] = _hide(item["value"], secrets)
        _clean_post(request.get("postData"), secrets)
        content = response.get("content", {})
        text = content.get("text") if isinstance(content, dict) else None
        if isinstance(text, str) and content.get("encoding") != "base64":
            content["text"] = _hide(text, secrets)
    source.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    _log.info("HAR sanitized", path=str(source), entries=len(entries))
    return len(entries)
