// Describe the fields of the form a person would fill on this page, and stamp each one so that a
// skill can find it again with a CSS selector. Called as (root, [stampAttr, scopeHint]) => result.
//
// Result: { scope, fields: [...], groups: [...], buttons: [...] }. A field is one control (or one
// radio group); fields inside repeated rows (line items) belong to a group.
(root, [attr, scopeHint]) => {
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const visible = (el) => {
    if (!el || !el.isConnected) return false;
    if (el.checkVisibility) return el.checkVisibility({ visibilityProperty: true, opacityProperty: false });
    return el.getClientRects().length > 0;
  };
  let counter = 0;
  const stamp = (el) => {
    if (!el.getAttribute(attr)) el.setAttribute(attr, 'f' + (++counter) + '-' + Math.random().toString(36).slice(2, 6));
    return el.getAttribute(attr);
  };
  const textOf = (ids, doc) => ids.split(/\s+/).map((id) => {
    const n = doc.getElementById(id);
    return n ? clean(n.textContent) : '';
  }).filter(Boolean).join(' ');

  // The scope: the form with the most visible controls (or the one whose text mentions the hint).
  const controlsIn = (container) => Array.from(container.querySelectorAll(
    'input, textarea, select, [contenteditable=""], [contenteditable="true"], [role="combobox"], [role="textbox"]'
  )).concat(Array.from(container.querySelectorAll('*')).filter((n) => n.shadowRoot && n.tagName.includes('-')));
  let scope = root;
  if (!scope) {
    const forms = Array.from(document.querySelectorAll('form, [role="form"]')).filter(visible);
    let best = null;
    let bestScore = 0;
    for (const form of forms) {
      const count = controlsIn(form).filter((c) => {
        const t = (c.getAttribute('type') || '').toLowerCase();
        return t !== 'hidden' && t !== 'submit' && t !== 'button' && (visible(c) || t === 'file' ||
          t === 'checkbox' || t === 'radio');
      }).length;
      let score = count;
      if (scopeHint && clean(form.getAttribute('aria-label') + ' ' + (form.id || '') + ' ' +
          (form.querySelector('legend, h1, h2, h3') || {}).textContent).toLowerCase().includes(scopeHint.toLowerCase())) {
        score += 1000;
      }
      if (score > bestScore) { best = form; bestScore = score; }
    }
    scope = best || document.body;
  }

  const skipTypes = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
  const headerFor = (cell) => {
    const row = cell.parentElement;
    const table = cell.closest('table');
    if (!row || !table) return '';
    const index = Array.from(row.children).indexOf(cell);
    const head = table.querySelector('thead tr');
    if (!head || !head.children[index]) return '';
    return clean(head.children[index].textContent);
  };
  const nearbyText = (el) => {
    // A weak label: the text just before the control in its container (for unlabelled forms).
    let node = el;
    for (let depth = 0; depth < 3 && node; depth++) {
      let prev = node.previousElementSibling;
      while (prev) {
        const text = clean(prev.innerText || prev.textContent);
        if (text && text.length <= 60 && !prev.querySelector('input, select, textarea')) return text;
        if (text) break;
        prev = prev.previousElementSibling;
      }
      node = node.parentElement;
    }
    return '';
  };
  const labelsOf = (el, host) => {
    const out = [];
    const target = host || el;
    const doc = target.getRootNode && target.getRootNode().getElementById ? target.getRootNode() : document;
    if (target.getAttribute('aria-labelledby')) out.push(textOf(target.getAttribute('aria-labelledby'), doc));
    if (target.labels) for (const l of target.labels) out.push(clean(l.innerText || l.textContent));
    if (host && host.id) {
      for (const l of document.querySelectorAll('label[for="' + CSS.escape(host.id) + '"]')) out.push(clean(l.textContent));
    }
    for (const n of [target, el]) {
      if (n.getAttribute('aria-label')) out.push(clean(n.getAttribute('aria-label')));
      if (n.getAttribute('title')) out.push(clean(n.getAttribute('title')));
    }
    const wrapping = target.closest('label');
    if (wrapping) out.push(clean(wrapping.innerText || wrapping.textContent));
    return Array.from(new Set(out.filter(Boolean)));
  };
  const groupLabel = (container) => {
    const fieldset = container.closest('fieldset');
    if (fieldset && fieldset.querySelector('legend')) return clean(fieldset.querySelector('legend').textContent);
    const section = container.closest('section, [role="group"], [role="region"]');
    if (section) {
      if (section.getAttribute('aria-labelledby')) return textOf(section.getAttribute('aria-labelledby'), document);
      if (section.getAttribute('aria-label')) return clean(section.getAttribute('aria-label'));
      const h = section.querySelector('h1, h2, h3, h4');
      if (h) return clean(h.textContent);
    }
    return '';
  };

  const fields = [];
  const groups = new Map();
  const radios = new Map();
  const addButtonFor = (rows) => {
    // The "Add line" button: the nearest one outside the rows, looking outwards from the list.
    const addWords = /^\s*(\+\s*)?(add|new|insert)\b/i;
    let node = rows.closest('table, ul, ol, [role="grid"], [role="table"]') || rows;
    for (let depth = 0; depth < 5 && node && node !== document.body; depth++) {
      const hit = Array.from(node.querySelectorAll('button, [role="button"], input[type="button"], a'))
        .filter((b) => visible(b) && !rows.contains(b))
        .find((b) => addWords.test(clean(b.innerText || b.value || b.getAttribute('aria-label'))));
      if (hit) return hit;
      node = node.parentElement;
    }
    return null;
  };
  const rowOf = (el) => {
    const row = el.closest('tr, [role="row"], li');
    if (!row || !scope.contains(row)) return null;
    const inRow = row.querySelectorAll('input:not([type="hidden"]), select, textarea').length;
    return inRow >= 2 ? row : null;
  };

  const describe = (el, host) => {
    const tag = el.tagName.toLowerCase();
    const type = tag === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : '';
    const role = (el.getAttribute('role') || '').toLowerCase();
    let kind = 'text';
    if (tag === 'select') kind = 'select';
    else if (tag === 'textarea') kind = 'textarea';
    else if (type === 'checkbox') kind = 'checkbox';
    else if (type === 'radio') kind = 'radio';
    else if (type === 'file') kind = 'file';
    else if (['date', 'datetime-local', 'month', 'week', 'time'].includes(type)) kind = 'date';
    else if (role === 'combobox' || el.hasAttribute('list') || el.getAttribute('aria-autocomplete') ||
             el.getAttribute('aria-haspopup') === 'listbox') kind = 'combobox';
    else if (el.isContentEditable && tag !== 'input') kind = 'editable';
    const placeholder = el.getAttribute('placeholder') || (host && host.getAttribute('placeholder')) || '';
    if (kind === 'text' && /\b(dd|mm|yyyy|yy)\b/i.test(placeholder)) kind = 'date-text';
    const wrapper = el.closest('.date-picker, .dp-field, [data-datepicker], [class*="datepicker"], [class*="date-picker"]');
    if ((kind === 'text' || kind === 'date-text') && wrapper) kind = 'date-text';
    return { tag, type, role, kind, placeholder };
  };

  const considered = controlsIn(scope);
  for (const raw of considered) {
    let el = raw;
    let host = null;
    if (raw.shadowRoot && raw.tagName.includes('-')) {
      const inner = raw.shadowRoot.querySelector('input, textarea, select, [contenteditable="true"]');
      if (!inner) continue;
      host = raw;
      el = inner;
    }
    if (el.closest('template')) continue;
    const info = describe(el, host);
    if (skipTypes.has(info.type)) continue;
    const shown = visible(host || el);
    if (!shown && !['file', 'checkbox', 'radio'].includes(info.kind)) continue;
    if (!shown && !(el.labels && Array.from(el.labels).some(visible))) continue;
    if (el.closest('[aria-hidden="true"]') || (host || el).closest('.modal-backdrop[hidden], [hidden]')) continue;
    const name = (host || el).getAttribute('name') || el.getAttribute('name') || '';
    const labels = labelsOf(el, host);
    if (!labels.length) {
      const near = nearbyText(host || el);
      if (near) labels.push(near);
    }
    const base = {
      stamp: stamp(el), kind: info.kind, labels, name, id: (host || el).id || '', placeholder: info.placeholder,
      required: !!(el.required || (host && host.hasAttribute('required')) || el.getAttribute('aria-required') === 'true'),
      disabled: !!el.disabled || el.getAttribute('aria-disabled') === 'true',
      readonly: !!el.readOnly || el.getAttribute('aria-readonly') === 'true',
      value: info.kind === 'checkbox' ? String(el.checked) : (el.value !== undefined ? String(el.value) : clean(el.innerText)),
      host: host ? host.tagName.toLowerCase() : '',
      group: null, options: [],
    };
    if (info.kind === 'select') {
      base.options = Array.from(el.options).map((o) => ({ label: clean(o.label || o.textContent), value: o.value,
        disabled: o.disabled }));
    }
    const row = rowOf(host || el);
    if (row) {
      const container = row.parentElement;
      const gid = stamp(container);
      if (!groups.has(gid)) {
        const rows = Array.from(container.children).filter((r) => r.querySelector('input, select, textarea'));
        const add = addButtonFor(container);
        groups.set(gid, { stamp: gid, label: groupLabel(container), rows: rows.length,
          add: add ? stamp(add) : null, addLabel: add ? clean(add.innerText || add.value || add.getAttribute('aria-label')) : '' });
      }
      const rows = Array.from(container.children).filter((r) => r.querySelector('input, select, textarea'));
      const cell = (host || el).closest('td, th, [role="cell"], [role="gridcell"]');
      base.group = { stamp: gid, row: rows.indexOf(row), header: cell ? headerFor(cell) : '' };
      base.radioName = '';
    }
    if (info.kind === 'radio' && !row) {
      const key = name || base.stamp;
      if (!radios.has(key)) {
        const group = el.closest('[role="radiogroup"], fieldset') || el.parentElement;
        let label = '';
        if (group) {
          if (group.getAttribute('aria-labelledby')) label = textOf(group.getAttribute('aria-labelledby'), document);
          else if (group.getAttribute('aria-label')) label = clean(group.getAttribute('aria-label'));
          else if (group.tagName === 'FIELDSET' && group.querySelector('legend')) label = clean(group.querySelector('legend').textContent);
        }
        const entry = { ...base, kind: 'radio-group', labels: label ? [label] : [], options: [], stamp: stamp(group || el) };
        radios.set(key, entry);
        fields.push(entry);
      }
      radios.get(key).options.push({ label: labels[0] || el.value, value: el.value, stamp: base.stamp, checked: el.checked });
      continue;
    }
    fields.push(base);
  }

  // Buttons of the scope, for submitting.
  const buttons = Array.from(scope.querySelectorAll('button, input[type="submit"], input[type="button"], [role="button"]'))
    .filter(visible).map((b) => ({ stamp: stamp(b), label: clean(b.innerText || b.value || b.getAttribute('aria-label')),
      submit: (b.type || '').toLowerCase() === 'submit' }));
  return {
    scope: scope === document.body ? 'page' : (scope.id ? '#' + scope.id : scope.tagName.toLowerCase()),
    fields, groups: Array.from(groups.values()), buttons,
  };
}
