"""Action fingerprints: one hash that names exactly one action on one page.

An approval is given for an action as a person saw it. Before the action runs, the caller
computes the fingerprint again from what is about to happen; if anything differs (another page,
another button, another amount in the form) the fingerprint differs and the approval does not
apply. The hash is a SHA-256 over a canonical JSON document, so it is the same in every process,
on every platform and with every Python version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urldefrag

from operator_agent.errors import ConfigurationError
from operator_agent.guardrails.approval import ApprovalRequest

__all__ = ["FINGERPRINT_VERSION", "action_fingerprint", "canonical_action", "request_fingerprint"]

FINGERPRINT_VERSION = 1
"""Part of the hashed document: bumping it changes every fingerprint, on purpose."""

_NO_VALUES: Mapping[str, str] = MappingProxyType({})


def _canonical(value: Any, where: str) -> Any:
    """Reduce ``value`` to plain JSON types, refusing anything whose JSON form would be ambiguous."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigurationError(f"cannot fingerprint {where}: {value!r} has no canonical JSON form")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigurationError(
                    f"cannot fingerprint {where}: key {key!r} is a {type(key).__name__}, not a str"
                )
            out[key] = _canonical(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_canonical(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ConfigurationError(
        f"cannot fingerprint {where}: {type(value).__name__} is not a JSON type "
        "(pass str, int, float, bool, None, lists and str-keyed mappings; "
        "dump pydantic models with model_dump(mode='json'))"
    )


def canonical_action(
    *,
    url: str,
    kind: str,
    target: str | None,
    arguments: Mapping[str, Any],
    values: Mapping[str, str] = _NO_VALUES,
) -> str:
    """The canonical JSON text that :func:`action_fingerprint` hashes.

    Useful to see *why* two fingerprints differ. Arguments are as for :func:`action_fingerprint`.
    """
    for name, value in values.items():
        if not isinstance(value, str):
            raise ConfigurationError(
                f"cannot fingerprint values[{name!r}]: it is a {type(value).__name__}; "
                "submitted values must be strings (mask secrets before passing them)"
            )
    document = {
        "v": FINGERPRINT_VERSION,
        "url": urldefrag(url).url,
        "kind": kind,
        "target": target,
        "arguments": _canonical(arguments, "arguments"),
        "values": _canonical(values, "values"),
    }
    # ASCII-only output with sorted keys and fixed separators: byte-identical on every platform.
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def action_fingerprint(
    *,
    url: str,
    kind: str,
    target: str | None,
    arguments: Mapping[str, Any],
    values: Mapping[str, str] = _NO_VALUES,
) -> str:
    """The SHA-256 (64 lowercase hex digits) of one exact action.

    Any difference in any input gives a different fingerprint, except the URL's ``#fragment``,
    which is dropped because it never reaches the server.

    Args:
        url: The page the action runs on.
        kind: The action kind (``click``, ``fill`` ...).
        target: The target element as described to the person (role, name, selector), or ``None``.
        arguments: The action's arguments, as plain JSON types.
        values: The values about to be submitted (such as a form's fields by name). Secret values
            must already be masked: the fingerprint is stored and shown next to them.

    Raises:
        ConfigurationError: A value has no canonical JSON form (a set, a datetime, NaN, a non-str key).
    """
    text = canonical_action(url=url, kind=kind, target=target, arguments=arguments, values=values)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def request_fingerprint(request: ApprovalRequest, *, values: Mapping[str, str] | None = None) -> str:
    """The fingerprint of the action an :class:`ApprovalRequest` describes.

    Args:
        request: The request; its URL, kind, target and arguments are hashed (not the run id, step,
            reason or screenshot, which do not change what the action does).
        values: The values about to be submitted, secrets masked; ``request.values`` by default.
    """
    return action_fingerprint(
        url=request.url,
        kind=request.kind,
        target=request.target,
        arguments=request.arguments,
        values=request.values if values is None else values,
    )
