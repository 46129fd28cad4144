"""FunctionModel, ScriptedModel and the one-line reply helpers."""

from __future__ import annotations

import json

import pytest

from operator_agent.errors import ConfigurationError, ModelUnavailableError, ScriptExhaustedError
from operator_agent.models import (
    FunctionModel,
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ScriptedModel,
    ToolCall,
    ToolSpec,
    Usage,
    raw_tool_call,
    reply,
    tool_call,
)

CLICK = ToolSpec(
    name="click",
    description="Click the element with this ref.",
    parameters={"type": "object", "properties": {"ref": {"type": "string"}}, "required": ["ref"]},
)
CONVERSATION = [
    Message.system("You operate a web page."),
    Message.user("Open invoice 42. [e3] link 'Invoice 42'"),
]


# -- helpers ------------------------------------------------------------------------------------


def test_tool_call_encodes_arguments_as_json_with_fresh_ids() -> None:
    first = tool_call("fill", ref="e4", text="Zoë & Co")
    second = tool_call("fill", ref="e4", text="Zoë & Co")
    assert first.name == "fill"
    assert json.loads(first.arguments) == {"ref": "e4", "text": "Zoë & Co"}
    assert first.id.startswith("call_")
    assert first.id != second.id
    assert json.loads(tool_call("done").arguments) == {}
    with pytest.raises(ConfigurationError, match="'upload' are not JSON-serializable"):
        tool_call("upload", data=b"bytes")


def test_raw_tool_call_keeps_broken_arguments_verbatim() -> None:
    call = raw_tool_call("click", '{"ref": "e3"', call_id="call_x")
    assert (call.id, call.arguments) == ("call_x", '{"ref": "e3"')


def test_reply_mixes_text_and_calls() -> None:
    a, b = tool_call("click", ref="e1"), tool_call("click", ref="e2")
    response = reply("Clicking both.", a, b)
    assert (response.text, response.tool_calls, response.finish_reason) == (
        "Clicking both.",
        (a, b),
        "tool_calls",
    )
    assert reply("done").finish_reason == "stop"


# -- FunctionModel ------------------------------------------------------------------------------


async def test_function_model_passes_the_conversation_and_tools() -> None:
    seen: list[tuple[tuple[Message, ...], tuple[ToolSpec, ...]]] = []

    def operator(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> ModelResponse:
        seen.append((messages, tools))
        return reply(tool_call("click", ref="e3"))

    model = FunctionModel(operator, name="operator-fn")
    response = await model.request(CONVERSATION, tools=[CLICK])
    assert seen == [(tuple(CONVERSATION), (CLICK,))]
    assert response.model_name == "operator-fn"
    assert response.tool_calls[0].parsed_arguments() == {"ref": "e3"}
    assert model.call_count == 1


async def test_function_model_accepts_every_reply_shape_sync_or_async() -> None:
    call = tool_call("click", ref="e3")
    shapes: list[object] = ["plain text", call, [call, "and text"]]

    async def async_fn(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> object:
        return shapes[len(messages) - 1]

    model = FunctionModel(async_fn)  # type: ignore[arg-type]
    text = await model.request([Message.user("a")], tools=[CLICK])
    single = await model.request([Message.user("a"), Message.user("b")], tools=[CLICK])
    mixed = await model.request([Message.user("a"), Message.user("b"), Message.user("c")], tools=[CLICK])
    assert (text.text, text.tool_calls, text.finish_reason) == ("plain text", (), "stop")
    assert single.tool_calls == (call,)
    assert (mixed.text, mixed.tool_calls) == ("and text", (call,))


async def test_function_model_estimates_usage_unless_given() -> None:
    model = FunctionModel(lambda messages, tools: "x" * 40)
    estimated = (await model.request(CONVERSATION, tools=[CLICK])).usage
    assert estimated.requests == 1
    assert estimated.output_tokens == 10
    assert estimated.input_tokens > 20
    assert estimated.cost_usd == 0.0
    own = Usage(requests=1, input_tokens=7, output_tokens=3, cost_usd=0.01)
    given = FunctionModel(lambda m, t: ModelResponse(text="x", usage=own, model_name="real-name"))
    response = await given.request(CONVERSATION, tools=[])
    assert (response.usage, response.model_name) == (own, "real-name")


async def test_function_model_rejects_an_unusable_return_and_propagates_errors() -> None:
    with pytest.raises(ConfigurationError, match="got a reply of type int"):
        await FunctionModel(lambda m, t: 42).request(CONVERSATION, tools=[])  # type: ignore[arg-type,return-value]

    def down(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> str:
        raise ModelUnavailableError("simulated outage")

    with pytest.raises(ModelUnavailableError, match="simulated outage"):
        await FunctionModel(down).request(CONVERSATION, tools=[])


# -- ScriptedModel ------------------------------------------------------------------------------


async def test_scripted_model_plays_replies_in_order_and_records_calls() -> None:
    first = reply(tool_call("click", ref="e3"))
    model = ScriptedModel([first, "All done."])
    settings = ModelSettings(temperature=0)
    one = await model.request(CONVERSATION, tools=[CLICK], settings=settings)
    two = await model.request([*CONVERSATION, Message.tool(first.tool_calls[0].id, "ok")], tools=[CLICK])
    assert one.tool_calls == first.tool_calls
    assert one.model_name == "scripted"
    assert one.usage.requests == 1
    assert two.text == "All done."
    assert [len(c.messages) for c in model.calls] == [2, 3]
    assert model.calls[0].settings == settings
    assert model.calls[0].tool_names == ("click",)
    assert model.calls[1].last_message == Message.tool(first.tool_calls[0].id, "ok")
    model.assert_complete()


async def test_scripted_callable_replies_see_the_request() -> None:
    def follow_link(request: ModelRequest) -> ToolCall:
        last = request.last_message
        assert last is not None
        ref = last.content.split("[")[1].split("]")[0]
        return tool_call("click", ref=ref)

    async def finish(request: ModelRequest) -> str:
        return f"finished after {len(request.messages)} messages"

    model = ScriptedModel([follow_link, finish])
    clicked = await model.request(CONVERSATION, tools=[CLICK])
    assert clicked.tool_calls[0].parsed_arguments() == {"ref": "e3"}
    assert (await model.request(CONVERSATION, tools=[CLICK])).text == "finished after 2 messages"


async def test_scripted_exceptions_are_raised_at_their_step_and_still_recorded() -> None:
    model = ScriptedModel(
        [
            ModelUnavailableError("provider down"),
            TimeoutError,
            lambda request: ValueError(f"bad step with {len(request.messages)} messages"),
            "recovered",
        ]
    )
    with pytest.raises(ModelUnavailableError, match="provider down"):
        await model.request(CONVERSATION, tools=[])
    with pytest.raises(TimeoutError):
        await model.request(CONVERSATION, tools=[])
    with pytest.raises(ValueError, match="bad step with 2 messages"):
        await model.request(CONVERSATION, tools=[])
    assert (await model.request(CONVERSATION, tools=[])).text == "recovered"
    assert len(model.calls) == 4


async def test_assert_complete_names_the_unused_replies() -> None:
    model = ScriptedModel(["one", "two", "three"], name="invoice-script")
    await model.request(CONVERSATION, tools=[])
    assert model.remaining == 2
    with pytest.raises(AssertionError, match=r"'invoice-script': 2 of 3 scripted replies left unused.*#2"):
        model.assert_complete()


async def test_asking_past_the_end_names_the_step_and_the_last_message() -> None:
    model = ScriptedModel("only reply")
    await model.request(CONVERSATION, tools=[])
    with pytest.raises(ScriptExhaustedError) as caught:
        await model.request([*CONVERSATION, Message.user("Observation: invoice 42 saved")], tools=[])
    message = str(caught.value)
    assert "asked for reply 2 but its script holds 1" in message
    assert "user: 'Observation: invoice 42 saved'" in message
    assert len(model.calls) == 2
    model.assert_complete()
