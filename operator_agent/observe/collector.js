// The page-side half of an observation: one call per frame walks the rendered DOM (open shadow
// roots and slots included) and returns a compact tree that operator_agent/observe/nodes.py parses.
// In "outline" mode it stamps every listed element with its ref and keeps a registry on the window
// so the next observation can clear stale stamps; in "text" mode it only reads. How one element is
// read (role, name, states) lives in elements.js, sent along with this file.
//
// Node shapes (t = type):
//   line  {t:'line', p:[part]}            part = string | el
//   el    {t:'el', ref?, role, name, tag, ...}
//   h     {t:'h', lvl, p:[part]}
//   c     {t:'c', role, name, modal?, indent?, kids:[node]}   role '' = indentation only
//   item  {t:'item', kids:[node]}
//   seq   {t:'seq', kind, total, head:[[node]], tail:[[node]], tailStart, below}
//   table {t:'table', name, cols, header:[row], body:seq}   row = {t:'row', el?, cells:[[part]]}
//   frame {t:'frame', fi, name, src, blocked?}
function collect(root, o) {
  const isDoc = root.nodeType === 9;
  const doc = isDoc ? root : root.ownerDocument;
  const win = doc.defaultView;
  const vw = win.innerWidth;
  const vh = win.innerHeight;
  const outline = o.mode === 'outline';
  const INF = 1e9;
  const headRows = outline ? o.headRows : INF;
  const tailRows = outline ? o.tailRows : 0;
  const headItems = outline ? o.headItems : INF;
  const tailItems = outline ? o.tailItems : 0;

  let reg = null;
  try {
    reg = win[o.key];
  } catch (e) {
    reg = null;
  }
  if (!reg || typeof reg !== 'object' || !(reg.refs instanceof Map)) {
    reg = { refs: new Map(), frames: [], textFrames: [] };
    try {
      Object.defineProperty(win, o.key, { value: reg, configurable: true, writable: true, enumerable: false });
    } catch (e) {
      // A frozen window: refs still work for this observation, stale stamps are cleared by query.
    }
  }

  const {
    SKIP, INTERACTIVE, LEAF, NAME_FROM_CONTENT, CONTAINERS, LISTLIKE, jq, norm, clean, cut, style, kidsOf,
    parentOf, containsDeep, deepFromPoint, roleOf, nameOf, textOf, hasHandler, jqInfo, matchesAny,
    describe, described, shadowRoots,
  } = pageReader(doc, o);

  // Output sinks: a block sink groups inline content into lines; an inline sink (headings, cells)
  // flattens everything into one line.
  class Sink {
    constructor(inline) {
      this.nodes = [];
      this.line = null;
      this.inline = inline;
    }
    text(s) {
      if (!this.line) this.line = [];
      const l = this.line;
      if (typeof l[l.length - 1] === 'string') l[l.length - 1] += s;
      else l.push(s);
    }
    el(n, block) {
      if (block) this.flush();
      if (!this.line) this.line = [];
      this.line.push(n);
      if (block) this.flush();
    }
    flush() {
      if (this.inline) {
        if (this.line && this.line.length) this.text(' ');
        return;
      }
      if (this.line) {
        const l = this.line;
        this.line = null;
        if (l.some((p) => typeof p !== 'string' || p.trim())) this.nodes.push({ t: 'line', p: l });
      }
    }
    block(n) {
      this.flush();
      this.nodes.push(n);
    }
    done() {
      if (this.inline) return this.line || [];
      this.flush();
      return this.nodes;
    }
  }

  // Overlays: a fixed layer (not a dialog, not the page's own frame) under every sample point.
  // Modal dialogs are found during the walk; refs are given after it, once blockers are known.
  const t0 = performance.now();
  const overlays = new Set();
  const DIALOGS = 'dialog, [role="dialog"], [role="alertdialog"]';
  if (outline && isDoc) {
    const points = [[0.5, 0.5], [0.15, 0.15], [0.85, 0.15], [0.15, 0.85], [0.85, 0.85]];
    const roots = new Set();
    let covered = 0;
    for (const [fx, fy] of points) {
      const hit = deepFromPoint(vw * fx, vh * fy);
      let top = null;
      for (let n = hit; n && n.nodeType === 1; n = parentOf(n)) {
        if (n === doc.body || n === doc.documentElement) break;
        if (style(n).position === 'fixed') top = n;
      }
      if (!top) break; // one uncovered point is enough: no overlay
      covered += 1;
      roots.add(top);
    }
    if (covered === points.length) {
      const main = doc.querySelector('main, [role="main"]');
      const total = doc.getElementsByTagName('*').length;
      for (const r of roots) {
        if (main && r.contains(main)) continue;
        if (r.getElementsByTagName('*').length > total * 0.5) continue;
        if (r.matches(DIALOGS) || r.closest(DIALOGS) || r.querySelector(DIALOGS)) continue;
        overlays.add(r);
      }
    }
  }
  const blockers = Array.from(overlays);
  let nativeModal = false;

  function usable(el, rect) {
    if (o.blockedAll) return false;
    if (!blockers.length) return true;
    for (const b of blockers) if (containsDeep(b, el)) return true;
    if (nativeModal) return false;
    if (rect.bottom <= 0 || rect.top >= vh || rect.right <= 0 || rect.left >= vw) return false;
    const x = Math.min(Math.max((rect.left + rect.right) / 2, 0), vw - 1);
    const y = Math.min(Math.max((rect.top + rect.bottom) / 2, 0), vh - 1);
    const hit = deepFromPoint(x, y);
    return !!hit && containsDeep(el, hit);
  }

  const listed = new Map();
  const pending = [];
  const pendingFrames = [];
  const frames = [];
  const dialogsOut = [];
  let below = 0;
  let right = 0;
  let rowsBelow = 0;

  function list(el, n, rect) {
    if (rect.top >= vh) below += 1;
    else if (rect.left >= vw) right += 1;
    if (outline) pending.push([el, n, rect]);
    return n;
  }

  function countBelow(els) {
    // Items are laid out top to bottom: binary search for the first one below the viewport.
    let lo = 0;
    let hi = els.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (els[mid].getBoundingClientRect().top >= vh) hi = mid;
      else lo = mid + 1;
    }
    return els.length - lo;
  }
  function rendered(el) {
    return el.checkVisibility() || style(el).display === 'contents';
  }

  function isSrOnly(st, r) {
    if (st.clip === 'rect(0px, 0px, 0px, 0px)' || (st.clipPath && st.clipPath.startsWith('inset(50%'))) return true;
    if (r.right + win.scrollX <= 0 || r.bottom + win.scrollY <= 0) return true;
    return st.overflow !== 'visible' && r.width <= 1 && r.height <= 1;
  }
  const clipsAxis = (v) => v === 'hidden' || v === 'clip';

  // A hidden native control with a visible label: the label is what a person clicks.
  function proxyControl(label) {
    const c = label.control;
    if (!c || c.disabled === undefined) return null;
    const t = c.localName === 'input' ? c.type : '';
    if (t !== 'checkbox' && t !== 'radio' && t !== 'file') return null;
    const cst = style(c);
    if (cst.display === 'none' || cst.visibility !== 'visible') return c;
    const r = c.getBoundingClientRect();
    return r.width <= 1 || r.height <= 1 || isSrOnly(cst, r) ? c : null;
  }

  // An icon: listed when it acts on click, else only its label (if any) is text.
  function walkSvg(el, ctx, sink) {
    if (el.getAttribute('aria-hidden') === 'true') return;
    const st = style(el);
    if (st.display === 'none' || st.visibility !== 'visible' || ctx.transparent) return;
    const jqi = jqInfo(el);
    const clickable = hasHandler(el) || (jqi && jqi.direct) || (ctx.deleg.length && matchesAny(el, ctx.deleg)) ||
      (st.cursor === 'pointer' && !ctx.ptr && !ctx.leaf);
    const titleEl = el.querySelector('title');
    const label = clean(el.getAttribute('aria-label') || (titleEl ? titleEl.textContent : ''));
    if (clickable) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) {
        const n = describe(el, 'svg', 'generic', st, null);
        if (label) {
          n.name = cut(label, o.maxName);
          delete n.hint;
        }
        sink.el(list(el, n, r), false);
        return;
      }
    }
    if (label && ctx.show) sink.text(' ' + label + ' ');
  }

  function walkKids(node, ctx, sink) {
    for (const k of kidsOf(node)) walk(k, ctx, sink);
  }

  function walk(node, ctx, sink) {
    if (node.nodeType === 3) {
      if (ctx.show) {
        const t = norm(node.data);
        if (t) sink.text(t);
      }
      return;
    }
    if (node.nodeType === 11) {
      walkKids(node, ctx, sink);
      return;
    }
    if (node.nodeType !== 1) return;
    const el = node;
    const tag = el.localName;
    if (SKIP.has(tag)) return;
    if (el.shadowRoot && outline) shadowRoots.push(el.shadowRoot);
    if (tag === 'svg') {
      walkSvg(el, ctx, sink);
      return;
    }
    if (tag === 'input' && el.type === 'hidden') return;
    const st = style(el);
    const disp = st.display;
    if (disp === 'none') return;
    if (el.getAttribute('aria-hidden') === 'true' || el.inert) return;
    let c = ctx;
    const vis = st.visibility === 'visible';
    const pos = st.position;
    let rect = null;
    const R = () => rect || (rect = el.getBoundingClientRect());
    if (pos === 'absolute' || pos === 'fixed') {
      if (isSrOnly(st, R())) return;
      if (c.clips.length) {
        // Overflow clips an absolute box only if the clipping element holds its containing block.
        const cb = pos === 'fixed' ? null : el.offsetParent;
        const kept = cb ? c.clips.filter((k) => k.el === cb || containsDeep(k.el, cb)) : [];
        if (kept.length !== c.clips.length) c = { ...c, clips: kept };
      }
    }
    if (c.clips.length && disp !== 'contents') {
      const r = R();
      if (r.width > 0 || r.height > 0) {
        for (const k of c.clips) {
          if (r.right <= k.l || r.left >= k.r || r.bottom <= k.t || r.top >= k.b) return;
        }
      }
    }
    const cx = clipsAxis(st.overflowX);
    const cy = clipsAxis(st.overflowY);
    if ((cx || cy) && tag !== 'html' && tag !== 'body') {
      const r = R();
      if ((cx && r.width < 1) || (cy && r.height < 1)) return;
      const k = {
        el, l: cx ? r.left : -INF, r: cx ? r.right : INF, t: cy ? r.top : -INF, b: cy ? r.bottom : INF,
      };
      c = { ...c, clips: c.clips.concat([k]) };
    }
    if (st.contentVisibility === 'hidden') return;
    const transparent = c.transparent || st.opacity === '0';
    if (vis !== c.vis || transparent !== c.transparent) {
      c = { ...c, vis, transparent, show: vis && !transparent && !c.suppress };
    }
    const role = roleOf(el, tag);
    const inlineDisp = disp.startsWith('inline') || disp === 'contents';

    // Dialogs and overlays are lifted out of the page and shown first.
    const dialogLike = role === 'dialog' || role === 'alertdialog' || overlays.has(el);
    if (dialogLike && outline && !c.inDialog && !sink.inline && vis) {
      const r = R();
      if (r.width > 0 && r.height > 0) {
        let modal = false;
        try {
          modal = el.matches(':modal');
        } catch (e) {
          modal = false;
        }
        if (modal) nativeModal = true;
        modal = modal || el.getAttribute('aria-modal') === 'true' || overlays.has(el);
        if (modal && !overlays.has(el)) blockers.push(el);
        const inner = new Sink(false);
        walkKids(el, { ...c, inDialog: true, suppress: false, show: true }, inner);
        const kids = inner.done();
        if (kids.length) {
          dialogsOut.push({
            t: 'c', role: overlays.has(el) ? 'overlay' : role, name: nameOf(el, tag, role), modal: modal ? 1 : 0, kids,
          });
        }
        return;
      }
    }

    if (tag === 'iframe' || tag === 'frame') {
      const r = R();
      if (!vis || transparent || r.width < 1 || r.height < 1) return;
      const fnode = { t: 'frame', fi: frames.length, name: nameOf(el, tag, role), src: cut(el.src || '', 200) };
      frames.push(el);
      if (outline) pendingFrames.push([el, fnode, r]);
      sink.block(fnode);
      return;
    }

    if (tag === 'img') {
      const alt = clean(el.getAttribute('alt'));
      if (!alt && !hasHandler(el)) return;
    }

    // Is this element something a person can use?
    let reason = '';
    let control = null;
    let deleg = c.deleg;
    const jqi = jqInfo(el);
    if (jqi && jqi.delegated.length) deleg = deleg.concat(jqi.delegated);
    if (tag === 'label') control = proxyControl(el);
    if (control) reason = 'proxy';
    else if (INTERACTIVE.has(role)) reason = 'role';
    else if (tag === 'select') reason = 'role';
    else if (hasHandler(el) || (jqi && jqi.direct) || (c.deleg.length && matchesAny(el, c.deleg))) reason = 'handler';
    else if (st.cursor === 'pointer' && !c.ptr && !c.leaf && tag !== 'html' && tag !== 'body' && tag !== 'label' && tag !== 'img') reason = 'pointer';

    const isTable = (tag === 'table' || role === 'table' || role === 'grid' || role === 'treegrid') && !sink.inline && isDataTable(el, tag, role);
    if (reason && !isTable) {
      const r = R();
      const canSee = c.vis && (!transparent || tag === 'input' || tag === 'select' || tag === 'textarea' || control);
      if (canSee && r.width > 0 && r.height > 0 && el.checkVisibility()) {
        let elRole = role;
        if (control) elRole = roleOf(control, control.localName);
        else if (reason !== 'role' && !INTERACTIVE.has(role)) elRole = 'generic';
        const n = list(el, describe(el, tag, elRole, st, control), r);
        sink.el(n, !inlineDisp);
        if (tag === 'input' || tag === 'select' || tag === 'textarea' || control || tag === 'img') return;
        const fromContent = NAME_FROM_CONTENT.has(elRole) && !el.hasAttribute('aria-label') && !el.hasAttribute('aria-labelledby');
        const kidCtx = {
          ...c,
          deleg,
          suppress: c.suppress || fromContent,
          show: c.show && !fromContent,
          ptr: st.cursor === 'pointer',
          leaf: c.leaf || LEAF.has(elRole),
          inItem: elRole === 'treeitem' ? true : c.inItem,
        };
        if (el.isContentEditable && elRole === 'textbox') return;
        walkKids(el, kidCtx, sink);
        if (!inlineDisp) sink.flush();
        return;
      }
    }
    if (deleg !== c.deleg) c = { ...c, deleg };
    if (c.ptr && st.cursor !== 'pointer') c = { ...c, ptr: false };

    if (tag === 'label' && el.control && !c.suppress && !sink.inline) {
      // The field's name carries the label text; keep what the label holds besides text.
      if (!inlineDisp) sink.flush();
      walkKids(el, { ...c, show: false, suppress: true }, sink);
      if (!inlineDisp) sink.flush();
      return;
    }
    if (described.has(el) && !el.querySelector('a, button, input, select, textarea, [role], [onclick], [tabindex]')) {
      // Shown with the field it describes (description or error message).
      return;
    }
    if (tag === 'legend' && el.parentElement && el.parentElement.localName === 'fieldset' && !sink.inline) return;
    if (tag === 'caption') return;
    if (tag === 'textarea' || tag === 'select' || tag === 'input' || tag === 'button') return;
    if (tag === 'img') {
      if (c.show) sink.text(' [image: ' + cut(clean(el.getAttribute('alt')), 80) + '] ');
      return;
    }

    if (sink.inline) {
      if (!inlineDisp) sink.flush();
      walkKids(el, c, sink);
      if (!inlineDisp) sink.flush();
      return;
    }
    if (isTable) {
      walkTable(el, tag, role, c, sink);
      return;
    }
    if (role === 'heading') {
      const hs = new Sink(true);
      walkKids(el, c, hs);
      const p = hs.done();
      if (p.length) {
        const lvl = parseInt(el.getAttribute('aria-level') || tag.slice(1), 10) || 2;
        sink.block({ t: 'h', lvl: Math.min(Math.max(lvl, 1), 6), p });
      }
      return;
    }
    if (tag === 'details' && !el.open) {
      // A closed disclosure shows only its summary.
      const summary = Array.from(el.children).find((k) => k.localName === 'summary');
      if (summary) walk(summary, c, sink);
      return;
    }
    if (role === 'listitem' || (tag === 'li' && !role) || tag === 'dt') {
      const inner = new Sink(false);
      walkKids(el, { ...c, inItem: true }, inner);
      const kids = inner.done();
      if (kids.length) sink.block({ t: 'item', kids });
      return;
    }
    const listLike = LISTLIKE.has(role) || tag === 'ul' || tag === 'ol' || tag === 'dl';
    const named = role && CONTAINERS.has(role) && (role !== 'group' || el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby') || tag === 'fieldset');
    let target = sink;
    let wrap = null;
    if (named) {
      const name = nameOf(el, tag, role);
      if (role !== 'group' || name) {
        wrap = { t: 'c', role, name, kids: [] };
        if (tag === 'details') wrap.st = [el.open ? 'expanded' : 'collapsed'];
      }
    }
    if (!wrap && listLike && c.inItem) wrap = { t: 'c', role: '', name: '', kids: [] };
    const kidCtx = c.inItem && (listLike || wrap) ? { ...c, inItem: false } : c;
    if (wrap) target = new Sink(false);
    else if (!inlineDisp) sink.flush();
    if (!walkSeq(el, tag, role, listLike, kidCtx, target)) walkKids(el, kidCtx, target);
    if (wrap) {
      wrap.kids = target.done();
      if (wrap.kids.length) sink.block(wrap);
    } else if (!inlineDisp) {
      sink.flush();
    }
  }

  // Long lists (and long runs of repeated blocks) keep their head and tail; the rest is counted.
  function walkSeq(el, tag, role, listLike, ctx, sink) {
    const kids = el.shadowRoot ? null : el.children;
    if (!kids || kids.length < 8) return false;
    if (!listLike) {
      if (kids.length < o.repeatMin) return false;
      // Rows of a long form are not a list to skim: never cut fields away here.
      if (el.querySelector('input:not([type="hidden"]), select, textarea')) return false;
      const first = kids[0].localName;
      let same = 0;
      for (const k of kids) if (k.localName === first) same += 1;
      if (same < kids.length * 0.8 || style(el).display.startsWith('inline')) return false;
    }
    const vis = [];
    for (const k of kids) {
      const kt = k.localName;
      if (kt === 'script' || kt === 'template' || kt === 'style') continue;
      if (rendered(k)) vis.push(k);
    }
    const n = vis.length;
    const truncate = n > headItems + tailItems + 2;
    const head = truncate ? vis.slice(0, headItems) : vis;
    const tailStart = truncate ? n - tailItems : n;
    const tail = truncate ? vis.slice(tailStart) : [];
    const render = (k) => {
      const s = new Sink(false);
      walk(k, ctx, s);
      return s.done();
    };
    sink.block({
      t: 'seq', kind: 'items', total: n, head: head.map(render), tail: tail.map(render), tailStart,
      below: outline ? countBelow(vis) : 0,
    });
    return true;
  }

  function cellsOf(row, native) {
    if (native) return Array.from(row.cells);
    return Array.from(row.children).filter((k) => {
      const r = (k.getAttribute('role') || '').trim();
      return r === 'cell' || r === 'gridcell' || r === 'columnheader' || r === 'rowheader';
    });
  }
  function isDataTable(el, tag, role) {
    if (role === 'table' || role === 'grid' || role === 'treegrid') return true;
    if (tag !== 'table' || role) return false;
    if (el.tHead || el.caption || el.querySelector(':scope > tbody > tr > th, :scope > tr > th')) return true;
    if (el.querySelector('table')) return false;
    const rows = el.rows;
    if (rows.length < 2) return false;
    return rows[0].cells.length >= 2;
  }

  function walkTable(el, tag, role, ctx, sink) {
    const native = tag === 'table';
    let rows;
    if (native) rows = Array.from(el.rows);
    else {
      rows = Array.from(el.querySelectorAll('[role="row"]')).filter(
        (r) => r.parentElement && r.parentElement.closest('table, [role="table"], [role="grid"], [role="treegrid"]') === el);
    }
    const visRows = rows.filter(rendered);
    const header = [];
    const body = [];
    const isHead = (cell) => cell.localName === 'th' || (cell.getAttribute('role') || '') === 'columnheader';
    for (const r of visRows) {
      const section = r.parentElement ? r.parentElement.localName : '';
      if (section === 'thead') header.push(r);
      else if (body.length === 0 && header.length < 3 && section !== 'tbody' && cellsOf(r, native).every(isHead)) header.push(r);
      else if (body.length === 0 && header.length === 0 && cellsOf(r, native).length && cellsOf(r, native).every(isHead)) header.push(r);
      else body.push(r);
    }
    let cols = 0;
    for (const r of visRows.slice(0, 50)) cols = Math.max(cols, cellsOf(r, native).length);
    const n = body.length;
    const truncate = n > headRows + tailRows + 2;
    const head = truncate ? body.slice(0, headRows) : body;
    const tailStart = truncate ? n - tailRows : n;
    const tail = truncate ? body.slice(tailStart) : [];
    const rowNode = (r) => renderRow(r, native, ctx);
    const b = outline && isDoc ? countBelow(body) : 0;
    rowsBelow += b;
    const node = {
      t: 'table', name: nameOf(el, tag, role || 'table'), cols,
      header: header.map(rowNode).filter(Boolean),
      body: { t: 'seq', kind: 'rows', total: n, head: head.map((r) => [rowNode(r)]).filter((x) => x[0]), tail: tail.map((r) => [rowNode(r)]).filter((x) => x[0]), tailStart, below: b },
    };
    sink.block(node);
  }

  function renderRow(r, native, ctx) {
    const st = style(r);
    if (st.display === 'none' || r.getAttribute('aria-hidden') === 'true') return null;
    const vis = st.visibility === 'visible';
    let c = ctx.vis === vis ? ctx : { ...ctx, vis, show: vis && !ctx.transparent && !ctx.suppress };
    const node = { t: 'row', cells: [] };
    const jqi = jqInfo(r);
    const clickable = hasHandler(r) || (jqi && jqi.direct) || (c.deleg.length && matchesAny(r, c.deleg)) ||
      (st.cursor === 'pointer' && !c.ptr) || INTERACTIVE.has((r.getAttribute('role') || '').trim());
    if (jqi && jqi.delegated.length) c = { ...c, deleg: c.deleg.concat(jqi.delegated) };
    if (clickable && vis) {
      const rect = r.getBoundingClientRect();
      if (rect.width > 0 && rect.height > 0) {
        const n = describe(r, r.localName, 'row', st, null);
        n.name = cut(clean(textOf(r, o.maxName * 2)), o.maxName);
        delete n.hint;
        node.el = list(r, n, rect);
        c = { ...c, ptr: st.cursor === 'pointer' };
      }
    }
    for (const cell of cellsOf(r, native)) {
      const s = new Sink(true);
      walk(cell, c, s);
      node.cells.push(s.done());
    }
    return node;
  }

  const t1 = performance.now();
  // Walk.
  const baseCtx = {
    vis: true, show: true, transparent: false, suppress: false, ptr: false, leaf: false, inItem: false,
    inDialog: false, clips: [], deleg: [],
  };
  if (jq && isDoc) {
    for (const holder of [doc, win]) {
      const info = jqInfo(holder);
      if (info && info.delegated.length) baseCtx.deleg = baseCtx.deleg.concat(info.delegated);
    }
  }
  const top = new Sink(false);
  if (isDoc) {
    if (doc.documentElement) walk(doc.documentElement, baseCtx, top);
  } else {
    // An element of the page: everything in it, dialogs included, read in place.
    walk(root, { ...baseCtx, inDialog: true }, top);
  }
  const body = top.done();

  const t2 = performance.now();
  // Refs in document order, only for what a person can use now (not what a modal covers).
  let counter = 0;
  for (const [el, n, rect] of pending) {
    if (usable(el, rect)) {
      counter += 1;
      n.ref = o.prefix + counter;
      listed.set(n.ref, el);
    } else {
      n.blocked = 1;
    }
  }
  for (const [el, fnode, rect] of pendingFrames) {
    if (!usable(el, rect)) fnode.blocked = 1;
  }
  // Stamp refs; clear stamps this observation did not give (stale, or planted by the page).
  if (outline) {
    const old = reg.refs;
    for (const [ref, el] of old) {
      if (listed.get(ref) !== el) {
        try {
          if (el.getAttribute(o.attr) === ref) el.removeAttribute(o.attr);
        } catch (e) {
          // Element gone: nothing to clear.
        }
      }
    }
    for (const scope of [doc].concat(shadowRoots)) {
      for (const el of scope.querySelectorAll('[' + o.attr + ']')) {
        const ref = el.getAttribute(o.attr);
        if (listed.get(ref) !== el) el.removeAttribute(o.attr);
      }
    }
    for (const [ref, el] of listed) {
      if (el.getAttribute(o.attr) !== ref) el.setAttribute(o.attr, ref);
    }
    reg.refs = listed;
  }
  if (outline) reg.frames = frames;
  else reg.textFrames = frames;

  const se = doc.scrollingElement || doc.documentElement;
  const t3 = performance.now();
  return {
    url: doc.URL,
    title: doc.title,
    dialogs: dialogsOut,
    body,
    blocked: blockers.length === 0 ? '' : blockers.some((b) => !overlays.has(b)) ? 'modal' : 'overlay',
    frames: frames.length,
    refs: listed.size,
    ms: { blockers: t1 - t0, walk: t2 - t1, stamp: t3 - t2 },
    scroll: {
      x: Math.round(win.scrollX), y: Math.round(win.scrollY),
      w: se ? se.scrollWidth : vw, h: se ? se.scrollHeight : vh, vw, vh,
      below, right, rows: rowsBelow,
    },
  };
}

// The result as JSON, immune to pages that patch prototypes (old Prototype.js adds
// Array.prototype.toJSON, which would turn every nested array into a string).
function collectJson(root, o) {
  const result = collect(root, o);
  const protos = [Array.prototype, Object.prototype, String.prototype];
  const saved = protos.map((p) => Object.getOwnPropertyDescriptor(p, 'toJSON'));
  saved.forEach((d, i) => d && delete protos[i].toJSON);
  try {
    return JSON.stringify(result);
  } finally {
    saved.forEach((d, i) => d && Object.defineProperty(protos[i], 'toJSON', d));
  }
}
