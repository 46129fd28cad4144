"""Reading back what an action changed, with the page, in one call (``operator_agent.act.readback``).

The executor reads the element it filled, ticked, chose in or attached to, and the page's state,
in one main-frame call that finds the element by a reference its facts read kept. These tests pin
what the model is told in the cases where that shortcut must not be taken or must not lie: an
element in a frame, a page that owns the slot's name, an element the page replaced, and page
changes that only the read-back's state can report.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from operator_agent.act import ActionExecutor, ContextTabs
from operator_agent.actions import Check, Fill, SelectOption, UploadFile
from operator_agent.observe.refs import RefMap
from tests.browser.test_act_support import stamp

FORM = """
<label>Name <input id="name"></label>
<label>Code <input id="code"></label>
<label><input type="checkbox" id="urgent"> Urgent</label>
<label>Currency <select id="currency"><option>USD</option><option>EUR</option></select></label>
<label>PDF <input type="file" id="pdf"></label>
"""


def executor(page: Page, upload_dir: Path | None = None) -> ActionExecutor:
    return ActionExecutor(
        tabs=ContextTabs(page=page), upload_dirs=[upload_dir] if upload_dir else [], action_timeout_s=5
    )


async def refs_for_form(page: Page) -> RefMap:
    return await stamp(page, {"e1": "#name", "e2": "#code", "e3": "#urgent", "e4": "#currency", "e5": "#pdf"})


async def test_every_reading_is_right_when_the_page_owns_the_slot_name(page: Page, tmp_path: Path) -> None:
    # A page that defined the name first (non-configurable, with a decoy element) cannot make the
    # executor report the decoy's value: the read goes through the locator instead.
    await page.set_content(
        FORM
        + """<input id="decoy" value="decoy value"><script>
        Object.defineProperty(window, '__operatorAgentTarget', {
          value: { memo: 'x', ref: new WeakRef(document.getElementById('decoy')) },
          configurable: false, writable: false,
        });
        </script>"""
    )
    (tmp_path / "invoice.pdf").write_bytes(b"%PDF-1.4\n")
    refs = await refs_for_form(page)
    run = executor(page, tmp_path)
    filled = await run.execute(Fill(ref="e1", text="Ada Lovelace"), refs=refs)
    checked = await run.execute(Check(ref="e3"), refs=refs)
    chosen = await run.execute(SelectOption(ref="e4", values=["EUR"]), refs=refs)
    attached = await run.execute(UploadFile(ref="e5", paths=["invoice.pdf"]), refs=refs)
    assert [filled.ok, checked.ok, chosen.ok, attached.ok] == [True] * 4
    assert filled.field_value == "Ada Lovelace"
    assert "it is now checked" in checked.message
    assert chosen.field_value == "EUR"
    assert attached.field_value == "invoice.pdf"
    assert await page.eval_on_selector("#urgent", "el => el.checked") is True


async def test_a_field_in_a_frame_never_reports_the_main_frame_field_read_before(page: Page) -> None:
    await page.set_content(
        FORM + '<iframe srcdoc="<label>Inner <input id=inner></label>"></iframe>', wait_until="load"
    )
    frame = page.frames[1]
    await frame.wait_for_selector("#inner")
    refs = await refs_for_form(page)
    inner = await stamp(frame, {"e9": "#inner"})
    run = executor(page)
    outer = await run.execute(Fill(ref="e1", text="outer text"), refs=refs)
    # The main window still keeps the outer field; the inner one lives in the frame's window.
    nested = await run.execute(Fill(ref="e9", text="inner text"), refs=inner)
    assert (outer.field_value, nested.field_value) == ("outer text", "inner text")
    assert await frame.input_value("#inner") == "inner text"


async def test_a_field_the_page_replaces_while_typing_is_read_again(page: Page) -> None:
    # A framework that swaps the node on input: the kept reference is detached by then, so the
    # value is read from the element that took its place (which keeps the ref attribute).
    await page.set_content(
        FORM
        + """<script>
        document.getElementById('code').addEventListener('input', (e) => {
          const next = e.target.cloneNode(true);
          next.value = e.target.value.toUpperCase();
          e.target.replaceWith(next);
        });
        </script>"""
    )
    refs = await refs_for_form(page)
    outcome = await executor(page).execute(Fill(ref="e2", text="ab-12"), refs=refs)
    assert outcome.field_value == "AB-12"
    assert await page.input_value("#code") == "AB-12"


async def test_page_changes_seen_by_the_read_back_reach_the_model(page: Page) -> None:
    await page.set_content(
        FORM
        + """<dialog id="confirm"><p>Really?</p></dialog><script>
        document.getElementById('urgent').addEventListener('change', () => {
          document.getElementById('confirm').showModal();
        });
        document.getElementById('currency').addEventListener('change', () => {
          history.pushState({}, '', '#currency-changed');
        });
        </script>"""
    )
    refs = await refs_for_form(page)
    run = executor(page)
    checked = await run.execute(Check(ref="e3"), refs=refs)
    assert "a dialog opened" in checked.message
    await page.evaluate("document.getElementById('confirm').close()")
    chosen = await run.execute(SelectOption(ref="e4", values=["EUR"]), refs=refs)
    assert chosen.navigated
    assert chosen.url_after.endswith("#currency-changed")
