"""Run the mock back office in-process, for tests, examples, benchmarks and CI recipes.

:func:`serve_backoffice` loads the app from ``fixtures/sites/backoffice`` (or the copy bundled in the
wheel), starts it on two loopback listeners (the app, and a second origin for the attachment viewer)
and yields a :class:`BackofficeSite` to inspect and steer it::

    with serve_backoffice(totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") as site:
        ...  # drive site.url with Playwright
        state = site.state()
        assert state.invoices.submitted[0].count == 1

The site finds the app folder in this order: the folder named by the ``OPERATOR_AGENT_SITES``
environment variable (which holds ``backoffice/``), ``operator_agent/_bundled/sites`` inside the
installed package, then ``fixtures/sites`` of a source checkout.

To run the site by hand or from a CI recipe in another language::

    python -m operator_agent.testing.backoffice --port 8000 --variant v2
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import pyotp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from operator_agent.errors import ConfigurationError, SiteError
from operator_agent.logs import configure_logging, get_logger
from operator_agent.testing.site_server import LocalServer

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

__all__ = [
    "DEFAULT_USERS",
    "BackofficeData",
    "BackofficeSite",
    "BackofficeState",
    "Credentials",
    "FaultConfig",
    "InvoiceRecord",
    "find_site_folder",
    "main",
    "rewordings",
    "serve_backoffice",
]

_log = get_logger("operator_agent.testing.backoffice")

DEFAULT_USERS: Mapping[str, str] = {"ops.agent": "Northwind-Ops-2026!", "dana.lee": "Payables#4821"}
SITES_ENV = "OPERATOR_AGENT_SITES"
Variant = Literal["v1", "v2"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultConfig(_Frozen):
    """Faults one site instance injects, deterministic from ``seed``.

    Attributes:
        seed: Seed of every fault decision.
        latency_ms: Extra latency per application request, uniform in ``[low, high]``.
        error_rate: Share of application requests answered with a 5xx error page (before any change).
        interstitial_rate: Share of page loads that show an interstitial modal blocking the page.
        session_expiry_after: Expire the session after this many authenticated requests.
        slow_spinner_ms: Lists and forms show a loading spinner this long before their content.
        rerender_rate: Share of list page loads whose rows are detached and re-created after load.
    """

    seed: int = 0
    latency_ms: tuple[int, int] = (0, 0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    interstitial_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    session_expiry_after: int | None = Field(default=None, ge=1)
    slow_spinner_ms: int = Field(default=0, ge=0)
    rerender_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check_latency(self) -> FaultConfig:
        low, high = self.latency_ms
        if low < 0 or high < low:
            raise ValueError(f"latency_ms must be (low, high) with 0 <= low <= high, got {self.latency_ms}")
        return self


class Credentials(_Frozen):
    """What a person needs to sign in to a site."""

    username: str
    password: str
    totp_secret: str | None = None


class LineRecord(_Frozen):
    description: str
    quantity: Decimal
    unit_price: Decimal
    total: Decimal


class AttachmentRecord(_Frozen):
    filename: str
    content_type: str
    size: int
    sha256: str


class AuditRecord(_Frozen):
    at: str
    actor: str
    action: str
    detail: str


class InvoiceRecord(_Frozen):
    """Every field of one invoice."""

    id: int
    number: str
    vendor_id: str
    vendor_name: str
    invoice_date: date
    due_date: date
    currency: str
    amount: Decimal
    lines: tuple[LineRecord, ...]
    payment_terms: Literal["net15", "net30", "net60", "receipt"]
    urgent: bool
    notes: str
    status: Literal["draft", "submitted", "approved", "rejected", "paid", "deleted"]
    origin: Literal["seed", "ui"]
    created_by: str
    attachment: AttachmentRecord | None
    rejection_reason: str
    history: tuple[AuditRecord, ...]


class _Counted(_Frozen):
    count: int
    first_at: str
    last_at: str


class InvoiceEffect(_Counted):
    """An effect on one invoice: the invoice as it is now, and how many times the effect happened."""

    invoice: InvoiceRecord


class InvoiceEffects(_Frozen):
    created: tuple[InvoiceEffect, ...]
    drafts_saved: tuple[InvoiceEffect, ...]
    submitted: tuple[InvoiceEffect, ...]
    approved: tuple[InvoiceEffect, ...]
    rejected: tuple[InvoiceEffect, ...]
    deleted: tuple[InvoiceEffect, ...]


class MessageRecord(_Frozen):
    author: str
    role: Literal["customer", "agent"]
    at: str
    body: str


class TicketRecord(_Frozen):
    id: str
    subject: str
    customer: str
    email: str
    status: Literal["open", "pending", "closed"]
    priority: str
    assignee: str
    tags: tuple[str, ...]
    messages: tuple[MessageRecord, ...]
    updated_at: str


class ReplyEffect(_Counted):
    """One reply text sent on a ticket; ``count`` > 1 means the same reply went out more than once."""

    ticket_id: str
    body: str
    author: str


class AssignEffect(_Counted):
    ticket_id: str
    assignee: str


class TagEffect(_Counted):
    ticket_id: str
    tag: str


class CloseEffect(_Counted):
    ticket_id: str


class TicketEffects(_Frozen):
    replies: tuple[ReplyEffect, ...]
    assigned: tuple[AssignEffect, ...]
    tags_added: tuple[TagEffect, ...]
    tags_removed: tuple[TagEffect, ...]
    closed: tuple[CloseEffect, ...]
    changed: tuple[TicketRecord, ...]


class BankDetailsEffect(_Counted):
    vendor_id: str
    vendor_name: str
    iban: str
    bic: str
    account_holder: str
    changed_by: str


class VendorEffects(_Frozen):
    bank_details_changed: tuple[BankDetailsEffect, ...]


class LoginEvent(_Frozen):
    username: str
    outcome: Literal["success", "password_ok", "bad_password", "bad_code", "logout", "expired"]
    at: str


class FaultEvent(_Frozen):
    """A fault the site injected into one request."""

    kind: Literal["error", "interstitial", "rerender", "spinner", "session_expired"]
    method: str
    path: str
    status: int | None = None
    modal: Literal["session_warning", "cookie_banner", "whats_new"] | None = None


class BackofficeState(_Frozen):
    """What happened on a site since its last reset (the JSON of ``GET /__inspect__/state``).

    Every effect carries ``count``: how many times it happened, so a test can assert that an invoice
    was submitted, or a reply sent, exactly once. ``counts`` totals effects by kind
    (``invoice.submitted``, ``ticket.reply``, ``vendor.bank_details_changed`` ...).
    """

    variant: Variant
    faults: FaultConfig
    seed: int
    invoices: InvoiceEffects
    tickets: TicketEffects
    vendors: VendorEffects
    logins: tuple[LoginEvent, ...]
    counts: dict[str, int]
    requests: int
    fault_events: tuple[FaultEvent, ...]

    def count(self, kind: str) -> int:
        """How many effects of ``kind`` happened in total (0 if none)."""
        return self.counts.get(kind, 0)


class VendorRecord(_Frozen):
    id: str
    name: str
    country: str
    category: str
    email: str
    iban: str
    bic: str
    account_holder: str
    notes: str


class BackofficeData(_Frozen):
    """The site's current records (``GET /__inspect__/data``)."""

    invoices: tuple[InvoiceRecord, ...]
    vendors: tuple[VendorRecord, ...]
    tickets: tuple[TicketRecord, ...]

    def invoice(self, number: str) -> InvoiceRecord:
        """The live invoice with this number; raises ``KeyError`` if there is none."""
        for record in self.invoices:
            if record.number == number:
                return record
        raise KeyError(number)


class _App(Protocol):
    variant: Variant
    files_origin: str

    def reset(self) -> None: ...
    def configure(self, *, variant: Variant | None = ..., faults: Any = ...) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def data(self) -> dict[str, Any]: ...
    def new_session(self, username: str) -> str: ...
    def totp_now(self) -> str: ...


def _candidates() -> list[Path]:
    found = []
    env = os.environ.get(SITES_ENV)
    if env:
        found.append(Path(env))
    package_root = Path(__file__).resolve().parent.parent
    found.append(package_root / "_bundled" / "sites")
    found.append(package_root.parent / "fixtures" / "sites")
    return found


def find_site_folder(name: str = "backoffice") -> Path:
    """The folder of a bundled fixture site.

    Raises:
        SiteError: If no candidate folder holds the site; the message lists every place tried.
    """
    tried = []
    for root in _candidates():
        folder = root / name
        if (folder / "__init__.py").is_file():
            return folder
        tried.append(str(folder))
    raise SiteError(
        f"fixture site {name!r} not found; tried: {', '.join(tried)} (set {SITES_ENV} to override)"
    )


_modules: dict[Path, ModuleType] = {}
_modules_lock = threading.Lock()


def _load_app_module(folder: Path) -> ModuleType:
    folder = folder.resolve()
    with _modules_lock:
        if folder in _modules:
            return _modules[folder]
        name = "_operator_agent_site_" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise SiteError(f"cannot load the fixture site from {folder}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise SiteError(f"the fixture site in {folder} failed to load: {exc!r}") from exc
        _modules[folder] = module
        return module


class BackofficeSite:
    """A running mock back office.

    Attributes:
        url: Base URL of the app, without a trailing slash.
        files_url: Base URL of the second origin that serves the attachment viewer.
        credentials: Username, password and TOTP secret of the first user.
        users: Every username and password that may sign in.
    """

    def __init__(
        self, *, app: _App, module: ModuleType, url: str, files_url: str, credentials: Credentials,
        users: Mapping[str, str],
    ) -> None:  # fmt: skip
        self._app = app
        self._module = module
        self.url = url
        self.files_url = files_url
        self.credentials = credentials
        self.users = dict(users)

    @property
    def variant(self) -> Variant:
        """The layout variant in force."""
        return self._app.variant

    def state(self) -> BackofficeState:
        """Every effect since the last reset, read from the app's memory."""
        return BackofficeState.model_validate(self._app.snapshot())

    def data(self) -> BackofficeData:
        """The current records (invoices, vendors, tickets)."""
        return BackofficeData.model_validate(self._app.data())

    def reset(self) -> None:
        """Restore the seeded records, sign every session out and restart the fault sequence."""
        self._app.reset()
        _log.debug("backoffice reset", url=self.url)

    def set_variant(self, variant: Variant) -> None:
        """Switch the layout variant; pages rendered from now on use it."""
        if variant not in ("v1", "v2"):
            raise ConfigurationError(f"unknown back-office variant {variant!r}; expected 'v1' or 'v2'")
        self._app.configure(variant=variant)

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault configuration (``None`` turns every fault off) and restart its sequence."""
        self._app.configure(faults=_fault_settings(self._module, faults or FaultConfig()))

    def totp_now(self) -> str:
        """The second-factor code valid now.

        Raises:
            ConfigurationError: If the site was started without ``totp_secret``.
        """
        if self.credentials.totp_secret is None:
            raise ConfigurationError("this back office has no second factor; start it with totp_secret=...")
        return self._app.totp_now()

    async def sign_in(self, context: BrowserContext, *, username: str | None = None) -> None:
        """Sign a browser context in without the login form (for tests that are not about login).

        Args:
            context: The Playwright context that receives the session cookie.
            username: Which user; the first one by default.
        """
        name = username or self.credentials.username
        if name not in self.users:
            raise ConfigurationError(f"unknown back-office user {name!r}; known: {sorted(self.users)}")
        sid = self._app.new_session(name)
        cookie = self._module.SESSION_COOKIE
        await context.add_cookies(
            [{"name": cookie, "value": sid, "url": self.url, "httpOnly": True, "sameSite": "Lax"}]
        )


def rewordings() -> dict[str, str]:
    """Every visible text that the ``v2`` layout words differently, as ``{v1 text: v2 text}``.

    Raises:
        SiteError: If the app cannot be found or loaded.
    """
    module = _load_app_module(find_site_folder("backoffice"))
    return dict(module.REWORDINGS)


def _fault_settings(module: ModuleType, faults: FaultConfig) -> Any:
    return module.FaultSettings(**faults.model_dump())


def _files_host(host: str) -> str:
    # A different host name makes the viewer cross-site as well as cross-origin.
    return {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host, host)


@contextmanager
def serve_backoffice(
    *,
    variant: Variant = "v1",
    faults: FaultConfig | None = None,
    seed: int = 7,
    invoice_count: int = 250,
    users: Mapping[str, str] | None = None,
    totp_secret: str | None = None,
    session_ttl_s: int = 1800,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[BackofficeSite]:
    """Serve the mock back office for the duration of a ``with`` block.

    Args:
        variant: Layout variant, ``v1`` or ``v2``.
        faults: Faults to inject; none by default.
        seed: Seed of the generated records.
        invoice_count: How many invoices to seed.
        users: Usernames and passwords; :data:`DEFAULT_USERS` by default.
        totp_secret: Base32 TOTP secret; when set, sign-in requires the code step.
        session_ttl_s: Idle seconds after which a session expires.
        host: Loopback address to bind.
        port: Port of the app; 0 picks a free one. The attachment origin always gets a free port.

    Yields:
        The running site.

    Raises:
        SiteError: If the app cannot be found, loaded or bound.
        ConfigurationError: If an argument is invalid.
    """
    users = dict(users or DEFAULT_USERS)
    if not users:
        raise ConfigurationError("serve_backoffice needs at least one user")
    if invoice_count < 1:
        raise ConfigurationError(f"invoice_count must be at least 1, got {invoice_count}")
    if variant not in ("v1", "v2"):
        raise ConfigurationError(f"unknown back-office variant {variant!r}; expected 'v1' or 'v2'")
    if totp_secret is not None:
        try:
            pyotp.TOTP(totp_secret).now()
        except (ValueError, binascii.Error) as exc:
            raise ConfigurationError(
                f"totp_secret must be base32 of at least 112 bits (like pyotp.random_base32()): {exc}"
            ) from exc
    module = _load_app_module(find_site_folder("backoffice"))
    app = cast(
        _App,
        module.BackofficeApp(
            seed=seed,
            invoice_count=invoice_count,
            users=users,
            totp_secret=totp_secret,
            session_ttl_s=session_ttl_s,
            variant=variant,
            faults=_fault_settings(module, faults or FaultConfig()),
        ),
    )
    with ExitStack() as stack:
        main = stack.enter_context(
            LocalServer(handler=module.make_handler(app, origin="main", log=_log), host=host, port=port)
        )
        files = stack.enter_context(
            LocalServer(handler=module.make_handler(app, origin="files", log=_log), host=host, port=0)
        )
        files_url = f"http://{_files_host(host)}:{files.port}"
        app.files_origin = files_url
        username = next(iter(users))
        site = BackofficeSite(
            app=app,
            module=module,
            url=main.url,
            files_url=files_url,
            credentials=Credentials(username=username, password=users[username], totp_secret=totp_secret),
            users=users,
        )
        _log.debug("backoffice started", url=site.url, files_url=files_url, variant=variant, seed=seed)
        yield site


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the mock back office until interrupted (``python -m operator_agent.testing.backoffice``).

    Args:
        argv: Command-line arguments; ``sys.argv[1:]`` by default.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m operator_agent.testing.backoffice", description="Serve the mock back office."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8000, help="port of the app (0 picks a free one)")
    parser.add_argument("--variant", choices=("v1", "v2"), default="v1")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated records")
    parser.add_argument("--invoices", type=int, default=250, help="how many invoices to seed")
    parser.add_argument("--totp-secret", default=None, help="base32 secret; makes the code step required")
    parser.add_argument("--faults", default=None, help="FaultConfig as JSON, e.g. '{\"error_rate\": 0.1}'")
    args = parser.parse_args(argv)
    configure_logging(level="info")
    faults = FaultConfig.model_validate_json(args.faults) if args.faults else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve_backoffice(
        variant=args.variant,
        faults=faults,
        seed=args.seed,
        invoice_count=args.invoices,
        totp_secret=args.totp_secret,
        host=args.host,
        port=args.port,
    ) as site:
        _log.info(
            "backoffice serving",
            url=site.url,
            files_url=site.files_url,
            username=site.credentials.username,
            users="see operator_agent.testing.backoffice.DEFAULT_USERS",
        )
        with suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
