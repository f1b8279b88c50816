/* xpromo first-party script, see docs/XPJS.md */
(function (window, document) {
  'use strict';
  const old = window.xpromo;
  if (old && old.version) return; // loaded twice
  const NAME = 'xp_click', AGE = 30 * 86400; // seconds
  const CLICK = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i; // 26 Crockford base32
  const ORIGIN = /^https?:\/\/[^/?#\s@]+/i;
  const valid = (id) => typeof id === 'string' && CLICK.test(id);
  const attempt = (f) => { try { return f(); } catch (e) { return null; } };
  const warn = (msg) => {
    attempt(() => window.console.warn('xpromo: ' + msg));
    return Promise.resolve(false);
  };

  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  let origin = script && ORIGIN.exec(script.src || '');
  if (data.xpromoOrigin) origin = ORIGIN.exec(data.xpromoOrigin) || origin;
  origin = origin && origin[0];
  const storage = () => attempt(() => window.localStorage);

  function store(id) {
    const secure = attempt(() => window.location.protocol) === 'https:' ? '; Secure' : '';
    attempt(() => {
      document.cookie = NAME + '=' + id + '; path=/; max-age=' + AGE + '; SameSite=Lax' + secure;
    });
    attempt(() => storage().setItem(NAME, JSON.stringify({ id, exp: Date.now() + AGE * 1000 })));
  }

  function clickId() {
    for (const part of String(attempt(() => document.cookie) || '').split(';')) {
      const kv = part.trim().split('=');
      if (kv[0] === NAME && valid(kv[1])) return kv[1].toUpperCase();
    }
    const v = attempt(() => JSON.parse(storage().getItem(NAME)));
    return v && valid(v.id) && v.exp > Date.now() ? v.id.toUpperCase() : null;
  }

  // The landing URL's last valid click id replaces any stored one.
  let landed = null;
  for (const kv of String(attempt(() => window.location.search) || '').slice(1).split('&')) {
    const v = kv.startsWith(NAME + '=') && attempt(() => decodeURIComponent(kv.slice(9)));
    if (valid(v)) landed = v.toUpperCase();
  }
  if (landed) store(landed);

  // A user or order id: 1-128 UTF-8 bytes, no control characters.
  function text(v) {
    if (typeof v === 'number' && isFinite(v)) v = String(v);
    if (typeof v !== 'string' || /[\u0000-\u001f\u007f]/.test(v)) return null;
    const n = attempt(() => encodeURIComponent(v).replace(/%../g, '.').length);
    return n > 0 && n <= 128 ? v : null;
  }

  function conversion(c) {
    try {
      const t = c && c.type;
      if (t !== 'signup' && t !== 'purchase' && t !== 'refund') return warn('bad type');
      const p = [['e', t], ['click', clickId()]];
      if (c.userId != null && c.userId !== '') {
        p.push(['uid', text(c.userId)]);
        if (p[2][1] === null) return warn('bad userId');
      }
      if (c.orderId != null || t !== 'signup') {
        p.push(['oid', text(c.orderId)]);
        if (p[p.length - 1][1] === null) return warn('bad or missing orderId');
      }
      let v = c.amount, cur = c.currency;
      if (v != null || cur != null || t === 'purchase') {
        if (typeof v === 'number' && v >= 0) v = String(v);
        if (!/^0*\d{1,14}(\.\d{1,4})?$/.test(typeof v === 'string' ? v : '')) return warn('bad amount');
        if (!/^[a-z]{3}$/i.test(typeof cur === 'string' ? cur : '')) return warn('bad currency');
        p.push(['v', v], ['cur', cur.toUpperCase()]);
      }
      if (c.existing === true) p.push(['existing', '1']);
      if (!origin) return warn('tracker origin unknown');
      const url = origin + '/p.gif?' + p.filter((kv) => kv[1] !== null)
        .map((kv) => kv[0] + '=' + encodeURIComponent(kv[1])).join('&');
      const img = new window.Image(1, 1);
      return new Promise((resolve) => {
        img.onload = () => resolve(true);
        img.onerror = () => resolve(false);
        img.src = url;
      });
    } catch (e) {
      return warn(e);
    }
  }

  window.xpromo = { version: 1, conversion, clickId };
  // Calls queued before the script loaded: xpromo.push(['conversion', {...}]).
  if (Array.isArray(old)) old.forEach((a) => a && a[0] === 'conversion' && conversion(a[1]));
}(window, document));
