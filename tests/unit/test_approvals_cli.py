from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.guardrails.approvals_cli import DEFAULT_QUEUE_PATH, add_parser, queue_path, run
from operator_agent.guardrails.audit import AuditLog
from operator_agent.guardrails.fingerprint import request_fingerprint
from operator_agent.guardrails.queue import ApprovalQueue


def request(step: int) -> ApprovalRequest:
    return ApprovalRequest(
        run_id="run-3",
        step=step,
        kind="click",
        target=f'button "Send reminder {step}" [e{step}]',
        url="http://127.0.0.1:8000/customers/17",
        reason="sends an e-mail to the customer",
        arguments={"ref": f"e{step}"},
        screenshot=f"runs/run-3/step-{step}.png",
    )


@pytest.fixture
def queue(tmp_path: Path) -> ApprovalQueue:
    return ApprovalQueue(path=tmp_path / "approvals.sqlite", audit=AuditLog(path=tmp_path / "audit.jsonl"))


def submit(queue: ApprovalQueue, step: int) -> str:
    req = request(step)
    return queue.submit(req, fingerprint=request_fingerprint(req), values={"subject": f"Reminder {step}"})


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="operator-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["approvals", *argv])
    assert args.handler is run
    capsys.readouterr()  # drop what the test's own setup logged
    with capture_logs():
        code = run(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_pending_requests(queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = submit(queue, 1), submit(queue, 2)
    queue.deny(second, by="bob", reason="not now")
    code, out, _ = cli(capsys, "list", "--queue", str(queue.path))
    assert code == 0
    assert first in out
    assert second not in out
    assert 'click on button "Send reminder 1" [e1] at http://127.0.0.1:8000/customers/17' in out
    assert "run run-3 step 1" in out
    code, out, _ = cli(capsys, "list", "--queue", str(queue.path), "--status", "all", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [(i["id"], i["status"]) for i in listed] == [(first, "pending"), (second, "denied")]
    assert listed[0]["values"] == {"subject": "Reminder 1"}


def test_list_says_when_there_is_nothing(queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "list", "--queue", str(queue.path))
    assert code == 0
    assert f"no pending approval requests in {queue.path}" in out
    code, out, _ = cli(capsys, "list", "--queue", str(queue.path), "--json")
    assert json.loads(out) == []


def test_show_gives_the_whole_request_and_its_history(
    queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = submit(queue, 4)
    queue.approve(request_id, by="alice", reason="customer asked for it")
    code, out, _ = cli(capsys, "show", request_id, "--queue", str(queue.path))
    assert code == 0
    for expected in (
        f"id          : {request_id}",
        "status      : approved",
        "run / step  : run-3 / 4",
        'target      : button "Send reminder 4" [e4]',
        "reason      : sends an e-mail to the customer",
        'argument    : ref = "e4"',
        "value       : subject = 'Reminder 4'",
        "screenshot  : runs/run-3/step-4.png",
        f"fingerprint : {request_fingerprint(request(4))}",
        "by alice — customer asked for it",
        "requested by run:run-3",
        "approved  by alice",
    ):
        assert expected in out
    code, out, _ = cli(capsys, "show", request_id, "--queue", str(queue.path), "--json")
    shown = json.loads(out)
    assert shown["status"] == "approved"
    assert [e["event"] for e in shown["events"]] == ["requested", "approved"]


def test_approve_and_deny_change_the_queue(queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = submit(queue, 1), submit(queue, 2)
    code, out, _ = cli(capsys, "approve", first, "--queue", str(queue.path), "--by", "alice")
    assert code == 0
    assert out.startswith(f"approved {first} by alice: click on")
    code, out, _ = cli(
        capsys,
        "deny",
        second,
        "--queue",
        str(queue.path),
        "--by",
        "bob",
        "--reason",
        "wrong customer",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["decision_reason"] == "wrong customer"
    assert queue.get(first).decided_by == "alice"
    assert queue.get(second).status == "denied"
    assert [e.event for e in AuditLog(path=queue.path.parent / "audit.jsonl").read()] == [
        "requested",
        "requested",
        "approved",
        "denied",
    ]


def test_the_decider_defaults_to_the_login_name(
    queue: ApprovalQueue, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "ops-night-shift")
    request_id = submit(queue, 1)
    assert cli(capsys, "approve", request_id, "--queue", str(queue.path))[0] == 0
    assert queue.get(request_id).decided_by == "ops-night-shift"


def test_the_queue_path_comes_from_the_environment(
    queue: ApprovalQueue,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("OPERATOR_AGENT_QUEUE", str(queue.path))
    assert queue_path() == queue.path
    assert queue_path("elsewhere.sqlite") == Path("elsewhere.sqlite")
    request_id = submit(queue, 1)
    code, out, _ = cli(capsys, "list")
    assert code == 0
    assert request_id in out
    monkeypatch.delenv("OPERATOR_AGENT_QUEUE")
    monkeypatch.chdir(tmp_path)
    assert queue_path() == Path(DEFAULT_QUEUE_PATH)
    code, _, err = cli(capsys, "list")
    assert code == 2
    assert "no approval queue at .operator-agent/approvals.sqlite" in err
    assert not (tmp_path / ".operator-agent").exists(), "looking must not create a queue"


def test_unknown_ids_exit_2_and_say_so(queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["show", "nope"],
        ["approve", "nope", "--by", "alice"],
        ["deny", "nope", "--by", "alice", "--reason", "x"],
    ):
        code, out, err = cli(capsys, *command, "--queue", str(queue.path))
        assert code == 2
        assert "no approval request 'nope'" in err
        assert out == ""
    code, out, _ = cli(capsys, "show", "nope", "--queue", str(queue.path), "--json")
    assert code == 2
    assert json.loads(out) == {
        "status": "error",
        "error": "UnknownApprovalError",
        "message": f"no approval request 'nope' in queue {queue.path}",
    }


def test_deciding_twice_exits_1_naming_the_first_decision(
    queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = submit(queue, 1)
    assert (
        cli(capsys, "deny", request_id, "--queue", str(queue.path), "--by", "bob", "--reason", "no")[0] == 0
    )
    code, _, err = cli(capsys, "approve", request_id, "--queue", str(queue.path), "--by", "alice")
    assert code == 1
    assert "already denied by bob" in err
    assert queue.get(request_id).status == "denied"


def test_bad_usage_exits_2(queue: ApprovalQueue, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = submit(queue, 1)
    parser = argparse.ArgumentParser(prog="operator-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    for argv in (
        ["approvals"],
        ["approvals", "deny", request_id, "--queue", str(queue.path)],  # a denial needs --reason
        ["approvals", "list", "--status", "maybe"],
        ["approvals", "approve"],
    ):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        assert info.value.code == 2
    code, _, err = cli(capsys, "deny", request_id, "--queue", str(queue.path), "--by", "bob", "--reason", " ")
    assert code == 2
    assert "needs a reason" in err
    assert queue.get(request_id).status == "pending"


def test_a_broken_queue_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"\x00garbage" * 512)
    code, _, err = cli(capsys, "list", "--queue", str(broken))
    assert code == 3
    assert str(broken) in err


def test_the_module_runs_as_a_command(queue: ApprovalQueue) -> None:
    request_id = submit(queue, 1)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "operator_agent.guardrails.approvals_cli",
            "approvals",
            "approve",
            request_id,
            "--queue",
            str(queue.path),
            "--by",
            "alice",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decided_by"] == "alice", "stdout holds the JSON and nothing else"
    assert queue.get(request_id).status == "approved"
