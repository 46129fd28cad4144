// Read the data table a person would look at (the biggest visible one, or the one named by hint):
// its columns, rows, the link of each row, the sortable headers and the "next page" control.
// Called as ([attr, hint]) => { stamp, name, columns, rows, empty, next, sorters } or null.
([attr, hint]) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true })
    : el.getClientRects().length > 0;
  const stamp = (el) => {
    if (!el.getAttribute(attr)) el.setAttribute(attr, 't' + Math.random().toString(36).slice(2, 9));
    return el.getAttribute(attr);
  };
  const nameOf = (table) => {
    const caption = table.querySelector('caption');
    if (caption && clean(caption.textContent)) return clean(caption.textContent);
    if (table.getAttribute('aria-label')) return clean(table.getAttribute('aria-label'));
    if (table.getAttribute('aria-labelledby')) {
      const n = document.getElementById(table.getAttribute('aria-labelledby'));
      if (n) return clean(n.textContent);
    }
    let node = table;
    while (node && node !== document.body) {
      let prev = node.previousElementSibling;
      while (prev) {
        const h = prev.matches('h1, h2, h3, h4') ? prev : prev.querySelector('h1, h2, h3, h4');
        if (h) return clean(h.textContent);
        prev = prev.previousElementSibling;
      }
      node = node.parentElement;
    }
    return '';
  };
  const tables = Array.from(document.querySelectorAll('table, [role="table"], [role="grid"]'))
    .filter((t) => visible(t) && !t.closest('[role="dialog"] [role="grid"]') && !t.matches('.cal-grid'));
  const rowsOf = (t) => Array.from(t.querySelectorAll(':scope > tbody > tr, :scope > tr, [role="row"]'))
    .filter((r) => !r.closest('thead') && !r.querySelector('th[scope="col"]') && visible(r));
  let table = null;
  if (hint) {
    const wanted = hint.toLowerCase();
    table = tables.find((t) => nameOf(t).toLowerCase().includes(wanted)) || null;
  }
  if (!table) table = tables.slice().sort((a, b) => rowsOf(b).length - rowsOf(a).length)[0] || null;
  if (!table) return null;
  const headRow = table.querySelector('thead tr') || table.querySelector('[role="row"]');
  const heads = headRow ? Array.from(headRow.querySelectorAll('th, [role="columnheader"]')) : [];
  const columns = heads.map((h, i) => {
    let text = clean(h.innerText).replace(/[▲▼↑↓⇅⇵]+$/u, '').trim();
    if (!text) text = clean(h.textContent) || `column ${i + 1}`;
    return text;
  });
  const sorters = heads.map((h, i) => {
    const control = h.querySelector('a[href], button, [role="button"]');
    return control ? { column: columns[i], stamp: stamp(control), sort: h.getAttribute('aria-sort') || 'none' } : null;
  }).filter(Boolean);
  const rows = [];
  let empty = '';
  for (const r of rowsOf(table)) {
    const cells = Array.from(r.querySelectorAll(':scope > td, :scope > th, [role="cell"], [role="gridcell"]'));
    if (cells.length === 1 && columns.length > 1 && cells[0].colSpan > 1) {
      empty = clean(cells[0].innerText);
      continue;
    }
    const link = r.querySelector('a[href]');
    rows.push({ cells: cells.map((c) => clean(c.innerText)), link: link ? link.href : null });
  }
  // "Next page": rel=next, or a link/button named Next (not disabled), nearest after the table.
  const pagers = Array.from(document.querySelectorAll('a, button, [role="button"], [role="link"]')).filter((el) => {
    if (!visible(el) || el.getAttribute('aria-disabled') === 'true' || el.disabled) return false;
    const name = clean(el.getAttribute('aria-label') || el.innerText || el.title).toLowerCase();
    return el.rel === 'next' || /^(next( page)?|›|»|>|→)$/.test(name) || name === 'next page';
  });
  const next = pagers.find((el) => table.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) || pagers[0];
  return { stamp: stamp(table), name: nameOf(table), columns, rows, empty, next: next ? stamp(next) : null, sorters };
}
