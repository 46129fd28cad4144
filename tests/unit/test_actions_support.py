"""The executor's pure helpers: read-back matching, Playwright error reading, upload paths, URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from operator_agent.act.elements import resolve_upload_paths
from operator_agent.act.failures import (
    describe_playwright_error,
    is_retryable,
    may_have_acted,
    merge_call_logs,
)
from operator_agent.act.fill import registered
from operator_agent.act.navigation import resolve_url
from operator_agent.errors import InvalidActionError

COVERED = (
    'Locator.click: Timeout 3000ms exceeded.\nCall log:\n  - waiting for locator("#b")\n'
    '    - locator resolved to <button id="b">Go</button>\n  - attempting click action\n'
    "    2 × waiting for element to be visible, enabled and stable\n"
    "      - element is visible, enabled and stable\n"
    '      - <div id="ov"></div> intercepts pointer events\n    - retrying click action\n'
)
HIDDEN = (
    'Locator.click: Timeout 1000ms exceeded.\nCall log:\n  - waiting for locator("#hid")\n'
    '    - locator resolved to <button id="hid">Hid</button>\n  - attempting click action\n'
    "    2 × waiting for element to be visible, enabled and stable\n      - element is not visible\n"
)
MISSING = 'Locator.click: Timeout 500ms exceeded.\nCall log:\n  - waiting for locator("#b")\n'
ACTED = (
    "Locator.click: Timeout 3000ms exceeded.\nCall log:\n  - attempting click action\n"
    "    - performing click action\n    - click action done\n"
    "    - waiting for scheduled navigations to finish\n"
)
NOT_A_CHECKBOX = (
    'Locator.check: Error: Not a checkbox or radio button\nCall log:\n  - waiting for locator("#b")\n'
)


@pytest.mark.parametrize(
    ("intended", "shown", "combobox", "expected"),
    [
        ("Acme", "Acme", False, True),
        ("  Acme  Corp ", "acme corp", False, True),
        ("5551234567", "(555) 123-4567", False, True),
        ("555-123-4567", "+1 (555) 123-4567", False, True),
        ("1234.5", "1,234.50", False, True),
        ("2026-12-31", "12/31/2026", False, True),
        ("acme", "Acme Corporation", True, True),
        ("acme", "Acme Corporation", False, False),
        ("12345678", "123456", False, False),
        ("Acme", "", False, False),
        ("", "(___) ___-____", False, True),
        ("", "leftover", False, False),
    ],
)
def test_read_back_allows_widget_formatting_but_not_lost_text(
    intended: str, shown: str, combobox: bool, expected: bool
) -> None:
    assert registered(intended, shown, combobox=combobox) is expected


def test_covered_element_is_named_and_retried() -> None:
    error = PlaywrightTimeoutError(COVERED)
    message = describe_playwright_error(error, what='click button "Go" [e1]', timeout_s=3)
    assert message == (
        'could not click button "Go" [e1]: another element, <div id="ov"></div>, covers it for 3 s; '
        "close or finish that first (a dialog or overlay?)"
    )
    assert is_retryable(error)


def test_hidden_and_missing_elements_are_explained() -> None:
    hidden = describe_playwright_error(PlaywrightTimeoutError(HIDDEN), what="click x", timeout_s=1)
    assert hidden == (
        "could not click x within 1 s: "
        "it is not visible (hidden, collapsed or scrolled away in a closed area)"
    )
    missing = describe_playwright_error(PlaywrightTimeoutError(MISSING), what="click x", timeout_s=0.5)
    assert missing == "could not click x: the element did not appear within 0.5 s"


def test_reasons_from_earlier_attempts_survive_a_short_last_attempt() -> None:
    merged = merge_call_logs([PlaywrightTimeoutError(COVERED), PlaywrightTimeoutError(MISSING)])
    assert isinstance(merged, PlaywrightTimeoutError)
    assert merged.message.startswith("Locator.click: Timeout 500ms exceeded.")
    message = describe_playwright_error(merged, what="click x", timeout_s=3)
    assert message.startswith('could not click x: another element, <div id="ov"></div>, covers it for 3 s')
    single = PlaywrightTimeoutError(MISSING)
    assert merge_call_logs([single]) is single


def test_a_click_that_may_have_happened_is_never_retried() -> None:
    error = PlaywrightTimeoutError(ACTED)
    assert may_have_acted(error)
    assert not is_retryable(error)


def test_argument_errors_are_not_retried_and_read_cleanly() -> None:
    error = PlaywrightError(NOT_A_CHECKBOX)
    assert not is_retryable(error)
    assert (
        describe_playwright_error(error, what="check x", timeout_s=1)
        == "could not check x: Not a checkbox or radio button"
    )
    assert is_retryable(PlaywrightError("Locator.fill: Error: Element is not attached to the DOM"))


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    (folder / "receipts").mkdir(parents=True)
    (folder / "invoice.pdf").write_bytes(b"%PDF")
    (folder / "receipts" / "taxi.png").write_bytes(b"png")
    (tmp_path / "private.txt").write_text("do not send")
    (folder / "escape.txt").symlink_to(tmp_path / "private.txt")
    return folder


def test_upload_paths_resolve_inside_the_folder(uploads: Path) -> None:
    assert resolve_upload_paths(["invoice.pdf", "receipts/taxi.png"], [uploads]) == [
        (uploads / "invoice.pdf").resolve(),
        (uploads / "receipts" / "taxi.png").resolve(),
    ]
    assert resolve_upload_paths([str(uploads / "invoice.pdf")], [uploads]) == [
        (uploads / "invoice.pdf").resolve()
    ]


@pytest.mark.parametrize(
    ("requested", "problem"),
    [
        ("../private.txt", "is outside the folder of files you may upload"),
        ("escape.txt", "is outside the folder of files you may upload"),
        ("missing.pdf", "does not exist"),
        ("receipts", "does not exist"),
    ],
)
def test_upload_paths_outside_or_missing_are_refused(uploads: Path, requested: str, problem: str) -> None:
    with pytest.raises(InvalidActionError) as caught:
        resolve_upload_paths([requested], [uploads])
    message = str(caught.value)
    assert f'cannot upload "{requested}": it {problem}' in message
    assert '"invoice.pdf", "receipts/taxi.png"' in message
    assert "private" not in message.replace(requested, "")


def test_absolute_paths_outside_are_refused(uploads: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidActionError, match="outside the folder"):
        resolve_upload_paths([str(tmp_path / "private.txt")], [uploads])


def test_uploads_need_a_folder() -> None:
    with pytest.raises(InvalidActionError, match="no upload folder is configured"):
        resolve_upload_paths(["a.pdf"], [])


def test_urls_are_resolved_and_limited_to_http() -> None:
    assert resolve_url("http://127.0.0.1:8000/a/b.html", "c.html") == "http://127.0.0.1:8000/a/c.html"
    assert resolve_url("http://127.0.0.1:8000/a/b.html", "/x?y=1") == "http://127.0.0.1:8000/x?y=1"
    assert resolve_url("about:blank", "https://example.test/") == "https://example.test/"
    for bad, message in [
        ("javascript:alert(1)", "not javascript:"),
        ("file:///etc/passwd", "not file:"),
        ("data:text/html,hi", "not data:"),
    ]:
        with pytest.raises(InvalidActionError, match=message):
            resolve_url("http://127.0.0.1:8000/", bad)
    with pytest.raises(InvalidActionError, match="relative address and the tab shows no web page"):
        resolve_url("about:blank", "/invoices")
