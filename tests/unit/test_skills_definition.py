"""@skill: everything about a skill comes from its function, and bad functions are refused clearly."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from operator_agent.actions import action_tool_specs
from operator_agent.errors import ConfigurationError, SkillDefinitionError
from operator_agent.skills import Skill, SkillContext, skill
from operator_agent.skills._docstring import parse_docstring


class Line(BaseModel):
    description: str
    quantity: int


@skill
async def book_invoice(
    ctx: SkillContext,
    *,
    vendor: str,
    amount: float,
    due: date,
    terms: Literal["net15", "net30"] = "net30",
    lines: list[Line] | None = None,
) -> dict[str, Any]:
    """Book a supplier invoice.

    A longer explanation that the model does not need.

    Args:
        vendor: The vendor's name,
            as the back office knows it.
        amount: The total.
        due: When it is due.
        terms (str): Payment terms.
        lines: The invoice lines.

    Returns:
        The booking.
    """
    return {"vendor": vendor}


def test_name_description_and_flags_come_from_the_function() -> None:
    assert isinstance(book_invoice, Skill)
    assert book_invoice.name == "book_invoice"
    assert book_invoice.description == "Book a supplier invoice."
    assert book_invoice.irreversible is False
    assert book_invoice.parameter_names == ["vendor", "amount", "due", "terms", "lines"]
    assert book_invoice.source is not None
    assert book_invoice.source.endswith("test_skills_definition.py")


def test_schema_has_types_defaults_and_docstring_descriptions() -> None:
    schema = book_invoice.parameters_schema
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["vendor", "amount", "due"]
    props = schema["properties"]
    assert props["vendor"] == {
        "type": "string",
        "description": "The vendor's name, as the back office knows it.",
    }
    assert props["amount"]["type"] == "number"
    assert props["due"]["format"] == "date"
    assert props["terms"]["enum"] == ["net15", "net30"]
    assert props["terms"]["default"] == "net30"
    assert props["terms"]["description"] == "Payment terms."
    assert "$defs" in schema
    assert "Line" in schema["$defs"]
    assert not _titles(schema), "generated titles only repeat names and cost tokens"


def _titles(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["title"]] if isinstance(node.get("title"), str) else []
        return found + [t for value in node.values() for t in _titles(value)]
    if isinstance(node, list):
        return [t for value in node for t in _titles(value)]
    return []


def test_tool_spec_has_the_shape_of_action_tool_specs() -> None:
    spec = book_invoice.tool_spec()
    assert set(spec) == set(action_tool_specs()[0])
    assert spec["name"] == "book_invoice"
    assert spec["parameters"] == book_invoice.parameters_schema
    # The schema is a copy: changing it does not change the skill.
    spec["parameters"]["properties"].clear()
    assert book_invoice.parameters_schema["properties"]


def test_options_override_name_and_description_and_mark_irreversible() -> None:
    @skill(name="pay_vendor", description="Pay a vendor now.", irreversible=True)
    async def pay(ctx: SkillContext, *, vendor: str) -> None:
        """Ignored docstring."""

    assert pay.name == "pay_vendor"
    assert pay.irreversible is True
    assert pay.tool_spec()["description"].startswith("Pay a vendor now.")
    assert "approval" in pay.tool_spec()["description"]


def test_validate_arguments_converts_and_fills_defaults() -> None:
    arguments = book_invoice.validate_arguments(
        {
            "vendor": "Acme",
            "amount": "12.5",
            "due": "2026-12-31",
            "lines": [{"description": "x", "quantity": "2"}],
        }
    )
    assert arguments["amount"] == 12.5
    assert arguments["due"] == date(2026, 12, 31)
    assert arguments["terms"] == "net30"
    assert arguments["lines"] == [Line(description="x", quantity=2)]


def test_validate_arguments_names_every_problem() -> None:
    with pytest.raises(ConfigurationError) as info:
        book_invoice.validate_arguments({"amount": "lots", "terms": "net99", "colour": "red"})
    message = str(info.value)
    assert "skill 'book_invoice'" in message
    assert "'vendor' is required" in message
    assert "'amount'" in message
    assert "lots" in message
    assert "'terms'" in message
    assert "unexpected argument 'colour'" in message
    assert "it takes: vendor, amount, due, terms, lines" in message


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("async def f(ctx, *, vendor):\n    '''Doc.'''", "parameter 'vendor' has no type annotation"),
        ("async def f(ctx, *args: str):\n    '''Doc.'''", "*args is not allowed"),
        ("async def f(ctx, **kwargs: str):\n    '''Doc.'''", "**kwargs is not allowed"),
        ("def f(ctx, *, vendor: str):\n    '''Doc.'''", "must be an `async def` function"),
        ("async def f(ctx, *, vendor: str):\n    pass", "has no description"),
        ("async def click(ctx, *, vendor: str):\n    '''Doc.'''", "is an action kind"),
        ("async def f(ctx, *, headless: bool):\n    '''Doc.'''", "reserved name"),
        ("async def f(ctx, *, page: Unknown):\n    '''Doc.'''", "annotations cannot be resolved"),
        ("async def f(ctx, *, page: Opaque):\n    '''Doc.'''", "cannot be validated"),
        ("async def f(ctx: int, *, vendor: str):\n    '''Doc.'''", "must be annotated SkillContext"),
        ("async def f(*, vendor: str):\n    '''Doc.'''", "first parameter must be the SkillContext"),
    ],
)
def test_functions_that_cannot_be_skills_are_refused_with_the_reason(source: str, problem: str) -> None:
    namespace: dict[str, Any] = {"Opaque": type("Opaque", (), {})}
    exec(compile(source, "skills_under_test.py", "exec"), namespace)
    with pytest.raises(SkillDefinitionError) as info:
        skill(namespace[next(k for k in namespace if k not in ("Opaque", "__builtins__"))])
    assert problem in str(info.value)
    assert "cannot make a skill of" in str(info.value)


def test_a_skill_is_not_decorated_twice() -> None:
    with pytest.raises(SkillDefinitionError, match="already a skill"):
        skill(book_invoice)  # type: ignore[arg-type]


def test_docstring_parsing_keeps_summary_and_argument_descriptions() -> None:
    parsed = parse_docstring(
        """Summary on
        two lines.

        Body.

        Args:
            first: One.
            second (int, optional): Two,
                continued.

        Raises:
            ValueError: Never an argument.
        """
    )
    assert parsed.summary == "Summary on two lines."
    assert parsed.args == {"first": "One.", "second": "Two, continued."}
    assert parse_docstring(None).summary == ""
