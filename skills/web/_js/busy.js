// How busy the page looks: visible loading indicators, and how long ago the DOM last changed.
// Called as () => ({ ready, quietMs, busy: [descriptions] }).
() => {
  const key = '__operatorAgentSkillsIdle';
  const now = performance.now();
  if (!window[key]) {
    // Nothing was watched before now: count from the end of the load event, if it has ended, and
    // keep counting from there (later calls must agree with this one).
    const nav = performance.getEntriesByType('navigation')[0];
    const loaded = document.readyState === 'complete' && nav && nav.loadEventEnd ? nav.loadEventEnd : now;
    const state = { last: Math.min(loaded, now) };
    new MutationObserver(() => { state.last = performance.now(); })
      .observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    Object.defineProperty(window, key, { value: state, enumerable: false });
  }
  const quietMs = now - window[key].last;
  const visible = (el) => el.checkVisibility
    ? el.checkVisibility({ visibilityProperty: true, opacityProperty: true })
    : el.getClientRects().length > 0;
  const selectors = '[aria-busy="true"], [role="progressbar"], .spinner, .loading, .loader, ' +
    '[class*="spinner"], [class*="loading"], [data-loading="true"], .skeleton';
  const busy = [];
  for (const el of document.querySelectorAll(selectors)) {
    if (!visible(el)) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width < 2 || rect.height < 2) continue;
    const text = (el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 40);
    busy.push(el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\s+/).join('.') : '') + (text ? ' "' + text + '"' : ''));
    if (busy.length >= 5) break;
  }
  return { ready: document.readyState, quietMs, busy };
}
