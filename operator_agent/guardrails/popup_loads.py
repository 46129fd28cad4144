"""A popup's first load, loaded again once the DevTools guard watches the popup.

A popup (``window.open``, a ``target=_blank`` link or form) starts its first navigation as it is
created, before :class:`~operator_agent.guardrails.cdp_guard.CdpRequestGuard` can attach to it
(the guard finds it when Playwright routes that request), so the guard would never see that
navigation's redirect hops. :func:`relaunch_popup_load` stops the first request before anything
is sent and loads the same again in the popup, now guarded: the guard checks the new request and
each of its redirect hops like any other. The server receives the request once. Playwright
reports the popup once the relaunched load commits (or fails, when a hop is blocked), so the
popup is first seen on the page it should show.

How it is loaded again, found by experiment (Chromium 156):

- When the first request comes from the same host as its target (its ``Origin``, or for a GET its
  ``Referer``), the browser navigates the popup (``Page.navigate``), which cancels the first
  request, then aborted. A navigation the browser starts has no initiator, which counts as
  same-site for cookies: the same cookies go as with the first request. Only ``Sec-Fetch-Site``
  differs (``none``) and ``Sec-Fetch-User`` is kept.
- Otherwise the route answers the first request ``204 No Content`` (nothing is sent, the popup
  stays on its initial ``about:blank`` document), and that document navigates itself, from an
  isolated world: ``location.replace`` for a GET, an empty form submitted for a POST. Its origin
  is the opener's (an opaque one for a ``noopener`` popup), so the load gets the cookies
  (``SameSite``, for its method) and ``Sec-Fetch-Site`` of a load started by another site, as the
  first request had; ``Sec-Fetch-User`` is missing. A navigation started by the browser would
  send ``SameSite`` cookies the first request did not (``Strict`` ones; ``Lax`` ones too with a
  POST), and so would a GET turned into a POST by the guard.
- In both cases the guard puts back what the first request had and the new one lacks: its
  ``Referer``, and for a POST its body, ``Content-Type`` and ``Origin``
  (:meth:`~operator_agent.guardrails.cdp_guard.CdpRequestGuard.expect_relaunch`).
- When several popups start loading at the same moment, which first request belongs to which
  popup cannot be told while they start. Each one is then failed, and loaded again in the popup
  that shows the URL it failed on (Playwright reports such a popup on its error page first). A
  cross-site one is loaded from a blank page of an opaque origin: it gets the cookies of a load
  from another site.

Not relaunched (the route layer checks the request's host, and for a GET its first redirect):
a POST whose body Chromium does not hand over whole, that is a ``multipart/form-data`` body with
a file part (the bytes of a file picked from disk are missing from it) or a body left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Final, Literal
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request, Route

from operator_agent.errors import BrowserError
from operator_agent.guardrails.cdp_guard import CdpRequestGuard, Relaunch
from operator_agent.logs import get_logger

__all__ = ["RelaunchOutcome", "is_popup_first_load", "relaunch_popup_load"]

_log = get_logger("operator_agent.guardrails")

RelaunchOutcome = Literal["relaunched", "unreplayable", "unidentified", "failed"]
"""What :func:`relaunch_popup_load` did.

- ``relaunched``: the route is answered and the load started again under the guard.
- ``unreplayable``: a POST whose body cannot be sent again; the route is untouched.
- ``unidentified``: no popup is loading that the guard watches (it could not attach to it); the
  route is untouched.
- ``failed``: the route is answered (nothing was sent) but the load could not be started again.
"""

_FIND_FAILED_POPUP_S: Final = 5.0

# A file part of a multipart body names its file; the file's bytes are not in the body Chromium hands over.
_FILE_PART: Final = re.compile(rb'\r\nContent-Disposition: form-data; name="[^"]*"; filename="[^"]')


def is_popup_first_load(request: Request) -> bool:
    """Whether ``request`` is the first http(s) navigation of a page Playwright has not reported yet.

    That is a popup's first load: the only navigation that starts before its page exists.
    """
    if not request.is_navigation_request() or request.service_worker is not None:
        return False
    if urlsplit(request.url).scheme not in ("http", "https"):
        return False
    try:
        request.frame  # noqa: B018 - raises while the page of the frame is not known yet
    except PlaywrightError:
        return True
    return False


async def relaunch_popup_load(route: Route, *, guard: CdpRequestGuard) -> RelaunchOutcome:
    """Stop a popup's first request and load the same again with ``guard`` watching the popup.

    Call it for a routed request :func:`is_popup_first_load` accepts, after
    :meth:`CdpRequestGuard.cover` (which guards the popup) said the guard did not see it, and
    once its URL is known to be allowed.

    Args:
        route: The route of the popup's first request.
        guard: The DevTools guard of the popup's browser context.

    Returns:
        What was done (see :data:`RelaunchOutcome`).
    """
    request = route.request
    relaunch = await _plan(request)
    try:
        loading = await guard.loading_pages()
    except BrowserError as exc:
        _log.warning("could not find the popup of a first load", url=request.url, error=str(exc))
        return "unidentified"
    if not loading:
        return "unidentified"
    if relaunch is None:
        if len(loading) == 1:
            guard.claim(loading[0])  # its first load is left to the route layer
        return "unreplayable"
    if len(loading) > 1:
        return await _relaunch_after_failing(route, guard=guard, relaunch=relaunch, among=loading)
    (target_id,) = loading
    if not guard.watches(target_id):
        return "unidentified"
    guard.expect_relaunch(target_id, relaunch)
    if _initiated_on_same_host(request.url, relaunch):
        return await _navigate_by_browser(route, guard=guard, target_id=target_id)
    return await _navigate_by_document(route, guard=guard, target_id=target_id, relaunch=relaunch)


async def _relaunch_after_failing(
    route: Route, *, guard: CdpRequestGuard, relaunch: Relaunch, among: list[str]
) -> RelaunchOutcome:
    """Several popups are loading: fail this first load, find its popup by the URL it failed on."""
    url = route.request.url
    with contextlib.suppress(PlaywrightError):
        await route.abort("blockedbyclient")
    target_id = await guard.claim_failed_page(url, among=among, timeout_s=_FIND_FAILED_POPUP_S)
    if target_id is None:
        _log.warning("could not tell which popup a first load belonged to", url=url)
        return "failed"
    guard.expect_relaunch(target_id, relaunch)
    try:
        if _initiated_on_same_host(url, relaunch):
            await guard.navigate(target_id, url)
            return "relaunched"
        # The error page is no initiator to start from: a blank page of its own (opaque) origin
        # is, and gives the load the cookies of a load from another site, as it came from one.
        blank = await guard.navigate(target_id, "about:blank")
        await asyncio.wait_for(blank, _FIND_FAILED_POPUP_S)
        await guard.navigate_from_document(target_id, url, method=relaunch.method)
    except (BrowserError, TimeoutError) as exc:
        guard.cancel_relaunch(target_id)
        _log.warning("could not load a popup again under the guard", url=url, error=str(exc))
        return "failed"
    return "relaunched"


async def _navigate_by_browser(route: Route, *, guard: CdpRequestGuard, target_id: str) -> RelaunchOutcome:
    url = route.request.url
    try:
        await guard.navigate(target_id, url)
    except BrowserError as exc:
        guard.cancel_relaunch(target_id)
        _log.warning("could not load a popup again under the guard", url=url, error=str(exc))
        outcome: RelaunchOutcome = "failed"
    else:
        outcome = "relaunched"
    # Already cancelled by the new navigation when it started; never sent either way.
    with contextlib.suppress(PlaywrightError):
        await route.abort("aborted")
    return outcome


async def _navigate_by_document(
    route: Route, *, guard: CdpRequestGuard, target_id: str, relaunch: Relaunch
) -> RelaunchOutcome:
    url = route.request.url
    try:
        # No content: the navigation ends without a commit, the popup keeps its initial document.
        await route.fulfill(status=204)
    except PlaywrightError as exc:
        guard.cancel_relaunch(target_id)
        _log.warning("a popup's first load went away before it could be relaunched", url=url, error=str(exc))
        return "failed"
    try:
        await guard.navigate_from_document(target_id, url, method=relaunch.method)
    except BrowserError as exc:
        guard.cancel_relaunch(target_id)
        _log.warning("could not load a popup again under the guard", url=url, error=str(exc))
        # Let the popup commit a blank page, so that it is reported and can be closed.
        with contextlib.suppress(BrowserError):
            await guard.navigate(target_id, "about:blank")
        return "failed"
    return "relaunched"


async def _plan(request: Request) -> Relaunch | None:
    """What a relaunch of ``request`` must carry over, or ``None`` when it cannot be sent again."""
    headers = await request.all_headers()
    kept = {"Referer": headers["referer"]} if "referer" in headers else {}
    if request.method == "GET":
        return Relaunch(url=request.url, method="GET", headers=kept)
    body = request.post_data_buffer
    content_type = headers.get("content-type", "")
    if request.method != "POST" or body is None or not content_type:
        return None
    if content_type.lower().startswith("multipart/form-data") and _FILE_PART.search(body):
        return None
    kept["Content-Type"] = content_type
    if "origin" in headers:
        kept["Origin"] = headers["origin"]
    return Relaunch(url=request.url, method="POST", headers=kept, body=body)


def _initiated_on_same_host(url: str, relaunch: Relaunch) -> bool:
    """Whether the request came from a page of its target's scheme and host (so the same site)."""
    initiator = relaunch.headers.get("Origin") or relaunch.headers.get("Referer") or ""
    if initiator == "null":
        return False
    source, target = urlsplit(initiator), urlsplit(url)
    return bool(source.hostname) and (source.scheme, source.hostname) == (target.scheme, target.hostname)
