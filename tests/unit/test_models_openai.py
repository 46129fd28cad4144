"""OpenAIModel with the real SDK against the local fake server: calls, retries, faults, usage, config."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import openai
import pytest
from structlog.testing import capture_logs

from operator_agent.errors import (
    ConfigurationError,
    ModelError,
    ModelResponseError,
    ModelUnavailableError,
    UnexpectedModelRequestError,
)
from operator_agent.models import (
    ImagePart,
    Message,
    ModelPrice,
    ModelSettings,
    OpenAIModel,
    PriceTable,
    ToolSpec,
    override_allow_model_requests,
    retry_after_seconds,
    tool_call,
)
from operator_agent.testing.fake_openai import FakeOpenAIServer

API_KEY = "sk-test-4f9a1c77e2"
CLICK = ToolSpec(
    name="click",
    description="Click the element with this ref.",
    parameters={"type": "object", "properties": {"ref": {"type": "string"}}, "required": ["ref"]},
)
FILL = ToolSpec(
    name="fill",
    description="Type text into a field.",
    parameters={"type": "object", "properties": {"ref": {"type": "string"}, "text": {"type": "string"}}},
)
CONVERSATION = [Message.system("You operate a web page."), Message.user("Create invoice for ACME.")]


@pytest.fixture
async def model(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIModel]:
    async with OpenAIModel(
        model="gpt-4o-mini",
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        timeout_s=5,
        max_retries=3,
        backoff_initial_s=0.01,
    ) as m:
        yield m


def _fast_model(server: FakeOpenAIServer, **options: Any) -> OpenAIModel:
    defaults: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "base_url": server.base_url,
        "api_key": API_KEY,
        "backoff_initial_s": 0.01,
    }
    return OpenAIModel(**{**defaults, **options})


# -- successful calls ---------------------------------------------------------------------------


async def test_plain_tool_call(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.enqueue(tool_call("click", ref="e3"))
    response = await model.request(CONVERSATION, tools=[CLICK, FILL])

    assert [(c.name, c.parsed_arguments()) for c in response.tool_calls] == [("click", {"ref": "e3"})]
    assert (response.text, response.finish_reason, response.model_name) == ("", "tool_calls", "gpt-4o-mini")
    (sent,) = fake_openai.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.messages == [
        {"role": "system", "content": "You operate a web page."},
        {"role": "user", "content": "Create invoice for ACME."},
    ]
    assert [t["function"]["name"] for t in sent.tools] == ["click", "fill"]
    assert sent.tools[0]["function"]["parameters"] == CLICK.parameters
    assert sent.body["tool_choice"] == "required"


async def test_several_tool_calls_in_one_reply_keep_their_order(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    calls = [
        tool_call("fill", ref="e4", text="ACME Ltd"),
        tool_call("fill", ref="e5", text="42"),
        tool_call("click", ref="e9"),
    ]
    fake_openai.enqueue("Filling the form, then saving.", *calls)
    response = await model.request(CONVERSATION, tools=[CLICK, FILL])
    assert response.text == "Filling the form, then saving."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        (c.id, c.name, c.arguments) for c in calls
    ]


async def test_conversation_with_tool_results_and_settings_reaches_the_server(
    fake_openai: FakeOpenAIServer,
) -> None:
    async with _fast_model(fake_openai, max_tokens_param="max_tokens") as model:
        first = tool_call("click", ref="e3")
        fake_openai.enqueue("Saved.")
        conversation = [
            *CONVERSATION,
            Message.assistant(tool_calls=[first]),
            Message.tool(first.id, "clicked e3; page now shows 'Invoice saved'"),
        ]
        settings = ModelSettings(
            temperature=0.2, max_output_tokens=256, parallel_tool_calls=False, tool_choice="auto"
        )
        response = await model.request(conversation, tools=[CLICK], settings=settings)
    assert response.text == "Saved."
    body = fake_openai.requests[-1].body
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": first.id, "type": "function", "function": {"name": "click", "arguments": first.arguments}}
        ],
    }
    assert body["messages"][3] == {
        "role": "tool",
        "tool_call_id": first.id,
        "content": "clicked e3; page now shows 'Invoice saved'",
    }
    assert (body["temperature"], body["max_tokens"], body["parallel_tool_calls"], body["tool_choice"]) == (
        0.2,
        256,
        False,
        "auto",
    )


async def test_images_are_sent_as_data_urls(fake_openai: FakeOpenAIServer) -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    async with _fast_model(fake_openai, image_detail="high") as model:
        fake_openai.enqueue(tool_call("click", ref="e1"))
        await model.request(
            [Message.user("What is on screen?", images=[ImagePart.from_bytes(png)])], tools=[CLICK]
        )
    content = fake_openai.requests[-1].messages[0]["content"]
    assert content[0] == {"type": "text", "text": "What is on screen?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["detail"] == "high"
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png


# -- usage and cost -----------------------------------------------------------------------------


async def test_usage_and_cost_come_from_the_response(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.enqueue(
        tool_call("click", ref="e3"), prompt_tokens=1000, completion_tokens=200, cached_tokens=400
    )
    usage = (await model.request(CONVERSATION, tools=[CLICK])).usage
    assert (usage.requests, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (
        1,
        1000,
        400,
        200,
    )
    # gpt-4o-mini: $0.15 / M input, $0.075 / M cached input, $0.60 / M output.
    assert usage.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1_000_000)


async def test_cost_uses_the_served_snapshot_name_and_is_none_when_unknown(
    fake_openai: FakeOpenAIServer,
) -> None:
    async with (
        _fast_model(fake_openai, model="gpt-4o") as snapshot,
        _fast_model(fake_openai, model="llama3.1") as local,
    ):
        fake_openai.enqueue("hi", prompt_tokens=1_000_000, completion_tokens=0, model="gpt-4o-2024-08-06")
        served = await snapshot.request(CONVERSATION, tools=[])
        fake_openai.enqueue("hi", prompt_tokens=500, completion_tokens=20)
        unknown = await local.request(CONVERSATION, tools=[])
        fake_openai.enqueue("hi", include_usage=False)
        no_usage = await local.request(CONVERSATION, tools=[])
    assert served.model_name == "gpt-4o-2024-08-06"
    assert served.usage.cost_usd == pytest.approx(2.50)
    assert (unknown.usage.input_tokens, unknown.usage.cost_usd) == (500, None)
    assert (no_usage.usage.requests, no_usage.usage.input_tokens, no_usage.usage.cost_usd) == (1, 0, None)


async def test_a_custom_price_table_prices_a_deployment(fake_openai: FakeOpenAIServer) -> None:
    prices = PriceTable(models={"invoice-bot": ModelPrice(input=1.0, cached_input=0.0, output=2.0)})
    async with _fast_model(fake_openai, model="invoice-bot", prices=prices) as model:
        fake_openai.enqueue(
            "ok", prompt_tokens=2_000_000, cached_tokens=1_000_000, completion_tokens=1_000_000
        )
        usage = (await model.request(CONVERSATION, tools=[])).usage
    assert usage.cost_usd == pytest.approx(1.0 + 0.0 + 2.0)


# -- retries ------------------------------------------------------------------------------------


async def test_rate_limit_retry_after_is_honoured(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.enqueue_error(status=429, message="Rate limit reached for requests", retry_after=1)
    fake_openai.enqueue(tool_call("click", ref="e3"))
    started = time.monotonic()
    response = await model.request(CONVERSATION, tools=[CLICK])
    waited = time.monotonic() - started
    assert response.tool_calls[0].name == "click"
    assert len(fake_openai.requests) == 2
    # Backoff alone would wait ~0.01 s; the server asked for 1 s.
    assert 0.95 <= waited < 3


async def test_retry_after_ms_and_the_wait_cap(fake_openai: FakeOpenAIServer) -> None:
    async with _fast_model(fake_openai, retry_max_wait_s=0.2) as model:
        fake_openai.enqueue_error(status=429, retry_after_ms=150)
        fake_openai.enqueue_error(status=503, retry_after=3600)
        fake_openai.enqueue("ok")
        started = time.monotonic()
        assert (await model.request(CONVERSATION, tools=[])).text == "ok"
        waited = time.monotonic() - started
    assert len(fake_openai.requests) == 3
    # 0.15 s as asked, then 0.2 s (the cap) instead of an hour.
    assert 0.33 <= waited < 2


async def test_a_5xx_storm_exhausts_retries(fake_openai: FakeOpenAIServer) -> None:
    async with _fast_model(fake_openai, max_retries=2) as model:
        for _ in range(3):
            fake_openai.enqueue_error(
                status=500, message="The server had an error while processing your request."
            )
        fake_openai.enqueue("never reached")
        with capture_logs() as logs, pytest.raises(ModelUnavailableError) as caught:
            await model.request(CONVERSATION, tools=[])
    message = str(caught.value)
    assert "gave up after 3 attempt(s)" in message
    assert "HTTP 500: The server had an error while processing your request." in message
    assert "gpt-4o-mini" in message
    assert len(fake_openai.requests) == 3
    assert fake_openai.pending == 1
    retries = [e for e in logs if e["event"] == "model request failed, retrying"]
    assert [(e["attempt"], e["status"]) for e in retries] == [(1, 500), (2, 500)]


async def test_a_timeout_is_retried(fake_openai: FakeOpenAIServer) -> None:
    async with _fast_model(fake_openai, timeout_s=0.3) as model:
        fake_openai.enqueue_timeout(5)
        fake_openai.enqueue(tool_call("click", ref="e3"))
        started = time.monotonic()
        response = await model.request(CONVERSATION, tools=[CLICK])
        elapsed = time.monotonic() - started
    assert response.tool_calls[0].name == "click"
    assert len(fake_openai.requests) == 2
    assert 0.3 <= elapsed < 2


async def test_timeouts_that_persist_end_as_unavailable(fake_openai: FakeOpenAIServer) -> None:
    async with _fast_model(fake_openai, timeout_s=0.2, max_retries=1) as model:
        fake_openai.enqueue_timeout(5)
        fake_openai.enqueue_timeout(5)
        with pytest.raises(
            ModelUnavailableError, match=r"gave up after 2 attempt\(s\); last error: request timed out"
        ):
            await model.request(CONVERSATION, tools=[])


async def test_connection_refused_is_retried_then_unavailable() -> None:
    # Port 9 (discard) on loopback has no listener here: every attempt is refused.
    async with OpenAIModel(
        model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_initial_s=0.01
    ) as model:
        with pytest.raises(
            ModelUnavailableError, match=r"after 2 attempt\(s\); last error: connection error"
        ):
            await model.request(CONVERSATION, tools=[])


async def test_client_errors_fail_at_once_with_the_server_message(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.enqueue_error(status=400, message="Invalid schema for function 'click': 'ref' is not valid")
    fake_openai.enqueue("not reached")
    with pytest.raises(ModelError, match="HTTP 400: Invalid schema for function 'click'") as caught:
        await model.request(CONVERSATION, tools=[CLICK])
    assert not isinstance(caught.value, ModelUnavailableError)
    assert len(fake_openai.requests) == 1


async def test_a_401_never_repeats_the_key(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    fake_openai.enqueue_error(status=401, message=f"Incorrect API key provided: {API_KEY}.")
    with pytest.raises(ModelError, match="HTTP 401: Incorrect API key provided") as caught:
        await model.request(CONVERSATION, tools=[])
    assert API_KEY not in str(caught.value)
    assert len(fake_openai.requests) == 1


# -- malformed replies --------------------------------------------------------------------------


async def test_a_malformed_json_body_is_a_response_error(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.enqueue_malformed()
    fake_openai.enqueue("not reached")
    with pytest.raises(ModelResponseError, match="not valid JSON"):
        await model.request(CONVERSATION, tools=[])
    assert len(fake_openai.requests) == 1


async def test_a_body_without_choices_is_a_response_error(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.enqueue_json({"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})
    with pytest.raises(ModelResponseError, match="returned no choices"):
        await model.request(CONVERSATION, tools=[])


async def test_invalid_tool_arguments_pass_through_as_raw_text(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    fake_openai.enqueue_malformed(tool_name="fill", tool_arguments='{"ref": "e4", "text": "ACME')
    response = await model.request(CONVERSATION, tools=[FILL])
    (call,) = response.tool_calls
    assert (call.name, call.arguments) == ("fill", '{"ref": "e4", "text": "ACME')
    with pytest.raises(ModelResponseError, match="not valid JSON"):
        call.parsed_arguments()


async def test_a_tool_call_without_id_gets_one(fake_openai: FakeOpenAIServer, model: OpenAIModel) -> None:
    # Some local servers omit the id and type of tool calls.
    fake_openai.enqueue_json(
        {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": 0,
            "model": "llama",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [{"function": {"name": "click", "arguments": '{"ref": "e2"}'}}],
                    },
                }
            ],
        }
    )
    (call,) = (await model.request(CONVERSATION, tools=[CLICK])).tool_calls
    assert call.id.startswith("call_")
    assert call.parsed_arguments() == {"ref": "e2"}


# -- configuration ------------------------------------------------------------------------------


async def test_configuration_from_environment(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    async with OpenAIModel() as model:
        assert model.name == "gpt-4.1-mini"
        fake_openai.enqueue("hello")
        await model.request(CONVERSATION, tools=[])
    (sent,) = fake_openai.requests
    assert sent.body["model"] == "gpt-4.1-mini"
    assert sent.headers["authorization"] == "Bearer sk-from-env"


def test_a_missing_model_name_says_which_variable_to_set() -> None:
    with pytest.raises(ConfigurationError, match="set the OPENAI_MODEL environment variable"):
        OpenAIModel(api_key="sk-x")


def test_a_missing_key_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ConfigurationError, match=r"no API key for https://api\.openai\.com/v1.*OPENAI_API_KEY"
    ):
        OpenAIModel(model="gpt-4o")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://models.example.internal/v1")
    with pytest.raises(ConfigurationError, match=r"models\.example\.internal"):
        OpenAIModel(model="gpt-4o")


async def test_a_loopback_server_needs_no_key(fake_openai: FakeOpenAIServer) -> None:
    async with OpenAIModel(model="qwen2.5", base_url=fake_openai.base_url) as model:
        fake_openai.enqueue("local reply")
        assert (await model.request(CONVERSATION, tools=[])).text == "local reply"


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"timeout_s": 0}, "timeout_s must be positive"),
        ({"max_retries": -1}, "max_retries must be 0 or more"),
        ({"retry_max_wait_s": -1}, "retry_max_wait_s"),
    ],
)
def test_invalid_options(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        OpenAIModel(model="m", base_url="http://127.0.0.1:9/v1", **options)


async def test_a_client_excludes_base_url_and_key() -> None:
    client = openai.AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    try:
        with pytest.raises(ConfigurationError, match="either client"):
            OpenAIModel(model="m", client=client, api_key="k2")
    finally:
        await client.close()


async def test_azure_client_is_accepted(fake_openai: FakeOpenAIServer) -> None:
    azure = openai.AsyncAzureOpenAI(
        azure_endpoint=fake_openai.url, api_key="azure-key-1", api_version="2024-10-21"
    )
    model = OpenAIModel(model="invoice-deployment", client=azure, backoff_initial_s=0.01)
    fake_openai.enqueue_error(status=429)
    fake_openai.enqueue(tool_call("click", ref="e3"))
    response = await model.request(CONVERSATION, tools=[CLICK])
    await azure.close()
    assert response.tool_calls[0].name == "click"
    # The SDK's own retries are off: exactly one retry, made by OpenAIModel.
    assert len(fake_openai.requests) == 2
    sent = fake_openai.requests[-1]
    assert sent.path == "/openai/deployments/invoice-deployment/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == "azure-key-1"


# -- the request guard --------------------------------------------------------------------------


async def test_guard_refuses_a_real_endpoint_before_any_io(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    async def spy_create(**kwargs: Any) -> Any:
        sent.append(kwargs)
        raise AssertionError("the request reached the SDK")

    async with OpenAIModel(model="gpt-4o", api_key="sk-real-looking") as model:
        monkeypatch.setattr(model.client.chat.completions, "create", spy_create)
        with pytest.raises(UnexpectedModelRequestError, match=r"'gpt-4o' at host 'api\.openai\.com'"):
            await model.request(CONVERSATION, tools=[])
        assert sent == []
        # With the switch on, the same request does go out (and meets the spy).
        with override_allow_model_requests(True), pytest.raises(AssertionError, match="reached the SDK"):
            await model.request(CONVERSATION, tools=[])
        assert len(sent) == 1


async def test_the_module_switch_itself_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    import operator_agent.models as models

    assert models.ALLOW_MODEL_REQUESTS is False  # the autouse fixture turned it off
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    with override_allow_model_requests(False):
        assert models.ALLOW_MODEL_REQUESTS is False
    assert models.ALLOW_MODEL_REQUESTS is True
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    async with OpenAIModel(model="gpt-4o", base_url="http://10.1.2.3:8000/v1", api_key="k") as model:
        # Even if the guard broke, nothing may leave this machine.
        monkeypatch.setattr(model.client.chat.completions, "create", _refuse_to_send)
        with pytest.raises(UnexpectedModelRequestError, match=r"10\.1\.2\.3"):
            await model.request(CONVERSATION, tools=[])


async def _refuse_to_send(**kwargs: Any) -> Any:
    raise AssertionError("the request reached the SDK")


def test_loopback_detection() -> None:
    from operator_agent.models import is_loopback_host

    assert all(
        is_loopback_host(h) for h in ["localhost", "LOCALHOST.", "127.0.0.1", "127.8.9.10", "::1", "[::1]"]
    )
    assert not any(
        is_loopback_host(h) for h in ["api.openai.com", "10.0.0.1", "localhost.evil.com", "128.0.0.1", ""]
    )


# -- logs ---------------------------------------------------------------------------------------


async def test_logs_carry_numbers_never_the_key_or_the_conversation(fake_openai: FakeOpenAIServer) -> None:
    secret_note = "customer IBAN DE44 5001 0517 5407 3249 31"
    async with _fast_model(fake_openai) as model:
        fake_openai.enqueue_error(status=500, message=f"upstream rejected key {API_KEY}")
        fake_openai.enqueue("ok", prompt_tokens=321, completion_tokens=12)
        with capture_logs() as logs:
            await model.request([Message.user(secret_note)], tools=[])
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    rendered = repr(logs)
    assert API_KEY not in rendered
    assert secret_note not in rendered
    (done,) = [e for e in logs if e["event"] == "model request"]
    assert (done["model"], done["attempt"], done["input_tokens"], done["output_tokens"]) == (
        "gpt-4o-mini",
        2,
        321,
        12,
    )
    assert done["log_level"] == "info"
    assert done["latency_ms"] >= 0


# -- Retry-After parsing ------------------------------------------------------------------------


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert (
        retry_after_seconds(
            {"Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now=now
        )
        == 30
    )
    assert (
        retry_after_seconds(
            {"Retry-After": format_datetime(now - timedelta(seconds=30), usegmt=True)}, now=now
        )
        == 0
    )
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_concurrent_requests_each_get_one_reply(
    fake_openai: FakeOpenAIServer, model: OpenAIModel
) -> None:
    for index in range(12):
        fake_openai.enqueue(f"reply {index}")
    replies = await asyncio.gather(*(model.request(CONVERSATION, tools=[]) for _ in range(12)))
    assert sorted(r.text for r in replies) == sorted(f"reply {i}" for i in range(12))
    assert fake_openai.pending == 0
