"""update_vendor_bank_details: change where a vendor's payments go. Irreversible, approved up front."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from operator_agent.errors import SkillFailedError
from operator_agent.skills import SkillContext, skill

from ..web._page import settle
from ..web.forms import fill_form, page_errors
from ..web.tables import find_rows
from ._ui import flash_message, one_of

__all__ = ["BankDetailsChange", "update_vendor_bank_details"]


class BankDetailsChange(BaseModel):
    """The vendor's bank details as saved.

    Attributes:
        vendor_id: The vendor's id.
        vendor_name: The vendor's name.
        changed: False when the details were already these (nothing was changed).
        message: The confirmation the back office showed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    vendor_id: str
    vendor_name: str
    changed: bool
    message: str


@skill(irreversible=True)
async def update_vendor_bank_details(
    ctx: SkillContext, *, vendor: str, iban: str, bic: str, account_holder: str
) -> BankDetailsChange:
    """Change the bank account a vendor is paid to.

    Payments go to the new account from then on, so the whole skill asks for approval, with the
    new details, before it does anything.

    Args:
        vendor: The vendor's exact name or id (such as V-1008).
        iban: The new IBAN (spaces allowed).
        bic: The new BIC of the bank.
        account_holder: The name of the account's holder.
    """
    # 1. Find the vendor in the vendor list; its row links to the vendor's page.
    await ctx.goto("/vendors")
    by_id = re.fullmatch(r"V-\d+", vendor.strip()) is not None
    found = await find_rows(ctx, criteria={"ID" if by_id else "Name": vendor.strip()}, max_pages=5)
    exact = [
        row for row in found.rows if vendor.strip().casefold() in (v.casefold() for v in row.cells.values())
    ]
    rows = exact or found.rows
    if not rows:
        raise SkillFailedError(f'no vendor "{vendor}" in the vendor list', step="find the vendor")
    if len(rows) > 1:
        names = ", ".join(row.cells.get("Name", "?") for row in rows[:5])
        raise SkillFailedError(f'"{vendor}" names several vendors ({names}); give the exact name or id',
                               step="find the vendor")  # fmt: skip
    row = rows[0]
    if row.link is None:
        raise SkillFailedError(f'the row of "{vendor}" has no link to the vendor', step="open the vendor")
    # 2. Open the vendor and fill the bank details form.
    await ctx.goto(row.link)
    filled = await fill_form(ctx, record={"IBAN": iban, "BIC": bic, "account_holder": account_holder})
    if filled.unmapped:
        raise SkillFailedError(
            f"the bank form has no field for {', '.join(filled.unmapped)}", step="fill the form"
        )
    # 3. Save, then confirm in the dialog. The skill's approval covers the confirmation.
    await ctx.click(await one_of(ctx, "Save bank details", "Update bank account"))
    await ctx.click(await one_of(ctx, "Confirm change", "Yes, change it"), irreversible=True)
    await settle(ctx, timeout_s=15)
    errors = await page_errors(ctx)
    if errors:
        raise SkillFailedError("the back office refused the bank details: " + "; ".join(errors),
                               step="save the bank details")  # fmt: skip
    message = await flash_message(ctx)
    return BankDetailsChange(
        vendor_id=row.cells.get("ID", ""),
        vendor_name=row.cells.get("Name", vendor),
        changed="nothing changed" not in message.lower(),
        message=message,
    )
