// The page-side reading of single elements for operator_agent/observe/collector.js: roles,
// accessible names, states, values, click handlers, and the composed tree (shadow roots, slots).
// `collect` calls `pageReader(doc, o)` once per call; both files are sent to the page together.
function pageReader(doc, o) {
  const win = doc.defaultView;
  const SKIP = new Set(['script', 'style', 'noscript', 'template', 'head', 'meta', 'link', 'title',
    'datalist', 'option', 'optgroup', 'param', 'source', 'track', 'base', 'math', 'canvas', 'map',
    'object', 'embed', 'audio', 'video', 'picture', 'br', 'wbr', 'col', 'colgroup']);
  const INTERACTIVE = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'textbox', 'searchbox',
    'combobox', 'slider', 'spinbutton', 'option', 'menuitem', 'menuitemcheckbox', 'menuitemradio', 'tab',
    'treeitem', 'scrollbar']);
  // Controls whose content is their name: a cursor inside them is theirs, not another control's.
  const LEAF = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'option', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'tab', 'searchbox', 'textbox', 'combobox', 'slider', 'spinbutton']);
  const NAME_FROM_CONTENT = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'treeitem', 'generic', 'heading', 'cell', 'gridcell',
    'columnheader', 'rowheader', 'row', 'tooltip']);
  const CONTAINERS = new Set(['navigation', 'main', 'banner', 'contentinfo', 'complementary', 'region',
    'search', 'form', 'radiogroup', 'tablist', 'tabpanel', 'menu', 'menubar', 'listbox', 'tree', 'toolbar',
    'alert', 'status', 'dialog', 'alertdialog', 'group']);
  const LISTLIKE = new Set(['list', 'listbox', 'menu', 'menubar', 'tree', 'group', 'tablist', 'radiogroup',
    'feed', 'rowgroup']);
  const HANDLER_ATTRS = ['onclick', 'onmousedown', 'onmouseup', 'onpointerdown', 'onpointerup', 'ondblclick'];
  const JQ_EVENTS = ['click', 'mousedown', 'mouseup', 'pointerdown', 'pointerup', 'dblclick', 'touchstart'];

  const norm = (s) => (s || '').replace(/[\s\u00a0]+/g, ' ');
  const clean = (s) => norm(s).trim();
  const cut = (s, n) => (s.length > n ? s.slice(0, Math.max(0, n - 1)).trimEnd() + '…' : s);
  const style = (el) => win.getComputedStyle(el);

  let jq = null;
  try {
    const cand = win.jQuery;
    if (typeof cand === 'function' && typeof cand._data === 'function') jq = cand;
  } catch (e) {
    jq = null;
  }

  // Composed tree helpers: walk what is rendered (shadow roots, slot assignments).
  const shadowRoots = [];
  function kidsOf(node) {
    if (node.nodeType === 1) {
      if (node.shadowRoot) return node.shadowRoot.childNodes;
      if (node.localName === 'slot') {
        const assigned = node.assignedNodes();
        return assigned.length ? assigned : node.childNodes;
      }
    }
    return node.childNodes;
  }
  function parentOf(node) {
    if (node.assignedSlot) return node.assignedSlot;
    const p = node.parentNode;
    if (p && p.nodeType === 11 && p.host) return p.host;
    return p;
  }
  function containsDeep(ancestor, node) {
    for (let n = node; n; n = parentOf(n)) if (n === ancestor) return true;
    return false;
  }
  function deepActive() {
    let a = doc.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a;
  }
  function deepFromPoint(x, y) {
    let hit = doc.elementFromPoint(x, y);
    for (let i = 0; hit && hit.shadowRoot && i < 20; i++) {
      const inner = hit.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === hit) break;
      hit = inner;
    }
    return hit;
  }
  function byId(el, id) {
    const rootNode = el.getRootNode();
    return (rootNode.getElementById ? rootNode.getElementById(id) : null) || doc.getElementById(id);
  }
  const described = new Set();
  function markDescribed(el, attrName) {
    const ids = (el.getAttribute(attrName) || '').trim();
    if (!ids) return;
    for (const id of ids.split(/\s+/)) {
      const t = byId(el, id);
      if (t) described.add(t);
    }
  }
  function idsText(el, attrName) {
    const ids = (el.getAttribute(attrName) || '').trim();
    if (!ids) return '';
    const parts = [];
    for (const id of ids.split(/\s+/)) {
      const t = byId(el, id);
      if (t) parts.push(t.getAttribute('aria-label') || t.textContent || '');
    }
    return clean(parts.join(' '));
  }

  const active = deepActive();

  function inputRole(el) {
    const t = el.type;
    if (t === 'hidden') return 'hidden';
    if (t === 'button' || t === 'submit' || t === 'reset' || t === 'image' || t === 'file' || t === 'color') {
      return 'button';
    }
    if (t === 'checkbox') return el.hasAttribute('switch') ? 'switch' : 'checkbox';
    if (t === 'radio') return 'radio';
    if (t === 'range') return 'slider';
    if (t === 'number') return 'spinbutton';
    if (el.hasAttribute('list')) return 'combobox';
    return t === 'search' ? 'searchbox' : 'textbox';
  }
  function inSectioning(el) {
    for (let p = parentOf(el); p && p.nodeType === 1; p = parentOf(p)) {
      const tag = p.localName;
      if (tag === 'article' || tag === 'aside' || tag === 'main' || tag === 'nav' || tag === 'section') return true;
    }
    return false;
  }
  function roleOf(el, tag) {
    const explicit = (el.getAttribute('role') || '').trim().split(/\s+/)[0].toLowerCase();
    if (explicit && explicit !== 'presentation' && explicit !== 'none') return explicit;
    if (explicit && tag !== 'input' && tag !== 'select' && tag !== 'textarea' && tag !== 'button' && !(tag === 'a' && el.hasAttribute('href'))) {
      return '';
    }
    switch (tag) {
      case 'a': case 'area': return el.hasAttribute('href') ? 'link' : '';
      case 'button': return 'button';
      case 'input': return inputRole(el);
      case 'select': return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
      case 'textarea': return 'textbox';
      case 'summary': return el.parentElement && el.parentElement.localName === 'details' ? 'button' : '';
      case 'h1': case 'h2': case 'h3': case 'h4': case 'h5': case 'h6': return 'heading';
      case 'ul': case 'ol': case 'menu': return 'list';
      case 'li': return 'listitem';
      case 'nav': return 'navigation';
      case 'main': return 'main';
      case 'aside': return 'complementary';
      case 'header': return inSectioning(el) ? '' : 'banner';
      case 'footer': return inSectioning(el) ? '' : 'contentinfo';
      case 'form': return 'form';
      case 'search': return 'search';
      case 'section': return el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby') ? 'region' : '';
      case 'fieldset': case 'details': return 'group';
      case 'dialog': return 'dialog';
      case 'table': return 'table';
      case 'img': return el.getAttribute('alt') === '' ? '' : 'img';
      case 'iframe': case 'frame': return 'iframe';
      case 'tr': return 'row';
      case 'td': return 'cell';
      case 'th': return 'columnheader';
      default: break;
    }
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 'textbox';
    return '';
  }

  function hasHandler(el) {
    for (const a of HANDLER_ATTRS) {
      if (el.hasAttribute(a)) return true;
    }
    if (typeof el.onclick === 'function' || typeof el.onmousedown === 'function' ||
        typeof el.onmouseup === 'function' || typeof el.onpointerdown === 'function') {
      return true;
    }
    return false;
  }
  // jQuery keeps its handlers where page scripts can read them: direct ones make an element
  // clickable, delegated ones (with a selector) make matching descendants clickable.
  function jqEvents(el) {
    if (!jq) return null;
    try {
      return jq._data(el, 'events') || null;
    } catch (e) {
      return null;
    }
  }
  function jqInfo(el) {
    const events = jqEvents(el);
    if (!events) return null;
    let direct = false;
    const delegated = [];
    for (const type of JQ_EVENTS) {
      for (const h of events[type] || []) {
        if (h && h.selector) delegated.push(h.selector);
        else direct = true;
      }
    }
    return { direct, delegated };
  }
  function matchesAny(el, selectors) {
    for (const s of selectors) {
      try {
        if (el.matches(s)) return true;
      } catch (e) {
        // jQuery-only selector syntax: cannot be checked here.
      }
    }
    return false;
  }

  // Visible text of a subtree for accessible names: skips hidden parts and other controls.
  function textOf(el, limit) {
    let out = '';
    const visit = (node, top) => {
      if (out.length > limit) return;
      if (node.nodeType === 3) {
        out += node.data;
        return;
      }
      if (node.nodeType !== 1 && node.nodeType !== 11) return;
      if (node.nodeType === 1) {
        const tag = node.localName;
        if (tag === 'script' || tag === 'style' || tag === 'template' || tag === 'noscript') return;
        if (!top) {
          if (node.getAttribute('aria-hidden') === 'true') return;
          const st = style(node);
          if (st.display === 'none') return;
          const label = node.getAttribute('aria-label');
          if (tag === 'img' || tag === 'svg' || tag === 'input' || tag === 'select' || tag === 'textarea' || label) {
            const role = roleOf(node, tag);
            if (tag === 'input' || tag === 'select' || tag === 'textarea' || INTERACTIVE.has(role)) return;
            const alt = label || node.getAttribute('alt') || node.getAttribute('title') || '';
            if (alt && st.visibility === 'visible') out += ' ' + alt + ' ';
            return;
          }
          const role = roleOf(node, tag);
          if (INTERACTIVE.has(role) || hasHandler(node)) return;
          // Nested lists and groups (a tree node's children) are not part of the node's own name.
          if (role === 'group' || role === 'list' || role === 'tree') return;
          if (st.visibility !== 'visible') {
            for (const k of kidsOf(node)) if (k.nodeType === 1) visit(k, false);
            return;
          }
          const block = !st.display.startsWith('inline');
          if (block) out += ' ';
          for (const k of kidsOf(node)) visit(k, false);
          if (block) out += ' ';
          return;
        }
      }
      for (const k of kidsOf(node)) visit(k, false);
    };
    visit(el, true);
    return clean(out);
  }

  function labelsText(el) {
    const labels = el.labels;
    if (!labels || !labels.length) return '';
    const parts = [];
    for (const l of labels) parts.push(textOf(l, o.maxName * 2));
    return clean(parts.join(' '));
  }

  function nameOf(el, tag, role) {
    let name = idsText(el, 'aria-labelledby');
    if (!name) name = clean(el.getAttribute('aria-label'));
    if (!name) {
      if (tag === 'input' || tag === 'select' || tag === 'textarea') {
        const t = el.type;
        if (t === 'submit' || t === 'reset' || t === 'button') {
          name = clean(el.value) || (t === 'submit' ? 'Submit' : t === 'reset' ? 'Reset' : '');
        } else if (t === 'image') {
          name = clean(el.getAttribute('alt')) || 'Submit';
        } else {
          name = labelsText(el);
        }
      } else if (tag === 'img') {
        name = clean(el.getAttribute('alt'));
      } else if (tag === 'fieldset') {
        const legend = el.querySelector(':scope > legend');
        name = legend ? textOf(legend, o.maxName * 2) : '';
      } else if (tag === 'table') {
        name = el.caption ? textOf(el.caption, o.maxName * 2) : '';
      } else if (tag === 'iframe' || tag === 'frame') {
        name = clean(el.getAttribute('title') || el.getAttribute('name'));
      } else if (NAME_FROM_CONTENT.has(role)) {
        name = textOf(el, o.maxName * 2);
      }
    }
    if (!name) name = clean(el.getAttribute('title'));
    return cut(name, o.maxName);
  }

  // For an element without a name: what its markup says (an icon class, an id, its classes).
  const ICON = /(^|[-_])(icon|fa|bi|glyphicon|mdi|material)([-_]|$)|^fa[a-z]?-|^icon-|-icon$/;
  const classesOf = (el) => (typeof el.className === 'string' ? el.className : (el.getAttribute('class') || ''))
    .trim().split(/\s+/).filter(Boolean);
  function hintOf(el) {
    const parts = [];
    const href = el.localName === 'a' ? el.getAttribute('href') || '' : '';
    if (href && !href.startsWith('javascript:') && href !== '#') parts.push('href=' + cut(href, 60));
    else if (el.id && !/^[\d_-]|\d{4,}/.test(el.id)) parts.push('#' + cut(el.id, 40));
    else {
      const cls = classesOf(el);
      if (cls.length) parts.push('.' + cut(cls.slice(0, 2).join('.'), 40));
    }
    const icon = el.querySelector('i[class], span[class], svg[class], use');
    if (icon) {
      const names = classesOf(icon).filter((k) => ICON.test(k) && !/^(fa|fas|far|fab|bi|icon|material-icons)$/.test(k));
      const use = icon.localName === 'use' ? icon.getAttribute('href') || icon.getAttribute('xlink:href') || '' : '';
      if (names.length) parts.push('icon ' + cut(names.slice(0, 2).join(' '), 40));
      else if (use) parts.push('icon ' + cut(use.replace(/^.*#/, ''), 40));
    }
    return parts.join(' ');
  }

  function isSecret(el, st) {
    if (el.localName === 'input' && el.type === 'password') return true;
    if (el.hasAttribute(o.secretAttr)) return true;
    const sec = st.webkitTextSecurity;
    return !!sec && sec !== 'none';
  }

  function invalidOf(el, tag) {
    const ai = el.getAttribute('aria-invalid');
    if (ai && ai !== 'false') {
      return idsText(el, 'aria-errormessage') || idsText(el, 'aria-describedby') || '';
    }
    if ((tag === 'input' || tag === 'select' || tag === 'textarea') && el.willValidate && !el.validity.valid) {
      let user = false;
      try {
        user = el.matches(':user-invalid');
      } catch (e) {
        user = false;
      }
      const typed = tag !== 'select' && el.type !== 'checkbox' && el.type !== 'radio' && el.value !== '';
      if (user || (typed && !el.validity.valueMissing)) return clean(el.validationMessage);
    }
    return null;
  }

  function checkedOf(el, tag, role) {
    if (tag === 'input' && (el.type === 'checkbox' || el.type === 'radio')) {
      return el.indeterminate ? 'mixed' : el.checked ? 'checked' : 'unchecked';
    }
    const ac = el.getAttribute('aria-checked');
    if (ac === 'true') return 'checked';
    if (ac === 'mixed') return 'mixed';
    if (ac === 'false' || role === 'checkbox' || role === 'radio' || role === 'switch') return 'unchecked';
    return '';
  }

  // Describe one listed element (ref assigned by the caller).
  function describe(el, tag, role, st, control) {
    const c = control || el;
    const ctag = c.localName;
    const n = { t: 'el', role: role || 'generic', name: nameOf(el, tag, role), tag };
    if (ctag === 'input') n.type = c.type;
    if (!n.name) {
      const hint = hintOf(el);
      if (hint) n.hint = hint;
    }
    const states = [];
    const chk = checkedOf(c, ctag, role);
    if (chk) states.push(chk);
    const ex = el.getAttribute('aria-expanded');
    if (ex === 'true') states.push('expanded');
    else if (ex === 'false') states.push('collapsed');
    else if (tag === 'summary' && el.parentElement) states.push(el.parentElement.open ? 'expanded' : 'collapsed');
    if (el.getAttribute('aria-selected') === 'true') states.push('selected');
    const pressed = el.getAttribute('aria-pressed');
    if (pressed === 'true') states.push('pressed');
    else if (pressed === 'mixed') states.push('pressed=mixed');
    const cur = el.getAttribute('aria-current');
    if (cur && cur !== 'false') states.push('current');
    let disabled = false;
    try {
      disabled = c.matches(':disabled');
    } catch (e) {
      disabled = false;
    }
    if (disabled || el.closest('[aria-disabled="true"]')) states.push('disabled');
    if (c.readOnly || el.getAttribute('aria-readonly') === 'true') states.push('readonly');
    if (c.required || el.getAttribute('aria-required') === 'true') states.push('required');
    const popup = el.getAttribute('aria-haspopup');
    if (popup && popup !== 'false' && role !== 'combobox') states.push('popup=' + (popup === 'true' ? 'menu' : popup));
    if (active && (active === el || active === c)) states.push('focused');
    if (states.length) n.st = states;

    const secret = isSecret(c, control ? style(c) : st);
    if (secret) n.secret = 1;
    if (ctag === 'input' || ctag === 'textarea') {
      const t = c.type;
      if (t === 'file') {
        const files = c.files ? Array.from(c.files).map((f) => f.name) : [];
        if (files.length) n.v = files.join(', ');
      } else if (t !== 'checkbox' && t !== 'radio' && t !== 'button' && t !== 'submit' && t !== 'reset' && t !== 'image') {
        if (secret) n.hv = c.value !== '' ? 1 : 0;
        else if (c.value !== '') n.v = cut(norm(c.value), o.maxValue);
        const ph = clean(c.getAttribute('placeholder'));
        if (ph && ph !== n.name && c.value === '') n.ph = cut(ph, o.maxName);
      }
      if (t === 'range') n.v = c.value + ' (' + (c.min || '0') + '–' + (c.max || '100') + ')';
    } else if (ctag === 'select') {
      const all = Array.from(c.options);
      const sel = all.filter((x) => x.selected).map((x) => clean(x.label || x.text));
      n.opts = { n: all.length, list: all.slice(0, o.maxOptions).map((x) => cut(clean(x.label || x.text), 60)), sel };
    } else if (role === 'textbox' || role === 'searchbox') {
      if (el.isContentEditable) {
        if (secret) n.hv = clean(el.textContent) ? 1 : 0;
        else {
          const v = clean(el.innerText);
          if (v) n.v = cut(v, o.maxValue);
        }
      }
      const ph = clean(el.getAttribute('aria-placeholder') || el.getAttribute('placeholder'));
      if (ph && !n.v) n.ph = cut(ph, o.maxName);
    } else if (role === 'slider' || role === 'spinbutton' || role === 'scrollbar' || role === 'progressbar') {
      const v = el.getAttribute('aria-valuetext') || el.getAttribute('aria-valuenow');
      if (v) n.v = cut(clean(v), o.maxValue);
    } else if (role === 'combobox') {
      const v = clean(el.getAttribute('aria-valuetext') || el.textContent);
      if (v && v !== n.name) n.v = cut(v, o.maxValue);
    }
    if (!n.name && n.ph) {
      // Like browsers, name an unlabelled field by its placeholder (and do not repeat it).
      n.name = n.ph;
      delete n.ph;
      delete n.hint;
    }
    const invalid = invalidOf(c, ctag);
    if (invalid !== null) n.inv = cut(invalid, 200);
    markDescribed(el, 'aria-describedby');
    markDescribed(el, 'aria-errormessage');
    const desc = idsText(el, 'aria-describedby') || (control ? idsText(c, 'aria-describedby') : '');
    if (desc && desc !== n.inv && desc !== n.name) n.desc = cut(desc, 160);
    return n;
  }

  return {
    SKIP, INTERACTIVE, LEAF, NAME_FROM_CONTENT, CONTAINERS, LISTLIKE, jq, norm, clean, cut, style, kidsOf,
    parentOf, containsDeep, deepFromPoint, roleOf, nameOf, textOf, hasHandler, jqInfo, matchesAny,
    isSecret, describe, described, shadowRoots,
  };
}
