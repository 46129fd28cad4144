// How busy the page looks: visible loading indicators, and how long ago the DOM last changed.
// Called as () => ({ ready, quietMs, busy: [descriptions] }).
() => {
  const key = '__operatorAgentSkillsIdle';
  const now = performance.now();
  let fresh = false;
  if (!window[key]) {
    fresh = true;
    const state = { last: now };
    new MutationObserver(() => { state.last = performance.now(); })
      .observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    Object.defineProperty(window, key, { value: state, enumerable: false });
  }
  let quietMs = now - window[key].last;
  if (fresh) {
    // Nothing was watched before now: count from the end of the load event, if it has ended.
    const nav = performance.getEntriesByType('navigation')[0];
    quietMs = document.readyState === 'complete' && nav && nav.loadEventEnd ? now - nav.loadEventEnd : 0;
  }
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
