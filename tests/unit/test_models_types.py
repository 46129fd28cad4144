"""The model vocabulary: message shape rules, tool specs and calls, usage arithmetic, prices."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from operator_agent.errors import ModelResponseError
from operator_agent.models import (
    DEFAULT_PRICES,
    FunctionModel,
    ImagePart,
    Message,
    Model,
    ModelPrice,
    ModelResponse,
    ModelSettings,
    OpenAIModel,
    PriceTable,
    ScriptedModel,
    ToolCall,
    ToolSpec,
    Usage,
)
from operator_agent.models.chat_format import build_request_params, message_to_chat

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


# -- messages -----------------------------------------------------------------------------------


def test_constructors_build_each_role() -> None:
    call = ToolCall(id="call_1", name="click", arguments='{"ref": "e1"}')
    assert Message.system("rules").role == "system"
    assert Message.user("hi", images=[ImagePart.from_bytes(PNG_1PX)]).images[0].media_type == "image/png"
    assert Message.assistant(tool_calls=[call]).tool_calls == (call,)
    tool = Message.tool("call_1", "clicked")
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_1", "clicked")


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"role": "tool", "content": "done"}, "needs tool_call_id"),
        ({"role": "user", "content": "x", "tool_call_id": "c1"}, "only tool messages may carry tool_call_id"),
        ({"role": "assistant", "content": ""}, "needs content or tool_calls"),
        ({"role": "user", "content": ""}, "needs content or images"),
        ({"role": "system", "content": ""}, "system message needs content"),
        (
            {
                "role": "assistant",
                "content": "x",
                "images": [{"media_type": "image/png", "data_b64": "AAAA"}],
            },
            "only user messages may carry images",
        ),
        (
            {"role": "user", "content": "x", "tool_calls": [{"id": "c", "name": "n", "arguments": "{}"}]},
            "only assistant messages may carry tool_calls",
        ),
        ({"role": "user", "content": "x", "colour": "red"}, "Extra inputs are not permitted"),
        ({"role": "robot", "content": "x"}, "role"),
    ],
)
def test_message_shape_rules_fail_at_construction(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Message.model_validate(fields)


def test_messages_are_frozen() -> None:
    message = Message.user("hello")
    with pytest.raises(ValidationError):
        message.content = "changed"  # type: ignore[misc]


def test_image_part_checks_base64_and_builds_data_url() -> None:
    image = ImagePart.from_bytes(PNG_1PX, media_type="image/png")
    assert image.data_url.startswith("data:image/png;base64,iVBOR")
    assert base64.b64decode(image.data_b64) == PNG_1PX
    with pytest.raises(ValidationError, match="not valid base64"):
        ImagePart(media_type="image/png", data_b64="not base64!")
    with pytest.raises(ValidationError, match="bare base64"):
        ImagePart(media_type="image/png", data_b64=image.data_url)
    with pytest.raises(ValidationError):
        ImagePart(media_type="image/gif", data_b64=image.data_b64)  # type: ignore[arg-type]


# -- tools --------------------------------------------------------------------------------------


def test_tool_spec_rejects_names_and_schemas_servers_would_refuse() -> None:
    with pytest.raises(ValidationError, match="1-64 characters"):
        ToolSpec(name="click element", description="d", parameters={"type": "object"})
    with pytest.raises(ValidationError, match='"type": "object"'):
        ToolSpec(name="click", description="d", parameters={"type": "string"})
    assert ToolSpec(name="go_to-url", description="d", parameters={"type": "object"}).name == "go_to-url"


def test_tool_call_parsed_arguments() -> None:
    assert ToolCall(id="c1", name="fill", arguments='{"ref": "e4", "text": "x"}').parsed_arguments() == {
        "ref": "e4",
        "text": "x",
    }
    assert ToolCall(id="c1", name="done", arguments="  ").parsed_arguments() == {}
    with pytest.raises(ModelResponseError, match=r"tool call 'fill' \(id c9\) are not valid JSON"):
        ToolCall(id="c9", name="fill", arguments='{"ref": "e4"').parsed_arguments()
    with pytest.raises(ModelResponseError, match="must be a JSON object, got list"):
        ToolCall(id="c9", name="fill", arguments="[1, 2]").parsed_arguments()


# -- usage and responses ------------------------------------------------------------------------


def test_usage_adds_up_and_an_unknown_cost_stays_unknown() -> None:
    a = Usage(requests=1, input_tokens=100, output_tokens=10, cached_input_tokens=40, cost_usd=0.5)
    b = Usage(requests=2, input_tokens=50, output_tokens=5, cost_usd=0.25)
    total = a + b
    assert total == Usage(
        requests=3, input_tokens=150, output_tokens=15, cached_input_tokens=40, cost_usd=0.75
    )
    assert total.total_tokens == 165
    unknown = Usage(requests=1, input_tokens=1, output_tokens=1, cost_usd=None)
    assert (a + unknown).cost_usd is None
    # The empty Usage() is the identity: starting a sum from it keeps a known cost known.
    assert Usage() + a == a
    assert sum([a, b], Usage()) == total
    with pytest.raises(ValidationError):
        Usage(input_tokens=-1)


def test_model_response_to_message() -> None:
    call = ToolCall(id="c1", name="click", arguments="{}")
    response = ModelResponse(text="on it", tool_calls=(call,), usage=Usage(), model_name="m")
    assert response.to_message() == Message.assistant("on it", tool_calls=[call])
    with pytest.raises(ModelResponseError, match="empty reply"):
        ModelResponse(usage=Usage(), model_name="m", finish_reason="length").to_message()


def test_model_settings_ranges() -> None:
    assert ModelSettings().tool_choice == "required"
    with pytest.raises(ValidationError):
        ModelSettings(temperature=3)
    with pytest.raises(ValidationError):
        ModelSettings(max_output_tokens=0)
    with pytest.raises(ValidationError):
        ModelSettings(tool_choice="any")  # type: ignore[arg-type]


async def test_every_model_satisfies_the_protocol() -> None:
    async with OpenAIModel(model="m", base_url="http://127.0.0.1:9/v1") as openai_model:
        models = [FunctionModel(lambda messages, tools: "ok"), ScriptedModel(["ok"]), openai_model]
        assert all(isinstance(m, Model) for m in models)
    assert not isinstance(object(), Model)


# -- chat format --------------------------------------------------------------------------------


def test_conversation_maps_to_chat_completions_format() -> None:
    call = ToolCall(id="call_7", name="click", arguments='{"ref": "e3"}')
    image = ImagePart.from_bytes(PNG_1PX)
    assert message_to_chat(Message.system("rules")) == {"role": "system", "content": "rules"}
    assert message_to_chat(Message.user("hi")) == {"role": "user", "content": "hi"}
    assert message_to_chat(Message.user("look", images=[image]), image_detail="low") == {
        "role": "user",
        "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": image.data_url, "detail": "low"}},
        ],
    }
    assert message_to_chat(Message.assistant(tool_calls=[call])) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "click", "arguments": '{"ref": "e3"}'}}
        ],
    }
    assert message_to_chat(Message.tool("call_7", "clicked")) == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": "clicked",
    }


def test_request_params_send_only_what_is_set() -> None:
    tool = ToolSpec(name="click", description="Click", parameters={"type": "object"})
    bare = build_request_params(messages=[Message.user("hi")], tools=[], settings=ModelSettings())
    # tool_choice without tools is a 400 on OpenAI: it must not be sent.
    assert set(bare) == {"messages"}
    full = build_request_params(
        messages=[Message.user("hi")],
        tools=[tool],
        settings=ModelSettings(
            temperature=0, max_output_tokens=300, parallel_tool_calls=False, tool_choice="auto"
        ),
        max_tokens_param="max_tokens",
    )
    assert full["tools"] == [
        {
            "type": "function",
            "function": {"name": "click", "description": "Click", "parameters": {"type": "object"}},
        }
    ]
    assert (full["tool_choice"], full["parallel_tool_calls"], full["temperature"], full["max_tokens"]) == (
        "auto",
        False,
        0,
        300,
    )
    assert "max_completion_tokens" not in full


# -- prices -------------------------------------------------------------------------------------


def test_price_table_matches_names_and_snapshots_but_never_guesses() -> None:
    assert DEFAULT_PRICES.price_of("gpt-4o-2024-08-06") == DEFAULT_PRICES.price_of("gpt-4o")
    assert DEFAULT_PRICES.price_of("gpt-4o-mini") != DEFAULT_PRICES.price_of("gpt-4o")
    assert DEFAULT_PRICES.price_of("gpt-4o-turbo-preview") is None
    assert (
        DEFAULT_PRICES.cost("llama-3.1-8b", input_tokens=10, cached_input_tokens=0, output_tokens=10) is None
    )


def test_cost_bills_cached_tokens_at_their_rate() -> None:
    table = PriceTable(models={"m": ModelPrice(input=2.0, cached_input=0.5, output=8.0)})
    cost = table.cost("m", input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)
    assert cost == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.1 * 8.0)
    plain = PriceTable(models={"m": ModelPrice(input=2.0, output=8.0)})
    assert plain.cost("m", input_tokens=1_000_000, cached_input_tokens=1_000_000, output_tokens=0) == 2.0
    merged = DEFAULT_PRICES.merged({"my-deployment": ModelPrice(input=1, output=1)})
    assert merged.price_of("my-deployment") is not None
    assert DEFAULT_PRICES.price_of("my-deployment") is None
