// 同步: what is waiting to be sent (in order, with the time each was done), what the server
// refused (conflicts: kept until the worker has seen them), and what was sent lately.
import { config, W, el, fmt, localTime } from './ui.js';
import * as store from './store.js';
import * as queue from './queue.js';

function itemRow(item, extra) {
  return el('li', {class: 'wk-sync-item', 'data-kind': item.kind, 'data-id': item.id},
    el('b', {text: item.label || W[`kind_${item.kind}`]}),
    item.case_id ? el('span', {text: ` #${item.case_id}`}) : null,
    el('small', {text: ' · ' + fmt(W.taken_at, {t: localTime(item.taken_at)})}), extra || null);
}

export async function render() {
  const panel = document.getElementById('sync-panel');
  if (!queue.session.me) { return; }
  const account = queue.session.me.account;
  const [items, conflicts, sent] = await Promise.all([
    store.queued(account), store.conflicts(account), store.get(`${account}:sent`)]);
  const parts = [];
  if (queue.session.signedOut) {
    parts.push(el('p', {class: 'wk-warn'}, W.sign_in_again, ' ',
                  el('a', {href: config.urls.login, text: W.go_sign_in})));
  }
  parts.push(el('h2', {text: W.conflicts}), conflicts.length
    ? el('ul', {class: 'wk-conflicts'}, ...conflicts.map((c) => itemRow(c, el('div', {class: 'wk-conflict'},
        el('p', {class: 'wk-error', 'data-code': c.code, text: c.message}),
        el('button', {type: 'button', text: W.dismiss, onclick: async () => {
          await store.dismissConflict(c.id); render(); }})))))
    : el('p', {class: 'wk-note', text: W.conflicts_empty}));
  parts.push(el('h2', {text: W.sync_title}), items.length
    ? el('ol', {class: 'wk-queue'}, ...items.map((i) => itemRow(i)))
    : el('p', {class: 'wk-note', text: W.sync_empty}));
  if (items.length) {
    parts.push(el('button', {type: 'button', class: 'primary', text: W.sync_now, onclick: () => queue.flush()}));
  }
  if (sent && sent.length) {
    parts.push(el('h2', {text: W.sent_recent}), el('ul', {class: 'wk-sent'}, ...sent.map((s) => itemRow(s))));
  }
  if ('Notification' in window && Notification.permission === 'default') {
    parts.push(el('button', {type: 'button', class: 'wk-notify', text: W.enable_notifications,
                             onclick: () => Notification.requestPermission().then(render)}));
  }
  panel.replaceChildren(...parts);
  const badge = document.querySelector('[data-badge="sync"]');
  const n = items.length + conflicts.length;
  badge.textContent = String(n);
  badge.hidden = !n;
  badge.dataset.conflicts = conflicts.length ? '1' : '';
}
