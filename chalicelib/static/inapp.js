// one2one in-app renderer: shows the messages tracker.js fetched from GET /v1/in-app (window.one2one.inApp) as a
// banner (top of the page), a modal dialog, or inline cards (into [data-o2o-placement="<placement>"]), and reports
// `In-App Message Viewed` / `Clicked` / `Dismissed` events. Loaded by tracker.js only when messages are waiting.
// Text only (textContent, never HTML from the API); links only to http(s) or same-site paths.
// inapp.min.js is built from this file (tests/unit/tracking/test_tracker_js.py fails while it is stale):
//   cd chalicelib/static && { printf '/*! one2one-inapp sha256:%s */\n' "$(sha256sum inapp.js | cut -c1-16)";
//   npx --yes terser@5.51.4 inapp.js -c -m; } > inapp.min.js
(function (w, d) {
  'use strict';
  var o = w.one2one, all = (o && o.inApp) || [];
  if (!all.length || d.querySelector('.o2o-inapp')) return;
  var CSS = '.o2o-inapp{font:15px/1.4 system-ui,sans-serif;box-sizing:border-box}' +
    '.o2o-banner{position:fixed;top:0;left:0;right:0;z-index:2147483000;background:#1d3557;color:#fff;padding:10px 48px 10px 16px}' +
    '.o2o-overlay{position:fixed;inset:0;z-index:2147483001;background:rgba(0,0,0,.5);display:flex;align-items:center;justify-content:center}' +
    '.o2o-modal{background:#fff;color:#222;max-width:420px;width:90%;padding:24px;border-radius:8px;position:relative}' +
    '.o2o-card{border:1px solid #ddd;border-radius:8px;padding:16px;position:relative}' +
    '.o2o-inapp img{max-width:100%}.o2o-btn{display:inline-block;margin:8px 8px 0 0;padding:6px 14px;border-radius:4px;' +
    'border:1px solid currentColor;background:none;color:inherit;cursor:pointer;text-decoration:none;font:inherit}' +
    '.o2o-close{position:absolute;top:6px;right:8px;border:0;background:none;color:inherit;font-size:22px;cursor:pointer}';

  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = String(text);
    return e;
  }

  function track(name, m, extra) {
    var p = { message_id: m.id, kind: m.kind };
    for (var k in extra || {}) p[k] = extra[k];
    o.track(name, p);
  }

  // Builds one message's box; `close` removes what was shown and reports the dismissal.
  function box(m, cls, close) {
    var b = el('div', 'o2o-inapp ' + cls), titleId = 'o2o-t-' + m.id;
    if (m.image_url && /^https:/.test(m.image_url)) { var img = el('img'); img.src = m.image_url; img.alt = ''; b.appendChild(img); }
    if (m.title) { var t = el(m.kind === 'banner' ? 'strong' : 'h2', 'o2o-title', m.title); t.id = titleId; b.appendChild(t); }
    if (m.body) b.appendChild(el(m.kind === 'banner' ? 'span' : 'p', 'o2o-body', (m.kind === 'banner' && m.title ? ' ' : '') + m.body));
    (m.buttons || []).forEach(function (k) {
      var safe = k.url && /^(https?:\/\/|\/(?!\/))/i.test(k.url), a;
      if (k.action === 'dismiss' || !safe) {
        a = el('button', 'o2o-btn', k.label);
        a.type = 'button';
        a.onclick = k.action === 'dismiss' ? close : function () { track('In-App Message Clicked', m, { button: k.label }); };
      } else {
        a = el('a', 'o2o-btn', k.label);
        a.href = k.url;
        a.onclick = function () { track('In-App Message Clicked', m, { button: k.label, url: k.url }); o.flush(); };
      }
      b.appendChild(a);
    });
    var x = el('button', 'o2o-close', '\u00d7');
    x.type = 'button';
    x.setAttribute('aria-label', 'Dismiss');
    x.onclick = close;
    b.appendChild(x);
    if (m.title) b.setAttribute('aria-labelledby', titleId);
    return b;
  }

  function show(m) {
    var node, before = d.activeElement, done = false;
    function close() {
      if (done) return;
      done = true;
      node.parentNode && node.parentNode.removeChild(node);
      d.removeEventListener('keydown', keys, true);
      track('In-App Message Dismissed', m);
      if (m.kind === 'modal' && before && before.focus) before.focus();
    }
    function keys(e) {
      // Esc closes the modal first when both are up, then the banner.
      if (e.defaultPrevented || (m.kind === 'banner' && d.querySelector('.o2o-overlay'))) return;
      if (e.key === 'Escape') { e.preventDefault(); close(); return; }
      if (e.key !== 'Tab' || m.kind !== 'modal') return;
      // Keep the focus inside the dialog while it is open.
      var f = node.querySelectorAll('a[href],button'), first = f[0], last = f[f.length - 1];
      if (e.shiftKey && d.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && d.activeElement === last) { e.preventDefault(); first.focus(); }
    }
    if (m.kind === 'card') {
      var slot = d.querySelector('[data-o2o-placement="' + String(m.placement).replace(/[^a-z0-9_-]/gi, '') + '"]');
      if (!slot) return;
      node = box(m, 'o2o-card', close);
      node.setAttribute('role', 'region');
      slot.appendChild(node);
    } else if (m.kind === 'modal') {
      var dialog = box(m, 'o2o-modal', close);
      dialog.setAttribute('role', 'dialog');
      dialog.setAttribute('aria-modal', 'true');
      node = el('div', 'o2o-inapp o2o-overlay');
      node.appendChild(dialog);
      node.onclick = function (e) { if (e.target === node) close(); };
      d.body.appendChild(node);
      var first = dialog.querySelector('a[href],button');
      if (first) first.focus();
    } else {
      node = box(m, 'o2o-banner', close);
      node.setAttribute('role', 'region');
      if (!m.title) node.setAttribute('aria-label', 'Message');
      d.body.insertBefore(node, d.body.firstChild);
    }
    d.addEventListener('keydown', keys, true);
    track('In-App Message Viewed', m);
  }

  var style = el('style');
  style.textContent = CSS;
  d.head.appendChild(style);
  // The highest-priority banner and modal (the API orders by priority), and every card that has its place.
  var seen = {};
  all.forEach(function (m) {
    if (m.kind === 'card' || !seen[m.kind]) { seen[m.kind] = 1; show(m); }
  });
})(window, document);
