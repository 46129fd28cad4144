"""The ``compile`` and ``replay`` commands: output, exit codes and clear errors for bad inputs.

The commands are mounted on a parser the way ``operator_agent.cli`` mounts them; the replays here
stop before a browser starts (bad parameters, unknown skills), the browser tests replay for real.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from operator_agent.replay.cli import add_parsers, parse_params

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "traces" / "enter_invoice_v1"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="operator-agent")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture
def skill_dir(trace: Path, tmp_path: Path) -> Path:
    assert run(["compile", str(trace), "--name", "enter_invoice", "--out", str(tmp_path / "skill")]) == 0
    return tmp_path / "skill"


def test_compile_prints_what_it_wrote(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["compile", str(trace), "--name", "enter_invoice", "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == "compiled"
    assert payload["steps"] == 19
    assert payload["params"] == {"invoice_number": "str", "vendor": "str", "due_date": "date", "notes": "str"}
    assert Path(payload["module"]).is_file()


def test_compile_errors_exit_3_with_the_reason(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (trace / "trace.jsonl").write_text("{not json\n")
    assert run(["compile", str(trace), "--name", "enter_invoice", "--out", str(tmp_path / "out")]) == 3
    assert "TraceError" in capsys.readouterr().err
    assert (
        run(["compile", str(tmp_path / "nope"), "--name", "x", "--out", str(tmp_path / "o"), "--json"]) == 3
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["error"] == "TraceError"
    assert "no trace found" in payload["message"]


def test_replay_with_missing_parameters_exits_2_naming_them(
    skill_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = run(["replay", str(skill_dir), "--param", "invoice_number=INV-9", "--json"])
    assert code == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["error"] == "ConfigurationError"
    assert "'vendor' is required" in payload["message"]
    assert "'due_date' is required" in payload["message"]


def test_replay_with_a_badly_typed_parameter_exits_2(
    skill_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = ["invoice_number=INV-9", "vendor=Acme", "due_date=someday", "notes=x"]
    code = run(["replay", str(skill_dir), *[arg for p in params for arg in ("--param", p)]])
    assert code == 2
    assert "'due_date'" in capsys.readouterr().err


def test_replay_of_an_unknown_skill_or_folder_exits_3(
    skill_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run(["replay", str(skill_dir), "--skill", "pay_invoice"]) == 3
    err = capsys.readouterr().err
    assert "unknown skill 'pay_invoice'" in err
    assert "enter_invoice" in err
    assert run(["replay", str(tmp_path / "no-such-folder")]) == 3
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "x.py").write_text("X = 1\n")
    assert run(["replay", str(tmp_path / "bare")]) == 3
    assert "SKILL.md" in capsys.readouterr().err


def test_secret_env_must_name_a_set_variable(
    skill_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BO_PASSWORD", raising=False)
    params = ["invoice_number=INV-9", "vendor=Acme", "due_date=2026-12-01", "notes=x"]
    argv = [
        "replay",
        str(skill_dir),
        *[a for p in params for a in ("--param", p)],
        "--secret-env",
        "bo_password=BO_PASSWORD",
    ]
    assert run(argv) == 2
    assert "environment variable BO_PASSWORD is not set" in capsys.readouterr().err


def test_parameters_take_json_for_non_string_types() -> None:
    schema = {
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "urgent": {"type": "boolean"},
            "lines": {"type": "array"},
        }
    }
    params = parse_params(["name=42", "count=42", "urgent=true", 'lines=[{"q": 1}]', "extra=x=y"], schema)
    assert params == {"name": "42", "count": 42, "urgent": True, "lines": [{"q": 1}], "extra": "x=y"}
    with pytest.raises(Exception, match="NAME=VALUE"):
        parse_params(["oops"], schema)
    with pytest.raises(Exception, match="given twice"):
        parse_params(["name=a", "name=b"], schema)
