"""The switch that keeps tests and offline runs from calling a real model endpoint.

The switch itself is :data:`operator_agent.models.ALLOW_MODEL_REQUESTS` (True by default), a
module attribute so that a test suite can turn it off in one line. When it is off,
:class:`~operator_agent.models.OpenAIModel` still talks to servers on a loopback address (a local
fake or a local vLLM/Ollama) but refuses every other host before any network I/O.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager

from operator_agent.errors import UnexpectedModelRequestError

__all__ = [
    "check_model_request_allowed",
    "is_loopback_host",
    "model_requests_allowed",
    "override_allow_model_requests",
]

_PACKAGE = "operator_agent.models"


def model_requests_allowed() -> bool:
    """The current value of :data:`operator_agent.models.ALLOW_MODEL_REQUESTS`."""
    return bool(getattr(importlib.import_module(_PACKAGE), "ALLOW_MODEL_REQUESTS", True))


@contextmanager
def override_allow_model_requests(allow: bool) -> Iterator[None]:
    """Set :data:`operator_agent.models.ALLOW_MODEL_REQUESTS` inside a ``with`` block.

    The previous value comes back when the block ends, even on error.

    Args:
        allow: False to refuse requests to any non-loopback model endpoint.
    """
    package = importlib.import_module(_PACKAGE)
    previous = getattr(package, "ALLOW_MODEL_REQUESTS", True)
    setattr(package, "ALLOW_MODEL_REQUESTS", allow)  # noqa: B010 - the switch is a package attribute
    try:
        yield
    finally:
        setattr(package, "ALLOW_MODEL_REQUESTS", previous)  # noqa: B010


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ::1.

    Args:
        host: A host name or IP address, IPv6 with or without brackets.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_model_request_allowed(*, host: str, model_name: str) -> None:
    """Raise unless a request to ``host`` may be sent now.

    Args:
        host: The host of the endpoint about to be called.
        model_name: The model, for the error message.

    Raises:
        UnexpectedModelRequestError: If requests are switched off and ``host`` is not loopback.
    """
    if model_requests_allowed() or is_loopback_host(host):
        return
    raise UnexpectedModelRequestError(
        f"refused a request to model {model_name!r} at host {host!r}: real model requests are switched off "
        "(operator_agent.models.ALLOW_MODEL_REQUESTS is False); use FunctionModel, ScriptedModel or a "
        "server on a loopback address"
    )
