// 巡访: today's patrol visits (GET /api/v1/visits/due, kept on the phone), nearest first, on
// a map; the ones missed last period first among equals as the server orders them. A check-in
// records where the phone is (and how sure it is), a note, photos and the outcome; "problem
// found" opens a case at the target, with a category and a description prefilled. Check-ins
// go through the queue (queue.js) with the visit's own UUID as its id.
import { W, el, fmt, toast, localTime, distanceText, localAddress } from './ui.js';
import { position, from, distanceNode, onPosition } from './geo.js';
import { leafletMap, showPoints } from './maps.js';
import { photoField } from './photos.js';
import * as queue from './queue.js';

export const state = {data: null, fromCache: false, done: new Map(), categories: null, map: null};

function key(t) { return t.key || `${t.type}:${t.id}`; }

function sorted(targets) {
  return targets.map((t, i) => ({t, i, d: from([t.lon, t.lat]).distance_m})).sort((a, b) => {
    if (a.d !== null && b.d !== null && a.d !== b.d) { return a.d - b.d; }
    return a.i - b.i;
  }).map((x) => x.t);
}

function problemCategory() {
  const tops = (state.categories && state.categories.categories) || [];
  const select = el('select', {name: 'category'}, el('option', {value: '', text: W.choose}));
  for (const top of tops) {
    const group = el('optgroup', {label: top.name_zh});
    for (const sub of (top.subcategories.length ? top.subcategories : [top])) {
      group.append(el('option', {value: sub.code, text: sub.name_zh}));
    }
    select.append(group);
  }
  return select;
}

function checkInForm(t, slot) {
  const d = from([t.lon, t.lat]).distance_m;
  const note = el('textarea', {name: 'note', rows: '2', maxlength: '2000'});
  const photos = photoField();
  const ok = el('input', {type: 'radio', name: 'outcome', value: 'ok', checked: true});
  const problem = el('input', {type: 'radio', name: 'outcome', value: 'problem'});
  const category = problemCategory();
  const description = el('textarea', {name: 'description', rows: '2', maxlength: '2000'});
  description.value = `${t.type_zh || ''}${t.name ? ' ' + t.name : ''}：`;
  const problemBox = el('div', {class: 'wk-problem', hidden: true},
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.category + ' *'}), category),
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.problem_description + ' *'}), description));
  ok.addEventListener('change', () => { problemBox.hidden = true; });
  problem.addEventListener('change', () => { problemBox.hidden = false; });
  const error = el('p', {class: 'wk-error', role: 'alert'});
  const form = el('form', {class: 'wk-form wk-visit-form', 'data-target': key(t), novalidate: true},
    el('h3', {text: fmt(W.check_in_title, {name: t.name || key(t)})}),
    d !== null && d > 100 ? el('p', {class: 'wk-warn', text: fmt(W.far_from_target, {d: distanceText(d)})}) : null,
    el('fieldset', {class: 'wk-outcome'}, el('legend', {text: W.outcome}),
      el('label', {}, ok, ' ', W.outcome_ok), el('label', {}, problem, ' ', W.outcome_problem)),
    problemBox,
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.note}), note),
    photos.node, error,
    el('div', {class: 'wk-buttons'},
      el('button', {type: 'submit', class: 'primary', text: W.check_in}),
      el('button', {type: 'button', text: W.cancel, onclick: () => slot.replaceChildren()})));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!position.raw) { error.textContent = W.need_position; return; }
    const outcome = problem.checked ? 'problem' : 'ok';
    if (outcome === 'problem' && !category.value) { error.textContent = W.need_category; return; }
    if (outcome === 'problem' && !description.value.trim()) { error.textContent = W.need_description; return; }
    form.querySelector('button[type=submit]').disabled = true;
    state.done.set(key(t), 'queued');
    await queue.add('visit', {
      label: `${W.kind_visit} · ${t.name || key(t)}`, target: {type: t.type, id: t.id},
      target_key: key(t), position: position.raw.slice(), crs: position.crs,
      accuracy_m: position.accuracy === null ? null : Math.round(position.accuracy * 10) / 10,
      note: note.value.trim() || null, outcome,
      case: outcome === 'problem' ? {category_code: category.value, description: description.value.trim()} : null,
      photos: await photos.blobs(),
    });
    toast(navigator.onLine ? W.sending : W.checked_in_queued);
    slot.replaceChildren();
    render();
  });
  slot.replaceChildren(form);
  form.scrollIntoView({block: 'nearest'});
}

function row(t) {
  const done = state.done.get(key(t));
  const slot = el('div', {class: 'wk-form-slot'});
  const node = el('article', {class: 'wk-visit', 'data-key': key(t), 'data-overdue': t.overdue ? '1' : null,
                              'data-done': done || null},
    el('div', {class: 'wk-visit-info'},
      el('h3', {}, el('span', {class: 'wk-type', text: t.type_zh || t.type}), ' ', el('span', {text: t.name || ''})),
      el('p', {class: 'wk-desc', text: localAddress(t.address), title: t.address || null}),
      el('p', {class: 'wk-meta'},
        el('span', {text: t.every === 'week' ? W.every_week : W.every_month}),
        t.overdue ? el('span', {class: 'wk-overdue', text: W.visit_overdue}) : null,
        el('span', {text: t.last_visit_at ? fmt(W.last_visit, {t: localTime(t.last_visit_at)}) : W.never_visited}),
        t.due_by ? el('span', {text: fmt(W.due_by, {d: t.due_by})}) : null)),
    distanceNode(el, [t.lon, t.lat]),
    done ? el('span', {class: 'wk-done', text: done === 'sent' ? W.checked_in : W.checked_in_queued})
      : el('button', {type: 'button', class: 'wk-checkin primary', text: W.check_in,
                      onclick: () => checkInForm(t, slot)}));
  return el('div', {class: 'wk-visit-wrap'}, node, slot);
}

export function render() {
  const list = document.getElementById('visits-list');
  const summary = document.getElementById('visits-summary');
  if (!state.data) { return; }
  // keep a form the worker is filling in
  if (list.querySelector('.wk-visit-form')) { return; }
  const targets = sorted(state.data.targets || []);
  list.replaceChildren(...targets.map(row));
  const open = targets.filter((t) => !state.done.has(key(t))).length;
  let text = targets.length ? fmt(W.visits_count, {n: open}) : W.visits_empty;
  if (state.fromCache && state.data.at) { text += ' · ' + fmt(W.cached_at, {t: localTime(state.data.at)}); }
  summary.textContent = text;
  const badge = document.querySelector('[data-badge="visits"]');
  badge.textContent = String(open);
  badge.hidden = !open;
  if (window.L && !document.getElementById('tab-visits').hidden) { drawMap(targets); }
}

function drawMap(targets) {
  if (!state.map) { state.map = leafletMap(document.getElementById('visits-map'), true); }
  const keyNow = targets.map(key).join(',');
  showPoints(state.map, targets.map((t) => ({
    lonlat: t.lon === null ? null : [t.lon, t.lat], color: t.overdue ? '#d7191c' : '#2c7fb8',
    label: `${t.type_zh || ''} ${t.name || ''}`})), keyNow !== state.fittedFor);
  state.fittedFor = keyNow;
}

export function shownTab() {
  render();
  if (state.map) { state.map.map.invalidateSize(); }
}

export function setData(data, fromCache) {
  state.data = data;
  state.fromCache = fromCache;
  // what the server lists is not yet visited; what it no longer lists was
  render();
}

export function setQueued(items) {
  for (const [k, v] of state.done) { if (v === 'queued') { state.done.delete(k); } }
  for (const item of items) { if (item.kind === 'visit') { state.done.set(item.target_key, 'queued'); } }
  render();
}

export function markSent(item) { state.done.set(item.target_key, 'sent'); render(); }
export function setCategories(c) { state.categories = c; }

onPosition(() => render());
