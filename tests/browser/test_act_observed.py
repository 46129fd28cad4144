"""The executor acts on refs from a real observation, and the next observation sees the result."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page

from operator_agent.act import ActionExecutor, ContextTabs
from operator_agent.actions import Check, Click, Fill, SelectOption
from operator_agent.observe import observe
from operator_agent.observe.refs import RefMap
from operator_agent.testing.site_server import LocalServer
from tests.browser.test_act_support import Recorder, recording_server

SECRET = "hunter2-correct-horse"


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[LocalServer, Recorder]]:
    with recording_server() as running:
        yield running


def ref_named(refs: RefMap, role: str, name: str) -> str:
    matches = [ref for ref, element in refs.items() if element.role == role and element.name == name]
    assert len(matches) == 1, f"{role} {name!r}: {[(e.role, e.name) for e in refs.values()]}"
    return matches[0]


async def test_observe_act_observe(page: Page, site: tuple[LocalServer, Recorder]) -> None:
    server, recorder = site
    await page.goto(f"{server.url}/form.html")
    observation = await observe(page)
    refs = observation.refs
    executor = ActionExecutor(tabs=ContextTabs(page=page), secrets={"erp_password": SECRET})

    outcomes = await executor.execute_many(
        [
            Fill(ref=ref_named(refs, "textbox", "Full name"), text="Ada Lovelace"),
            Fill(ref=ref_named(refs, "textbox", "Password"), secret="erp_password"),
            SelectOption(ref=ref_named(refs, "combobox", "Payment terms"), values=["Net 15"]),
            Check(ref=ref_named(refs, "checkbox", "Urgent")),
        ],
        refs=refs,
    )
    assert [o.ok for o in outcomes] == [True] * 4, [o.message for o in outcomes]

    after = await observe(page)
    assert "Ada Lovelace" in after.text
    assert "Net 15" in after.text
    assert SECRET not in after.text  # the field filled from a secret is never shown

    saved = await executor.execute(Click(ref=ref_named(after.refs, "button", "Save vendor")), refs=after.refs)
    assert saved.navigated
    fields = recorder.last().fields
    assert (fields["name"], fields["password"], fields["terms"], fields["urgent"]) == (
        ["Ada Lovelace"],
        [SECRET],
        ["net15"],
        ["yes"],
    )
