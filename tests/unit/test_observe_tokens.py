"""Token counting: exact o200k_base from the bundled file, never a download, a safe estimate otherwise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from operator_agent.observe import count_tokens, estimate_tokens
from operator_agent.observe import tokens as tokens_module

OUTLINE = """url: http://127.0.0.1:8000/invoices?per_page=2000
title: Invoices · Northwind Back Office
scroll: y=0 of 73,163 px (viewport 1280×800); below: 72,363 px, 1,987 table rows
main:
  # Invoices
  [e7] searchbox "Search" placeholder="Number or vendor"
  [e9] combobox "Status" value="All statuses" options: All statuses | Draft | Approved
  table "Invoices" (2,000 rows × 7 columns; 1,987 below the viewport):
    [e18] link "INV-2026-10378" | Brightline Telecom AG | 2026-03-31 | 3,350.63 | EUR | Approved | [e19] clickable "View"
    … 1,975 rows omitted (rows 21–1,995); scroll, search or extract to reach them
"""


def test_counts_o200k_base_tokens() -> None:
    assert tokens_module.token_counter_kind() == "o200k_base"
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    # Special-token markers in page text are counted as text, not rejected.
    assert count_tokens("<|endoftext|>") > 1


def test_the_cached_file_is_tiktokens_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_AGENT_TOKEN_CACHE", str(tmp_path))
    folder = tokens_module._prepare_cache()
    cached = folder / hashlib.sha1(tokens_module._BLOB_URL.encode()).hexdigest()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == tokens_module._SHA256
    # A second call reuses the verified file.
    before = cached.stat().st_mtime_ns
    tokens_module._prepare_cache()
    assert cached.stat().st_mtime_ns == before


def test_a_corrupt_cached_file_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_AGENT_TOKEN_CACHE", str(tmp_path))
    cached = tmp_path / hashlib.sha1(tokens_module._BLOB_URL.encode()).hexdigest()
    cached.write_bytes(b"garbage")
    tokens_module._prepare_cache()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == tokens_module._SHA256


def test_falls_back_to_an_estimate_without_the_bundled_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_AGENT_TOKEN_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(tokens_module, "_bundled_file", lambda: None)
    monkeypatch.setattr(tokens_module, "_loaded", False)
    monkeypatch.setattr(tokens_module, "_encoding", None)
    # Whatever tiktoken would do, it must not be asked (it would download the file).
    monkeypatch.setattr("tiktoken.get_encoding", lambda name: pytest.fail("tiktoken asked without the file"))
    assert tokens_module.token_counter_kind() == "estimate"
    assert count_tokens(OUTLINE) == estimate_tokens(OUTLINE)


@pytest.mark.parametrize(
    "text",
    [
        OUTLINE,
        "The quick brown fox jumps over the lazy dog. " * 20,
        "| 1,234.56 | 2024-01-31 | INV-00042 | €79.19 |\n" * 30,
        "Überweisung für Rechnung Nr. 42 — fällig am 31.01. 請求書 " * 10,
        "[e1] [e2] [e3] [f1e4] [f2e15] " * 40,
    ],
)
def test_the_estimate_never_undercounts(text: str) -> None:
    assert estimate_tokens(text) >= count_tokens(text)
    assert estimate_tokens(text) <= 3 * count_tokens(text)
