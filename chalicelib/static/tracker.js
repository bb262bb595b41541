// one2one browser tracker: Segment-spec page/track/identify messages, batched to POST {apiHost}/v1/batch.
// Snippet: <script src="https://HOST/tracker.js" data-write-key="KEY" data-api="https://HOST" async></script>
// Before it loads: window.one2one = window.one2one || []; one2one.push(['track', 'Event', {...}]);
// No dependencies; the only global is window.one2one.
// tracker.min.js is built from this file (tests/unit/test_tracker_js.py fails while it is stale); after editing run
//   cd chalicelib/static && { printf '/*! one2one-tracker sha256:%s */\n' "$(sha256sum tracker.js | cut -c1-16)";
//   npx --yes terser@5.51.4 tracker.js -c -m; } > tracker.min.js
(function (w, d) {
  'use strict';
  var VERSION = '0.1.0';
  var AID = 'o2o_aid', UID = 'o2o_uid', CONSENT = 'o2o_consent', ITOK = 'o2o_itok';
  var YEAR = 31536000; // cookie Max-Age in seconds
  var MAX_BATCH = 20; // messages per request; reaching it flushes at once
  var MAX_BYTES = 60000; // sendBeacon and keepalive fetch refuse bodies over 64 KB; keep room for the envelope
  var nav = w.navigator || {};
  var cfg = { writeKey: null, apiHost: '', consent: undefined, page: true, inApp: false };
  var queue = []; // messages waiting for the next flush
  var pending = []; // calls made before a write key was known, replayed by start()
  var ready = false, timer = null, missedPage = false, aid = null, fresh = 0;

  function cookie(name) {
    var m = d.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function setCookie(name, value, maxAge) {
    // Host-only first-party cookie; Lax lets it ride top-level navigations from campaign links.
    d.cookie = name + '=' + encodeURIComponent(value) + '; Max-Age=' + maxAge + '; Path=/; SameSite=Lax' +
      (w.location.protocol === 'https:' ? '; Secure' : '');
  }

  // Ids live in a cookie and in localStorage, so one survives when the other is cleared or capped (Safari ITP).
  function load(name) {
    var v = cookie(name);
    if (v) return v;
    try { return w.localStorage.getItem(name); } catch (e) { return null; }
  }

  function save(name, value) {
    setCookie(name, value || '', value ? YEAR : 0);
    try {
      if (value) w.localStorage.setItem(name, value); else w.localStorage.removeItem(name);
    } catch (e) { /* storage disabled: the cookie alone will do */ }
  }

  // The identity token the shop's backend signed for the signed-in userId: proof the server needs before a browser's
  // userId, address, consent or order counts. Short-lived, so localStorage only (never a cookie sent to the shop).
  function token(value) {
    try {
      if (value === undefined) return w.localStorage.getItem(ITOK);
      if (value) w.localStorage.setItem(ITOK, value); else w.localStorage.removeItem(ITOK);
    } catch (e) { /* storage disabled: messages go without proof and stay unverified claims */ }
    return null;
  }

  function uuid() {
    var c = w.crypto;
    // randomUUID exists only in secure contexts (https, localhost); plain-http sites take the fallback.
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), i, s = '';
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64; // version 4
    b[8] = (b[8] & 63) | 128; // RFC 4122 variant
    for (i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1);
    return s;
  }

  // Consent recorded by the site (init option, then our cookie) wins over the browser's GPC / Do Not Track signals.
  function consentState() {
    if (typeof cfg.consent === 'boolean') return cfg.consent;
    var c = cookie(CONSENT);
    return c === '1' ? true : c === '0' ? false : undefined;
  }

  function allowed() {
    var c = consentState();
    if (c !== undefined) return c;
    return !(nav.globalPrivacyControl === true || nav.doNotTrack === '1' || w.doNotTrack === '1');
  }

  function anonymousId() {
    if (!aid) {
      aid = load(AID) || (fresh = 1, uuid()); // fresh: this is the visitor's first page (slots.js asks for defaults)
      save(AID, aid); // rewritten once per page load: a rolling year rather than a year from the first visit
    }
    return aid;
  }

  function forget() {
    aid = null;
    save(UID, null);
    save(AID, null);
    token(null);
  }

  function pageInfo() {
    var l = w.location;
    return {
      url: l.href.split('#')[0],
      path: l.pathname,
      referrer: d.referrer || '',
      search: l.search || '',
      title: d.title || ''
    };
  }

  // utm_* are parsed server-side from context.page.url too; sending them saves the server the work.
  function campaign() {
    var out = {}, keys = { source: 1, medium: 1, campaign: 'name', term: 1, content: 1 }, found = false;
    try {
      new URLSearchParams(w.location.search).forEach(function (v, k) {
        var f = k.indexOf('utm_') === 0 && keys[k.slice(4)];
        if (f) { out[f === 1 ? k.slice(4) : f] = v; found = true; }
      });
    } catch (e) { /* no URLSearchParams: leave it to the server */ }
    return found ? out : undefined;
  }

  function context() {
    var tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* very old browser */ }
    return {
      page: pageInfo(),
      userAgent: nav.userAgent,
      locale: nav.language,
      timezone: tz,
      library: { name: 'one2one-tracker', version: VERSION },
      campaign: campaign(),
      // Tells the server the site recorded consent, so a browser's Sec-GPC header does not anonymise the event.
      consent: consentState() === true ? { granted: true } : undefined
    };
  }

  function enqueue(type, fields) {
    // Without permission nothing is built, stored or sent: a dropped call leaves no trace, not even a cookie.
    if (!allowed()) return;
    var now = new Date().toISOString();
    var m = { type: type, messageId: uuid(), anonymousId: anonymousId(), timestamp: now, originalTimestamp: now };
    var uid = load(UID);
    if (uid) m.userId = uid;
    m.context = context();
    var proof = token();
    if (proof) m.context.identityToken = proof;
    for (var k in fields) if (fields[k] !== undefined) m[k] = fields[k];
    queue.push(m);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, 1000);
  }

  function bytes(s) {
    return w.TextEncoder ? new TextEncoder().encode(s).length : s.length * 3;
  }

  function send(body) {
    var url = cfg.apiHost + '/v1/batch';
    // text/plain keeps both transports "simple" requests, so no CORS preflight; the write key rides in the body
    // because sendBeacon cannot set headers. sendBeacon returns false when it refuses the payload.
    try {
      if (nav.sendBeacon && nav.sendBeacon(url, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) { /* fall through to fetch */ }
    if (w.fetch) {
      w.fetch(url, {
        method: 'POST', body: body, keepalive: bytes(body) < 65536, credentials: 'omit',
        headers: { 'Content-Type': 'text/plain' }
      }).catch(function () { /* offline: dropped; messageIds make a later retry layer safe to add */ });
    }
  }

  function flush() {
    clearTimeout(timer);
    timer = null;
    if (!queue.length || !cfg.writeKey) return;
    var sentAt = new Date().toISOString(), chunk = [], size = 0;
    function post() {
      if (chunk.length) send(JSON.stringify({ batch: chunk, sentAt: sentAt, writeKey: cfg.writeKey }));
      chunk = [];
      size = 0;
    }
    queue.splice(0).forEach(function (m) {
      m.sentAt = sentAt;
      var n = bytes(JSON.stringify(m)) + 1;
      if (chunk.length >= MAX_BATCH || size + n > MAX_BYTES) post();
      chunk.push(m);
      size += n;
    });
    post();
  }

  function props(o) {
    return o && typeof o === 'object' ? o : {};
  }

  function page(name, properties) {
    if (typeof name === 'object' && name) { properties = name; name = undefined; }
    var info = pageInfo(), p = props(properties), k;
    for (k in p) info[k] = p[k];
    enqueue('page', { name: name || d.title || undefined, properties: info });
  }

  function track(event, properties) {
    if (event) enqueue('track', { event: String(event), properties: props(properties) });
  }

  function identify(userId, traits, options) {
    if (typeof userId === 'object' && userId) { options = traits; traits = userId; userId = undefined; }
    if (!allowed()) return;
    if (options && options.identityToken) token(String(options.identityToken));
    if (userId != null && userId !== '') save(UID, String(userId)); // later messages carry it via enqueue()
    enqueue('identify', { traits: props(traits) });
  }

  function identityToken(value) {
    if (allowed()) token(value ? String(value) : null);
  }

  function reset() {
    flush(); // queued messages keep the ids they were made with
    forget();
  }

  function consent(granted) {
    granted = !!granted;
    if (!granted) {
      // Tell the server while still permitted, then stop and forget this browser's ids.
      track('Consent Revoked');
      flush();
      cfg.consent = false;
      setCookie(CONSENT, '0', YEAR);
      forget();
      return;
    }
    cfg.consent = true;
    setCookie(CONSENT, '1', YEAR);
    track('Consent Granted');
    if (missedPage) { missedPage = false; page(); } // the automatic page view this visit could not send
  }

  function configure(options) {
    var o = props(options);
    if (o.writeKey) cfg.writeKey = o.writeKey;
    if (typeof o.apiHost === 'string') cfg.apiHost = o.apiHost.replace(/\/+$/, '');
    if (typeof o.consent === 'boolean') cfg.consent = o.consent;
    if (o.page === false) cfg.page = false;
    if (o.inApp === true) cfg.inApp = true;
  }

  function init(options) {
    configure(options);
    start();
  }

  function start() {
    if (ready || !cfg.writeKey) return;
    ready = true;
    if (cfg.page) {
      if (allowed()) page(); else missedPage = true;
    }
    pending.splice(0).forEach(call);
    // Personalised slots are filled by a separate script, loaded only by pages that have some.
    if (d.querySelector('[data-o2o-slot]')) addScript('/slots.js');
    // In-app messages (opt-in: data-in-app on the script tag, or init({inApp: true})): asked once a page for a
    // visitor the server may know; the renderer (inapp.js) is loaded only when there is something to show.
    var u = load(UID), q = '/v1/in-app?writeKey=' + encodeURIComponent(cfg.writeKey);
    if (cfg.inApp && allowed() && (u || !fresh)) {
      if (!fresh) q += '&anonymousId=' + encodeURIComponent(anonymousId());
      if (u) q += '&userId=' + encodeURIComponent(u);
      w.fetch(cfg.apiHost + q, { credentials: 'omit' })
        .then(function (r) { return r.json(); })
        .then(function (b) { if ((api.inApp = b.messages || []).length) addScript('/inapp.js'); })
        .catch(function () { /* no messages this page */ });
    }
  }

  function addScript(path) {
    var s = d.createElement('script');
    s.src = cfg.apiHost + path;
    s.async = true;
    d.head.appendChild(s);
  }

  var methods = {
    page: page, track: track, identify: identify, identityToken: identityToken, reset: reset, consent: consent,
    flush: flush
  };

  // Calls made before the write key is known wait in `pending`; they are judged against consent when replayed.
  function call(args) {
    var name = args && args[0], rest = [].slice.call(args || [], 1);
    if (name === 'init') init(rest[0]);
    else if (!methods[name]) return;
    else if (!ready) pending.push([name].concat(rest));
    else methods[name].apply(null, rest);
  }

  var api = {
    init: init,
    push: call, // so snippet-style one2one.push([...]) keeps working after load
    anonymousId: function () { return allowed() ? anonymousId() : null; },
    userId: function () { return allowed() ? load(UID) : null; },
    config: function () { return { writeKey: cfg.writeKey, apiHost: cfg.apiHost, fresh: !!fresh }; },
    VERSION: VERSION
  };
  Object.keys(methods).forEach(function (name) {
    api[name] = function () { call([name].concat([].slice.call(arguments))); };
  });

  var preload = Array.isArray(w.one2one) ? w.one2one : [];
  w.one2one = api;

  var script = d.currentScript || d.querySelector('script[data-write-key]');
  if (script) {
    cfg.writeKey = script.getAttribute('data-write-key');
    cfg.inApp = script.getAttribute('data-in-app') != null;
    var host = script.getAttribute('data-api');
    // No data-api: send to wherever the tracker was served from; data-api="" means the page's own origin.
    if (host == null && script.src) { try { host = new URL(script.src).origin; } catch (e) { host = ''; } }
    cfg.apiHost = (host || '').replace(/\/+$/, '');
  }
  // init entries configure before anything is sent, wherever they sit in the pre-load queue.
  preload.forEach(function (a) {
    if (a && a[0] === 'init') configure(a[1]); else if (a) pending.push(a);
  });
  // Without data-write-key nor init, start() waits for a later one2one.init({writeKey}).
  start();

  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(); });
  w.addEventListener('pagehide', flush);
})(window, document);
