"""Mock back-office fixtures: one running site per session, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import BrowserContext, Page

from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice


@pytest.fixture(scope="session")
def backoffice() -> Iterator[BackofficeSite]:
    """The mock back office (v1, no faults, no second factor), shared by the whole session."""
    with serve_backoffice() as running:
        yield running


@pytest.fixture
def site(backoffice: BackofficeSite) -> BackofficeSite:
    """The shared back office, restored to its seeded state, v1 and no faults."""
    backoffice.reset()
    backoffice.set_variant("v1")
    backoffice.set_faults(None)
    return backoffice


@pytest.fixture
async def signed_in_page(site: BackofficeSite, context: BrowserContext, page: Page) -> Page:
    """A page whose context is already signed in to the reset back office (no login form)."""
    await site.sign_in(context)
    return page
