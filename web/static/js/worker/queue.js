// Everything the worker does (a case action, a report, a visit check-in, an emergency task
// confirmed) goes through this queue, online or not: it is written to IndexedDB first, with
// the time and the position of the moment it was done, then sent in order. Each item carries
// its own UUID, sent as the Idempotency-Key (actions, reports) or as the visit's or the
// confirmation's id, so a send repeated after a lost answer is applied once: 409
// already_applied, a visit replay and a confirmation replay count as delivered.
//
// The order is kept: a network failure (or a 5xx) stops the run and the rest waits for the
// next one. A refusal (409 stale_version and the like, a 422) is not dropped: it becomes a
// conflict the worker sees in 同步 until dismissed. Actions queued one after another on one
// case chain their versions: the next one's If-Match is the version the previous one returned;
// when the previous one was refused, the ones after it on that case are not sent (a conflict
// each, "blocked").
import * as store from './store.js';
import { config, W, fmt, uuid, nowIso } from './ui.js';

export const session = {me: null, signedOut: false};
const listeners = [];
let running = null;

export function onChange(fn) { listeners.push(fn); }
function changed(what) { listeners.forEach((fn) => fn(what)); }

// Queue one item (kind transition | visit | report | emergency, with its fields) and try to send at once.
export async function add(kind, fields) {
  const item = {id: uuid(), kind, account: session.me.account, taken_at: nowIso(),
                queued_at: Date.now(), ...fields};
  await store.enqueue(item);
  changed({type: 'queued', item});
  flush();
  return item;
}

export function flush() {
  if (!running) {
    running = (navigator.locks
      ? navigator.locks.request('gridgov-worker-queue', () => run())
      : run()).finally(() => { running = null; });
  }
  return running;
}

async function run() {
  if (!session.me) { return; }
  const items = await store.queued(session.me.account);
  for (const item of items) {
    // 'chain': waiting for the version of the action queued before it on the case, which
    // sets it when it is delivered (null when it was refused)
    const blockedBy = item.kind === 'transition' && (item.if_match === null || item.if_match === 'chain');
    let outcome;
    if (blockedBy) {
      outcome = {type: 'conflict', code: 'blocked', message: W.conflict_blocked};
    } else {
      try {
        outcome = await send(item);
      } catch (e) {
        outcome = {type: 'later'};
      }
    }
    if (outcome.type === 'later' || outcome.type === 'auth') {
      session.signedOut = outcome.type === 'auth';
      changed({type: outcome.type});
      return;
    }
    session.signedOut = false;
    if (item.kind === 'transition') {
      // the next queued action on this case decides on the version this one produced; after
      // a refusal it has nothing to decide on
      const next = (await store.queued(session.me.account)).find(
        (o) => o.seq > item.seq && o.kind === 'transition' && o.case_id === item.case_id);
      if (next) {
        next.if_match = outcome.type === 'delivered' ? outcome.version : null;
        await store.update(next);
      }
    }
    if (outcome.type === 'conflict') {
      await store.addConflict({id: item.id, seq: item.seq, account: item.account, kind: item.kind,
                               label: item.label, taken_at: item.taken_at, case_id: item.case_id,
                               code: outcome.code, message: outcome.message,
                               details: outcome.details || null});
    } else {
      await remember(item, outcome);
    }
    await store.remove(item.seq);
    changed({type: outcome.type, item, outcome});
  }
}

async function remember(item, outcome) {
  const key = `${item.account}:sent`;
  const sent = (await store.get(key)) || [];
  sent.unshift({id: item.id, kind: item.kind, label: item.label, taken_at: item.taken_at,
                sent_at: new Date().toISOString(), case_id: outcome.case_id || item.case_id || null});
  await store.put(key, sent.slice(0, 20));
}

function headers(extra) {
  return {'X-CSRF-Token': session.me.csrf_token || '', ...extra};
}

// JSON, or multipart when there are photos: the fields as the route's form takes them.
function body(fields, photos, form) {
  if (!photos || !photos.length) {
    return {body: JSON.stringify(fields), type: 'application/json'};
  }
  const data = form(fields);
  photos.forEach((blob, i) => data.append('photos', blob, `photo-${i + 1}.jpg`));
  return {body: data, type: null};
}

function asForm(fields, jsonFields) {
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === null || v === undefined) { continue; }
    data.append(k, jsonFields.includes(k) ? JSON.stringify(v) : String(v));
  }
  return data;
}

function request(item) {
  if (item.kind === 'transition') {
    const fields = {action: item.action, taken_at: item.taken_at};
    if (item.note) { fields.note = item.note; }
    if (item.to !== null && item.to !== undefined) { fields.to = item.to; }
    if (item.position) { fields.position = item.position; }
    const b = body(fields, item.photos, (f) => asForm(f, ['to', 'position']));
    return {url: `${config.urls.cases}/${item.case_id}/transitions`, ...b,
            headers: {'If-Match': `"${item.if_match}"`, 'Idempotency-Key': item.id}};
  }
  if (item.kind === 'visit') {
    const fields = {id: item.id, target: item.target, visited_at: item.taken_at,
                    position: item.position, accuracy_m: item.accuracy_m, crs: item.crs,
                    note: item.note || null, outcome: item.outcome};
    if (item.outcome === 'problem') { fields.case = item.case; }
    const b = body(fields, item.photos, (f) => { const d = new FormData(); d.append('visit', JSON.stringify(f)); return d; });
    return {url: config.urls.visits, ...b, headers: {}};
  }
  if (item.kind === 'emergency') {
    // an emergency task confirmed (emergency.js): the queue item's id is the confirmation's
    const fields = {id: item.id, status: item.status, people: item.people,
                    relocated_to: item.relocated_to, note: item.note, confirmed_at: item.taken_at};
    return {url: `/api/v1/emergencies/${item.emergency_id}/tasks/${item.task_id}/confirm`,
            body: JSON.stringify(fields), type: 'application/json', headers: {}};
  }
  // report: a new case on the patrol channel, where and when it was seen
  const report = {category: item.category, description: item.description, channel: 'patrol',
                  location: {lon: item.position[0], lat: item.position[1], crs: item.crs},
                  occurred_at: item.taken_at};
  const b = body(report, item.photos, (f) => { const d = new FormData(); d.append('case', JSON.stringify(f)); return d; });
  return {url: config.urls.cases, ...b, headers: {'Idempotency-Key': item.id}};
}

async function refreshCsrf() {
  const resp = await fetch(config.urls.me, {credentials: 'same-origin', cache: 'no-store'});
  if (!resp.ok) { return false; }
  session.me = await resp.json();
  await store.put('me', session.me);
  return true;
}

async function send(item, retried) {
  const r = request(item);
  const h = headers(r.headers);
  if (r.type) { h['Content-Type'] = r.type; }
  const resp = await fetch(r.url, {method: 'POST', credentials: 'same-origin', headers: h,
                                   body: r.body, redirect: 'manual'});
  let answer = {};
  try { answer = await resp.json(); } catch (e) { answer = {}; }
  const code = answer.error;
  if (resp.ok) {
    if (item.kind === 'transition') { return {type: 'delivered', version: answer.version, status: answer.status}; }
    if (item.kind === 'visit') { return {type: 'delivered', visit: answer.visit, case_id: answer.visit && answer.visit.case_id}; }
    if (item.kind === 'emergency') { return {type: 'delivered', task: answer.task}; }
    return {type: 'delivered', case_id: answer.id};
  }
  if (resp.status === 409 && code === 'already_applied') {
    const d = answer.details || {};
    return {type: 'delivered', version: d.version, status: d.status};
  }
  if (resp.status === 401 || resp.type === 'opaqueredirect') { return {type: 'auth'}; }
  if (resp.status === 403 && code === 'csrf_failed') {
    if (!retried && await refreshCsrf()) { return send(item, true); }
    return {type: 'auth'};
  }
  if (resp.status >= 500 || resp.status === 429 || resp.status === 0 || resp.status === 408) {
    return {type: 'later'};
  }
  let message = fmt(W.conflict_generic, {message: answer.message || resp.status});
  if (code === 'stale_version') {
    const status = (answer.details && answer.details.status) || '';
    message = fmt(W.conflict_stale_version, {status: config.status[status] || status});
  }
  return {type: 'conflict', code: code || String(resp.status), message, details: answer.details};
}

export async function pending() {
  return session.me ? store.queued(session.me.account) : [];
}

export { nowIso };
