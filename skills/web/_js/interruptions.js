// Find what covers the page and is not part of the task: dialogs, modals and fixed banners.
// Called as (attr) => [{ stamp, title, text, modal, buttons: [{ stamp, label }] }].
(attr) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const visible = (el) => el.checkVisibility
    ? el.checkVisibility({ visibilityProperty: true, opacityProperty: true })
    : el.getClientRects().length > 0;
  const stamp = (el) => {
    if (!el.getAttribute(attr)) el.setAttribute(attr, 'i' + Math.random().toString(36).slice(2, 9));
    return el.getAttribute(attr);
  };
  const found = [];
  const seen = new Set();
  const consider = (el, modal) => {
    if (!visible(el) || seen.has(el)) return;
    for (const other of seen) if (other.contains(el) || el.contains(other)) return;
    seen.add(el);
    const heading = el.querySelector('h1, h2, h3, [role="heading"], legend');
    let title = '';
    if (el.getAttribute('aria-labelledby')) {
      title = el.getAttribute('aria-labelledby').split(/\s+/).map((id) => {
        const n = document.getElementById(id);
        return n ? n.textContent : '';
      }).join(' ');
    }
    title = clean(title || el.getAttribute('aria-label') || (heading && heading.textContent));
    const buttons = Array.from(el.querySelectorAll('button, [role="button"], a[href], input[type="button"], input[type="submit"]'))
      .filter(visible)
      .map((b) => ({ stamp: stamp(b), label: clean(b.innerText || b.value || b.getAttribute('aria-label') || b.title) }));
    found.push({ stamp: stamp(el), title, text: clean(el.innerText).slice(0, 400), modal, buttons });
  };
  for (const el of document.querySelectorAll('dialog[open], [role="dialog"], [role="alertdialog"], [aria-modal="true"]')) {
    consider(el, el.getAttribute('aria-modal') === 'true' || el.tagName === 'DIALOG');
  }
  // Fixed or sticky banners (cookie notices) that are not dialogs.
  for (const el of document.querySelectorAll('body *')) {
    const id = ((el.id || '') + ' ' + (typeof el.className === 'string' ? el.className : '')).toLowerCase();
    if (!/cookie|consent|gdpr|banner|popup|overlay|notice|toast/.test(id)) continue;
    const position = getComputedStyle(el).position;
    if (position !== 'fixed' && position !== 'sticky') continue;
    const inner = el.querySelector('[role="dialog"], [role="alertdialog"], [aria-modal="true"]');
    consider(inner || el, false);
  }
  return found;
}
