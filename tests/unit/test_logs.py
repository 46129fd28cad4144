from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from operator_agent.logs import get_logger, redact_text, register_secret_values


def test_registered_secrets_never_reach_a_log_event() -> None:
    log = get_logger("t", run_id="r1")
    with capture_logs() as events, register_secret_values(["s3cr3t-pass", ""]):
        log.info("filled s3cr3t-pass", field={"value": "s3cr3t-pass"}, items=["x s3cr3t-pass"])
    assert events[0]["event"] == "filled [REDACTED]"
    assert events[0]["field"] == {"value": "[REDACTED]"}
    assert events[0]["items"] == ["x [REDACTED]"]
    assert events[0]["run_id"] == "r1"
    # Outside the block the value is no longer registered.
    assert redact_text("s3cr3t-pass") == "s3cr3t-pass"


def test_longest_secret_is_hidden_whole() -> None:
    assert redact_text("token abc123xyz", ["abc", "abc123xyz"]) == "token [REDACTED]"


def test_module_level_loggers_follow_later_configuration() -> None:
    log = get_logger("late")  # created before the configuration below, as module loggers are
    with capture_logs() as events:
        log.bind(step=2).warning("hello")
    assert events == [{"event": "hello", "step": 2, "log_level": "warning"}]
    structlog.reset_defaults()


def test_unconfigured_library_logs_are_quiet_and_on_stderr(capsys) -> None:
    structlog.reset_defaults()
    log = get_logger("quiet")
    log.debug("debug noise")
    log.info("info noise")
    log.warning("something to know")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "debug noise" not in captured.err
    assert "info noise" not in captured.err
    assert "something to know" in captured.err
