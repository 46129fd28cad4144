"""Model fixtures: no test may reach a real model; a shared fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from operator_agent.models import override_allow_model_requests
from operator_agent.testing.fake_openai import FakeOpenAIServer, serve_fake_openai

# Everything the OpenAI SDK (and OpenAIModel) reads from the environment that could point a test
# at a real endpoint or hand it real credentials.
_MODEL_ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_ADMIN_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_CUSTOM_HEADERS",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_AD_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_real_model_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse requests to non-loopback model endpoints and hide model settings from the environment."""
    for name in _MODEL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with override_allow_model_requests(False):
        yield


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    """One fake OpenAI-compatible server for the whole session."""
    with serve_fake_openai() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The session's fake OpenAI server, with an empty queue and no recorded requests."""
    fake_openai_server.reset()
    return fake_openai_server
