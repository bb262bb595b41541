// one2one slots: fills elements marked data-o2o-slot="<slot id>" with GET /v1/personalize, records impressions and
// clicks as `Slot Viewed` / `Slot Clicked` events. Loaded by tracker.js only on pages that have slots; text only
// (textContent, never HTML from the API). A first page view asks without its brand-new anonymous id, so the answer
// is the same for every first visit and a CDN may cache it.
(function (w, d) {
  'use strict';
  var o = w.one2one, c = o && o.config && o.config();
  var els = [].slice.call(d.querySelectorAll('[data-o2o-slot]'));
  if (!c || !c.writeKey || !els.length) return;
  var ids = els.map(function (e) { return e.getAttribute('data-o2o-slot'); });
  var q = '/v1/personalize?writeKey=' + encodeURIComponent(c.writeKey) + '&slots=' + encodeURIComponent(ids.join(','));
  var a = o.anonymousId(), u = o.userId();
  if (a && !c.fresh) q += '&anonymousId=' + encodeURIComponent(a);
  if (u) q += '&userId=' + encodeURIComponent(u);

  function el(tag, cls, text) {
    var e = d.createElement(tag);
    e.className = 'o2o-' + cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  function link(url, child) {
    var e = el('a', 'link');
    if (url && /^(https?:|\/)/.test(url)) e.href = url; // no javascript: URLs from configuration or events
    e.appendChild(child);
    return e;
  }

  function fill(e, id, s) {
    var k = s.content || {}, items = s.items || [], box = el('div', 'slot');
    if (k.title) box.appendChild(el('h3', 'title', k.title));
    if (k.text) box.appendChild(el('p', 'text', k.text));
    if (k.url && k.cta) box.appendChild(link(k.url, el('span', 'cta', k.cta)));
    if (items.length) {
      var ul = el('ul', 'items');
      items.forEach(function (p) {
        var li = el('li', 'item'), inner = el('span', 'card');
        li.setAttribute('data-product-id', p.product_id);
        if (p.image_url) { var img = el('img', 'img'); img.src = p.image_url; img.alt = p.name || ''; inner.appendChild(img); }
        inner.appendChild(el('span', 'name', p.name || p.product_id));
        if (p.price != null) inner.appendChild(el('span', 'price', p.price));
        li.appendChild(link(p.url, inner));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    e.textContent = '';
    e.appendChild(box);
    e.setAttribute('data-o2o-variant', s.variant);
    var shown = items.map(function (p) { return p.product_id; });
    o.track('Slot Viewed', { slot: id, variant: s.variant, product_ids: shown });
    e.addEventListener('click', function (ev) {
      var t = ev.target, li = t.closest && t.closest('[data-product-id]');
      o.track('Slot Clicked', { slot: id, variant: s.variant, product_id: li ? li.getAttribute('data-product-id') : null });
    });
  }

  fetch(c.apiHost + q, { credentials: 'omit' })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (b) {
      var slots = b.slots || {};
      els.forEach(function (e) {
        var id = e.getAttribute('data-o2o-slot'), s = slots[id];
        if (s && s.variant) fill(e, id, s);
      });
    })
    .catch(function () { /* the page keeps its own default content */ });
})(window, document);
