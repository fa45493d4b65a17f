// Keycast web pages: the little JavaScript they use. Everything works
// without it; it only refreshes statistics and the console's chart, and
// guards against double clicks.
(function () {
  'use strict';

  // Sender statistics: refetch every 3 seconds from the JSON API (the session
  // cookie authenticates GET requests) and update the figures in place.
  var box = document.querySelector('[data-stats-url]');
  if (box && window.fetch) {
    var url = box.getAttribute('data-stats-url');
    var refresh = function () {
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          document.querySelectorAll('[data-stat]').forEach(function (el) {
            var k = el.getAttribute('data-stat');
            if (!Object.prototype.hasOwnProperty.call(s, k)) return;
            var v = s[k] === null ? 'unknown' : String(s[k]);
            if (el.textContent !== v) el.textContent = v;
          });
        })
        .catch(function () {});
    };
    window.setInterval(refresh, 3000);
  }

  // Console: a block marked data-refresh-url redraws itself from that URL
  // (an HTML fragment: the request-rate chart) every data-refresh-seconds.
  document.querySelectorAll('[data-refresh-url]').forEach(function (el) {
    if (!window.fetch) return;
    var url = el.getAttribute('data-refresh-url');
    var every = Number(el.getAttribute('data-refresh-seconds')) || 5;
    window.setInterval(function () {
      fetch(url, { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) el.innerHTML = html; })
        .catch(function () {});
    }, every * 1000);
  });

  // Forms marked data-once disable their button after the first submit. The
  // server is idempotent anyway (each request form carries an idempotency key).
  document.querySelectorAll('form[data-once]').forEach(function (form) {
    form.addEventListener('submit', function () {
      var b = form.querySelector('button[type=submit]');
      if (!b) return;
      window.setTimeout(function () {
        b.disabled = true;
        b.textContent = b.getAttribute('data-busy') || b.textContent;
      }, 0);
    });
  });
})();
