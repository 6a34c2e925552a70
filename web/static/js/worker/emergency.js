// 应急: the tasks of the open emergencies in the worker's grids (GET /api/v1/emergencies/tasks,
// kept on the phone), the most vulnerable first, then the nearest; each confirmed from here —
// safe, relocated (where to, how many people) or not reachable — through the queue (queue.js)
// with the confirmation's own UUID as its id, so one made offline is sent when the network
// comes back, and a send repeated after a lost answer is applied once.
import { W, el, fmt, toast, localTime, localAddress } from './ui.js';
import { from, distanceNode, onPosition } from './geo.js';
import * as queue from './queue.js';

export const state = {data: null, fromCache: false, done: new Map(), lastPlace: ''};

function sorted(tasks) {
  return tasks.map((t, i) => ({t, i, d: from([t.lon, t.lat]).distance_m})).sort((a, b) => {
    if (a.t.vulnerable !== b.t.vulnerable) { return b.t.vulnerable - a.t.vulnerable; }
    if (a.d !== null && b.d !== null && a.d !== b.d) { return a.d - b.d; }
    return a.i - b.i;
  }).map((x) => x.t);
}

async function confirmTask(t, status, fields) {
  state.done.set(t.id, 'queued');
  await queue.add('emergency', {
    label: `${W.kind_emergency} · ${t.name || t.id}`, emergency_id: t.emergency_id, task_id: t.id,
    status, people: fields.people === undefined ? null : fields.people,
    relocated_to: fields.relocated_to || null, note: fields.note || null,
  });
  toast(navigator.onLine ? W.sending : W.emergency_queued);
  render();
}

function relocateForm(t, slot) {
  const place = el('input', {name: 'relocated_to', maxlength: '200', required: true,
                             value: state.lastPlace, placeholder: W.relocated_to_hint});
  const people = el('input', {name: 'people', type: 'number', min: '0', max: '1000',
                              inputmode: 'numeric', value: String(t.residents || 0)});
  const error = el('p', {class: 'wk-error', role: 'alert'});
  const form = el('form', {class: 'wk-form wk-relocate-form', 'data-task': String(t.id), novalidate: true},
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.relocated_to + ' *'}), place),
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.people_count}), people),
    error,
    el('div', {class: 'wk-buttons'},
      el('button', {type: 'submit', class: 'primary', text: W.submit}),
      el('button', {type: 'button', text: W.cancel, onclick: () => slot.replaceChildren()})));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = Number.parseInt(people.value, 10);
    if (!place.value.trim()) { error.textContent = W.need_relocated_to; return; }
    if (!(n >= 0)) { error.textContent = W.need_people; return; }
    form.querySelector('button[type=submit]').disabled = true;
    state.lastPlace = place.value.trim();
    slot.replaceChildren();
    await confirmTask(t, 'relocated', {relocated_to: state.lastPlace, people: n});
  });
  slot.replaceChildren(form);
  place.focus();
}

function row(t) {
  const done = state.done.get(t.id);
  const slot = el('div', {class: 'wk-form-slot'});
  const buttons = done
    ? el('span', {class: 'wk-done', text: done === 'sent' ? W.emergency_sent : W.emergency_queued})
    : el('div', {class: 'wk-em-buttons'},
      el('button', {type: 'button', class: 'wk-em-safe', text: W.confirm_safe,
                    onclick: () => confirmTask(t, 'safe', {people: t.target_type === 'household' ? t.residents : 0})}),
      el('button', {type: 'button', class: 'wk-em-relocate primary', text: W.relocated,
                    onclick: () => relocateForm(t, slot)}),
      el('button', {type: 'button', class: 'wk-em-unreachable', text: W.unreachable,
                    onclick: () => confirmTask(t, 'unreachable', {})}));
  const node = el('article', {class: 'wk-visit wk-em-task', 'data-task': String(t.id),
                              'data-emergency': String(t.emergency_id),
                              'data-vulnerable': t.vulnerable ? String(t.vulnerable) : null,
                              'data-done': done || null},
    el('div', {class: 'wk-visit-info'},
      el('h3', {}, el('span', {class: 'wk-type', text: W[`target_${t.target_type}`] || t.target_type}), ' ',
        el('span', {text: t.name || ''}),
        t.vulnerable ? el('span', {class: 'wk-overdue', text: fmt(W.vulnerable_n, {n: t.vulnerable})}) : null),
      el('p', {class: 'wk-desc', text: localAddress(t.address), title: t.address || null}),
      el('p', {class: 'wk-meta'},
        el('span', {text: t.emergency_name}),
        t.target_type === 'household' ? el('span', {text: fmt(W.residents_n, {n: t.residents})}) : null)),
    distanceNode(el, [t.lon, t.lat]), buttons);
  return el('div', {class: 'wk-visit-wrap'}, node, slot);
}

export function render() {
  const list = document.getElementById('emergency-list');
  const summary = document.getElementById('emergency-summary');
  if (!state.data || !list) { return; }
  if (list.querySelector('.wk-relocate-form')) { return; }  // keep a form being filled in
  const tasks = sorted(state.data.tasks || []);
  list.replaceChildren(...tasks.map(row));
  const open = tasks.filter((t) => !state.done.has(t.id)).length;
  const instructions = [...new Set(tasks.map((t) => t.instructions).filter(Boolean))];
  let text = tasks.length ? fmt(W.emergency_count, {n: open}) : W.emergency_empty;
  if (state.fromCache && state.data.at) { text += ' · ' + fmt(W.cached_at, {t: localTime(state.data.at)}); }
  summary.textContent = text;
  const notes = document.getElementById('emergency-instructions');
  notes.replaceChildren(...instructions.map((i) => el('p', {class: 'wk-warn', text: i})));
  const badge = document.querySelector('[data-badge="emergency"]');
  badge.textContent = String(open);
  badge.hidden = !open;
}

export function setData(data, fromCache) {
  const before = state.data ? new Set(state.data.tasks.map((t) => t.id)) : null;
  state.data = data;
  state.fromCache = fromCache;
  // what the server no longer lists open was confirmed: forget its mark
  const listed = new Set(data.tasks.map((t) => t.id));
  for (const [id, v] of state.done) { if (v === 'sent' && !listed.has(id)) { state.done.delete(id); } }
  if (before && !fromCache && data.tasks.some((t) => !before.has(t.id))) {
    if (navigator.vibrate) { navigator.vibrate([300, 100, 300]); }
    toast(W.emergency_new);
  }
  render();
}

export function setQueued(items) {
  for (const [k, v] of state.done) { if (v === 'queued') { state.done.delete(k); } }
  for (const item of items) { if (item.kind === 'emergency') { state.done.set(item.task_id, 'queued'); } }
  render();
}

export function markSent(item) { state.done.set(item.task_id, 'sent'); render(); }

onPosition(() => render());
