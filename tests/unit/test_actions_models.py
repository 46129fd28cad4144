"""Action models, tool specs and tool-call parsing: what a model sends and what it is told."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from operator_agent.actions import (
    PAGE_ACTIONS,
    TERMINAL_ACTIONS,
    Action,
    ActionKind,
    AskHuman,
    Click,
    Done,
    Extract,
    Fail,
    Fill,
    GoBack,
    PageAction,
    Scroll,
    WaitFor,
    action_tool_specs,
    parse_tool_call,
)
from operator_agent.errors import InvalidActionError

ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

# Keywords pydantic may emit, all of them JSON Schema (draft 2020-12) vocabulary.
SCHEMA_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "description",
    "default",
    "enum",
    "const",
    "anyOf",
    "items",
    "minLength",
    "maxLength",
    "minItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "$defs",
    "$ref",
}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def test_union_dispatches_on_kind() -> None:
    action = ADAPTER.validate_python({"kind": "fill", "ref": "e3", "text": "Acme"})
    assert isinstance(action, Fill)
    assert (action.ref, action.text, action.submit, action.irreversible) == ("e3", "Acme", False, False)
    assert isinstance(ADAPTER.validate_python({"kind": "go_back"}), GoBack)


def test_actions_are_frozen_and_reject_unknown_fields() -> None:
    click = Click(ref="e1")
    with pytest.raises(ValidationError):
        click.ref = "e2"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        Click.model_validate({"kind": "click", "ref": "e1", "selector": "#save"})


def test_fill_needs_exactly_one_of_text_or_secret() -> None:
    assert Fill(ref="e1", text="").text == ""
    assert Fill(ref="e1", secret="erp_password").secret == "erp_password"
    with pytest.raises(ValidationError, match="exactly one"):
        Fill(ref="e1")
    with pytest.raises(ValidationError, match="exactly one"):
        Fill(ref="e1", text="a", secret="b")


def test_wait_for_is_bounded_and_needs_a_subject() -> None:
    assert WaitFor(state="network_idle").timeout_s == 10
    with pytest.raises(ValidationError, match="needs a 'text' or a 'ref'"):
        WaitFor()
    with pytest.raises(ValidationError, match="less than or equal to 30"):
        WaitFor(text="Saved", timeout_s=31)


def test_bounds_on_numbers() -> None:
    with pytest.raises(ValidationError):
        Scroll(amount=0)
    with pytest.raises(ValidationError):
        Done(output=1, confidence=1.5)
    assert Done(output={"total": 3}).confidence == 1.0


def test_groupings_cover_every_kind_once() -> None:
    kinds = [cls.model_fields["kind"].default for cls in (*PAGE_ACTIONS, Extract, *TERMINAL_ACTIONS)]
    assert sorted(kinds) == sorted(get_args(ActionKind))
    assert len(set(kinds)) == len(kinds)
    assert all(issubclass(cls, PageAction) for cls in PAGE_ACTIONS)
    assert "irreversible" in Click.model_fields
    assert "irreversible" not in Done.model_fields
    assert "irreversible" not in Extract.model_fields


def _check_schema(schema: Any, where: str) -> None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties":
                assert isinstance(value, dict), where
                for name, sub in value.items():
                    _check_schema(sub, f"{where}.{name}")
                continue
            assert key in SCHEMA_KEYWORDS, f"{where}: unexpected keyword {key!r}"
            if key == "type":
                assert value in JSON_TYPES, f"{where}: bad type {value!r}"
            if key in ("anyOf", "items", "additionalProperties", "$defs"):
                _check_schema(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for item in schema:
            _check_schema(item, where)


def test_tool_specs_are_json_schemas_without_kind() -> None:
    specs = action_tool_specs()
    assert [spec["name"] for spec in specs] == [
        cls.model_fields["kind"].default for cls in (*PAGE_ACTIONS, Extract, *TERMINAL_ACTIONS)
    ]
    json.dumps(specs)  # plain data, ready for any model API
    for spec in specs:
        assert set(spec) == {"name", "description", "parameters"}
        assert len(spec["description"]) > 30, spec["name"]
        params = spec["parameters"]
        assert params["type"] == "object"
        assert params["additionalProperties"] is False
        assert "kind" not in params["properties"]
        assert "kind" not in params.get("required", [])
        assert set(params.get("required", [])) <= set(params["properties"])
        for name, prop in params["properties"].items():
            assert prop.get("description"), f"{spec['name']}.{name} has no description for the model"
        _check_schema(params, spec["name"])


def test_tool_specs_mark_required_fields_and_choices() -> None:
    by_name = {spec["name"]: spec["parameters"] for spec in action_tool_specs()}
    assert by_name["click"]["required"] == ["ref"]
    assert by_name["click"]["properties"]["button"]["enum"] == ["left", "right", "middle"]
    assert by_name["wait_for"]["properties"]["timeout_s"]["maximum"] == 30
    assert by_name["fail"]["required"] == ["reason"]
    assert "required" not in by_name["go_back"]
    assert "irreversible" in by_name["fill"]["properties"]
    assert "irreversible" not in by_name["done"]["properties"]


def _minimal_arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    samples: dict[str, Any] = {"string": "x", "integer": 0, "number": 1.0, "boolean": True, "array": ["x"]}
    arguments: dict[str, Any] = {}
    for name in parameters.get("required", []):
        prop = parameters["properties"][name]
        arguments[name] = samples[prop["type"]] if "type" in prop else {"any": "value"}
    return arguments


def test_every_tool_accepts_its_own_minimal_call() -> None:
    extra = {"fill": {"text": "x"}, "wait_for": {"text": "Saved"}}
    for spec in action_tool_specs():
        arguments = {**_minimal_arguments(spec["parameters"]), **extra.get(spec["name"], {})}
        action = parse_tool_call(spec["name"], json.dumps(arguments))
        assert action.kind == spec["name"]


def test_parse_tool_call_builds_the_action() -> None:
    action = parse_tool_call("fill", '{"ref": "e4", "secret": "erp_password", "reason": "log in"}')
    assert action == Fill(ref="e4", secret="erp_password", reason="log in")
    assert parse_tool_call("go_back", "") == GoBack()
    assert parse_tool_call("ask_human", '{"question": "Which vendor?"}') == AskHuman(question="Which vendor?")
    assert parse_tool_call("fail", '{"reason": "no such invoice"}') == Fail(reason="no such invoice")
    assert parse_tool_call("click", '{"kind": "click", "ref": "e1"}') == Click(ref="e1")


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("teleport", "{}", "unknown tool 'teleport': the available tools are click, fill"),
        ("click", '{"ref": "e1"', "not valid JSON (Expecting ',' delimiter at line 1 column 13)"),
        ("click", '["e1"]', "must be a JSON object, not list"),
        ("click", "{}", "invalid arguments for tool 'click': field 'ref' is required"),
        ("click", '{"ref": 5}', "field 'ref': Input should be a valid string (got 5)"),
        (
            "click",
            '{"ref": "e1", "button": "side"}',
            "field 'button': Input should be 'left', 'right' or 'middle'",
        ),
        (
            "click",
            '{"ref": "e1", "selector": "#x"}',
            "unexpected field 'selector' (tool 'click' accepts: ref, button",
        ),
        (
            "fill",
            '{"ref": "e1"}',
            "invalid arguments for tool 'fill': give exactly one of 'text' or 'secret'",
        ),
        ("scroll", '{"amount": -2}', "field 'amount': Input should be greater than 0 (got -2)"),
        ("click", '{"kind": "fill", "ref": "e1"}', "say kind='fill'; leave 'kind' out"),
    ],
)
def test_parse_tool_call_errors_tell_the_model_what_to_fix(name: str, arguments: str, expected: str) -> None:
    with pytest.raises(InvalidActionError) as caught:
        parse_tool_call(name, arguments)
    assert expected in str(caught.value)


def test_parse_tool_call_lists_every_problem_at_once() -> None:
    with pytest.raises(InvalidActionError) as caught:
        parse_tool_call("wait_for", '{"text": "Saved", "timeout_s": 99, "state": "gone"}')
    message = str(caught.value)
    assert "field 'state'" in message
    assert "field 'timeout_s': Input should be less than or equal to 30 (got 99)" in message
