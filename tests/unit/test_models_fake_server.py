"""The fake OpenAI-compatible server itself: routes, validation, the queue, recording."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from operator_agent.errors import ConfigurationError
from operator_agent.testing.fake_openai import FakeOpenAIServer, serve_fake_openai


def _http(url: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def _call(url: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_http, url, body)


CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "Open invoice 42"}]}


async def test_models_route_lists_the_configured_models() -> None:
    with serve_fake_openai(models=("gpt-4o-mini", "local-llama")) as server:
        status, _, raw = await _call(f"{server.base_url}/models")
    assert status == 200
    assert [m["id"] for m in json.loads(raw)["data"]] == ["gpt-4o-mini", "local-llama"]


async def test_an_empty_queue_answers_500_naming_the_request(fake_openai: FakeOpenAIServer) -> None:
    status, _, raw = await _call(f"{fake_openai.base_url}/chat/completions", CHAT)
    assert status == 500
    message = json.loads(raw)["error"]["message"]
    assert "no reply queued for request #1" in message
    assert "model 'fake-model'" in message
    assert "user: 'Open invoice 42'" in message


async def test_invalid_requests_get_400_without_using_a_reply(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue("kept for later")
    bad_bodies = [
        {"messages": CHAT["messages"]},
        {"model": "m", "messages": []},
        {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
        {**CHAT, "stream": True},
    ]
    statuses = [(await _call(f"{fake_openai.base_url}/chat/completions", body))[0] for body in bad_bodies]
    assert statuses == [400, 400, 400, 400]
    assert fake_openai.pending == 1
    status, _, _ = await _call(f"{fake_openai.url}/v1/embeddings", {"input": "x"})
    assert status == 404


async def test_replies_errors_and_recording(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.enqueue("hello", prompt_tokens=11, completion_tokens=2, cached_tokens=3)
    fake_openai.enqueue_error(
        status=429, retry_after=2, retry_after_ms=1500, message="slow down", code="rate_limit"
    )
    status, _, raw = await _call(f"{fake_openai.base_url}/chat/completions", CHAT)
    assert status == 200
    completion = json.loads(raw)
    assert completion["choices"][0]["message"]["content"] == "hello"
    assert completion["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 2,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    status, headers, raw = await _call(f"{fake_openai.base_url}/chat/completions", CHAT)
    assert status == 429
    assert (headers["Retry-After"], headers["retry-after-ms"]) == ("2", "1500")
    assert json.loads(raw)["error"] == {
        "message": "slow down",
        "type": "rate_limit_exceeded",
        "param": None,
        "code": "rate_limit",
    }
    assert [r.body for r in fake_openai.requests] == [CHAT, CHAT]
    assert fake_openai.requests[0].headers["content-type"] == "application/json"
    fake_openai.reset()
    assert (fake_openai.requests, fake_openai.pending) == ((), 0)


def test_enqueue_arguments_are_checked(fake_openai: FakeOpenAIServer) -> None:
    with pytest.raises(ConfigurationError, match="error status"):
        fake_openai.enqueue_error(status=200)
    with pytest.raises(ConfigurationError, match="positive"):
        fake_openai.enqueue_timeout(0)
    with pytest.raises(ConfigurationError, match="either body or tool_arguments"):
        fake_openai.enqueue_malformed(body="{", tool_arguments="{")
    with pytest.raises(ConfigurationError, match="tool_name only applies"):
        fake_openai.enqueue_malformed(tool_name="click")
    assert fake_openai.pending == 0
