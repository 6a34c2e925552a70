// The grid worker's phone page (web/worker.py): starts the position, shows what the phone kept
// (IndexedDB) at once, then asks the server for fresh data, listens to the live stream, sends
// the queue whenever the network is there, and registers the service worker that lets the page
// open offline. Marks `gridgov-worker-interactive` (performance.mark) when the inbox is drawn
// and the page answers taps: bench/worker_page_bench.py measures it.
import { config, W, fmt, toast } from './ui.js';
import * as store from './store.js';
import * as geo from './geo.js';
import * as queue from './queue.js';
import * as inbox from './inbox.js';

// loaded once the inbox is drawn (see web/worker.py LATER); stand-ins until then
const noop = () => null;
let caseView = {open: noop, refresh: noop, close: noop};
let report = {render: noop, setGrids: noop, setCategories: noop};
let visits = {setData: noop, setQueued: noop, markSent: noop, setCategories: noop, shownTab: noop};
let sync = {render: noop};
let emergency = {setData: noop, setQueued: noop, markSent: noop, render: noop};

const urls = config.urls;
const known = new Set();  // case ids the inbox has shown: a new one vibrates
let interactive = false;

function markInteractive() {
  if (interactive) { return; }
  interactive = true;
  performance.mark('gridgov-worker-interactive');
  document.body.dataset.ready = '1';
}

async function getJson(url, early) {
  const resp = (early && await early)
    || await fetch(url, {credentials: 'same-origin', cache: 'no-store', redirect: 'manual'});
  if (resp.type === 'opaqueredirect' || resp.status === 401) {
    const error = new Error('signed out');
    error.signedOut = true;
    throw error;
  }
  if (!resp.ok) { throw new Error(`${url}: ${resp.status}`); }
  return resp.json();
}

function withPosition(url) {
  const p = geo.position;
  if (!p.raw) { return url; }
  return `${url}?lon=${p.raw[0]}&lat=${p.raw[1]}&crs=${p.crs}`;
}

const account = () => queue.session.me.account;

async function loadInbox(early) {
  try {
    const data = await getJson(withPosition(urls.inbox), early);
    const fresh = data.cases.filter((c) => !known.has(c.id));
    if (known.size && fresh.length) {
      if (navigator.vibrate) { navigator.vibrate([150, 80, 150]); }
      const title = fmt(W.new_case, {c: fresh.map((c) => c.category_name_zh).join('、')});
      toast(title);
      if ('Notification' in window && Notification.permission === 'granted' && document.hidden) {
        new Notification(title);
      }
    }
    data.cases.forEach((c) => known.add(c.id));
    await store.put(`${account()}:inbox`, data);
    inbox.setData(data, false);
    caseView.refresh();
  } catch (e) {
    if (e.signedOut) { window.location.assign(urls.login); }
  }
}

async function loadVisits() {
  try {
    const data = await getJson(withPosition(urls.visitsDue));
    await store.put(`${account()}:visits`, data);
    visits.setData(data, false);
  } catch (e) { /* offline: the copy kept on the phone stays */ }
}

// the emergency tasks of the worker's grids (emergency.js), kept on the phone like the inbox
async function loadEmergency() {
  try {
    const data = await getJson(withPosition(urls.emergencyTasks));
    await store.put(`${account()}:emergency`, data);
    emergency.setData(data, false);
  } catch (e) { /* offline: the copy kept on the phone stays */ }
}

async function loadStatic(key, url, apply) {
  try {
    const data = await getJson(url);
    await store.put(key, data);
    apply(data);
  } catch (e) { /* offline */ }
}

async function pendingChanged() {
  const items = await queue.pending();
  inbox.setPending(items);
  visits.setQueued(items);
  emergency.setQueued(items);
  caseView.refresh();
  sync.render();
}

function setNet() {
  const node = document.getElementById('wk-net');
  node.dataset.state = navigator.onLine ? 'online' : 'offline';
  node.textContent = navigator.onLine ? W.online : W.offline;
}

let streamTimer = null;
let emergencyTimer = null;
function listen() {
  if (!window.EventSource) { return; }
  const source = new EventSource(urls.stream);
  source.addEventListener('case', () => {
    clearTimeout(streamTimer);
    streamTimer = setTimeout(loadInbox, 300);
  });
  // an emergency mobilised, confirmed or closed in the worker's grids (web/live.py)
  source.addEventListener('emergency', () => {
    clearTimeout(emergencyTimer);
    emergencyTimer = setTimeout(loadEmergency, 300);
  });
  // connected (again): what came while the stream was away
  source.addEventListener('open', () => { if (booted) { loadEmergency(); } });
}

function tabs() {
  for (const button of document.querySelectorAll('.wk-tabs button')) {
    button.addEventListener('click', () => {
      caseView.close();
      const name = button.dataset.tab;
      for (const b of document.querySelectorAll('.wk-tabs button')) {
        b.setAttribute('aria-selected', String(b === button));
      }
      for (const tab of document.querySelectorAll('.wk-tab')) { tab.hidden = tab.dataset.tab !== name; }
      if (name === 'inbox') { inbox.invalidate(); }
      if (name === 'visits') { visits.shownTab(); }
      if (name === 'sync') { sync.render(); }
      if (name === 'emergency') { emergency.render(); }
    });
  }
}

function takeEarly(name) {
  const early = window.gridgovEarly && window.gridgovEarly[name];
  if (window.gridgovEarly) { delete window.gridgovEarly[name]; }
  return early;
}

async function freshMe() {
  try {
    return await getJson(urls.me, takeEarly('me'));
  } catch (e) {
    if (e.signedOut) { window.location.assign(urls.login); }
    return null;  // offline
  }
}

async function showKept() {
  // the inbox is drawn already (boot); the rest of what the phone kept
  const [cachedInbox, cachedVisits, grids, categories, cachedEmergency] = await Promise.all([
    store.get(`${account()}:inbox`), store.get(`${account()}:visits`),
    store.get(`${account()}:grids`), store.get('categories'), store.get(`${account()}:emergency`)]);
  if (cachedEmergency) { emergency.setData(cachedEmergency, true); }
  if (grids) { inbox.setGrids(grids); report.setGrids(grids); }
  if (categories) { report.setCategories(categories); visits.setCategories(categories); }
  if (cachedInbox && !inbox.state.data) { inbox.setData(cachedInbox, true); }
  if (cachedVisits) { visits.setData(cachedVisits, true); }
}

function loadLeaflet() {
  document.head.append(Object.assign(document.createElement('link'), {rel: 'stylesheet', href: urls.leafletCss}));
  const script = Object.assign(document.createElement('script'), {src: urls.leaflet});
  script.onload = () => { inbox.render(); if (!document.getElementById('tab-visits').hidden) { visits.shownTab(); } };
  document.head.append(script);
}

async function loadRest() {
  const [c, r, v, s, e] = await Promise.all([import('./case.js'), import('./report.js'),
                                             import('./visits.js'), import('./sync.js'),
                                             import('./emergency.js')]);
  caseView = c; report = r; visits = v; sync = s; emergency = e;
  inbox.onOpen(caseView.open);
  await showKept();
  await pendingChanged();
}

let booted = false;

async function boot() {
  tabs();
  setNet();
  // the network's state from the first moment: going offline while the rest still loads must
  // show (and an 'online' then must not flush a queue that is not there yet)
  window.addEventListener('offline', setNet);
  window.addEventListener('online', () => {
    setNet();
    if (booted) { queue.flush(); loadInbox(); loadVisits(); loadEmergency(); }
  });
  geo.start();
  // who was signed in last, and what the phone kept for them: drawn at once, even offline
  const kept = await store.get('me');
  let cached = null;
  if (kept) {
    queue.session.me = kept;
    cached = (await store.get(`${account()}:inbox`)) || null;
    if (cached) {
      cached.cases.forEach((c) => known.add(c.id));
      inbox.setData(cached, true);
      inbox.setPending(await queue.pending());
      markInteractive();
    }
  }
  const found = await freshMe();
  if (found) {
    if (kept && kept.account !== found.account) { known.clear(); cached = null; }
    await store.put('me', found);
    queue.session.me = found;
  }
  if (!queue.session.me) { document.getElementById('inbox-summary').textContent = W.load_failed; return; }
  document.getElementById('wk-who').textContent = queue.session.me.display_name;
  if (!cached) {
    await loadInbox(takeEarly('inbox'));
    if (!inbox.state.data) { inbox.setData({cases: []}, true); }
  }
  inbox.setPending(await queue.pending());
  markInteractive();
  loadLeaflet();
  await loadRest();
  queue.onChange(async (what) => {
    await pendingChanged();
    if (what.type === 'delivered' && what.item.kind === 'emergency') {
      emergency.markSent(what.item);
      return;
    }
    if (what.type === 'delivered') {
      if (what.item.kind === 'visit') { visits.markSent(what.item); loadVisits(); }
      if (what.item.kind === 'report') { toast(fmt(W.report_sent, {id: what.outcome.case_id})); }
      if (what.item.kind === 'transition') { toast(`${W.sent}：${what.item.label} #${what.item.case_id}`); }
      loadInbox();
    }
    if (what.type === 'conflict') { toast(what.outcome.message, 'error'); loadInbox(); }
  });
  if (cached) { loadInbox(takeEarly('inbox')); }
  loadVisits();
  loadEmergency();
  loadStatic(`${account()}:grids`, urls.grids, (g) => { inbox.setGrids(g); report.setGrids(g); });
  loadStatic('categories', urls.categories, (c) => { report.setCategories(c); visits.setCategories(c); });
  listen();
  queue.flush();
  booted = true;
  // every module loaded and the listeners on: what a phone needs before it loses the network
  // (the service worker then holds the page and its scripts)
  document.body.dataset.booted = '1';
  setNet();
  setInterval(() => { if (navigator.onLine) { queue.flush(); } }, 20000);
  // the inbox's deadlines tick on the phone
  setInterval(() => inbox.render(), 60000);
  let moved = null;
  geo.onPosition(() => {
    // fresh distances from the server now and then, not at every step
    clearTimeout(moved);
    moved = setTimeout(() => { if (navigator.onLine) { loadInbox(); loadVisits(); } }, 5000);
    report.render();
  });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register(urls.sw, {scope: '/worker'}).catch(() => null);
    // the page and its scripts are in the service worker's cache: safe to lose the network
    navigator.serviceWorker.ready.then(() => { document.body.dataset.offlineReady = '1'; });
  }
}

boot();
