"""Structured logging for operator-agent.

The library logs through structlog and never prints. It does not configure structlog on import
(that is the application's choice); until the application does, the library logs only warnings
and errors, to stderr. :func:`configure_logging` is a ready configuration for scripts and the CLI.
Whatever the configuration, every logger returned by :func:`get_logger` redacts the secret values
registered with :func:`register_secret_values` before the event is handed to structlog, so they
never reach a log sink, even if one slipped into an event.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import structlog

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact_secrets",
    "redact_text",
    "register_secret_values",
    "registered_secret_values",
]

REDACTED = "[REDACTED]"

_secret_values: ContextVar[frozenset[str]] = ContextVar("operator_agent_secret_values", default=frozenset())


@contextmanager
def register_secret_values(values: Iterable[str]) -> Iterator[None]:
    """Redact these values from every log event emitted inside the ``with`` block.

    Args:
        values: Secret strings (passwords, tokens). Empty strings are ignored.
    """
    current = _secret_values.get()
    token = _secret_values.set(current | {v for v in values if v})
    try:
        yield
    finally:
        _secret_values.reset(token)


def registered_secret_values() -> frozenset[str]:
    """The secret values registered in the current context (see :func:`register_secret_values`)."""
    return _secret_values.get()


def redact_text(text: str, values: Iterable[str] | None = None) -> str:
    """Replace every occurrence of a secret value in ``text`` with ``[REDACTED]``.

    Args:
        text: Any text.
        values: The secrets to hide; by default the ones registered in the current context.
    """
    secrets = _secret_values.get() if values is None else values
    # Longest first, so a secret that contains another is hidden whole.
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    return text


def _redact_value(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, secrets) for v in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide registered secret values anywhere in the event."""
    secrets = _secret_values.get()
    if not secrets:
        return event_dict
    for key in list(event_dict):
        event_dict[key] = _redact_value(event_dict[key], secrets)
    return event_dict


class _StderrLogger:
    """Writes each rendered line to the *current* ``sys.stderr``.

    Looking stderr up at each call keeps logging working when a test harness or an application
    swaps (and closes) the stream after the logger was made.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _stderr_logger_factory(*args: Any) -> _StderrLogger:
    return _StderrLogger()


_FALLBACK: Any = None


def _fallback() -> Any:
    """The logger used while the application has not configured structlog.

    structlog's own default prints every level to stdout, which would mix debug lines into a
    script's output; a library must stay quiet instead: warnings and errors only, on stderr.
    """
    global _FALLBACK
    if _FALLBACK is None:
        _FALLBACK = structlog.wrap_logger(
            _StderrLogger(),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.dev.ConsoleRenderer(colors=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        )
    return _FALLBACK


class _RedactingLogger:
    """A structlog logger that redacts secrets whatever the app configured.

    It resolves the underlying structlog logger at each call, so a module-level logger follows a
    ``structlog.configure`` (or :func:`configure_logging`) made after import.
    """

    def __init__(self, name: str, bound: dict[str, Any]) -> None:
        self._name = name
        self._bound = bound

    def bind(self, **values: Any) -> _RedactingLogger:
        return _RedactingLogger(self._name, {**self._bound, **values})

    def _log(self, level: str, event: str, **fields: Any) -> None:
        secrets = _secret_values.get()
        values = {**self._bound, **fields}
        if secrets:
            event = redact_text(event, secrets)
            values = {k: _redact_value(v, secrets) for k, v in values.items()}
        logger = structlog.get_logger(self._name) if structlog.is_configured() else _fallback()
        getattr(logger, level)(event, **values)

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log("exception", event, **fields)


def get_logger(name: str = "operator_agent", **initial: Any) -> _RedactingLogger:
    """A structlog logger for library code, with secret redaction always applied.

    Args:
        name: The logger name (shows as ``logger`` with stdlib-backed configurations).
        **initial: Values bound to every event, such as ``run_id``.
    """
    return _RedactingLogger(name, dict(initial))


def configure_logging(
    *,
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["console", "json"] = "console",
) -> None:
    """Configure structlog for a script or the CLI: logs go to stderr, secrets are redacted.

    Args:
        level: The lowest level that is written.
        fmt: ``console`` for people, ``json`` for machines (one object per line).
    """
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=_stderr_logger_factory,
        cache_logger_on_first_use=False,
    )
