// Mark the button next to a date field that opens its calendar. Called as (field) => found.
(field) => {
  document.querySelectorAll('[data-oa-calendar-toggle]').forEach((b) => b.removeAttribute('data-oa-calendar-toggle'));
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true })
    : el.getClientRects().length > 0;
  let node = field.parentElement;
  for (let depth = 0; depth < 3 && node; depth++, node = node.parentElement) {
    const buttons = Array.from(node.querySelectorAll('button, [role="button"]')).filter(visible);
    const hit = buttons.find((b) => b.getAttribute('aria-haspopup') ||
      /calendar|date|choose|pick|open/i.test((b.getAttribute('aria-label') || '') + ' ' + (b.title || '') + ' ' + b.innerText));
    if (hit) { hit.setAttribute('data-oa-calendar-toggle', '1'); return true; }
  }
  return false;
}
