// Behavioural test of xp.js, run by TestScriptBehaviour in xpjs_test.go:
//
//	node xpjs_harness.js path/to/xp.js
//
// It runs the script in a fresh V8 context (no eval, no new Function) with a
// fake window and document per scenario, and prints one JSON object:
// {"checks": n, "failures": ["..."], "sent": [{"name": "...", "url": "..."}]}.
// "sent" lists the URLs of conversions the script should send, for the Go
// test to run through the tracker's own parser. Anything unexpected exits 1.
'use strict';

const fs = require('fs');
const vm = require('vm');

const src = fs.readFileSync(process.argv[2], 'utf8');
const failures = [];
const sent = [];
let checks = 0;

function check(name, ok, detail) {
  checks++;
  if (!ok) failures.push(name + (detail === undefined ? '' : ': ' + detail));
}
function eq(name, got, want) {
  check(name, got === want, 'got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want));
}

const CLICK = '01JD5Q8Z3X7V9KQ2M4N6P8R0ST';
const CLICK2 = '01JD5Q9A0B1C2D3E4F5G6H7J8K';
const DAY = 86400;

// load runs xp.js on a fake page and returns what it touched.
//   url:      the page's URL (default https://shop.example/landing)
//   src:      document.currentScript.src; null for no currentScript
//   dataset:  the script tag's data-* attributes
//   cookies:  initial cookie jar {name: value}
//   storage:  initial localStorage {key: value}; null for a throwing getter
//   image:    'load' (default), 'error' or 'throw'
//   before:   initial window.xpromo
function load(opts = {}) {
  const u = new URL(opts.url || 'https://shop.example/landing');
  const jar = new Map(Object.entries(opts.cookies || {}));
  const cookieWrites = [];
  const document = {
    currentScript: opts.src === null ? null
      : { src: opts.src || 'https://t.example/xp.js', dataset: opts.dataset || {} },
    get cookie() { return [...jar].map(([k, v]) => k + '=' + v).join('; '); },
    set cookie(s) {
      cookieWrites.push(s);
      const [nv, ...attrs] = s.split(';').map((x) => x.trim());
      const eqAt = nv.indexOf('=');
      const age = attrs.find((a) => /^max-age=/i.test(a));
      if (age && Number(age.slice(8)) <= 0) jar.delete(nv.slice(0, eqAt));
      else jar.set(nv.slice(0, eqAt), nv.slice(eqAt + 1));
    },
  };
  const store = new Map(Object.entries(opts.storage || {}));
  const localStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => { store.set(k, String(v)); },
    removeItem: (k) => { store.delete(k); },
  };
  const images = [];
  const warnings = [];
  class Image {
    constructor() {
      if (opts.image === 'throw') throw new Error('no images here');
    }
    set src(v) {
      this._src = v;
      images.push(v);
      setImmediate(() => {
        const f = opts.image === 'error' ? this.onerror : this.onload;
        if (typeof f === 'function') f.call(this, {});
      });
    }
    get src() { return this._src; }
  }
  const window = {
    location: { href: u.href, protocol: u.protocol, host: u.host, pathname: u.pathname, search: u.search },
    Image,
    console: { warn: (...a) => warnings.push(a.join(' ')), log() {}, error() {} },
  };
  if (opts.storage === null) {
    Object.defineProperty(window, 'localStorage', { get() { throw new Error('SecurityError'); } });
  } else {
    window.localStorage = localStorage;
  }
  if (opts.before !== undefined) window.xpromo = opts.before;
  const sandbox = { window, document };
  const ctx = vm.createContext(sandbox, { codeGeneration: { strings: false, wasm: false } });
  const windowKeys = Object.keys(window).filter((k) => k !== 'xpromo').sort().join();
  const run = () => vm.runInContext(src, ctx, { filename: 'xp.js' });
  run();
  const page = { window, document, jar, cookieWrites, store, images, warnings, run, xp: window.xpromo };
  page.globalsUntouched = Object.keys(sandbox).sort().join() === 'document,window' &&
    Object.keys(window).filter((k) => k !== 'xpromo').sort().join() === windowKeys;
  return page;
}

const ORIGIN = 'https://t.example';

async function convert(name, page, arg, wantURL, wantResult = true) {
  const before = page.images.length;
  const w = page.warnings.length;
  let got;
  try {
    got = await page.xp.conversion(arg);
  } catch (e) {
    check(name + ': never rejects', false, String(e));
    return;
  }
  eq(name + ': resolves', got, wantResult);
  const urls = page.images.slice(before);
  if (wantURL === null) {
    eq(name + ': sends nothing', urls.length, 0);
    check(name + ': warns', page.warnings.length > w, 'no console.warn');
    return;
  }
  eq(name + ': one image', urls.length, 1);
  eq(name + ': url', urls[0], wantURL);
  eq(name + ': no warning', page.warnings.length, w);
  if (wantResult) sent.push({ name, url: urls[0] });
}

async function main() {
  // --- capture -----------------------------------------------------------
  {
    const p = load({ url: 'https://shop.example/landing?utm_source=x&xp_click=' + CLICK.toLowerCase() + '#top' });
    eq('capture: api', typeof p.xp, 'object');
    eq('capture: api shape', Object.keys(p.xp).sort().join(), 'clickId,conversion,version');
    check('capture: no globals but window.xpromo', p.globalsUntouched);
    eq('capture: cookie value', p.jar.get('xp_click'), CLICK);
    eq('capture: one cookie write', p.cookieWrites.length, 1);
    eq('capture: cookie attributes', p.cookieWrites[0],
      'xp_click=' + CLICK + '; path=/; max-age=' + 30 * DAY + '; SameSite=Lax; Secure');
    let ls = null;
    try { ls = JSON.parse(p.store.get('xp_click')); } catch (e) { /* checked below */ }
    eq('capture: localStorage id', ls && ls.id, CLICK);
    const exp = ls && ls.exp - Date.now();
    check('capture: localStorage expiry 30 days', exp > 30 * DAY * 1000 - 60000 && exp <= 30 * DAY * 1000, String(exp));
    eq('capture: clickId()', p.xp.clickId(), CLICK);
    eq('capture: no warnings', p.warnings.length, 0);
  }
  {
    const p = load({ url: 'http://shop.example/landing?xp_click=' + CLICK });
    eq('http: no Secure flag', p.cookieWrites[0],
      'xp_click=' + CLICK + '; path=/; max-age=' + 30 * DAY + '; SameSite=Lax');
  }
  {
    const p = load({ url: 'https://shop.example/?xp_click=' + CLICK + '&xp_click=' + CLICK2 });
    eq('two params: last valid wins', p.xp.clickId(), CLICK2);
    const q = load({ url: 'https://shop.example/?xp_click=' + CLICK + '&xp_click=nope' });
    eq('two params: invalid last ignored', q.xp.clickId(), CLICK);
  }
  const invalid = {
    empty: '',
    short: CLICK.slice(1),
    long: CLICK + '0',
    'letter I': CLICK.slice(0, 25) + 'I',
    'letter L': CLICK.slice(0, 25) + 'L',
    'letter O': CLICK.slice(0, 25) + 'O',
    'letter U': CLICK.slice(0, 25) + 'U',
    'first char over 7': '8' + CLICK.slice(1),
    'percent-encoded junk': '%E0%A4%A',
    'script': '%3Cscript%3E',
    'encoded separator': CLICK.slice(0, 13) + '%3B' + CLICK.slice(13, 25),
  };
  for (const [name, v] of Object.entries(invalid)) {
    const p = load({ url: 'https://shop.example/?xp_click=' + v });
    eq('invalid ' + name + ': no cookie', p.cookieWrites.length, 0);
    eq('invalid ' + name + ': no storage', p.store.size, 0);
    eq('invalid ' + name + ': clickId() null', p.xp.clickId(), null);
    const kept = load({ url: 'https://shop.example/?xp_click=' + v, cookies: { xp_click: CLICK } });
    eq('invalid ' + name + ': stored id kept', kept.xp.clickId(), CLICK);
    eq('invalid ' + name + ': cookie untouched', kept.cookieWrites.length, 0);
  }
  {
    const p = load({ url: 'https://shop.example/?xp_clickx=' + CLICK + '&x_xp_click=' + CLICK });
    eq('other params ignored', p.xp.clickId(), null);
  }
  {
    const old = JSON.stringify({ id: CLICK, exp: Date.now() + DAY * 1000 });
    const p = load({ url: 'https://shop.example/?xp_click=' + CLICK2, cookies: { a: '1', xp_click: CLICK }, storage: { xp_click: old } });
    eq('new landing: cookie replaced', p.jar.get('xp_click'), CLICK2);
    eq('new landing: other cookie kept', p.jar.get('a'), '1');
    eq('new landing: storage replaced', JSON.parse(p.store.get('xp_click')).id, CLICK2);
    eq('new landing: clickId()', p.xp.clickId(), CLICK2);
  }
  {
    const p = load({ storage: { xp_click: JSON.stringify({ id: CLICK.toLowerCase(), exp: Date.now() + 1000 }) } });
    eq('storage fallback', p.xp.clickId(), CLICK);
    const x = load({ storage: { xp_click: JSON.stringify({ id: CLICK, exp: Date.now() - 1 }) } });
    eq('storage fallback expired', x.xp.clickId(), null);
    const g = load({ storage: { xp_click: '{not json' } });
    eq('storage fallback garbage', g.xp.clickId(), null);
    const b = load({ cookies: { xp_click: 'bogus' }, storage: { xp_click: JSON.stringify({ id: CLICK2, exp: Date.now() + 1000 }) } });
    eq('bad cookie falls back to storage', b.xp.clickId(), CLICK2);
  }
  {
    const p = load({ url: 'https://shop.example/?xp_click=' + CLICK, storage: null });
    eq('storage blocked: cookie still set', p.jar.get('xp_click'), CLICK);
    eq('storage blocked: clickId()', p.xp.clickId(), CLICK);
    eq('storage blocked: no warnings', p.warnings.length, 0);
  }

  // --- conversions ---------------------------------------------------------
  {
    const p = load({ cookies: { xp_click: CLICK }, src: 'https://t.example/xp.js?v=2' });
    const base = ORIGIN + '/p.gif?';
    const c = '&click=' + CLICK;
    await convert('signup', p, { type: 'signup', userId: 'jörg müller 42' },
      base + 'e=signup' + c + '&uid=j%C3%B6rg%20m%C3%BCller%2042');
    await convert('signup existing', p, { type: 'signup', userId: 7, existing: true },
      base + 'e=signup' + c + '&uid=7&existing=1');
    await convert('signup existing not true', p, { type: 'signup', userId: 'u', existing: 'yes' },
      base + 'e=signup' + c + '&uid=u');
    await convert('signup empty userId', p, { type: 'signup', userId: '' }, base + 'e=signup' + c);
    await convert('signup with amount', p, { type: 'signup', userId: '🙂', amount: 0, currency: 'chf' },
      base + 'e=signup' + c + '&uid=%F0%9F%99%82&v=0&cur=CHF');
    await convert('purchase', p,
      { type: 'purchase', userId: 'u 1', orderId: 'Bestellung #42/ü', amount: '19.90', currency: 'eur' },
      base + 'e=purchase' + c + '&uid=u%201&oid=Bestellung%20%2342%2F%C3%BC&v=19.90&cur=EUR');
    await convert('purchase number amount', p, { type: 'purchase', orderId: 1001, amount: 1234.5, currency: 'Usd' },
      base + 'e=purchase' + c + '&oid=1001&v=1234.5&cur=USD');
    await convert('purchase 4 decimals', p, { type: 'purchase', orderId: 'o', amount: '99999999999999.9999', currency: 'JPY' },
      base + 'e=purchase' + c + '&oid=o&v=99999999999999.9999&cur=JPY');
    await convert('refund', p, { type: 'refund', orderId: 'A&B=1+2', amount: 5, currency: 'gbp' },
      base + 'e=refund' + c + '&oid=A%26B%3D1%2B2&v=5&cur=GBP');
    await convert('refund without amount', p, { type: 'refund', orderId: 'x' }, base + 'e=refund' + c + '&oid=x');
    await convert('purchase 128-byte order id', p, { type: 'purchase', orderId: 'ü'.repeat(64), amount: '1', currency: 'EUR' },
      base + 'e=purchase' + c + '&oid=' + '%C3%BC'.repeat(64) + '&v=1&cur=EUR');
  }
  {
    const p = load();
    await convert('no click id', p, { type: 'signup', userId: 'u' }, ORIGIN + '/p.gif?e=signup&uid=u');
  }
  {
    const p = load({ cookies: { xp_click: CLICK }, image: 'error' });
    await convert('image error resolves false', p, { type: 'signup' },
      ORIGIN + '/p.gif?e=signup&click=' + CLICK, false);
  }
  {
    const p = load({ image: 'throw' });
    await convert('Image throws', p, { type: 'signup' }, null, false);
  }

  // --- bad input: nothing sent, resolves false -----------------------------
  {
    const p = load({ cookies: { xp_click: CLICK } });
    const ok = { type: 'purchase', orderId: 'o1', amount: '10', currency: 'EUR' };
    const bad = {
      'no argument': undefined,
      'null': null,
      'string': 'signup',
      'unknown type': { type: 'login' },
      'upper-case type': { type: 'SIGNUP' },
      'type array': { type: ['signup'] },
      'purchase without orderId': { ...ok, orderId: undefined },
      'purchase empty orderId': { ...ok, orderId: '' },
      'refund without orderId': { type: 'refund' },
      'purchase without amount': { type: 'purchase', orderId: 'o1' },
      'purchase without currency': { ...ok, currency: undefined },
      'signup currency without amount': { type: 'signup', currency: 'EUR' },
      'negative amount': { ...ok, amount: -1 },
      'negative amount text': { ...ok, amount: '-1' },
      'exponent': { ...ok, amount: '1e3' },
      'tiny number': { ...ok, amount: 1e-7 },
      'five decimals': { ...ok, amount: '12.34567' },
      'float noise': { ...ok, amount: 0.1 + 0.2 },
      'NaN': { ...ok, amount: NaN },
      'Infinity': { ...ok, amount: Infinity },
      'comma': { ...ok, amount: '1,5' },
      'space': { ...ok, amount: ' 5' },
      'trailing dot': { ...ok, amount: '5.' },
      'empty amount': { ...ok, amount: '' },
      'too large': { ...ok, amount: 1e14 },
      'too large text': { ...ok, amount: '100000000000000' },
      'amount object': { ...ok, amount: { valueOf: () => 5 } },
      'currency 4 letters': { ...ok, currency: 'EURO' },
      'currency digit': { ...ok, currency: 'E1R' },
      'currency symbol': { ...ok, currency: '€' },
      'control char in userId': { ...ok, userId: 'a\nb' },
      'long userId': { ...ok, userId: 'x'.repeat(129) },
      'long order id': { ...ok, orderId: 'ü'.repeat(64) + 'x' },
      'lone surrogate order id': { ...ok, orderId: 'a\uD800' },
      'object order id': { ...ok, orderId: {} },
      'DEL in order id': { ...ok, orderId: 'a\u007f' },
    };
    for (const [name, arg] of Object.entries(bad)) {
      await convert('bad ' + name, p, arg, null, false);
    }
  }

  // --- origin --------------------------------------------------------------
  {
    const p = load({ src: 'https://cdn.shop.example/vendor/xp.js', dataset: { xpromoOrigin: 'https://track.partner.example:8443/ignored?x=1' } });
    await convert('origin override', p, { type: 'signup' }, 'https://track.partner.example:8443/p.gif?e=signup');
    const q = load({ src: 'https://t2.example:9000/xp.js#x' });
    await convert('origin from script src', q, { type: 'signup' }, 'https://t2.example:9000/p.gif?e=signup');
    const r = load({ dataset: { xpromoOrigin: 'javascript:alert(1)//' } });
    await convert('bad override ignored', r, { type: 'signup' }, ORIGIN + '/p.gif?e=signup');
    const s = load({ src: null });
    await convert('no origin', s, { type: 'signup' }, null, false);
  }

  // --- loading -------------------------------------------------------------
  {
    const p = load({ before: [['conversion', { type: 'signup', userId: 'q' }], ['nope', 1], null] });
    await new Promise((r) => setImmediate(r));
    eq('queue: replayed', JSON.stringify(p.images), JSON.stringify([ORIGIN + '/p.gif?e=signup&uid=q']));
    eq('queue: replaced by api', typeof p.window.xpromo.conversion, 'function');
    const first = p.window.xpromo;
    p.run();
    check('loaded twice: first copy kept', p.window.xpromo === first);
  }

  process.stdout.write(JSON.stringify({ checks, failures, sent }) + '\n');
}

main().catch((e) => {
  process.stderr.write('harness crashed: ' + (e && e.stack || e) + '\n');
  process.exit(1);
});
