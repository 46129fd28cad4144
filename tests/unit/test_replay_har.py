"""Sanitizing a HAR recording: cookies, credentials and secret values go; everything a replay matches
on (methods, URLs of ordinary queries, bodies without secrets) stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from operator_agent.errors import ConfigurationError, ReplayError
from operator_agent.logs import register_secret_values
from operator_agent.replay import sanitize_har


def _entry(method: str, url: str, *, headers: list[dict[str, str]], post: dict[str, Any] | None = None,
           body: str = "", response_headers: list[dict[str, str]] | None = None) -> dict[str, Any]:  # fmt: skip
    request: dict[str, Any] = {
        "method": method,
        "url": url,
        "headers": headers,
        "cookies": [{"name": "s", "value": "c00kie"}],
    }
    if post is not None:
        request["postData"] = post
    return {
        "request": request,
        "response": {
            "status": 200,
            "headers": response_headers or [],
            "cookies": [{"name": "s", "value": "n3wc00kie"}],
            "content": {"mimeType": "text/html", "text": body},
        },
    }


@pytest.fixture
def har(tmp_path: Path) -> Path:
    entries = [
        _entry(
            "GET",
            "http://127.0.0.1:8000/search?q=acme&next=/invoices&api_key=K3Y-123",
            headers=[{"name": "Cookie", "value": "s=c00kie"}, {"name": "Accept", "value": "text/html"}],
            body="<p>Welcome ops.agent, token hunter2-secret</p>",
        ),
        _entry(
            "POST",
            "http://127.0.0.1:8000/login?next=/invoices",
            headers=[{"name": "Authorization", "value": "Bearer abc.def.ghi"}],
            post={
                "mimeType": "application/x-www-form-urlencoded",
                "text": "username=ops.agent&password=Northwind-Ops-2026%21&next=%2Finvoices",
                "params": [
                    {"name": "password", "value": "Northwind-Ops-2026!"},
                    {"name": "username", "value": "ops.agent"},
                ],
            },
            response_headers=[
                {"name": "Set-Cookie", "value": "s=n3wc00kie"},
                {"name": "Location", "value": "/invoices"},
            ],
        ),
        _entry(
            "POST",
            "http://127.0.0.1:8000/api/notes",
            headers=[],
            post={"mimeType": "application/json", "text": '{"note": "code hunter2-secret"}'},
        ),
    ]
    path = tmp_path / "site.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def test_credentials_cookies_and_secret_values_are_removed(har: Path) -> None:
    with register_secret_values(["hunter2-secret"]):
        assert sanitize_har(har, redact=["ops.agent"]) == 3

    text = har.read_text()
    for leaked in (
        "c00kie",
        "n3wc00kie",
        "abc.def.ghi",
        "Northwind-Ops-2026",
        "K3Y-123",
        "hunter2-secret",
        "ops.agent",
    ):
        assert leaked not in text
    search, login, note = json.loads(text)["log"]["entries"]
    assert (
        search["request"]["url"]
        == "http://127.0.0.1:8000/search?q=acme&next=/invoices&api_key=%5BREDACTED%5D"
    )
    assert search["request"]["headers"] == [{"name": "Accept", "value": "text/html"}]
    assert login["request"]["headers"] == []
    assert login["response"]["headers"] == [{"name": "Location", "value": "/invoices"}]
    assert (
        login["request"]["postData"]["text"] == "username=[REDACTED]&password=%5BREDACTED%5D&next=%2Finvoices"
    )
    assert login["request"]["postData"]["params"][0] == {"name": "password", "value": "[REDACTED]"}
    assert note["request"]["postData"]["text"] == '{"note": "code [REDACTED]"}'
    assert search["response"]["content"]["text"] == "<p>Welcome [REDACTED], token [REDACTED]</p>"


def test_what_a_replay_matches_on_is_left_alone(har: Path) -> None:
    sanitize_har(har)
    search = json.loads(har.read_text())["log"]["entries"][0]
    # An ordinary query keeps its exact spelling, so redirects and requests still match it.
    assert search["request"]["url"].startswith("http://127.0.0.1:8000/search?q=acme&next=/invoices&")
    assert search["request"]["method"] == "GET"


def test_files_that_are_not_hars_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"sanitize a \.har file"):
        sanitize_har(tmp_path / "site.zip")
    other = tmp_path / "other.har"
    other.write_text(json.dumps({"log": {"pages": []}}))
    with pytest.raises(ReplayError, match="no list of entries"):
        sanitize_har(other)
