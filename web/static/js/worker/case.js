// One case, opened from the inbox: its facts, a small map, and the actions the API says the
// worker may take now (the inbox's `actions`, the answer GET …/transitions would give; after
// an action queued offline, the workflow's next actions for the state it leads to, which the
// server confirms or refuses when it is sent). An action is queued with its time, position,
// note and photos (queue.js), never sent by another path.
import { config, W, el, fmt, toast, duration } from './ui.js';
import { position, distanceNode } from './geo.js';
import { leafletMap, showGrids, showPoints, STATUS_COLORS } from './maps.js';
import { photoField } from './photos.js';
import * as queue from './queue.js';
import * as inbox from './inbox.js';

let current = null;  // the case id shown
let sheetMap = null;

function label(a) {
  if (a.action === 'feed_back') { return W.feed_back; }
  if (a.action === 'note') { return W.note_action; }
  return config.lang === 'en' ? (a.name || a.name_zh) : a.name_zh;
}

// What the worker may do now: the server's list, or after queued actions the workflow's.
function actionsFor(c) {
  const shown = inbox.effective(c);
  if (!shown.queuedActions) { return c.actions || []; }
  const role = queue.session.me && queue.session.me.role;
  return (config.workflow[shown.status] || []).filter((a) => !role || a.roles.includes(role));
}

function close() {
  document.getElementById('wk-sheet').hidden = true;
  document.body.classList.remove('wk-sheet-open');
  current = null;
  if (sheetMap) { sheetMap.map.stop(); sheetMap.map.remove(); sheetMap = null; }
}

function targetInput(kind) {
  if (kind === 'extension_days') {
    const input = el('input', {type: 'number', name: 'to', min: '1', max: '30', step: '1', inputmode: 'numeric'});
    return {caption: W.extension_days, input, read: () => Number(input.value)};
  }
  return null;
}

function actionForm(c, a, slot) {
  const form = el('form', {class: 'wk-form wk-action-form', 'data-action': a.action, novalidate: true});
  form.append(el('h3', {text: label(a)}));
  const target = a.to ? targetInput(a.to) : null;
  if (target) {
    form.append(el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: `${target.caption} *`}), target.input));
  }
  const note = el('textarea', {name: 'note', rows: '3', maxlength: String(config.maxNote)});
  form.append(el('label', {class: 'wk-field'},
    el('span', {class: 'caption', text: (a.needs_reason ? W.reason + ' *' : W.note)}), note));
  const photos = a.action === 'accept' ? null : photoField();
  if (photos) { form.append(photos.node); }
  const error = el('p', {class: 'wk-error', role: 'alert'});
  form.append(error, el('div', {class: 'wk-buttons'},
    el('button', {type: 'submit', class: 'primary', text: W.submit}),
    el('button', {type: 'button', text: W.cancel, onclick: () => slot.replaceChildren()})));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = note.value.trim();
    if (a.needs_reason && !text) { error.textContent = W.reason + '：' + W.required; return; }
    let to = null;
    if (target) {
      to = target.read();
      if (!to) { error.textContent = target.caption + '：' + W.required; return; }
    }
    form.querySelector('button[type=submit]').disabled = true;
    const shown = inbox.effective(c);
    const item = await queue.add('transition', {
      case_id: c.id, action: a.action, label: label(a), to_state: a.to_state || shown.status,
      note: text || null, to, photos: photos ? await photos.blobs() : [],
      position: position.lonlat ? position.lonlat.map((v) => Math.round(v * 1e7) / 1e7) : null,
      if_match: shown.queuedActions ? 'chain' : c.version,
    });
    slot.replaceChildren();
    toast(navigator.onLine ? W.sending : W.queued);
    return item;
  });
  slot.replaceChildren(form);
  (target ? target.input : note).focus();
}

export function open(c) {
  current = c.id;
  const sheet = document.getElementById('wk-sheet');
  const shown = inbox.effective(c);
  const due = c.due_at ? (new Date(c.due_at).getTime() - Date.now()) / 1000 : null;
  const slot = el('div', {class: 'wk-form-slot'});
  const actions = actionsFor(c);
  const buttons = el('div', {class: 'wk-actions'}, ...actions.map((a) => el('button', {
    type: 'button', class: 'wk-action', 'data-action': a.action, text: label(a),
    onclick: () => actionForm(c, a, slot)})));
  if (sheetMap) { sheetMap.map.stop(); sheetMap.map.remove(); sheetMap = null; }
  const mapNode = el('div', {class: 'wk-map wk-case-map'});
  sheet.replaceChildren(...[
    el('div', {class: 'wk-sheet-top'},
      el('button', {type: 'button', class: 'wk-back', text: W.back, onclick: close}),
      el('span', {class: 'wk-id', text: `#${c.id}`})),
    el('h2', {}, el('span', {text: c.category_name_zh || c.category_code}), ' ',
      el('span', {class: 'wk-status-badge', style: `background:${STATUS_COLORS[shown.status] || '#555'}`,
                  'data-status': shown.status, text: config.status[shown.status] || shown.status})),
    el('dl', {class: 'wk-facts'},
      el('dt', {text: W.deadline}),
      el('dd', {'data-state': due !== null && due < 0 ? 'overdue' : (c.deadline_state || 'ok'),
                text: due === null ? W.no_deadline : fmt(due < 0 ? W.overdue_by : W.time_left, {t: duration(due)})}),
      el('dt', {text: W.description}), el('dd', {class: 'wk-description', text: c.description || '—'}),
      el('dt', {text: W.address}), el('dd', {text: c.address || '—'}),
      el('dt', {text: W.grid}), el('dd', {text: c.grid_code || '—'})),
    distanceNode(el, [c.lon, c.lat]),
    shown.queuedActions ? el('p', {class: 'wk-pending', text: fmt(W.pending_action, {
      a: shown.queuedActions.map((q) => q.label).join('、')})}) : null,
    mapNode,
    el('h3', {text: W.actions}),
    actions.length ? buttons : el('p', {class: 'wk-note', text: W.no_actions}),
    slot,
    el('p', {}, el('a', {href: config.urls.casePage + c.id, class: 'wk-link', text: W.open_case_page})),
  ].filter(Boolean));
  sheet.hidden = false;
  document.body.classList.add('wk-sheet-open');
  sheet.scrollTop = 0;
  if (window.L) {
    sheetMap = leafletMap(mapNode, false);
    const grid = ((inbox.state.grids && inbox.state.grids.features) || []).filter(
      (f) => f.properties && f.properties.code === c.grid_code);
    showGrids(sheetMap, {type: 'FeatureCollection', features: grid});
    showPoints(sheetMap, [{lonlat: c.lon === null ? null : [c.lon, c.lat], color: STATUS_COLORS[shown.status]}]);
  }
}

// The inbox changed (a new answer, a queued action): show the open case again, or close it
// when it has left the inbox.
export function refresh() {
  if (current === null) { return; }
  const c = inbox.findCase(current);
  if (!c) { close(); return; }
  const sheet = document.getElementById('wk-sheet');
  if (sheet.querySelector('.wk-action-form')) { return; }  // the worker is typing: leave it
  open(c);
}

export function shown() { return current; }
export { close };
