"""The mock back office over plain HTTP: lifecycle, seeding, inspection API, faults, validation, logging."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from operator_agent.errors import ConfigurationError, SiteError
from operator_agent.testing.backoffice import (
    BackofficeSite,
    BackofficeState,
    FaultConfig,
    find_site_folder,
    rewordings,
    serve_backoffice,
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Client:
    """A cookie-keeping HTTP client that does not follow redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )

    def request(
        self, path: str, data: dict[str, str] | None = None, *, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], str]:
        body = raw if raw is not None else (urlencode(data).encode() if data is not None else None)
        req = urllib.request.Request(self.base + path, data=body)
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()

    def login(self, site: BackofficeSite) -> None:
        creds = site.credentials
        status, headers, _ = self.request("/login", {"username": creds.username, "password": creds.password})
        assert status == 303, headers


def _token(html: str, action: str) -> str:
    start = html.index(f'action="{action}"')
    marker = 'name="form_token" value="'
    at = html.index(marker, start) + len(marker)
    return html[at : html.index('"', at)]


@pytest.fixture(scope="module")
def small() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=60) as running:
        yield running


@pytest.fixture
def fresh(small: BackofficeSite) -> BackofficeSite:
    small.reset()
    small.set_variant("v1")
    small.set_faults(None)
    return small


def test_starts_fast_and_stopping_frees_port_and_threads() -> None:
    before = threading.active_count()
    started = time.monotonic()
    with serve_backoffice() as site:
        assert time.monotonic() - started < 1.0
        port = int(site.url.rsplit(":", 1)[1])
        status, _, _ = Client(site.url).request("/login")
        assert status == 200
    with serve_backoffice(port=port) as again:  # the port is free again
        assert again.url == site.url
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= before


def test_seed_decides_the_data_and_2000_invoices_fit_one_page() -> None:
    with (
        serve_backoffice(seed=11, invoice_count=2000) as a,
        serve_backoffice(seed=11, invoice_count=2000) as b,
    ):
        assert a.data() == b.data()
        client = Client(a.url)
        client.login(a)
        status, _, html = client.request("/invoices?per_page=2000&sort=number&dir=asc")
        assert status == 200
        assert html.count('<tr><td><a href="/invoices/') == 2000
        assert "Showing 1–2000 of 2000 invoices" in html
    with serve_backoffice(seed=12, invoice_count=2000) as other:
        assert other.data().invoices != a.data().invoices


def test_inspection_api_state_reset_config_and_totp(fresh: BackofficeSite) -> None:
    client = Client(fresh.url)
    client.login(fresh)
    status, headers, body = client.request("/__inspect__/state")
    assert (status, headers["Content-Type"]) == (200, "application/json")
    state = BackofficeState.model_validate_json(body)
    assert [event.outcome for event in state.logins] == ["success"]
    config = {"variant": "v2", "faults": {"seed": 4, "error_rate": 1.0, "latency_ms": [0, 0]}}
    status, _, body = client.request("/__inspect__/config", raw=json.dumps(config).encode())
    assert status == 200
    assert fresh.variant == "v2"
    assert fresh.state().faults == FaultConfig(seed=4, error_rate=1.0)
    assert client.request("/invoices")[0] in {500, 502, 503}
    assert client.request("/__inspect__/state")[0] == 200  # inspection never fails
    bad = client.request("/__inspect__/config", raw=b'{"faults": {"error_rat": 1}}')
    assert bad[0] == 400
    assert "error_rat" in bad[2]
    assert client.request("/__inspect__/reset", raw=b"")[0] == 200
    assert fresh.state().logins == ()
    assert client.request("/__inspect__/totp")[0] == 404


def test_two_instances_are_independent() -> None:
    with serve_backoffice(invoice_count=20) as a, serve_backoffice(invoice_count=20) as b:
        a.set_faults(FaultConfig(error_rate=1.0))
        a.set_variant("v2")
        ca, cb = Client(a.url), Client(b.url)
        assert ca.request("/login")[0] in {500, 502, 503}
        cb.login(b)
        assert cb.request("/invoices")[0] == 200
        assert "Sign out" in cb.request("/invoices")[2]
        assert a.state().logins == ()
        assert [e.outcome for e in b.state().logins] == ["success"]
        assert b.variant == "v1"


def test_site_error_names_what_was_tried_and_env_var_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SiteError, match=r"'no-such-site' not found; tried: .*no-such-site"):
        find_site_folder("no-such-site")
    shutil.copytree(find_site_folder(), tmp_path / "backoffice")
    monkeypatch.setenv("OPERATOR_AGENT_SITES", str(tmp_path))
    assert find_site_folder() == tmp_path / "backoffice"
    monkeypatch.setenv("OPERATOR_AGENT_SITES", str(tmp_path / "empty"))
    assert find_site_folder() != tmp_path / "backoffice"  # falls back to the bundled or repo copy


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValidationError):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValidationError):
        FaultConfig(latency_ms=(50, 10))
    with pytest.raises(ConfigurationError, match="totp_secret"), serve_backoffice(totp_secret="short"):
        pass
    with pytest.raises(ConfigurationError, match="variant"), serve_backoffice(variant="v3"):  # type: ignore[arg-type]
        pass


def test_error_faults_are_deterministic_from_the_seed(fresh: BackofficeSite) -> None:
    pages: dict[int, str] = {}

    def statuses(seed: int) -> list[int]:
        fresh.set_faults(FaultConfig(seed=seed, error_rate=0.5))
        client = Client(fresh.url)
        answers = [client.request("/login") for _ in range(30)]
        pages.update({status: body for status, _, body in answers})
        return [status for status, _, _ in answers]

    first = statuses(3)
    assert first == statuses(3)
    assert first != statuses(4)
    assert 5 < sum(s >= 500 for s in first) < 25
    assert set(first) <= {200, 500, 502, 503}
    looks = {500: "Something went wrong", 502: "502 Bad Gateway", 503: "Service temporarily unavailable"}
    for status, text in looks.items():
        if status in pages:
            assert text in pages[status]
    assert {e.kind for e in fresh.state().fault_events} == {"error"}


def test_a_failed_post_changes_nothing_and_can_be_retried(fresh: BackofficeSite) -> None:
    client = Client(fresh.url)
    client.login(fresh)
    ticket = next(t for t in fresh.data().tickets if t.status != "closed")
    _, _, html = client.request(f"/tickets/{ticket.id}")
    token = _token(html, f"/tickets/{ticket.id}/reply")
    fresh.set_faults(FaultConfig(error_rate=1.0))
    status, _, page = client.request(f"/tickets/{ticket.id}/reply", {"form_token": token, "body": "On it."})
    assert status in {500, 502, 503}
    assert "<form" not in page
    assert fresh.state().count("ticket.reply") == 0
    fresh.set_faults(None)
    status, headers, _ = client.request(
        f"/tickets/{ticket.id}/reply", {"form_token": token, "body": "On it."}
    )
    assert (status, headers["Location"]) == (303, f"/tickets/{ticket.id}")
    client.request(f"/tickets/{ticket.id}/reply", {"form_token": token, "body": "On it."})  # replay
    [reply] = fresh.state().tickets.replies
    assert reply.count == 1


def test_latency_applies_to_pages_not_static_files(fresh: BackofficeSite) -> None:
    fresh.set_faults(FaultConfig(latency_ms=(300, 300)))
    client = Client(fresh.url)
    started = time.monotonic()
    client.request("/login")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    client.request("/static/app.css")
    assert time.monotonic() - started < 0.3


def test_session_expiry_after_n_requests(fresh: BackofficeSite) -> None:
    fresh.set_faults(FaultConfig(session_expiry_after=2))
    client = Client(fresh.url)
    client.login(fresh)
    assert client.request("/invoices")[0] == 200
    assert client.request("/vendors")[0] == 200
    status, headers, _ = client.request("/tickets?page=2")
    assert (status, headers["Location"]) == (303, "/login?next=/tickets%3Fpage%3D2&expired=1")


@pytest.mark.parametrize(
    ("iban", "message"),
    [
        ("DE89 3704 0044 0532 0130", "An IBAN from DE has 22 characters, this one has 20"),
        ("DE89 3704 0044 0532 0130 01", "the check digits do not match"),
        ("XX89 3704 0044 0532 0130 00", "IBANs from XX are not supported"),
        ("hello", "Enter an IBAN like"),
        ("", "Enter the IBAN"),
    ],
)
def test_iban_is_validated_on_the_server(fresh: BackofficeSite, iban: str, message: str) -> None:
    client = Client(fresh.url)
    client.login(fresh)
    vendor = fresh.data().vendors[0]
    _, _, html = client.request(f"/vendors/{vendor.id}")
    form = {"form_token": _token(html, f"/vendors/{vendor.id}/bank"), "iban": iban, "bic": "DEUTDEFF"}
    status, _, page = client.request(f"/vendors/{vendor.id}/bank", {**form, "account_holder": "X GmbH"})
    assert status == 422
    assert message in page
    assert fresh.state().count("vendor.bank_details_changed") == 0


def test_every_request_is_logged_with_its_outcome(fresh: BackofficeSite) -> None:
    client = Client(fresh.url)
    with capture_logs() as events:
        client.request("/invoices")
        client.request("/static/app.js")
    requests = [e for e in events if e["event"] == "backoffice request"]
    assert [(e["method"], e["path"], e["status"], e["log_level"]) for e in requests] == [
        ("GET", "/invoices", 303, "debug"),
        ("GET", "/static/app.js", 200, "debug"),
    ]
    assert requests[0]["outcome"] == "signed out"


def test_v2_rewords_every_mapped_text_on_the_form(fresh: BackofficeSite) -> None:
    client = Client(fresh.url)
    client.login(fresh)
    v1 = client.request("/invoices/new")[2]
    fresh.set_variant("v2")
    v2 = client.request("/invoices/new")[2]
    mapping = rewordings()
    assert mapping["Submit for payment"] == "Send to payment run"
    assert mapping["Invoice number"] == "Invoice no."
    on_form = {old: new for old, new in mapping.items() if f">{old}<" in v1}
    assert len(on_form) >= 12
    for old, new in on_form.items():
        assert f">{new}<" in v2, new
        assert f">{old}<" not in v2, old
    assert 'id="invoice-number"' in v1
    assert 'id="invoice-number"' not in v2


def test_command_line_serves_until_terminated() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "operator_agent.testing.backoffice",
        "--port",
        str(port),
        "--variant",
        "v2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _, body = Client(f"http://127.0.0.1:{port}").request("/login")
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        assert status == 200
        assert "Log in" in body  # the v2 wording
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        stderr = process.communicate()[1].decode()
    assert "backoffice serving" in stderr
