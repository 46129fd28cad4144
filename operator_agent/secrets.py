"""Secrets: named values the model may fill by name but never sees.

A run's secrets are given as a mapping from name to value, where a value is a plain string, a
:class:`TOTP` (a one-time code computed from its shared secret at the moment it is filled), or any
callable returning a string (a vault lookup, say). :class:`SecretStore` resolves them lazily and
remembers every value it handed out, so traces, logs and observations can hide exactly those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pyotp

from operator_agent.errors import ConfigurationError

__all__ = ["TOTP", "SecretStore", "SecretValue"]


@dataclass(frozen=True)
class TOTP:
    """A time-based one-time password (RFC 6238) generated when it is needed.

    Args:
        secret: The base32 shared secret (what an authenticator app's QR code holds).
        digits: Code length.
        interval: Seconds each code is valid.
    """

    secret: str
    digits: int = 6
    interval: int = 30

    def __post_init__(self) -> None:
        try:
            pyotp.TOTP(self.secret, digits=self.digits, interval=self.interval).now()
        except Exception as exc:
            raise ConfigurationError(f"TOTP secret is not valid base32: {exc}") from None

    def now(self) -> str:
        """The current code."""
        return pyotp.TOTP(self.secret, digits=self.digits, interval=self.interval).now()

    def __repr__(self) -> str:
        return "TOTP(secret=***)"


SecretValue = str | TOTP | Callable[[], str]
"""What a secret may be: a value, a TOTP generator, or a provider called at fill time."""


class SecretStore(Mapping[str, str]):
    """The secrets of one run, resolved when they are read.

    Reading ``store[name]`` returns the value to type right now (a fresh TOTP code, a fresh
    provider result) and records it, so :meth:`known_values` can hide it everywhere afterwards.

    Args:
        secrets: Names and their values, TOTP generators or providers.

    Raises:
        ConfigurationError: For an empty name or value, or a value of another type.
    """

    def __init__(self, secrets: Mapping[str, SecretValue] | None = None) -> None:
        self._sources: dict[str, SecretValue] = {}
        self._revealed: set[str] = set()
        for name, value in (secrets or {}).items():
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ConfigurationError(f"secret name {name!r} must be letters, digits, '_' or '-'")
            if isinstance(value, str):
                if not value:
                    raise ConfigurationError(f"secret {name!r} is empty")
                self._revealed.add(value)
            elif isinstance(value, TOTP):
                self._revealed.add(value.secret)
            elif not callable(value):
                raise ConfigurationError(
                    f"secret {name!r} must be a string, a TOTP or a callable, not {type(value).__name__}"
                )
            self._sources[name] = value

    def __getitem__(self, name: str) -> str:
        source = self._sources[name]
        if isinstance(source, str):
            return source
        value = source.now() if isinstance(source, TOTP) else source()
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"the provider of secret {name!r} returned no string")
        self._revealed.add(value)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __repr__(self) -> str:
        return f"SecretStore(names={sorted(self._sources)})"

    def known_values(self) -> frozenset[str]:
        """Every value that may have reached the browser so far (for redaction)."""
        return frozenset(self._revealed)
