// Runs chalicelib/static/tracker.js in a fake browser (node:vm, no npm packages) and prints one JSON object:
// {scenario name: observations}. tests/unit/test_tracker_js.py asserts on it. Usage: node tracker_harness.js TRACKER_PATH
'use strict';
const fs = require('fs');
const vm = require('vm');

const SOURCE = fs.readFileSync(process.argv[2], 'utf8');

// A fake browser: cookie jar that honours Max-Age, sendBeacon/fetch spies, manual timers and events.
function browser(opts = {}) {
  const url = new URL(opts.url || 'https://shop.example/products/42?utm_source=news&utm_campaign=spring&q=1#top');
  const jar = new Map(Object.entries(opts.cookies || {}));
  const cookieWrites = [];
  const storage = new Map(Object.entries(opts.storage || {}));
  const beacons = [];
  const fetches = [];
  const timers = [];
  const listeners = { document: {}, window: {} };
  const on = (where) => (type, fn) => { (listeners[where][type] = listeners[where][type] || []).push(fn); };
  const script = opts.script === null ? null : {
    src: 'https://cdn.example/tracker.js',
    attrs: Object.assign({ 'data-write-key': 'wk_test', 'data-api': 'https://api.example/' }, opts.script || {}),
    getAttribute(name) { return name in this.attrs ? this.attrs[name] : null; },
  };

  const document = {
    title: 'Blue Shoes – Shop',
    referrer: 'https://search.example/?q=shoes',
    visibilityState: 'visible',
    currentScript: script,
    querySelector: (selector) => (selector.includes('data-o2o-slot') ? null : script), // no slots on these pages
    addEventListener: on('document'),
    get cookie() { return [...jar].map(([k, v]) => `${k}=${v}`).join('; '); },
    set cookie(line) {
      cookieWrites.push(line);
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const maxAge = attrs.find((a) => /^max-age=/i.test(a));
      if (maxAge && Number(maxAge.split('=')[1]) <= 0) jar.delete(pair.slice(0, eq));
      else jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    },
  };
  const navigator = {
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) HarnessBrowser/1.0',
    language: 'fr-FR',
    globalPrivacyControl: opts.gpc,
    doNotTrack: opts.dnt,
    sendBeacon: opts.noBeacon ? undefined : (u, blob) => {
      beacons.push({ url: u, blob });
      return opts.beaconReturns === undefined ? true : opts.beaconReturns;
    },
  };
  const crypto = opts.noRandomUUID
    ? { getRandomValues: (a) => globalThis.crypto.getRandomValues(a) }
    : globalThis.crypto;

  const win = {
    document, navigator, crypto, Blob, TextEncoder, URL, URLSearchParams, Uint8Array, Math, JSON, Date, Promise,
    location: { href: url.href, protocol: url.protocol, pathname: url.pathname, search: url.search, hash: url.hash },
    localStorage: {
      getItem: (k) => (storage.has(k) ? storage.get(k) : null),
      setItem: (k, v) => storage.set(k, String(v)),
      removeItem: (k) => storage.delete(k),
    },
    Intl: { DateTimeFormat: () => ({ resolvedOptions: () => ({ timeZone: 'Europe/Paris' }) }) },
    fetch: (u, init) => { fetches.push({ url: u, init }); return Promise.resolve({ ok: true, status: 200 }); },
    setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    clearTimeout: (id) => { if (id && timers[id - 1]) timers[id - 1].fn = null; },
    addEventListener: on('window'),
    doNotTrack: opts.windowDnt,
  };
  win.window = win;
  if (opts.preload) win.one2one = opts.preload;
  const context = vm.createContext(win);
  const globalsBefore = Object.keys(win);

  return {
    win, jar, storage, cookieWrites, beacons, fetches,
    load() { vm.runInContext(SOURCE, context, { filename: 'tracker.js' }); return this; },
    run(code) { return vm.runInContext(code, context); },
    // Fire every pending timer (the 1 s flush), as if a second went by.
    tick() { timers.splice(0).forEach((t) => t.fn && t.fn()); },
    fire(where, type) { (listeners[where][type] || []).forEach((fn) => fn()); },
    newGlobals() { return Object.keys(win).filter((k) => !globalsBefore.includes(k)); },
    // Requests as the server would see them: url, transport, content type and the parsed JSON body.
    async requests() {
      const out = [];
      for (const b of beacons) {
        const text = await b.blob.text();
        out.push({ via: 'beacon', url: b.url, type: b.blob.type, bytes: b.blob.size, body: JSON.parse(text) });
      }
      for (const f of fetches) {
        out.push({ via: 'fetch', url: f.url, init: Object.assign({}, f.init, { body: undefined }),
          bytes: Buffer.byteLength(f.init.body), body: JSON.parse(f.init.body) });
      }
      return out;
    },
  };
}

const scenarios = {
  async auto_page() {
    const b = browser().load();
    const before = await b.requests();
    b.tick();
    return { requestsBeforeTimer: before.length, requests: await b.requests(), cookieWrites: b.cookieWrites,
      newGlobals: b.newGlobals() };
  },

  async track_identify_persist() {
    const b = browser().load();
    b.run("one2one.track('Product Added', {product_id: 'p1', price: 19.9, quantity: 2})");
    b.run("one2one.identify('user_7', {email: 'Ada@Example.com', firstName: 'Ada'})");
    b.run("one2one.track('Cart Viewed')");
    b.tick();
    // A second page load in the same browser: same cookie jar and localStorage.
    const next = browser({ cookies: Object.fromEntries(b.jar), storage: Object.fromEntries(b.storage) }).load();
    next.run("one2one.track('Checkout Started')");
    next.tick();
    return { first: await b.requests(), second: await next.requests(), storage: Object.fromEntries(b.storage) };
  },

  async identity_token() {
    const b = browser().load();
    b.run("one2one.identify('user_7', {email: 'ada@example.com'}, {identityToken: 'tok.from.backend'})");
    b.run("one2one.track('Order Completed', {order_id: 'o1'})");
    b.tick();
    const signedIn = await b.requests();
    // a later page of the same session keeps the proof; reset (sign-out) forgets it
    const next = browser({ cookies: Object.fromEntries(b.jar), storage: Object.fromEntries(b.storage) }).load();
    next.run("one2one.track('Cart Viewed')");
    next.run('one2one.reset()');
    next.run("one2one.track('After Sign-out')");
    next.tick();
    return { signedIn, later: await next.requests(), cookies: [...b.jar.keys()] };
  },

  async flush_at_twenty_and_on_hide() {
    const b = browser().load();
    for (let i = 0; i < 24; i++) b.run(`one2one.track('E${i}')`);
    const afterTwenty = (await b.requests()).length;
    b.win.document.visibilityState = 'hidden';
    b.fire('document', 'visibilitychange');
    const afterHidden = (await b.requests()).length;
    b.run("one2one.track('Last')");
    b.fire('window', 'pagehide');
    return { afterTwenty, afterHidden, requests: await b.requests() };
  },

  async gpc_blocks_everything() {
    const b = browser({ gpc: true }).load();
    b.run("one2one.track('Nope'); one2one.identify('u1', {email: 'a@b.c'}); one2one.page()");
    b.tick();
    b.fire('window', 'pagehide');
    return { requests: await b.requests(), cookieWrites: b.cookieWrites, storage: [...b.storage.keys()],
      anonymousId: b.run('one2one.anonymousId()') };
  },

  async window_dnt_blocks() {
    const b = browser({ windowDnt: '1' }).load();
    b.tick();
    return { requests: await b.requests(), cookieWrites: b.cookieWrites };
  },

  async dnt_with_consent_cookie() {
    const b = browser({ dnt: '1', cookies: { o2o_consent: '1' } }).load();
    b.run("one2one.track('Allowed')");
    b.tick();
    return { requests: await b.requests(), jar: Object.fromEntries(b.jar) };
  },

  async gpc_then_consent_granted() {
    const b = browser({ gpc: true }).load();
    b.run("one2one.track('Before Consent')");
    b.run('one2one.consent(true)');
    b.run("one2one.track('After Consent')");
    b.tick();
    return { requests: await b.requests(), jar: Object.fromEntries(b.jar) };
  },

  async consent_revoked() {
    const b = browser().load();
    b.run("one2one.identify('user_9', {})");
    b.run('one2one.consent(false)');
    b.run("one2one.track('After Revoke')");
    b.tick();
    return { requests: await b.requests(), jar: Object.fromEntries(b.jar), storage: [...b.storage.keys()] };
  },

  async preload_queue_replayed() {
    const preload = [
      ['track', 'Queued Early', { plan: 'pro' }],
      ['identify', 'user_q', { email: 'q@example.com' }],
      ['init', { apiHost: 'https://collect.example' }],
    ];
    const b = browser({ preload }).load();
    b.run("one2one.push(['track', 'Pushed After Load', {n: 1}])");
    b.tick();
    return { requests: await b.requests(), isApi: b.run("typeof one2one.track === 'function'") };
  },

  async init_without_script_tag() {
    const b = browser({ script: null }).load();
    b.run("one2one.track('Before Init')");
    b.tick();
    const beforeInit = (await b.requests()).length;
    const cookiesBeforeInit = b.cookieWrites.length;
    b.run("one2one.init({writeKey: 'wk_init', apiHost: 'https://init.example/'})");
    b.tick();
    return { beforeInit, cookiesBeforeInit, requests: await b.requests() };
  },

  async beacon_refused_falls_back_to_fetch() {
    const b = browser({ beaconReturns: false }).load();
    b.tick();
    return { beaconCalls: b.beacons.length, requests: (await b.requests()).filter((r) => r.via === 'fetch') };
  },

  async no_beacon_uses_fetch() {
    const b = browser({ noBeacon: true }).load();
    b.tick();
    return { requests: await b.requests() };
  },

  async large_batch_split_under_64kb() {
    const b = browser().load();
    const blob = 'x'.repeat(25000);
    for (let i = 0; i < 5; i++) b.run(`one2one.track('Big ${i}', {blob: '${blob}'})`);
    b.tick();
    return { requests: await b.requests() };
  },

  async reset_starts_new_visitor() {
    const b = browser().load();
    b.run("one2one.identify('user_r', {})");
    const before = b.run('one2one.anonymousId()');
    b.run("one2one.reset(); one2one.track('After Reset')");
    b.tick();
    return { before, after: b.run('one2one.anonymousId()'), userId: b.run('one2one.userId()'),
      requests: await b.requests() };
  },

  async in_app_opt_in() {
    // data-in-app: a returning visitor's page asks GET /v1/in-app once and loads /inapp.js only when messages wait.
    const out = {};
    const cases = [
      ['off', { cookies: { o2o_aid: 'aid-1' } }, [{ id: 'm' }]],
      ['first_visit', { script: { 'data-in-app': '' } }, [{ id: 'm' }]],
      ['returning_none', { script: { 'data-in-app': '' }, cookies: { o2o_aid: 'aid-1' } }, []],
      ['returning_some', { script: { 'data-in-app': '' }, cookies: { o2o_aid: 'aid-1' } }, [{ id: 'm' }]],
    ];
    for (const [name, opts, messages] of cases) {
      const b = browser(opts);
      const asked = [];
      const loaded = [];
      b.win.fetch = (u) => {
        asked.push(u);
        return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve({ messages }) });
      };
      b.win.document.createElement = () => ({});
      b.win.document.head = { appendChild: (s) => loaded.push(s.src) };
      b.load();
      await new Promise((resolve) => setImmediate(resolve));
      out[name] = { asked, loaded, inApp: b.run('one2one.inApp') || null };
    }
    return out;
  },

  async http_page_and_uuid_fallback() {
    const b = browser({ url: 'http://127.0.0.1:8000/demo/', noRandomUUID: true,
      script: { 'data-api': '' } }).load();
    b.tick();
    return { requests: await b.requests(), cookieWrites: b.cookieWrites };
  },
};

(async () => {
  const out = {};
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      out[name] = await fn();
    } catch (err) {
      out[name] = { error: String(err && err.stack || err) };
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
