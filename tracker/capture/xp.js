/* xpromo first-party script: keeps the click id a tracking link put on the
 * landing URL (?xp_click=...) and reports conversions to the tracker.
 * See docs/XPJS.md. Defines window.xpromo and nothing else. */
(function (window, document) {
  'use strict';
  var old = window.xpromo;
  if (old && old.version) return; // loaded twice: keep the first copy

  var NAME = 'xp_click';
  var DAYS = 30;
  var CLICK = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i; // tracker/ids: 26 Crockford base32
  var ORIGIN = /^https?:\/\/[^/?#\s@]+/i;
  var AMOUNT = /^0*\d{1,14}(\.\d{1,4})?$/; // below 10^14, as Decimal(18,4)
  var TYPES = { signup: 1, purchase: 1, refund: 1 };
  var MAX_ID = 128; // bytes, as the tracker checks

  function warn(msg) {
    try { window.console.warn('xpromo: ' + msg); } catch (e) { /* no console */ }
    return Promise.resolve(false);
  }

  function valid(id) { return typeof id === 'string' && CLICK.test(id); }

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var origin = (script && ORIGIN.exec(script.src || '')) || null;
  if (data.xpromoOrigin) {
    var o = ORIGIN.exec(data.xpromoOrigin);
    if (o) origin = o; else warn('ignoring bad data-xpromo-origin');
  }
  origin = origin && origin[0];
  var cookieDomain = data.xpromoCookieDomain;
  if (cookieDomain && !/^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$/i.test(cookieDomain)) {
    warn('ignoring bad data-xpromo-cookie-domain');
    cookieDomain = '';
  }

  function storage() {
    try { return window.localStorage || null; } catch (e) { return null; }
  }

  function store(id) {
    var https = false;
    try { https = window.location.protocol === 'https:'; } catch (e) { /* ignore */ }
    try {
      document.cookie = NAME + '=' + id + '; path=/; max-age=' + DAYS * 86400 + '; SameSite=Lax' +
        (cookieDomain ? '; domain=' + cookieDomain : '') + (https ? '; Secure' : '');
    } catch (e) { /* cookies blocked */ }
    var ls = storage();
    try {
      if (ls) ls.setItem(NAME, JSON.stringify({ id: id, exp: Date.now() + DAYS * 86400000 }));
    } catch (e) { /* storage full or blocked */ }
  }

  function clickId() {
    try {
      var parts = String(document.cookie || '').split(';');
      for (var i = 0; i < parts.length; i++) {
        var kv = parts[i].trim().split('=');
        if (kv[0] === NAME && valid(kv[1])) return kv[1].toUpperCase();
      }
    } catch (e) { /* cookies blocked */ }
    try {
      var ls = storage();
      var v = ls && JSON.parse(ls.getItem(NAME) || 'null');
      if (v && valid(v.id) && v.exp > Date.now()) return v.id.toUpperCase();
    } catch (e) { /* blocked or not ours */ }
    return null;
  }

  // Capture the click id from the landing URL.
  try {
    var q = String(window.location.search || '').replace(/^\?/, '').split('&');
    for (var i = 0; i < q.length; i++) {
      var eq = q[i].indexOf('=');
      if (eq < 0 || q[i].slice(0, eq) !== NAME) continue;
      var v = decodeURIComponent(q[i].slice(eq + 1).replace(/\+/g, ' '));
      if (valid(v)) store(v.toUpperCase());
      break;
    }
  } catch (e) { /* malformed query */ }

  // textId checks a user or order id; it returns the text or null.
  function textId(v) {
    if (typeof v === 'number' && isFinite(v)) v = String(v);
    if (typeof v !== 'string' || v === '' || /[\u0000-\u001f\u007f]/.test(v)) return null;
    try {
      if (encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, '.').length > MAX_ID) return null;
    } catch (e) { return null; } // lone surrogate: not UTF-8
    return v;
  }

  function conversion(c) {
    try {
      if (!c || typeof c !== 'object') return warn('conversion needs an object');
      var type = c.type;
      if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(TYPES, type)) return warn('type must be signup, purchase or refund');
      var p = [['e', type], ['click', clickId()]];
      if (c.userId != null) {
        var uid = textId(c.userId);
        if (uid === null) return warn('bad userId');
        p.push(['uid', uid]);
      }
      if (c.orderId != null || type !== 'signup') {
        var oid = textId(c.orderId);
        if (oid === null) return warn(type + ' needs an orderId (up to 128 bytes)');
        p.push(['oid', oid]);
      }
      var amount = c.amount, cur = c.currency;
      if (amount != null || cur != null || type === 'purchase') {
        if (typeof amount === 'number' && isFinite(amount) && amount >= 0) amount = String(amount);
        if (typeof amount !== 'string' || !AMOUNT.test(amount)) {
          return warn('amount must be a non-negative decimal with at most 4 decimals');
        }
        if (typeof cur !== 'string' || !/^[a-z]{3}$/i.test(cur)) {
          return warn('currency must be a 3-letter ISO 4217 code');
        }
        p.push(['v', amount], ['cur', cur.toUpperCase()]);
      }
      if (c.existing === true) p.push(['existing', '1']);
      if (!origin) return warn('tracker origin unknown: set data-xpromo-origin');
      var url = origin + '/p.gif?' + p.filter(function (kv) { return kv[1] !== null; })
        .map(function (kv) { return kv[0] + '=' + encodeURIComponent(kv[1]); }).join('&');
      return new Promise(function (resolve) {
        var img = new window.Image(1, 1);
        img.onload = function () { resolve(true); };
        img.onerror = function () { resolve(false); };
        img.src = url;
      }).catch(function () { return false; });
    } catch (e) {
      return warn('conversion failed: ' + e);
    }
  }

  var api = { version: 1, conversion: conversion, clickId: clickId };
  window.xpromo = api;
  // Calls queued before the script loaded: xpromo.push(['conversion', {...}]).
  if (Array.isArray(old)) {
    old.forEach(function (call) { if (call && call[0] === 'conversion') conversion(call[1]); });
  }
}(window, document));
