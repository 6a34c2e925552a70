// The notification bell in the top bar (web/templates/_account.html): the unread count from
// GET /api/v1/notifications, a list opened by a click (each item links to its case; opening it
// marks what it shows read, POST /api/v1/notifications/read), and live: the stream's
// `event: card` (a supervision card or signal was issued) refreshes the count.
(function () {
  'use strict';
  var bell = document.querySelector('.topbar .bell');
  if (!bell) { return; }
  var list = bell.parentNode.querySelector('.bell-list');
  var count = bell.querySelector('.bell-count');
  var W = JSON.parse(bell.getAttribute('data-words'));
  var api = bell.getAttribute('data-api');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var headers = csrfMeta ? {'X-CSRF-Token': csrfMeta.getAttribute('content')} : {};

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function showCount(n) {
    count.textContent = n > 99 ? '99+' : String(n);
    count.hidden = n === 0;
    bell.setAttribute('data-unread', String(n));
    bell.title = W.title + (n ? ' · ' + W.unread_n.replace('{n}', n) : '');
  }

  function load(limit) {
    return fetch(api + '?limit=' + limit, {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  function refresh() {
    load(1).then(function (body) { showCount(body.unread); }, function () {});
  }

  function markRead(ids) {
    if (!ids.length) { return; }
    fetch(api + '/read', {method: 'POST', credentials: 'same-origin',
                          headers: Object.assign({'Content-Type': 'application/json'}, headers),
                          body: JSON.stringify({ids: ids})})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) { showCount(body.unread); }, function () {});
  }

  function render(body) {
    list.textContent = '';
    var head = el('div', {'class': 'bell-head'});
    head.appendChild(el('span', {}, W.title));
    list.appendChild(head);
    if (!body.items.length) {
      list.appendChild(el('p', {'class': 'note', style: 'padding: .4rem .6rem'}, W.none));
      return;
    }
    var ul = el('ul');
    var unread = [];
    body.items.forEach(function (n) {
      var li = el('li', {'class': n.read_at ? 'read' : 'unread', 'data-id': String(n.id)});
      var link = el('a', {href: n.links.page}, '#' + n.case_id + ' ' +
                    (W.card[n.signal] || n.signal) + ' · ' + (W.clock[n.clock] || n.clock || ''));
      li.appendChild(link);
      li.appendChild(el('div', {'class': 'note'},
                        (W.status[n.status] || n.status || '') + ' · ' +
                        n.created_at.slice(0, 16).replace('T', ' ')));
      ul.appendChild(li);
      if (!n.read_at) { unread.push(n.id); }
    });
    list.appendChild(ul);
    markRead(unread);
  }

  bell.addEventListener('click', function () {
    var opening = list.hidden;
    list.hidden = !opening;
    bell.setAttribute('aria-expanded', String(opening));
    if (opening) { load(20).then(render, function () {}); }
  });

  refresh();
  if (window.EventSource) {
    var source = new EventSource('/api/v1/stream');
    source.addEventListener('card', refresh);
  }
})();
