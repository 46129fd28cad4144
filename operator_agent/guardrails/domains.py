"""Domain allowlist enforced at the network layer.

Four layers. Whatever any of them refuses is recorded in :attr:`DomainAllowlist.blocked`, which
the run reports to the model (as a notice) and to the trace, and logged.

- The floor, :class:`~operator_agent.guardrails.proxy.DomainProxy` (:meth:`DomainAllowlist.proxy`):
  a context created with it as its proxy (``BrowserSession.new_context(allowlist=...)``, which
  the agent uses) makes every connection through it, whatever starts it, and the proxy checks
  the host of each request (each ``CONNECT`` of ``https``/``ws``/``wss``, each plain ``http``
  request on a kept-alive connection) before anything leaves. It sees hosts only, so the layers
  above stay for what they add: a refused request's full URL for the model, and redirect hops
  checked before they are sent. Found by experiment (Chromium 156), with the proxy: a dedicated
  worker's web socket, the redirect hops of a page navigated as soon as it opens and of a popup
  upload form's first load, Playwright's own requests (``context.request``, ``route.fetch``),
  WebRTC over TCP (TURN, ICE-TCP) all go through it; Chromium does not send a speculation-rules
  prefetch (or prerender) of another site at all ("not eligible: existing proxy"), nor follow a
  prefetch's redirect to one; WebTransport opens no connection, to allowed hosts neither (QUIC
  is not carried by an HTTP proxy, and Playwright's request interception alone makes the
  handshake fail); WebRTC sends no UDP, because :func:`chromium_args
  <operator_agent.browser.discovery.chromium_args>` launches Chromium with
  ``--webrtc-ip-handling-policy=disable_non_proxied_udp``.
- Routing, in every browser: each request Playwright routes (page and frame navigations,
  sub-resources, fetch/XHR, the first request of a popup or ``window.open``, meta refresh) is
  checked by host and aborted when the host is not allowed. Web sockets of pages are routed too:
  a connection to another host is refused before it opens. A GET navigation the second layer did
  not see is fetched here without following redirects, so its first redirect is checked as well.
- Chromium only, :class:`~operator_agent.guardrails.cdp_guard.CdpRequestGuard`: the browser's own
  request interception checks every request of every page, popup and out-of-process frame of the
  context, and of their dedicated workers, *including each redirect hop*, before it is sent: a
  redirect answered to a form POST (multipart with files too), to an image, a script or a
  ``fetch()``, or the last hop of a chain, is failed before any byte reaches the other host.
  A popup's first load starts before the guard can watch the popup: it is stopped before it is
  sent and started again once the guard does (:mod:`operator_agent.guardrails.popup_loads`), so
  its redirect hops are checked too; the server receives it once.
- An init script in every document: pages cannot register service workers (whose requests the
  interception does not see) nor start shared workers (whose requests neither layer sees).

Not covered, with the proxy:

- The proxy checks hosts, not ports, and trusts the names: it connects to an allowed name
  wherever the system's DNS points it. A refused tunnel is recorded as ``host:port`` (the URL
  inside it is encrypted). A plain ``http`` navigation only the proxy refuses (the hops above)
  shows the proxy's ``403`` text at the refused URL, not the browser's error page.
- What the browser fetches for itself outside any context (component updates and other
  services of the browser process) is no context's traffic and, by Chromium's design, does not
  use a context's proxy; :func:`chromium_args <operator_agent.browser.discovery.chromium_args>`
  turns those services off. Chromium's own requests made within the context go through the
  proxy and are refused without a notice (autofill predictions, for pages with forms).
- A browser launched without the WebRTC switch sends WebRTC UDP (STUN, connectivity checks)
  to any address.
- Firefox and WebKit were not tried with the proxy (this project drives Chromium); their contexts
  have the routing layer, and Chromium's ``<-loopback>`` rule means nothing to them.

Without the proxy (:meth:`DomainAllowlist.install` alone on a context made by the caller), the
following are also not covered: a speculation-rules prefetch (sent by the browser outside
routing and interception, redirects followed); web sockets of dedicated workers; WebRTC; the
redirect hops after the first of a page opened with ``context.new_page()`` and navigated at
once, and every redirect hop of a popup's first load that is a POST with a file picked from disk
(requests that start before their page is guarded); in Firefox and WebKit, redirects of form
POSTs and of sub-resources, and navigation hops after the first.

Resource hints (``<link rel=preconnect>``, ``dns-prefetch``, a pressed link) open no connection
in the off-the-record contexts runs use (Chromium 156; in a profile that keeps data, preconnects
do, and ``--dns-prefetch-disable`` does not stop them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from playwright.async_api import BrowserContext, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import ConfigurationError
from operator_agent.guardrails.cdp_guard import CdpRequestGuard, supports_cdp_guard
from operator_agent.guardrails.popup_loads import is_popup_first_load, relaunch_popup_load
from operator_agent.guardrails.proxy import DomainProxy
from operator_agent.logs import get_logger

__all__ = ["DomainAllowlist"]

_log = get_logger("operator_agent.guardrails")

# Schemes that never leave the machine and are part of how pages work.
_LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})

# Chromium's own services that it reaches through a context's proxy, for no page's sake (seen
# with Chromium 156: autofill predictions for each page with a form). The proxy refuses them like
# any other host, but the model and the trace are not told about them: no page asked for them.
_BROWSER_SERVICE_HOSTS = frozenset({"content-autofill.googleapis.com"})

# Runs in every document (and frame) before its own scripts. The requests of service workers
# escape the browser's interception (so the checks of their redirects), those of shared workers
# escape both layers: pages of the context get neither. A failed registration is an ordinary
# outcome for pages, and a missing ``SharedWorker`` an ordinary browser (feature detection).
# Playwright's ``service_workers="block"`` context option is an init script like this one.
_NO_BACKGROUND_WORKERS = """
if (self.ServiceWorkerContainer) {
  Object.defineProperty(ServiceWorkerContainer.prototype, "register", {
    value: function register() {
      const reason = "service workers are turned off by the domain allowlist";
      return Promise.reject(new DOMException(reason, "SecurityError"));
    },
    writable: false,
    configurable: false,
  });
}
delete self.SharedWorker;
"""


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
        return self.allows_host(parts.hostname or "")

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` (a name or an IP address, IPv6 without brackets) may be reached."""
        host = host.lower()
        return any(host == allowed or host.endswith("." + allowed) for allowed in self.hosts)

    def proxy(self) -> DomainProxy:
        """A :class:`~operator_agent.guardrails.proxy.DomainProxy` that enforces this allowlist.

        What it refuses is recorded in :attr:`blocked` like the other layers' refusals. Start it,
        and create the browser context with ``proxy=domain_proxy.settings()``;
        ``BrowserSession.new_context(allowlist=...)`` does both and closes it with the context.
        """
        return DomainProxy(allows_host=self.allows_host, on_block=self._block_in_proxy)

    def take_blocked(self) -> list[str]:
        """URLs blocked since the last call."""
        taken, self.blocked = self.blocked, []
        return taken

    def _block(self, url: str, why: str) -> None:
        self.blocked.append(url)
        _log.warning("request blocked by the domain allowlist", url=url, why=why)

    def _block_in_proxy(self, what: str, why: str) -> None:
        # ``what`` is a URL, or ``host:port`` for a tunnel.
        host = urlsplit(what if "://" in what else "//" + what).hostname or ""
        if host in _BROWSER_SERVICE_HOSTS:
            _log.debug("browser service request refused by the domain proxy", host=host)
            return
        self._block(what, why)

    async def install(self, context: BrowserContext) -> None:
        """Check every request and web socket of ``context`` against the allowlist (see the module).

        Call it before the context's pages start their work: requests already under way are not
        checked.

        Raises:
            BrowserError: Chromium refused the DevTools session that guards redirects.
        """
        await context.add_init_script(script=_NO_BACKGROUND_WORKERS)
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
            # A request the guard saw goes to the browser as it is: the guard checks its redirects.
            covered = guard is not None and await guard.cover(request)
            if guard is not None and not covered and is_popup_first_load(request):
                # The popup is guarded now (cover); its first load is sent again for the guard to see.
                outcome = await relaunch_popup_load(route, guard=guard)
                if outcome == "relaunched":
                    return
                if outcome == "failed":
                    self._block(request.url, "popup's first load could not be sent again under the guard")
                    return
            # Otherwise Playwright would follow its redirects unchecked: a GET navigation is fetched
            # here without following them. A request with a body (a form POST with files) cannot be
            # replayed faithfully by route.fetch: the browser does not hand over uploaded files.
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
