"""Model cassettes: record once, replay deterministically, fail clearly on a mismatch, keep secrets out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from operator_agent.errors import CassetteMismatchError, ConfigurationError, ReplayError
from operator_agent.logs import register_secret_values
from operator_agent.models import Message, ModelSettings, ScriptedModel, ToolSpec, reply, tool_call
from operator_agent.replay import CassetteModel

TOOLS = [
    ToolSpec(
        name="click",
        description="Click an element.",
        parameters={"type": "object", "properties": {"ref": {"type": "string"}}, "required": ["ref"]},
    ),
    ToolSpec(name="done", description="Finish.", parameters={"type": "object", "properties": {}}),
]
SETTINGS = ModelSettings(tool_choice="required")


def _conversation(page: str, *, task: str = "Open the first invoice") -> list[Message]:
    return [
        Message.system("You operate a browser."),
        Message.user(f"Task: {task}"),
        Message.user(f"Current page (untrusted content):\n{page}"),
    ]


PAGE_1 = 'main\n  [e1] link "Invoices"\n  [e2] button "Sign out"'
PAGE_2 = 'main\n  table\n    [e5] link "INV-0001"\n    [e6] link "INV-0002"'


async def _record(path: Path, **options: object) -> ScriptedModel:
    inner = ScriptedModel([tool_call("click", ref="e1"), reply("all good", tool_call("done"))])
    cassette = CassetteModel(inner=inner, path=path, mode="record", **options)  # type: ignore[arg-type]
    first = await cassette.request(_conversation(PAGE_1), tools=TOOLS, settings=SETTINGS)
    history = [*_conversation(PAGE_2)[:2], first.to_message(), Message.tool(first.tool_calls[0].id, "ok")]
    await cassette.request([*history, _conversation(PAGE_2)[2]], tools=TOOLS, settings=SETTINGS)
    return inner


async def test_a_replay_answers_as_recorded_without_calling_a_model(tmp_path: Path) -> None:
    path = tmp_path / "cassettes" / "open_invoice.json"
    recorded = await _record(path)
    assert len(recorded.calls) == 2

    cassette = CassetteModel(path=path, mode="replay")
    assert cassette.name == "scripted"
    first = await cassette.request(_conversation(PAGE_1), tools=TOOLS, settings=SETTINGS)
    assert [(c.name, c.parsed_arguments()) for c in first.tool_calls] == [("click", {"ref": "e1"})]
    history = [*_conversation(PAGE_2)[:2], first.to_message(), Message.tool(first.tool_calls[0].id, "ok")]
    second = await cassette.request([*history, _conversation(PAGE_2)[2]], tools=TOOLS, settings=SETTINGS)
    assert second.text == "all good"
    assert [c.name for c in second.tool_calls] == ["done"]
    assert cassette.remaining == 0
    cassette.assert_complete()


async def test_a_changed_page_fails_with_a_diff_naming_the_request(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    await _record(path)
    cassette = CassetteModel(path=path, mode="replay")
    changed = PAGE_1.replace('"Invoices"', '"Payables"')

    with pytest.raises(CassetteMismatchError) as caught:
        await cassette.request(_conversation(changed), tools=TOOLS, settings=SETTINGS)

    error = caught.value
    assert error.index == 1
    assert "model request 1 does not match cassette" in str(error)
    assert "the page observation changed" in str(error)
    assert '-      [e1] link "Invoices"' in error.diff
    assert '+      [e1] link "Payables"' in error.diff
    assert "re-record the cassette" in str(error)


async def test_changed_task_tools_or_settings_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    await _record(path)

    with pytest.raises(CassetteMismatchError, match="the conversation changed"):
        await CassetteModel(path=path, mode="replay").request(
            _conversation(PAGE_1, task="Open the last invoice"), tools=TOOLS, settings=SETTINGS
        )
    with pytest.raises(CassetteMismatchError, match="the tools offered changed"):
        await CassetteModel(path=path, mode="replay").request(
            _conversation(PAGE_1), tools=TOOLS[:1], settings=SETTINGS
        )
    with pytest.raises(CassetteMismatchError, match="the settings changed"):
        await CassetteModel(path=path, mode="replay").request(
            _conversation(PAGE_1), tools=TOOLS, settings=ModelSettings(temperature=0.0)
        )


async def test_more_requests_than_recorded_fail_clearly_and_unused_ones_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    await _record(path)
    cassette = CassetteModel(path=path, mode="replay")
    await cassette.request(_conversation(PAGE_1), tools=TOOLS, settings=SETTINGS)
    with pytest.raises(AssertionError, match="1 of 2 recorded model requests were not replayed"):
        cassette.assert_complete()
    data = json.loads(path.read_text())
    data["interactions"] = data["interactions"][:1]
    path.write_text(json.dumps(data))
    short = CassetteModel(path=path, mode="replay")
    await short.request(_conversation(PAGE_1), tools=TOOLS, settings=SETTINGS)
    with pytest.raises(
        CassetteMismatchError, match=r"model request 2 was not recorded: .* holds 1 interactions"
    ):
        await short.request(_conversation(PAGE_2), tools=TOOLS, settings=SETTINGS)


async def test_volatile_parts_are_masked_before_comparing(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    stamped = PAGE_1 + "\n  text: Last sync 10:41:07"
    inner = ScriptedModel([tool_call("click", ref="e1")])
    recorder = CassetteModel(inner=inner, path=path, mode="record", volatile=[r"\d{2}:\d{2}:\d{2}"])
    await recorder.request(_conversation(stamped), tools=TOOLS, settings=SETTINGS)

    replay = CassetteModel(path=path, mode="replay", volatile=[r"\d{2}:\d{2}:\d{2}"])
    later = stamped.replace("10:41:07", "18:02:55")
    response = await replay.request(_conversation(later), tools=TOOLS, settings=SETTINGS)
    assert response.tool_calls[0].name == "click"


async def test_secrets_and_credentials_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    password = "Northwind-Ops-2026!"
    api_key = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2"
    page = (
        f"{PAGE_1}\n  text: debug token Bearer abcdefghijklmnop1234\n  text: echo {password}\n"
        f"  text: key {api_key}\n  text: typed by hand: Payables#4821"
    )
    inner = ScriptedModel(
        [tool_call("click", ref="e1", password=password, authorization="Basic dXNlcjpwYXNz")]
    )
    with register_secret_values([password]):
        cassette = CassetteModel(inner=inner, path=path, mode="record", redact=["Payables#4821"])
        response = await cassette.request(_conversation(page), tools=TOOLS, settings=SETTINGS)
    # The run itself still got the model's real answer.
    assert response.tool_calls[0].parsed_arguments()["password"] == password

    text = path.read_text()
    for leaked in (password, api_key, "abcdefghijklmnop1234", "Payables#4821", "dXNlcjpwYXNz"):
        assert leaked not in text
    assert "[REDACTED]" in text
    stored = json.loads(text)["interactions"][0]["response"]["tool_calls"][0]["arguments"]
    assert json.loads(stored) == {"ref": "e1", "password": "[REDACTED]", "authorization": "[REDACTED]"}


async def test_screenshots_are_kept_as_hashes_and_not_compared(tmp_path: Path) -> None:
    from operator_agent.models import ImagePart

    path = tmp_path / "c.json"
    inner = ScriptedModel([tool_call("click", ref="e1")])
    shot_a = ImagePart.from_bytes(b"\x89PNG first")
    shot_b = ImagePart.from_bytes(b"\x89PNG second, one pixel off")
    messages = [
        *_conversation(PAGE_1)[:2],
        Message.user("Current page (untrusted content):\n" + PAGE_1, images=[shot_a]),
    ]
    await CassetteModel(inner=inner, path=path, mode="record").request(
        messages, tools=TOOLS, settings=SETTINGS
    )
    assert shot_a.data_b64 not in path.read_text()
    assert "image/png sha256:" in path.read_text()

    again = [*messages[:2], Message.user(messages[2].content, images=[shot_b])]
    response = await CassetteModel(path=path, mode="replay").request(again, tools=TOOLS, settings=SETTINGS)
    assert response.tool_calls[0].name == "click"


def test_bad_configurations_and_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs the inner model"):
        CassetteModel(path=tmp_path / "c.json", mode="record")
    with pytest.raises(ConfigurationError, match="mode must be 'record' or 'replay'"):
        CassetteModel(path=tmp_path / "c.json", mode="rewind")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="volatile pattern is invalid"):
        CassetteModel(inner=ScriptedModel([]), path=tmp_path / "c.json", mode="record", volatile=["("])
    with pytest.raises(ReplayError, match=r"no cassette at .*record it first"):
        CassetteModel(path=tmp_path / "missing.json", mode="replay")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": 1, "interactions": [')
    with pytest.raises(ReplayError, match="is not valid JSON"):
        CassetteModel(path=corrupt, mode="replay")
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"version": 99, "interactions": []}))
    with pytest.raises(ReplayError, match="has version 99"):
        CassetteModel(path=newer, mode="replay")


async def test_recording_starts_afresh_and_is_written_after_every_request(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    await _record(path)
    inner = ScriptedModel([tool_call("click", ref="e2")])
    cassette = CassetteModel(inner=inner, path=path, mode="record")
    await cassette.request(_conversation(PAGE_2), tools=TOOLS, settings=SETTINGS)
    data = json.loads(path.read_text())
    assert len(data["interactions"]) == 1  # the old recording is replaced, not appended to
    assert data["model"] == "scripted"
    assert data["interactions"][0]["index"] == 1
