"""The actions a model can take, as typed tool calls.

Each action is a frozen pydantic model discriminated on ``kind``. A model proposes actions as tool
calls; :func:`parse_tool_call` turns one into an :data:`Action` (or an error message the model can
act on), :func:`action_tool_specs` describes every action as a tool. Page actions are carried out
by :class:`operator_agent.act.ActionExecutor`; ``extract`` and the terminal actions (``done``,
``ask_human``, ``fail``) are handled by the agent loop.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Final, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from operator_agent.errors import InvalidActionError

__all__ = [
    "PAGE_ACTIONS",
    "TERMINAL_ACTIONS",
    "Action",
    "ActionKind",
    "AskHuman",
    "Check",
    "Click",
    "Done",
    "Extract",
    "Fail",
    "Fill",
    "GoBack",
    "Hover",
    "Navigate",
    "PageAction",
    "Press",
    "Scroll",
    "SelectOption",
    "SwitchTab",
    "TerminalAction",
    "Uncheck",
    "UploadFile",
    "WaitFor",
    "action_tool_specs",
    "parse_tool_call",
]

_REF = "The element's ref from the latest observation, such as e12."


class _ActionBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The text a model reads about this tool.
    tool_description: ClassVar[str] = ""

    reason: str = Field(default="", description="Why you take this action, in a few words.")


class PageAction(_ActionBase):
    """An action carried out on the page by the executor."""

    irreversible: bool = Field(
        default=False,
        description=(
            "True if this action cannot be undone once done: it submits, pays, sends, deletes, "
            "approves or publishes something."
        ),
    )


class Click(PageAction):
    """Click an element."""

    tool_description: ClassVar[str] = (
        "Click an element (button, link, tab, menu item, row...). Use double for a double click and "
        "button='right' to open a context menu."
    )
    kind: Literal["click"] = "click"
    ref: str = Field(description=_REF, min_length=1)
    button: Literal["left", "right", "middle"] = Field(default="left", description="The mouse button.")
    double: bool = Field(default=False, description="Double-click instead of a single click.")


class Fill(PageAction):
    """Type into a text field, replacing what it holds."""

    tool_description: ClassVar[str] = (
        "Replace the content of a text field (input, textarea, combobox, date field, editable area) "
        "with text, or with the value of a named secret. Give exactly one of text or secret. Dates "
        "may be written as a person would (31/12/2026, Dec 31, 2026, 2026-12-31). The result tells "
        "what the field shows afterwards and, for a combobox, which options appeared."
    )
    kind: Literal["fill"] = "fill"
    ref: str = Field(description=_REF, min_length=1)
    text: str | None = Field(default=None, description="The text to put in the field; '' clears it.")
    secret: str | None = Field(
        default=None,
        description=(
            "The name of a secret (such as a password) whose value is typed in for you; you never "
            "see the value."
        ),
    )
    submit: bool = Field(default=False, description="Press Enter after filling, to submit.")

    @model_validator(mode="after")
    def _one_source(self) -> Fill:
        if (self.text is None) == (self.secret is None):
            raise ValueError("give exactly one of 'text' or 'secret'")
        if self.secret is not None and not self.secret.strip():
            raise ValueError("'secret' must name a secret")
        return self


class SelectOption(PageAction):
    """Choose options of a native select element."""

    tool_description: ClassVar[str] = (
        "Choose one option (or several, for a multi-select) of a <select> drop-down. Each value is "
        "matched against the option labels first, then against the option values."
    )
    kind: Literal["select_option"] = "select_option"
    ref: str = Field(description=_REF, min_length=1)
    values: list[str] = Field(
        min_length=1, description="The option labels (or values) to select, such as ['Net 30']."
    )


class Check(PageAction):
    """Make a checkbox, radio button or switch checked."""

    tool_description: ClassVar[str] = (
        "Make a checkbox, radio button or switch checked (nothing happens if it already is)."
    )
    kind: Literal["check"] = "check"
    ref: str = Field(description=_REF, min_length=1)


class Uncheck(PageAction):
    """Make a checkbox or switch unchecked."""

    tool_description: ClassVar[str] = (
        "Make a checkbox or switch unchecked (nothing happens if it already is). A radio button "
        "cannot be unchecked: check another one of its group."
    )
    kind: Literal["uncheck"] = "uncheck"
    ref: str = Field(description=_REF, min_length=1)


class Press(PageAction):
    """Press a key or a key combination."""

    tool_description: ClassVar[str] = (
        "Press a key or key combination, such as Enter, Tab, Escape, ArrowDown, Control+A or "
        "Shift+Tab. With a ref, the element is focused first; without, the key goes to whatever "
        "has focus."
    )
    kind: Literal["press"] = "press"
    keys: str = Field(min_length=1, description="The key or combination, such as 'Enter' or 'Control+A'.")
    ref: str | None = Field(default=None, description="The element to focus first; optional.")


class Hover(PageAction):
    """Move the mouse over an element."""

    tool_description: ClassVar[str] = (
        "Move the mouse over an element, to open a menu or show a tooltip that appears on hover."
    )
    kind: Literal["hover"] = "hover"
    ref: str = Field(description=_REF, min_length=1)


class Scroll(PageAction):
    """Scroll the page or a scrollable element."""

    tool_description: ClassVar[str] = (
        "Scroll the page, or the scrollable area that holds an element, by a number of screens. "
        "The result tells the new scroll position."
    )
    kind: Literal["scroll"] = "scroll"
    direction: Literal["up", "down", "left", "right"] = Field(default="down", description="Where to scroll.")
    amount: float = Field(default=1.0, gt=0, le=50, description="How far, in screens (viewports).")
    ref: str | None = Field(
        default=None, description="An element inside the area to scroll; omit to scroll the page."
    )


class Navigate(PageAction):
    """Open a URL in the current tab."""

    tool_description: ClassVar[str] = (
        "Open a web address (http or https) in the current tab. A path such as /invoices is taken "
        "relative to the current page."
    )
    kind: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1, description="The address to open.")


class GoBack(PageAction):
    """Go back one page in the current tab's history."""

    tool_description: ClassVar[str] = "Go back to the previous page of the current tab, like the Back button."
    kind: Literal["go_back"] = "go_back"


class SwitchTab(PageAction):
    """Make another open tab the current one."""

    tool_description: ClassVar[str] = (
        "Make another open browser tab the current one; tabs are numbered from 0 in the order they "
        "were opened."
    )
    kind: Literal["switch_tab"] = "switch_tab"
    index: int = Field(ge=0, description="The tab number, from 0.")


class UploadFile(PageAction):
    """Attach files to a file input."""

    tool_description: ClassVar[str] = (
        "Attach files to a file field (or to a button that opens a file picker). Paths are taken "
        "relative to the folder of files you were given."
    )
    kind: Literal["upload_file"] = "upload_file"
    ref: str = Field(description=_REF, min_length=1)
    paths: list[str] = Field(min_length=1, description="The files to attach.")


class WaitFor(PageAction):
    """Wait until something shows, goes away, or the network is quiet."""

    tool_description: ClassVar[str] = (
        "Wait until a text or an element becomes visible or hidden, or until the network is idle; "
        "at most timeout_s seconds (30 at most). With both text and ref, waits for the text inside "
        "that element."
    )
    kind: Literal["wait_for"] = "wait_for"
    text: str | None = Field(default=None, description="A text to wait for, matched as a substring.")
    ref: str | None = Field(default=None, description="An element to wait for.")
    state: Literal["visible", "hidden", "network_idle"] = Field(
        default="visible", description="What to wait for: visible, hidden, or network_idle."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=30, description="The longest wait, in seconds.")

    @model_validator(mode="after")
    def _has_subject(self) -> WaitFor:
        if self.state != "network_idle" and self.text is None and self.ref is None:
            raise ValueError(f"state '{self.state}' needs a 'text' or a 'ref' to wait for")
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' must not be blank")
        return self


class Extract(_ActionBase):
    """Answer a question about the page, from the observation."""

    tool_description: ClassVar[str] = (
        "Read information from the page, such as a table or a total, described by an instruction; "
        "give a ref to limit it to one part of the page."
    )
    kind: Literal["extract"] = "extract"
    instruction: str = Field(
        min_length=1, description="What to read, such as 'all invoice numbers and totals'."
    )
    ref: str | None = Field(default=None, description="The part of the page to read; optional.")


class TerminalAction(_ActionBase):
    """An action that ends the run or hands it to a person."""


class Done(TerminalAction):
    """Finish the task with its result."""

    tool_description: ClassVar[str] = (
        "Finish the task: give its result as output, how confident you are that it is right, and a "
        "one-sentence summary of what you did."
    )
    kind: Literal["done"] = "done"
    output: Any = Field(description="The task's result, in the shape the task asks for.")
    confidence: float = Field(default=1.0, ge=0, le=1, description="From 0 (a guess) to 1 (certain).")
    summary: str = Field(default="", description="What you did, in one sentence.")


class AskHuman(TerminalAction):
    """Ask a person a question and wait for the answer."""

    tool_description: ClassVar[str] = (
        "Ask a person a question when you need information or a decision you cannot get from the "
        "page; the run waits for the answer."
    )
    kind: Literal["ask_human"] = "ask_human"
    question: str = Field(min_length=1, description="The question, complete enough to answer on its own.")


class Fail(TerminalAction):
    """Stop the task because it cannot be done."""

    tool_description: ClassVar[str] = (
        "Stop because the task cannot be done (the record does not exist, access is denied...); say why."
    )
    kind: Literal["fail"] = "fail"
    reason: str = Field(min_length=1, description="Why the task cannot be done.")


Action = Annotated[
    Click
    | Fill
    | SelectOption
    | Check
    | Uncheck
    | Press
    | Hover
    | Scroll
    | Navigate
    | GoBack
    | SwitchTab
    | UploadFile
    | WaitFor
    | Extract
    | Done
    | AskHuman
    | Fail,
    Field(discriminator="kind"),
]
"""Any action, discriminated on ``kind``."""

ActionKind = Literal[
    "click",
    "fill",
    "select_option",
    "check",
    "uncheck",
    "press",
    "hover",
    "scroll",
    "navigate",
    "go_back",
    "switch_tab",
    "upload_file",
    "wait_for",
    "extract",
    "done",
    "ask_human",
    "fail",
]

#: The actions the executor carries out on the page, in tool order.
PAGE_ACTIONS: Final[tuple[type[PageAction], ...]] = (
    Click,
    Fill,
    SelectOption,
    Check,
    Uncheck,
    Press,
    Hover,
    Scroll,
    Navigate,
    GoBack,
    SwitchTab,
    UploadFile,
    WaitFor,
)

#: The actions that end the run or hand it over; the agent loop handles them.
TERMINAL_ACTIONS: Final[tuple[type[TerminalAction], ...]] = (Done, AskHuman, Fail)

_ALL: Final[tuple[type[_ActionBase], ...]] = (*PAGE_ACTIONS, Extract, *TERMINAL_ACTIONS)
_BY_KIND: Final[dict[str, type[_ActionBase]]] = {cls.model_fields["kind"].default: cls for cls in _ALL}

assert set(_BY_KIND) == set(get_args(ActionKind)), "ActionKind and the action classes disagree"


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's generated titles: they repeat the field names and cost tokens."""
    if isinstance(schema, dict):
        return {
            key: _strip_titles(value)
            for key, value in schema.items()
            # A property *named* "title" lives under "properties" and is kept.
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def _parameters(cls: type[_ActionBase]) -> dict[str, Any]:
    schema: dict[str, Any] = _strip_titles(cls.model_json_schema())
    schema.pop("description", None)
    properties: dict[str, Any] = schema.get("properties", {})
    properties.pop("kind", None)
    required = [name for name in schema.get("required", []) if name != "kind"]
    # The action's own fields come first; the bookkeeping ones last, so the arguments read naturally.
    for name in ("irreversible", "reason"):
        if name in properties and cls is not Fail:
            properties[name] = properties.pop(name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    if "$defs" in schema:
        parameters["$defs"] = schema["$defs"]
    return parameters


def action_tool_specs() -> list[dict[str, Any]]:
    """One tool description per action kind, for a model's tool list.

    Returns:
        Dicts with ``name`` (the action kind), ``description`` (written for a model) and
        ``parameters`` (a JSON schema of the arguments, without ``kind``), in a stable order:
        page actions, then ``extract``, then the terminal actions.
    """
    return [
        {
            "name": cls.model_fields["kind"].default,
            "description": cls.tool_description,
            "parameters": _parameters(cls),
        }
        for cls in _ALL
    ]


def _field_path(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(arguments)"


def _describe_error(name: str, error: ErrorDetails, allowed: list[str]) -> str:
    path = _field_path(error)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unexpected field '{path}' (tool '{name}' accepts: {', '.join(allowed)})"
    if kind == "missing":
        return f"field '{path}' is required"
    message = error["msg"]
    # "Value error, give exactly one of ..." reads better without pydantic's prefix.
    message = message.removeprefix("Value error, ")
    if not error["loc"]:
        return message
    shown = json.dumps(error.get("input"), default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"field '{path}': {message} (got {shown})"


def parse_tool_call(name: str, arguments_json: str) -> Action:
    """Turn a model's tool call into an action.

    Args:
        name: The tool name, which is the action kind (``click``, ``fill``...).
        arguments_json: The arguments as a JSON object; an empty string means no arguments.

    Returns:
        The validated action.

    Raises:
        InvalidActionError: If the tool is unknown, the arguments are not a JSON object, or a field
            is missing, unexpected or invalid; the message names each problem so that the model
            can correct its call.
    """
    cls = _BY_KIND.get(name)
    if cls is None:
        raise InvalidActionError(f"unknown tool {name!r}: the available tools are {', '.join(_BY_KIND)}")
    text = arguments_json.strip()
    try:
        arguments = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise InvalidActionError(
            f"the arguments of tool '{name}' are not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno}); send one JSON object"
        ) from None
    if not isinstance(arguments, dict):
        raise InvalidActionError(
            f"the arguments of tool '{name}' must be a JSON object, not {type(arguments).__name__}"
        )
    if "kind" in arguments and arguments["kind"] != name:
        raise InvalidActionError(
            f"the arguments of tool '{name}' say kind={arguments['kind']!r}; leave 'kind' out, the tool "
            "name is the kind"
        )
    arguments = {**arguments, "kind": name}
    try:
        return cast(Action, cls.model_validate(arguments))
    except ValidationError as exc:
        allowed = list(_parameters(cls)["properties"])
        problems = [_describe_error(name, error, allowed) for error in exc.errors(include_url=False)]
        raise InvalidActionError(f"invalid arguments for tool '{name}': " + "; ".join(problems)) from None
