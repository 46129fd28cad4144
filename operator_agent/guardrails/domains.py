"""Domain allowlist enforced at the network layer.

Every request of a browser context (navigations, sub-resources, XHR/fetch, popups and
``window.open``, meta refresh, redirects of pages and frames) is checked against the allowlist
before it leaves the browser; anything else is aborted and recorded, so the run can report it to
the model and the trace. Known limits: a redirect answered to a sub-resource request (an image, a
script) or to a form POST is followed by the browser without being routed (requests the page makes
to other hosts directly are still blocked).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from playwright.async_api import BrowserContext, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import ConfigurationError
from operator_agent.guardrails.cdp_guard import CdpRequestGuard, supports_cdp_guard
from operator_agent.logs import get_logger

__all__ = ["DomainAllowlist"]

_log = get_logger("operator_agent.guardrails")

# Schemes that never leave the machine and are part of how pages work.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})


@dataclass
class DomainAllowlist:
    """Hosts a run may reach; a host also allows its subdomains.

    Args:
        hosts: Host names such as ``erp.example.com`` (no scheme, no path). Ports are ignored.
    """

    hosts: frozenset[str]
    blocked: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, hosts: Iterable[str]) -> DomainAllowlist:
        """Build an allowlist, rejecting entries that are not bare host names."""
        cleaned: set[str] = set()
        for raw in hosts:
            host = raw.strip().lower().lstrip(".")
            if not host or any(char in host for char in "/:@ "):
                raise ConfigurationError(
                    f"allowed domain {raw!r} must be a bare host name like 'erp.example.com'"
                )
            cleaned.add(host)
        if not cleaned:
            raise ConfigurationError("the domain allowlist is empty: give at least one host")
        return cls(hosts=frozenset(cleaned))

    def allows(self, url: str) -> bool:
        """Whether a request to ``url`` may go out."""
        parts = urlsplit(url)
        if parts.scheme in _LOCAL_SCHEMES:
            return True
        if parts.scheme not in {"http", "https", "ws", "wss"}:
            return False
        host = (parts.hostname or "").lower()
        return any(host == allowed or host.endswith("." + allowed) for allowed in self.hosts)

    def take_blocked(self) -> list[str]:
        """URLs blocked since the last call."""
        taken, self.blocked = self.blocked, []
        return taken

    def _block(self, url: str, why: str) -> None:
        self.blocked.append(url)
        _log.warning("request blocked by the domain allowlist", url=url, why=why)

    async def install(self, context: BrowserContext) -> None:
        """Route every request of ``context`` through the allowlist.

        Playwright does not route the requests a redirect leads to, so GET navigations (pages and
        frames) are fetched here without following redirects: a redirect to a host outside the
        allowlist is blocked before the browser follows it.
        """

        guard: CdpRequestGuard | None = None
        if supports_cdp_guard(context):
            guard = CdpRequestGuard(context=context, allows=self.allows, on_block=self._block)
            await guard.start()

        async def handle(route: Route) -> None:
            request = route.request
            if not self.allows(request.url):
                self._block(request.url, "host not allowed")
                await route.abort("blockedbyclient")
                return
            covered = guard is not None and await guard.cover(request)
            # A request with a body (a form POST with files) cannot be replayed faithfully by
            # route.fetch: the browser does not hand over uploaded file contents.
            if covered or not request.is_navigation_request() or request.method not in ("GET", "HEAD"):
                await route.fallback()
                return
            try:
                response = await route.fetch(max_redirects=0)
            except PlaywrightError:
                await route.abort("failed")
                return
            location = response.headers.get("location")
            if 300 <= response.status < 400 and location:
                target = urljoin(request.url, location)
                if not self.allows(target):
                    self._block(target, f"redirect from {request.url}")
                    await route.abort("blockedbyclient")
                    return
            await route.fulfill(response=response)

        async def handle_socket(socket: WebSocketRoute) -> None:
            if self.allows(socket.url):
                socket.connect_to_server()
                return
            self._block(socket.url, "web socket to a host not allowed")
            await socket.close()

        await context.route("**/*", handle)
        await context.route_web_socket("**/*", handle_socket)
