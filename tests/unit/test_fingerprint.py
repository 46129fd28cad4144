from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import pytest

from operator_agent.errors import ConfigurationError
from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.guardrails.fingerprint import action_fingerprint, canonical_action, request_fingerprint

BASE: dict[str, Any] = {
    "url": "https://erp.example/invoices/42/pay",
    "kind": "click",
    "target": 'button "Pay now" [e12] css=#pay',
    "arguments": {"ref": "e12", "options": {"double": False, "count": 1}},
    "values": {"amount": "1200.00", "iban": "DE89 3704 0044 0532 0130 00", "password": "[REDACTED]"},
}


def test_canonical_document_is_exact_and_sorted() -> None:
    # Pinned byte for byte: if this changes, every stored approval stops matching, so it may only
    # change together with FINGERPRINT_VERSION.
    text = canonical_action(**BASE)
    assert text == (
        '{"arguments":{"options":{"count":1,"double":false},"ref":"e12"},"kind":"click",'
        '"target":"button \\"Pay now\\" [e12] css=#pay","url":"https://erp.example/invoices/42/pay",'
        '"v":1,"values":{"amount":"1200.00","iban":"DE89 3704 0044 0532 0130 00",'
        '"password":"[REDACTED]"}}'
    )
    assert action_fingerprint(**BASE) == hashlib.sha256(text.encode("ascii")).hexdigest()


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    fp = action_fingerprint(**BASE)
    assert len(fp) == 64
    assert set(fp) <= set("0123456789abcdef")


def _variant(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


@pytest.mark.parametrize(
    "changed",
    [
        _variant(url="https://erp.example/invoices/43/pay"),
        _variant(url="https://erp.example/invoices/42/pay?confirm=1"),
        _variant(url="http://erp.example/invoices/42/pay"),
        _variant(kind="dblclick"),
        _variant(target='button "Pay later" [e12] css=#pay'),
        _variant(target=None),
        _variant(arguments={"ref": "e13", "options": {"double": False, "count": 1}}),
        _variant(arguments={"ref": "e12", "options": {"double": False, "count": 2}}),
        _variant(arguments={"ref": "e12", "options": {"double": 0, "count": 1}}),
        _variant(arguments={"ref": "e12", "options": {"double": False, "count": 1.0}}),
        _variant(arguments={"ref": "e12", "options": {"double": False, "count": "1"}}),
        _variant(arguments={"ref": "e12", "options": {"double": False, "count": 1}, "extra": None}),
        _variant(values={**BASE["values"], "amount": "12000.00"}),
        _variant(values={**BASE["values"], "amount": "1200.00 "}),
        _variant(values={k: v for k, v in BASE["values"].items() if k != "iban"}),
        _variant(values={}),
    ],
)
def test_any_difference_changes_the_fingerprint(changed: dict[str, Any]) -> None:
    assert action_fingerprint(**changed) != action_fingerprint(**BASE)


def test_what_does_not_change_the_action_does_not_change_the_fingerprint() -> None:
    reordered = {
        "values": dict(reversed(list(BASE["values"].items()))),
        "arguments": {"options": {"count": 1, "double": False}, "ref": "e12"},
        "target": BASE["target"],
        "kind": "click",
        "url": BASE["url"] + "#section-2",  # a fragment never reaches the server
    }
    assert action_fingerprint(**reordered) == action_fingerprint(**BASE)
    as_tuple = _variant(arguments={"refs": ("e1", "e2")})
    as_list = _variant(arguments={"refs": ["e1", "e2"]})
    assert action_fingerprint(**as_tuple) == action_fingerprint(**as_list)


def test_non_ascii_text_is_stable_and_distinct() -> None:
    one = action_fingerprint(**_variant(values={"payee": "Müller & Söhne"}))
    other = action_fingerprint(**_variant(values={"payee": "Muller & Sohne"}))
    assert one != other
    assert "\\u00fc" in canonical_action(**_variant(values={"payee": "Müller & Söhne"}))


@pytest.mark.parametrize(
    ("arguments", "values", "fragment"),
    [
        ({"ids": {1, 2}}, {}, "arguments.ids: set"),
        ({"amount": float("nan")}, {}, "arguments.amount"),
        ({"amount": float("inf")}, {}, "arguments.amount"),
        ({"rows": [{"when": object()}]}, {}, "arguments.rows[0].when: object"),
        ({"by_id": {1: "a"}}, {}, "key 1 is a int"),
        ({}, {"amount": 12}, "values['amount']"),
    ],
)
def test_values_without_a_canonical_form_are_refused(
    arguments: dict[str, Any], values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match="cannot fingerprint") as info:
        action_fingerprint(url="http://x/", kind="click", target=None, arguments=arguments, values=values)
    assert fragment in str(info.value)


def test_request_fingerprint_covers_the_action_not_the_bookkeeping() -> None:
    request = ApprovalRequest(
        run_id="run-1",
        step=4,
        kind="click",
        target=BASE["target"],
        url=BASE["url"],
        reason="the model says it is irreversible",
        arguments=BASE["arguments"],
        screenshot="runs/run-1/step-4.png",
    )
    expected = action_fingerprint(
        url=BASE["url"], kind="click", target=BASE["target"], arguments=BASE["arguments"]
    )
    assert request_fingerprint(request) == expected
    later = request.model_copy(
        update={"run_id": "run-2", "step": 9, "reason": "other words", "screenshot": None}
    )
    assert request_fingerprint(later) == expected
    assert request_fingerprint(request, values={"amount": "5"}) != expected


def test_fingerprint_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        f"from operator_agent.guardrails.fingerprint import action_fingerprint as f\nprint(f(**{BASE!r}))\n"
    )
    here = action_fingerprint(**BASE)
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60
        )
        assert out.stdout.strip() == here
