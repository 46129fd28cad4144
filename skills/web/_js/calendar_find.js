// Find the calendar popup nearest to a date field (a visible widget showing a month and year), stamp
// it, and read its heading. Called as ([field, attr]) => { stamp, heading } or null.
([field, attr]) => {
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true })
    : el.getClientRects().length > 0;
  const months = /(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4}/i;
  const candidates = Array.from(document.querySelectorAll(
    '[role="dialog"], [role="grid"], [role="application"], .calendar, [class*="calendar"], [class*="datepicker"], ' +
    '[class*="date-picker"], [class*="picker"] table'
  )).filter((el) => visible(el) && months.test(el.innerText || ''));
  if (!candidates.length) return null;
  // The calendar nearest to the field (a popup usually sits right under it).
  const box = field.getBoundingClientRect();
  candidates.sort((a, b) => {
    const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
    return Math.hypot(ra.x - box.x, ra.y - box.bottom) - Math.hypot(rb.x - box.x, rb.y - box.bottom);
  });
  let cal = candidates[0];
  while (cal.parentElement && cal.parentElement !== document.body &&
         !cal.querySelector('button, [role="button"]') ) cal = cal.parentElement;
  if (!cal.getAttribute(attr)) cal.setAttribute(attr, 'c' + Math.random().toString(36).slice(2, 8));
  const title = (cal.querySelector('[aria-live], .cal-title, [class*="title"], [class*="header"], caption, h2, h3') || cal);
  return { stamp: cal.getAttribute(attr), heading: (title.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 80) };
}
