"""reply_to_ticket: answer a customer on a helpdesk ticket, and close it if asked."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from operator_agent.errors import SkillFailedError
from operator_agent.skills import SkillContext, skill

from ..web._page import dismiss, settle
from ..web.forms import page_errors
from ._ui import flash_message, one_of

__all__ = ["TicketReply", "reply_to_ticket"]


class TicketReply(BaseModel):
    """What happened to the ticket.

    Attributes:
        ticket_id: The ticket.
        closed: Whether the ticket was closed after the reply.
        message: The confirmation the helpdesk showed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: str
    closed: bool
    message: str


@skill
async def reply_to_ticket(
    ctx: SkillContext, *, ticket_id: str, message: str, close: bool = False
) -> TicketReply:
    """Send a reply to the customer of a helpdesk ticket, and optionally close the ticket.

    Sending cannot be undone: the send step asks for approval first (and so does closing).

    Args:
        ticket_id: The ticket's id, such as T-1042.
        message: The reply, as the customer will read it.
        close: Close the ticket once the reply is sent.
    """
    if not re.fullmatch(r"T-\d+", ticket_id.strip()):
        raise SkillFailedError(
            f'"{ticket_id}" is not a ticket id (they look like T-1042)', step="check the ticket id"
        )
    if not message.strip():
        raise SkillFailedError("the reply is empty", step="check the reply")
    # 1. Open the ticket by its address and make sure it can still be answered.
    await ctx.goto(f"/tickets/{ticket_id.strip()}")
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    heading = " ".join((await ctx.page.locator("h1").first.inner_text(timeout=5000)).split())
    if "not found" in heading.lower():
        raise SkillFailedError(f"there is no ticket {ticket_id}", step="open the ticket")
    if await ctx.page.get_by_text("This ticket is closed").count():
        raise SkillFailedError(
            f"ticket {ticket_id} is closed; replies are no longer possible", step="open the ticket"
        )
    # 2. Write the reply (the box is labelled "Reply" or "Your response", depending on the layout).
    box = await one_of(ctx, "Reply", "Your response", role="textbox")
    await ctx.fill(box, message)
    # 3. Send it: the customer gets it at once, so this is the irreversible step.
    await ctx.click(await one_of(ctx, "Send reply", "Send response"), irreversible=True)
    await settle(ctx, timeout_s=15)
    errors = await page_errors(ctx)
    if errors:
        raise SkillFailedError(
            "the helpdesk did not send the reply: " + "; ".join(errors), step="send the reply"
        )
    sent = await flash_message(ctx)
    closed = False
    if close:
        await dismiss(ctx)
        await ctx.click(await one_of(ctx, "Close ticket", "Mark as closed"), irreversible=True)
        await settle(ctx, timeout_s=15)
        closed = True
    return TicketReply(ticket_id=ticket_id.strip(), closed=closed, message=sent)
