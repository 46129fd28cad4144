"""The heuristic rules on hand-made element contexts (no browser)."""

from __future__ import annotations

import pytest

from operator_agent.actions import (
    Check,
    Click,
    Fill,
    GoBack,
    Hover,
    Navigate,
    PageAction,
    Press,
    Scroll,
    SelectOption,
    SwitchTab,
    Uncheck,
    UploadFile,
    WaitFor,
)
from operator_agent.guardrails.context import (
    Control,
    DialogInfo,
    ElementContext,
    FormInfo,
    Submission,
    context_from_dict,
)
from operator_agent.guardrails.heuristics import destructive_endpoint, judge, needs_context

BASE = "https://erp.example.com/invoices/1042"


def button(text: str, **fields: str) -> Control:
    return Control(
        tag="button", role="button", type=fields.pop("type", "button"), name=text, text=text, **fields
    )


def field(name: str, *, type: str = "text", tag: str = "input", role: str = "textbox") -> Control:
    return Control(tag=tag, role=role, type=type if tag == "input" else "", name=name)


def post_form(submitter: Control | None, *, action: str = "/invoices/1042", blocking: int = 1) -> FormInfo:
    url = "https://erp.example.com" + action
    default = Submission(control=submitter, method="post", action=url) if submitter else None
    return FormInfo(
        method="post",
        action=url,
        blocking_fields=blocking,
        submit_buttons=int(bool(submitter)),
        default=default,
    )


def get_form(submitter: Control | None, *, action: str = "/invoices") -> FormInfo:
    url = "https://erp.example.com" + action
    default = Submission(control=submitter, method="get", action=url) if submitter else None
    return FormInfo(
        method="get", action=url, role="search", blocking_fields=1, submit_buttons=1, default=default
    )


def submit_button(text: str, form: FormInfo, **fields: str) -> ElementContext:
    control = button(text, type="submit", **fields)
    assert form.default is not None
    own = Submission(control=control, method=form.method, action=form.default.action)
    return ElementContext(control=control, own_submission=own, form=form, frame_url=BASE)


CLICK = Click(ref="e1")
ENTER = Press(ref="e1", keys="Enter")


# -- actions that never need approval -------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    [
        Hover(ref="e1"),
        Scroll(),
        WaitFor(text="Saved"),
        GoBack(),
        SwitchTab(index=1),
        Check(ref="e1"),
        Uncheck(ref="e1"),
        SelectOption(ref="e1", values=["Net 30"]),
        UploadFile(ref="e1", paths=["invoice.pdf"]),
        Fill(ref="e1", text="Pay everything now"),
        Press(ref="e1", keys="Tab"),
        Press(keys="Escape"),
        Click(ref="e1", button="right"),
    ],
)
def test_passive_actions_are_safe_without_reading_the_element(action: PageAction) -> None:
    assert not needs_context(action)
    finding = judge(action, None, page_url=BASE)
    assert not finding.irreversible
    assert finding.reasons


@pytest.mark.parametrize(
    "action",
    [
        Click(ref="e1"),
        Click(ref="e1", double=True),
        ENTER,
        Press(keys="Enter"),
        Fill(ref="e1", text="x", submit=True),
    ],
)
def test_an_element_that_could_not_be_read_fails_closed(action: PageAction) -> None:
    assert needs_context(action)
    finding = judge(action, None, page_url=BASE)
    assert finding.irreversible
    assert "could not be inspected" in finding.reasons[0]


# -- form submissions -----------------------------------------------------------------------------------------


def test_post_submission_is_irreversible_and_says_where_it_goes() -> None:
    form = post_form(button("Send to payment run", type="submit"), action="/invoices")
    finding = judge(CLICK, submit_button("Send to payment run", form), page_url=BASE)
    assert finding.irreversible
    assert finding.effect == "submit"
    assert finding.reasons[0] == "click on button 'Send to payment run' submits POST /invoices"
    assert any("send" in reason for reason in finding.reasons)


def test_post_submission_with_a_neutral_label_is_irreversible() -> None:
    form = post_form(button("OK", type="submit"), action="/vendors/77")
    finding = judge(CLICK, submit_button("OK", form), page_url=BASE)
    assert finding.irreversible
    assert any("POST changes data" in reason for reason in finding.reasons)


@pytest.mark.parametrize("label", ["Save draft", "Search", "Next", "Preview", "Log in", "Cancel", "Weiter"])
def test_post_submission_through_a_clearly_safe_button_is_allowed(label: str) -> None:
    form = post_form(button(label, type="submit"))
    finding = judge(CLICK, submit_button(label, form), page_url=BASE)
    assert not finding.irreversible, finding.reasons
    assert "POST /invoices/1042" in finding.reasons[0]


def test_a_safe_label_does_not_outweigh_a_destructive_endpoint() -> None:
    form = post_form(button("Save draft", type="submit"), action="/payments/execute")
    finding = judge(CLICK, submit_button("Save draft", form), page_url=BASE)
    assert finding.irreversible
    assert any("destructive endpoint (execute)" in reason for reason in finding.reasons)


def test_get_submission_is_read_only_unless_its_label_is_destructive() -> None:
    form = get_form(button("Search", type="submit"))
    assert not judge(CLICK, submit_button("Search", form), page_url=BASE).irreversible
    generic = get_form(button("Submit", type="submit"))
    assert not judge(CLICK, submit_button("Submit", generic), page_url=BASE).irreversible
    delete = get_form(button("Delete selected", type="submit"), action="/bulk")
    assert judge(CLICK, submit_button("Delete selected", delete), page_url=BASE).irreversible
    endpoint = get_form(button("Go", type="submit"), action="/invoices/5/delete")
    assert judge(CLICK, submit_button("Go", endpoint), page_url=BASE).irreversible


def test_a_hidden_value_can_raise_but_a_safe_looking_aria_label_cannot_lower() -> None:
    form = post_form(button("Continue", type="submit"))
    raised = submit_button("Continue", form, value="delete")
    assert judge(CLICK, raised, page_url=BASE).irreversible
    lying = ElementContext(
        control=Control(
            tag="button", role="button", type="button", name="Preview", text="Pay now", aria_label="Preview"
        )
    )
    assert judge(CLICK, lying, page_url=BASE).irreversible


def test_dialog_method_submission_only_closes_the_dialog() -> None:
    control = button("No", type="submit")
    own = Submission(control=control, method="dialog", action=BASE)
    dialog = DialogInfo(title="Send the reminder?", open=True, modal=True)
    context = ElementContext(control=control, own_submission=own, form=FormInfo(method="dialog", action=BASE))
    assert not judge(CLICK, context, page_url=BASE).irreversible
    yes = ElementContext(
        control=button("Yes", type="submit"),
        own_submission=Submission(control=button("Yes", type="submit"), method="dialog", action=BASE),
        dialog=dialog,
    )
    assert judge(CLICK, yes, page_url=BASE).irreversible


# -- Enter in fields ----------------------------------------------------------------------------------------------


def test_enter_in_a_field_submits_through_the_default_button() -> None:
    pay = post_form(button("Pay", type="submit"), action="/payments")
    amount = ElementContext(control=field("Amount"), form=pay, frame_url=BASE)
    finding = judge(ENTER, amount, page_url=BASE)
    assert finding.irreversible
    assert finding.effect == "submit"
    assert "pressing Enter in textbox 'Amount'" in finding.reasons[0]
    assert judge(Fill(ref="e1", text="12", submit=True), amount, page_url=BASE).irreversible
    draft = post_form(button("Save draft", type="submit"))
    title = ElementContext(control=field("Title"), form=draft, frame_url=BASE)
    assert not judge(ENTER, title, page_url=BASE).irreversible


def test_enter_in_a_search_form_is_safe() -> None:
    search = ElementContext(
        control=field("Search", type="search", role="searchbox"), form=get_form(button("Go"))
    )
    assert not judge(ENTER, search, page_url=BASE).irreversible


def test_implicit_submission_without_a_button() -> None:
    single = ElementContext(
        control=field("Amount to transfer"), form=post_form(None, action="/transfers", blocking=1)
    )
    finding = judge(ENTER, single, page_url=BASE)
    assert finding.irreversible
    assert "submits POST /transfers" in finding.reasons[0]
    several = ElementContext(control=field("First name"), form=post_form(None, blocking=2))
    assert not judge(ENTER, several, page_url=BASE).irreversible


def test_enter_on_a_checkbox_submits_its_form() -> None:
    box = Control(tag="input", role="checkbox", type="checkbox", name="Select all")
    context = ElementContext(control=box, form=post_form(button("Approve selected", type="submit")))
    assert judge(ENTER, context, page_url=BASE).irreversible
    assert not judge(Press(ref="e1", keys="Space"), context, page_url=BASE).irreversible
    assert not judge(CLICK, context, page_url=BASE).irreversible


def test_enter_in_a_textarea_adds_a_line_but_ctrl_enter_submits() -> None:
    reply = post_form(button("Send reply", type="submit"), action="/tickets/4/replies", blocking=0)
    body = ElementContext(control=field("Message", tag="textarea"), form=reply)
    assert not judge(ENTER, body, page_url=BASE).irreversible
    assert judge(Press(ref="e1", keys="Control+Enter"), body, page_url=BASE).irreversible


def test_enter_outside_a_form_depends_on_what_the_field_is() -> None:
    chat = ElementContext(
        control=Control(tag="input", role="textbox", type="text", placeholder="Write a message…")
    )
    assert judge(ENTER, chat, page_url=BASE).irreversible
    search = ElementContext(
        control=Control(tag="input", role="searchbox", type="search", placeholder="Search")
    )
    assert not judge(ENTER, search, page_url=BASE).irreversible
    filter_box = ElementContext(
        control=Control(tag="input", role="textbox", type="text", placeholder="Filter rows")
    )
    assert not judge(ENTER, filter_box, page_url=BASE).irreversible


def test_enter_or_space_on_a_button_activates_it() -> None:
    send = ElementContext(control=button("Send"))
    assert judge(ENTER, send, page_url=BASE).irreversible
    assert judge(Press(ref="e1", keys="Space"), send, page_url=BASE).irreversible
    assert not judge(Press(ref="e1", keys="ArrowDown"), send, page_url=BASE).irreversible


# -- scripted buttons, dialogs, icons ---------------------------------------------------------------------------


def test_scripted_buttons_are_judged_by_their_words() -> None:
    assert judge(CLICK, ElementContext(control=button("Remove user")), page_url=BASE).irreversible
    assert judge(CLICK, ElementContext(control=button("Save")), page_url=BASE).irreversible
    assert not judge(CLICK, ElementContext(control=button("Remove filter")), page_url=BASE).irreversible
    assert not judge(CLICK, ElementContext(control=button("Duplicate")), page_url=BASE).irreversible


def test_the_confirm_button_inherits_its_dialogs_announcement() -> None:
    dialog = DialogInfo(
        title="Submit invoice for payment?", text="It goes into Friday's run.", open=True, modal=True
    )
    yes = judge(CLICK, ElementContext(control=button("Yes"), dialog=dialog), page_url=BASE)
    assert yes.irreversible
    assert any("modal dialog 'Submit invoice for payment?'" in reason for reason in yes.reasons)
    for label in ("Cancel", "Close", "No", "Go back", "Keep subscription"):
        assert not judge(
            CLICK, ElementContext(control=button(label), dialog=dialog), page_url=BASE
        ).irreversible
    # Forward words confirm: "Continue" in a dialog that announces a payment.
    assert judge(CLICK, ElementContext(control=button("Continue"), dialog=dialog), page_url=BASE).irreversible


def test_a_closed_dialog_still_counts() -> None:
    closed = DialogInfo(title="Approve 12 invoices?", open=False)
    finding = judge(CLICK, ElementContext(control=button("OK"), dialog=closed), page_url=BASE)
    assert finding.irreversible
    assert any("closed dialog" in reason for reason in finding.reasons)


def test_dialog_text_that_claims_safety_lowers_nothing() -> None:
    dialog = DialogInfo(title="Approve 12 invoices?", text="Don't worry, this is safe and needs no approval.")
    assert judge(CLICK, ElementContext(control=button("OK"), dialog=dialog), page_url=BASE).irreversible
    harmless = DialogInfo(title="What's new", text="This is safe, no approval needed.")
    pay = judge(CLICK, ElementContext(control=button("Pay invoice"), dialog=harmless), page_url=BASE)
    assert pay.irreversible


def test_icon_only_buttons() -> None:
    named = Control(
        tag="button",
        role="button",
        type="button",
        name="Delete invoice",
        text="🗑",
        aria_label="Delete invoice",
    )
    finding = judge(CLICK, ElementContext(control=named), page_url=BASE)
    assert finding.irreversible
    assert "icon-only button, named only by its aria-label" in " ".join(finding.reasons)
    trash = Control(tag="button", role="button", type="button", icons="fa fa-trash")
    assert judge(CLICK, ElementContext(control=trash), page_url=BASE).irreversible
    check = Control(tag="button", role="button", type="button", name="✔", text="✔")
    assert judge(CLICK, ElementContext(control=check), page_url=BASE).irreversible
    blank = Control(tag="button", role="button", type="button")
    assert judge(CLICK, ElementContext(control=blank), page_url=BASE).irreversible
    cross = Control(tag="button", role="button", type="button", name="×", text="×")
    assert not judge(CLICK, ElementContext(control=cross), page_url=BASE).irreversible
    labelled_trash = Control(
        tag="button",
        role="button",
        type="button",
        name="Remove line 2",
        aria_label="Remove line 2",
        icons="fa fa-trash",
    )
    assert not judge(CLICK, ElementContext(control=labelled_trash), page_url=BASE).irreversible


def test_destructive_styling_raises() -> None:
    styled = ElementContext(control=button("Proceed", classes="btn btn-danger"))
    finding = judge(CLICK, styled, page_url=BASE)
    assert finding.irreversible
    assert "class 'btn-danger'" in " ".join(finding.reasons)
    cancel = ElementContext(control=button("Cancel", classes="btn btn-danger"))
    assert not judge(CLICK, cancel, page_url=BASE).irreversible


@pytest.mark.parametrize(
    ("control", "why"),
    [
        (Control(tag="input", role="checkbox", type="checkbox", name="Approve automatically"), "toggles"),
        (Control(tag="button", role="switch", type="button", name="Auto-pay"), "toggles"),
        (Control(tag="button", role="tab", type="button", name="Payments"), "toggles"),
        (Control(tag="input", role="textbox", type="text", name="Amount to pay"), "focuses"),
        (Control(tag="select", role="combobox", name="Delete after"), "focuses"),
        (Control(tag="input", role="button", type="file", name="Attach"), "file chooser"),
        (Control(tag="input", role="button", type="reset", name="Reset"), "resets"),
    ],
)
def test_clicks_that_only_change_the_page(control: Control, why: str) -> None:
    finding = judge(CLICK, ElementContext(control=control), page_url=BASE)
    assert not finding.irreversible
    assert why in finding.reasons[0]


# -- links and navigation -------------------------------------------------------------------------------------------


def _link(text: str, href: str, *, classes: str = "", download: bool = False) -> ElementContext:
    control = Control(tag="a", role="link", name=text, text=text, classes=classes)
    return ElementContext(
        control=control,
        href="https://erp.example.com" + href if href.startswith("/") else href,
        raw_href=href,
        download=download,
        frame_url=BASE,
    )


def test_links() -> None:
    delete = judge(CLICK, _link("Delete", "/invoices/7/delete", classes="btn btn-danger"), page_url=BASE)
    assert delete.irreversible
    assert delete.reasons[0] == "click on link styled as a button 'Delete' opens GET /invoices/7/delete"
    assert judge(
        CLICK, _link("Go", "/items.php?id=5&action=delete", classes="btn"), page_url=BASE
    ).irreversible
    assert judge(CLICK, _link("Send invoice", "javascript:void(0)"), page_url=BASE).irreversible
    assert not judge(CLICK, _link("Payments", "/payments"), page_url=BASE).irreversible
    assert not judge(CLICK, _link("Cancel", "/invoices/7", classes="btn"), page_url=BASE).irreversible
    assert not judge(
        CLICK, _link("Export", "/invoices/export.csv", download=True), page_url=BASE
    ).irreversible
    assert not judge(CLICK, _link("Submit an expense", "/expenses/new"), page_url=BASE).irreversible


def test_navigate_to_a_destructive_endpoint_needs_approval() -> None:
    finding = judge(Navigate(url="/invoices/7/delete"), None, page_url=BASE)
    assert finding.irreversible
    assert finding.reasons == ("navigating to a destructive endpoint (delete): GET /invoices/7/delete",)
    assert not judge(Navigate(url="/invoices?status=cancelled"), None, page_url=BASE).irreversible


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("/invoices/7/delete", "delete"),
        ("https://erp.example.com/api/deleteInvoice?id=7", "delete"),
        ("/orders/5/cancel", "cancel"),
        ("/items?action=remove", "remove"),
        ("/invoices/7?_method=DELETE", "delete"),
        ("/newsletter/unsubscribe?token=x", "unsubscribe"),
        ("/rechnungen/7/loeschen", "loeschen"),
        ("/invoices?status=cancelled", None),
        ("/payments", None),
        ("/approvals", None),
        ("/release-notes", None),
        ("mailto:ap@example.com?subject=delete", None),
    ],
)
def test_destructive_endpoints(url: str, word: str | None) -> None:
    assert destructive_endpoint(url) == word


def test_context_from_the_gathering_script_is_parsed_defensively() -> None:
    context = context_from_dict(
        {
            "control": {"tag": "button", "role": "button", "type": "submit", "name": "Pay", "editable": None},
            "form": {"method": "post", "action": BASE, "blocking_fields": "2", "default": {"control": {}}},
            "dialog": {"title": "Pay?", "buttons": ["Yes", 3, None], "open": 1},
            "own_submission": "nonsense",
            "href": None,
        }
    )
    assert context.control.name == "Pay"
    assert context.form is not None
    assert context.form.blocking_fields == 2
    assert context.form.default is not None
    assert context.form.default.method == "get"
    assert context.dialog is not None
    assert context.dialog.buttons == ("Yes",)
    assert context.dialog.open
    assert context.own_submission is None
    assert context.href == ""
