"""How the policy combines its layers, checked on actions that need no browser.

Navigation to a destructive URL is the heuristic layer's concern and needs no element, so it can
stand for "the heuristics ask for approval" here; element-level layering runs in
tests/browser/test_policy_layers.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from playwright.async_api import Page
from pydantic import ValidationError

from operator_agent.actions import Click, Hover, Navigate, Scroll
from operator_agent.guardrails.policy import Policy, Verdict

PAGE = cast(Page, SimpleNamespace(url="https://erp.example.com/invoices/7"))
DELETE = Navigate(url="/invoices/7/delete")


async def test_nothing_raised_means_allow_with_a_reason() -> None:
    verdict = await Policy().assess(Scroll(), None, page=PAGE)
    assert verdict == Verdict(
        decision="allow", reasons=("scrolling changes nothing on the server",), layer="none"
    )
    assert not verdict.needs_approval
    assert not verdict.blocked


async def test_the_heuristic_layer_raises() -> None:
    verdict = await Policy().assess(DELETE, None, page=PAGE)
    assert verdict.decision == "require_approval"
    assert verdict.layer == "heuristic"
    assert verdict.reasons == (
        "heuristics: navigating to a destructive endpoint (delete): GET /invoices/7/delete",
    )
    assert verdict.summary().startswith("require_approval (heuristic): heuristics: navigating")


async def test_the_model_declaration_can_only_raise() -> None:
    raised = await Policy().assess(
        Hover(ref="e1", irreversible=True, reason="opens the pay menu"), None, page=PAGE
    )
    assert raised.decision == "require_approval"
    assert raised.layer == "model"
    assert raised.reasons == ("model: the model declared it irreversible (opens the pay menu)",)
    # The model saying nothing does not lower the heuristics.
    plain = await Policy().assess(DELETE.model_copy(update={"irreversible": False}), None, page=PAGE)
    assert plain.decision == "require_approval"


async def test_model_and_heuristics_both_listed_with_the_model_deciding() -> None:
    verdict = await Policy().assess(DELETE.model_copy(update={"irreversible": True}), None, page=PAGE)
    assert verdict.layer == "model"
    assert verdict.reasons[0].startswith("model: ")
    assert verdict.reasons[1].startswith("heuristics: ")


async def test_skill_declaration_and_policy_skill_patterns() -> None:
    declared = await Policy().assess(Scroll(), None, page=PAGE, skill="invoices.pay", skill_irreversible=True)
    assert declared.decision == "require_approval"
    assert declared.layer == "skill"
    assert declared.reasons == ("skill: skill 'invoices.pay' declares its actions irreversible",)

    marked = await Policy(irreversible_skills=("invoices.*",)).assess(
        Scroll(), None, page=PAGE, skill="invoices.pay"
    )
    assert marked.layer == "policy"
    assert "marks skill 'invoices.pay' irreversible (invoices.*)" in marked.reasons[0]
    other = await Policy(irreversible_skills=("invoices.*",)).assess(
        Scroll(), None, page=PAGE, skill="tickets.reply"
    )
    assert other.decision == "allow"


async def test_safe_skills_lower_only_the_heuristic_layer() -> None:
    policy = Policy(safe_skills=("cleanup.*",))
    lowered = await policy.assess(DELETE, None, page=PAGE, skill="cleanup.purge_drafts")
    assert lowered.decision == "allow"
    assert lowered.layer == "policy"
    assert "safe skill pattern 'cleanup.*' lowers that" in lowered.reasons[0]
    # ... but never the skill's own declaration, the model's, or the policy's irreversible entries.
    declared = await policy.assess(
        DELETE, None, page=PAGE, skill="cleanup.purge_drafts", skill_irreversible=True
    )
    assert declared.decision == "require_approval"
    assert declared.layer == "skill"
    model = await policy.assess(
        DELETE.model_copy(update={"irreversible": True}), None, page=PAGE, skill="cleanup.x"
    )
    assert model.decision == "require_approval"
    assert model.layer == "model"
    both = Policy(safe_skills=("cleanup.*",), irreversible_skills=("cleanup.purge*",))
    marked = await both.assess(DELETE, None, page=PAGE, skill="cleanup.purge_drafts")
    assert marked.decision == "require_approval"
    assert marked.layer == "policy"
    # A skill that is not named as safe is not lowered.
    assert (
        await policy.assess(DELETE, None, page=PAGE, skill="vendors.update")
    ).decision == "require_approval"


async def test_an_unknown_element_fails_closed() -> None:
    verdict = await Policy().assess(Click(ref="e99"), None, page=PAGE)
    assert verdict.decision == "require_approval"
    assert "could not be inspected" in verdict.reasons[0]


async def test_heuristics_off_leaves_the_other_layers() -> None:
    off = Policy(heuristics=False)
    assert (await off.assess(DELETE, None, page=PAGE)).decision == "allow"
    assert (await off.assess(DELETE, None, page=PAGE)).reasons == ("heuristics are off",)
    declared = await off.assess(DELETE.model_copy(update={"irreversible": True}), None, page=PAGE)
    assert declared.decision == "require_approval"


async def test_url_patterns_do_not_apply_to_navigation() -> None:
    policy = Policy(irreversible_url_patterns=("*/invoices/*",), heuristics=False)
    assert (await policy.assess(Navigate(url="/invoices/8"), None, page=PAGE)).decision == "allow"


def test_configuration_is_validated_frozen_and_closed() -> None:
    policy = Policy(blocked_selectors=(" #pay ", "#pay"), safe_skills=("a.*",))
    assert policy.blocked_selectors == ("#pay",)
    with pytest.raises(ValidationError, match="blocked_selectors must not contain empty entries"):
        Policy(blocked_selectors=("#ok", "  "))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Policy(irreversible_selector=("#x",))  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="frozen"):
        policy.heuristics = False  # type: ignore[misc]
    assert Policy.model_validate({"irreversible_url_patterns": ["*/pay/*"]}).irreversible_url_patterns == (
        "*/pay/*",
    )


def test_verdict_is_frozen_and_closed() -> None:
    verdict = Verdict(decision="block", reasons=("policy: no",), layer="policy")
    assert verdict.blocked
    with pytest.raises(ValidationError):
        Verdict(decision="maybe", reasons=(), layer="none")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        verdict.decision = "allow"  # type: ignore[misc]
