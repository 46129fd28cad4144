"""Root test configuration: shared fixtures come from the modules in tests/plugins/."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
import structlog

# Fixture modules are owned by separate areas of the code base; each is loaded once it exists.
_PLUGINS = ("tests.plugins.browser", "tests.plugins.site", "tests.plugins.models")
pytest_plugins = [name for name in _PLUGINS if importlib.util.find_spec(name) is not None]


@pytest.fixture(autouse=True)
def _fresh_logging_configuration() -> Iterator[None]:
    """A test that configures structlog (the CLI does) must not change logging for the next one."""
    yield
    structlog.reset_defaults()
