// 待办: the worker's open cases, nearest first (a typed or tapped position when geolocation is
// refused; by deadline when there is no position at all), each a card with its category,
// time left (due soon / overdue / card colours), distance and direction, and a tiny map; an
// overview map above. The list is the last answer of GET /api/v1/worker/inbox kept on the
// phone, with the worker's queued actions laid over it, and is re-sorted whenever the phone
// moves.
import { config, W, el, fmt, duration, localTime } from './ui.js';
import { from, distanceNode, onPosition } from './geo.js';
import { miniMap, leafletMap, showGrids, showPoints, STATUS_COLORS } from './maps.js';

export const state = {data: null, fromCache: false, grids: null, pending: new Map(), map: null};
// A card tapped before the case view's module has loaded (the inbox is drawn first, on a slow
// phone seconds before the rest) is opened as soon as it has, not lost.
let tappedEarly = null;
let openCase = (c) => { tappedEarly = c; };

export function onOpen(fn) {
  openCase = fn;
  if (tappedEarly) { const c = tappedEarly; tappedEarly = null; fn(c); }
}

function gridFeature(code) {
  const features = (state.grids && state.grids.features) || [];
  return features.find((f) => f.properties && f.properties.code === code) || null;
}

// The case as the phone sees it: the server's answer, moved on by the queued actions.
export function effective(c) {
  const queued = state.pending.get(c.id) || [];
  if (!queued.length) { return c; }
  const last = queued[queued.length - 1];
  return {...c, status: last.to_state || c.status, queuedActions: queued};
}

function deadline(c) {
  if (!c.due_at) { return {text: W.no_deadline, state: 'ok'}; }
  const left = (new Date(c.due_at).getTime() - Date.now()) / 1000;
  if (left < 0) { return {text: fmt(W.overdue_by, {t: duration(left)}), state: 'overdue'}; }
  return {text: fmt(W.time_left, {t: duration(left)}),
          state: c.deadline_state === 'overdue' ? 'due_soon' : (c.deadline_state || 'ok')};
}

export function sorted(cases) {
  const withDistance = cases.map((c) => ({c, d: from([c.lon, c.lat]).distance_m}));
  const due = (c) => (c.due_at ? new Date(c.due_at).getTime() : Infinity);
  withDistance.sort((a, b) => {
    if (a.d !== null && b.d !== null) { return a.d - b.d; }
    if (a.d !== null) { return -1; }
    if (b.d !== null) { return 1; }
    return due(a.c) - due(b.c);
  });
  return withDistance.map((x) => x.c);
}

function card(c) {
  const shown = effective(c);
  const dl = deadline(c);
  const cardColour = c.card || null;
  const node = el('article', {class: 'wk-card', tabindex: '0', role: 'button',
    'data-case-id': c.id, 'data-deadline': dl.state, 'data-card': cardColour});
  node.append(miniMap(gridFeature(c.grid_code), c.lon === null ? null : [c.lon, c.lat],
                      STATUS_COLORS[shown.status]));
  const info = el('div', {class: 'wk-card-info'},
    el('h3', {}, el('span', {class: 'wk-cat', text: c.category_name_zh || c.category_code}),
       el('span', {class: 'wk-status', text: config.status[shown.status] || shown.status})),
    el('p', {class: 'wk-desc', text: c.description || ''}),
    el('p', {class: 'wk-meta'},
       el('span', {class: 'wk-deadline', 'data-state': dl.state, text: dl.text}),
       cardColour ? el('span', {class: `wk-cardbadge wk-card-${cardColour}`, text: W[`card_${cardColour}`]}) : null,
       el('span', {class: 'wk-id', text: `#${c.id}`})));
  if (shown.queuedActions) {
    info.append(el('p', {class: 'wk-pending', text: fmt(W.pending_action, {
      a: shown.queuedActions.map((q) => q.label).join('、')})}));
  }
  node.append(info, distanceNode(el, [c.lon, c.lat]));
  const open = () => openCase(c);
  node.addEventListener('click', open);
  node.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { open(); } });
  return node;
}

export function render() {
  const list = document.getElementById('inbox-list');
  const summary = document.getElementById('inbox-summary');
  if (!state.data) { return; }
  const cases = sorted(state.data.cases || []);
  list.replaceChildren(...cases.map(card));
  const byDistance = cases.length && from([cases[0].lon, cases[0].lat]).distance_m !== null;
  let text = cases.length ? fmt(byDistance ? W.inbox_count : W.inbox_by_due, {n: cases.length}) : W.inbox_empty;
  if (state.fromCache && state.data.at) { text += ' · ' + fmt(W.cached_at, {t: localTime(state.data.at)}); }
  summary.textContent = text;
  const badge = document.querySelector('[data-badge="inbox"]');
  badge.textContent = String(cases.length);
  badge.hidden = !cases.length;
  // the overview map follows the list, but re-fits only when the cases change, not at every
  // step the worker takes
  const key = cases.map((c) => c.id).sort().join(',') + (state.grids ? '+grids' : '');
  if (window.L) {  // Leaflet comes after the first screen
    drawMap(cases, key !== state.fittedFor);
    state.fittedFor = key;
  }
}

function drawMap(cases, fit) {
  if (!window.L) { return; }
  if (!state.map) {
    state.map = leafletMap(document.getElementById('inbox-map'), true);
    showGrids(state.map, state.grids);
  }
  showPoints(state.map, cases.map((c) => ({
    lonlat: c.lon === null ? null : [c.lon, c.lat], color: STATUS_COLORS[effective(c).status],
    label: `#${c.id} ${c.category_name_zh || ''}`, onClick: () => openCase(c)})), fit);
}

export function setGrids(grids) {
  state.grids = grids;
  if (state.map) { showGrids(state.map, grids); }
  render();  // the cards' tiny maps draw the outlines
}

export function setData(data, fromCache) {
  state.data = data;
  state.fromCache = fromCache;
  render();
}

export function setPending(items) {
  const byCase = new Map();
  for (const item of items) {
    if (item.kind !== 'transition') { continue; }
    if (!byCase.has(item.case_id)) { byCase.set(item.case_id, []); }
    byCase.get(item.case_id).push(item);
  }
  state.pending = byCase;
  render();
}

export function findCase(id) {
  return ((state.data && state.data.cases) || []).find((c) => c.id === id) || null;
}

export function invalidate() { if (state.map) { state.map.map.invalidateSize(); } }

onPosition(() => render());
