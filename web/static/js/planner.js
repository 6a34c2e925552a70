/* The planner's page (/planner, web/planner.py): a draft of the grid boundaries on a map over
 * the current ones, edited only through the drafts API.
 *
 * Drawing and vertex editing are Leaflet-Geoman's (scripts/vendor_assets.py says why it and
 * not Leaflet.draw). The page never computes a boundary itself: it sends what the planner drew
 * (a polygon, a line, moved vertices) and redraws the draft from the server's answer, which
 * snaps and keeps shared edges shared (planning/operations.py). Every write carries the
 * revision the planner saw (If-Match); a 409 says what changed since and reloads the draft.
 * After every edit the validation and the impact below the map are asked again, and the
 * grids the impact names are coloured on the map.
 *
 * Every string from the API is written with textContent (el() below), never as HTML.
 */
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('planner-config').textContent);
  const W = config.words;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.getAttribute('content') : null;
  const $ = (id) => document.getElementById(id);
  const TZ = 'Asia/Shanghai';  // the town's clock: cases/deadlines.py LOCAL_TZ
  const TZ_OFFSET = '+08:00';

  // ---- small helpers ------------------------------------------------------------------------

  function fmt(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Content for Leaflet's tooltips: an element, since a string would be read as HTML. */
  function text(value) {
    return el('span', {}, value);
  }

  const localFormat = new Intl.DateTimeFormat('sv-SE', {
    timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    minute: '2-digit', hour12: false,
  });

  /** An ISO time as 'YYYY-MM-DD HH:MM' on the town's clock. */
  function local(iso) {
    return iso ? localFormat.format(new Date(iso)) : '';
  }

  function number(v) {
    return v === null || v === undefined ? '—' : Number(v).toLocaleString(config.lang === 'zh' ? 'zh-CN' : 'en');
  }

  class ApiFailure extends Error {
    constructor(status, body) {
      super((body && body.message) || ('HTTP ' + status));
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(method, url, options) {
    const opts = options || {};
    const headers = {Accept: 'application/json'};
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.revision !== undefined) headers['If-Match'] = '"' + opts.revision + '"';
    if (CSRF && method !== 'GET') headers['X-CSRF-Token'] = CSRF;
    const response = await fetch(url, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    if (!response.ok) throw new ApiFailure(response.status, data);
    return {status: response.status, data};
  }

  // ---- state --------------------------------------------------------------------------------

  const state = {
    draft: null,          // the draft's summary (id, scope, state, revision, …)
    revision: null,       // the revision the planner sees: sent as If-Match
    features: new Map(),  // code -> GeoJSON feature of the draft
    layers: new Map(),    // code -> Leaflet layer of the draft
    current: new Map(),   // code -> feature of the current boundaries (names, codes in use)
    selection: [],        // selected grid codes, in the order clicked
    tool: null,           // the tool being used: draw, reshape, split, move_edge
    toolLayer: null,      // what the tool drew (removed once sent)
    people: [],
    impact: null,         // change by code, from the last impact
    validation: null,
    busy: false,
    checks: 0,            // a counter: an older check's answer never overwrites a newer one
  };

  // ---- the map ------------------------------------------------------------------------------

  const map = L.map('planner-map', {zoomControl: true, attributionControl: !!config.basemap});
  window.plannerMap = map;  // for tests and the console: map.latLngToContainerPoint(...)
  window.plannerState = state;
  L.control.scale({imperial: false}).addTo(map);
  if (config.basemap) {
    L.tileLayer(config.basemap, {attribution: config.basemapAttribution, pmIgnore: true}).addTo(map);
  }
  map.createPane('current').style.zIndex = 350;
  map.createPane('diff').style.zIndex = 420;
  map.createPane('findings').style.zIndex = 630;
  map.pm.setLang(config.lang === 'zh' ? 'zh' : 'en');
  map.pm.setGlobalOptions({
    snappable: true, snapDistance: 15, allowSelfIntersection: false, continueDrawing: false,
    templineStyle: {color: '#1c7ed6'}, hintlineStyle: {color: '#1c7ed6', dashArray: '5,5'},
  });
  map.setView([35.64, 112.89], 13);

  const IGNORED = {pmIgnore: true, snapIgnore: true};
  // The current boundaries: grey outlines under the draft, villages heavier.
  const currentLayer = L.geoJSON(null, {
    ...IGNORED, pane: 'current', interactive: false,
    style: (f) => (f.properties.level === 'admin'
      ? {color: '#5c6570', weight: 2.2, opacity: 0.8, fill: false}
      : {color: '#868e96', weight: 0.8, opacity: 0.7, fillColor: '#dee2e6', fillOpacity: 0.25}),
  }).addTo(map);
  const draftLayer = L.featureGroup().addTo(map);
  const findingsLayer = L.featureGroup([], IGNORED).addTo(map);
  const diffLayer = L.featureGroup([], IGNORED).addTo(map);

  const FILL = {changed: '#e8590c', added: '#2b8a3e', neighbour: '#fcc419', removed: '#c92a2a'};

  function styleOf(code) {
    const f = state.features.get(code);
    const level = f ? f.properties.level : 'service';
    const base = config.styles[level] || config.styles.service;
    const change = state.impact && state.impact.get(code);
    const selected = state.selection.includes(code);
    if (level === 'admin') {
      return {color: selected ? '#1c7ed6' : base.color, weight: selected ? 5 : 3, opacity: 1,
              fill: false, dashArray: null};
    }
    return {
      color: selected ? '#1c7ed6' : '#343a40', weight: selected ? 4 : 1.4, opacity: 0.95,
      fill: true, fillColor: change ? FILL[change] : '#74c0fc',
      fillOpacity: change ? 0.55 : 0.3, dashArray: null,
    };
  }

  function restyle() {
    for (const [code, layer] of state.layers) {
      layer.setStyle(styleOf(code));
      const element = layer.getElement && layer.getElement();
      if (element) {
        element.dataset.code = code;
        element.dataset.selected = state.selection.includes(code) ? '1' : '0';
        element.dataset.change = (state.impact && state.impact.get(code)) || '';
      }
    }
  }

  function drawDraft(collection) {
    draftLayer.clearLayers();
    state.layers.clear();
    state.features.clear();
    // village grids first, so the leaf grids lie on top of them and take the clicks
    const ordered = collection.features.slice().sort((a, b) =>
      (a.properties.level === 'admin' ? 0 : 1) - (b.properties.level === 'admin' ? 0 : 1));
    for (const feature of ordered) {
      const code = feature.properties.code;
      state.features.set(code, feature);
      const layer = L.GeoJSON.geometryToLayer(feature, {});
      layer.feature = feature;
      layer.setStyle(styleOf(code));
      if (feature.properties.level !== 'admin') {
        layer.bindTooltip(text(shortName(feature)), {
          permanent: true, direction: 'center', className: 'draft-label', interactive: false,
        });
      }
      layer.on('click', (event) => onGridClick(code, event));
      draftLayer.addLayer(layer);
      state.layers.set(code, layer);
    }
    state.selection = state.selection.filter((c) => state.features.has(c));
    restyle();
    showSelection();
    fitLabels();
  }

  /** A leaf grid's name without its village's name in front (the map shows the village). */
  function shortName(feature) {
    const name = feature.properties.name || feature.properties.code;
    const village = state.current.get(feature.properties.code.slice(0, 12) + '000')
      || state.features.get(feature.properties.code.slice(0, 12) + '000');
    const prefix = village ? village.properties.name : '';
    return prefix && name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : name;
  }

  /** Show a grid's label only where the grid is wide enough on screen to hold it. */
  function fitLabels() {
    for (const layer of state.layers.values()) {
      const tooltip = layer.getTooltip && layer.getTooltip();
      const element = tooltip && tooltip.getElement();
      if (!element) continue;
      const bounds = layer.getBounds();
      const west = map.latLngToContainerPoint(bounds.getSouthWest());
      const east = map.latLngToContainerPoint(bounds.getNorthEast());
      const wide = Math.abs(east.x - west.x);
      const high = Math.abs(east.y - west.y);
      const needed = tooltip.getContent().textContent.length * 11;
      element.classList.toggle('label-hidden', wide < needed || high < 16);
    }
  }

  function onGridClick(code, event) {
    if (state.tool) return;  // drawing: the click is Geoman's (it bubbles on to the map)
    const extend = event.originalEvent && (event.originalEvent.shiftKey || event.originalEvent.ctrlKey || event.originalEvent.metaKey);
    if (extend) {
      state.selection = state.selection.includes(code)
        ? state.selection.filter((c) => c !== code) : state.selection.concat([code]);
    } else {
      state.selection = state.selection.length === 1 && state.selection[0] === code ? [] : [code];
    }
    restyle();
    showSelection();
  }

  map.on('zoomend', () => {
    map.getContainer().classList.toggle('show-draft-labels', map.getZoom() >= 14);
    fitLabels();
  });

  // ---- messages -----------------------------------------------------------------------------

  function say(text, kind) {
    const box = $('planner-message');
    box.textContent = text;
    box.dataset.kind = kind || 'info';
    box.hidden = !text;
  }

  function hint(text) {
    const box = $('planner-hint');
    box.textContent = text || '';
    box.hidden = !text;
  }

  function opName(op) {
    return W['op_' + op] || op;
  }

  /** Tell the planner why a write was refused; reload the draft when it moved on. */
  async function refused(err) {
    const body = err.body || {};
    if (err.status === 409 && body.error === 'stale_revision') {
      const details = body.details || {};
      const changes = (details.changes || []).map((c) => fmt(W.stale_change, {
        actor: c.actor, op: opName(c.op), codes: (c.codes || []).join('、'),
      })).join('；');
      say(fmt(W.stale, {revision: details.revision, yours: details.your_revision, changes}), 'alert');
      await openDraft(state.draft.id, {keepMessage: true});
      return;
    }
    if (err.status === 409 && (body.error === 'draft_closed' || body.error === 'draft_not_open')) {
      say(W.closed + (body.message ? ' (' + body.message + ')' : ''), 'alert');
      await openDraft(state.draft.id, {keepMessage: true});
      await loadDrafts();
      return;
    }
    say(fmt(W.error, {message: body.message || err.message}), 'alert');
  }

  // ---- the current boundaries and the villages ---------------------------------------------

  async function loadCurrent(fit) {
    const {data} = await api('GET', config.urls.grids);
    currentLayer.clearLayers();
    currentLayer.addData(data);
    state.current.clear();
    for (const f of data.features) state.current.set(f.properties.code, f);
    const select = $('scope-select');
    const chosen = select.value;
    select.replaceChildren(el('option', {value: ''}, W.choose_village));
    const towns = new Set();
    const villages = data.features.filter((f) => f.properties.level === 'admin')
      .sort((a, b) => a.properties.code.localeCompare(b.properties.code));
    for (const v of villages) towns.add(v.properties.code.slice(0, 9));
    for (const town of towns) select.append(el('option', {value: town}, W.whole_town + ' ' + town));
    for (const v of villages) {
      select.append(el('option', {value: v.properties.code.slice(0, 12)},
        v.properties.name + ' ' + v.properties.code.slice(0, 12)));
    }
    select.value = chosen;
    if (fit && data.features.length) map.fitBounds(currentLayer.getBounds());
  }

  function scopeName(draft) {
    if (draft.scope_kind === 'town') return W.whole_town;
    const village = state.current.get(draft.scope_code.slice(0, 12) + '000');
    return village ? village.properties.name : draft.scope_code;
  }

  // ---- drafts -------------------------------------------------------------------------------

  async function loadDrafts() {
    const {data} = await api('GET', config.urls.drafts);
    const select = $('draft-select');
    select.replaceChildren();
    if (!data.drafts.length) select.append(el('option', {value: ''}, W.no_open_drafts));
    for (const d of data.drafts.slice().reverse()) {
      select.append(el('option', {value: d.id}, '#' + d.id + ' · ' + scopeName(d) + ' · '
        + d.created_by + ' · ' + local(d.updated_at)));
    }
    if (state.draft && data.drafts.some((d) => d.id === state.draft.id)) select.value = state.draft.id;
  }

  async function openDraft(id, options) {
    const opts = options || {};
    stopTool();
    const {data} = await api('GET', config.urls.drafts + '/' + id);
    const first = !state.draft || state.draft.id !== data.draft.id;
    state.draft = data.draft;
    state.revision = data.revision;
    if (first) {
      state.selection = [];
      state.impact = null;
      const people = await api('GET', config.urls.people.replace('{id}', id));
      state.people = people.data.people;
    }
    drawDraft(data);
    if (first && data.features.length) map.fitBounds(draftLayer.getBounds(), {padding: [20, 20]});
    showDraft();
    const url = new URL(window.location.href);
    url.searchParams.set('draft', id);
    url.searchParams.delete('lang');
    window.history.replaceState(null, '', url);
    for (const a of document.querySelectorAll('.lang-switch a')) {
      a.href = '?draft=' + encodeURIComponent(id) + '&lang=' + a.dataset.lang;
    }
    if (!opts.keepMessage) say('');
    await refreshChecks();
  }

  function editable() {
    return !!state.draft && state.draft.state === 'open' && !state.busy;
  }

  function showDraft() {
    const d = state.draft;
    const info = $('draft-info');
    if (!d) {
      info.textContent = W.no_draft;
      $('draft-title').textContent = '';
    } else {
      const title = fmt(W.draft_of, {id: d.id, scope: scopeName(d), revision: state.revision});
      $('draft-title').textContent = title;
      info.textContent = title + ' · ' + W.created_by + ' ' + d.created_by
        + (d.state !== 'open' ? ' · ' + (W['state_' + d.state] || d.state) : '');
      info.dataset.revision = state.revision;
      info.dataset.state = d.state;
      if ($('proposal-village').dataset.draft !== String(d.id)) {
        $('proposal-village').dataset.draft = String(d.id);
        fillProposalVillages();
      }
    }
    $('draft-discard').disabled = !editable();
    showSelection();
  }

  function showSelection() {
    const list = $('selection-list');
    const codes = state.selection;
    list.replaceChildren();
    if (!codes.length) list.append(W.none_selected);
    codes.forEach((code, i) => {
      const f = state.features.get(code);
      if (i) list.append('、');
      list.append(el('span', {class: 'chip', dataset: {code}}, f ? f.properties.name : code));
    });
    $('selection-clear').hidden = !codes.length;
    const can = editable() && !state.tool;
    const leaves = codes.filter((c) => {
      const f = state.features.get(c);
      return f && f.properties.level !== 'admin';
    });
    const enable = {
      draw: can,
      reshape: can && codes.length === 1,
      split: can && codes.length === 1 && leaves.length === 1,
      merge: can && codes.length >= 2 && leaves.length === codes.length,
      move_edge: can && codes.length === 2,
    };
    for (const button of document.querySelectorAll('button.tool')) {
      button.disabled = !enable[button.dataset.tool];
      button.setAttribute('aria-pressed', state.tool === button.dataset.tool ? 'true' : 'false');
    }
    showAttributes();
    showPublish();
  }

  $('selection-clear').addEventListener('click', () => {
    state.selection = [];
    restyle();
    showSelection();
  });

  $('draft-open').addEventListener('click', () => {
    const id = $('draft-select').value;
    if (id) openDraft(Number(id)).catch(loadFailed);
  });

  $('draft-new').addEventListener('click', async () => {
    const scope = $('scope-select').value;
    if (!scope) { say(W.choose_village, 'info'); return; }
    state.busy = true;
    try {
      const {data} = await api('POST', config.urls.drafts, {body: {scope}});
      await loadDrafts();
      await openDraft(data.id);
    } catch (err) {
      say(fmt(W.error, {message: (err.body && err.body.message) || err.message}), 'alert');
    } finally {
      state.busy = false;
      showDraft();
    }
  });

  // Discarding asks again in place (no browser dialog).
  function discardAsking(asking) {
    $('draft-discard').hidden = asking;
    $('draft-discard-confirm').hidden = !asking;
    $('draft-discard-cancel').hidden = !asking;
  }
  $('draft-discard').addEventListener('click', () => discardAsking(true));
  $('draft-discard-cancel').addEventListener('click', () => discardAsking(false));
  $('draft-discard-confirm').addEventListener('click', async () => {
    discardAsking(false);
    const id = state.draft.id;
    try {
      await api('DELETE', config.urls.drafts + '/' + id, {revision: state.revision});
      say(fmt(W.discarded, {id}), 'info');
      await openDraft(id, {keepMessage: true});
      await loadDrafts();
    } catch (err) {
      await refused(err);
    }
  });

  // ---- proposals ----------------------------------------------------------------------------

  // The villages a proposal may split: the draft's village, or any village of a town draft.
  function fillProposalVillages() {
    const select = $('proposal-village');
    const d = state.draft;
    select.replaceChildren();
    $('propose').disabled = !d || d.state !== 'open';
    if (!d) return;
    const villages = [...state.current.values()]
      .filter((f) => f.properties.level === 'admin'
        && (d.scope_kind === 'town' || f.properties.code === d.scope_code.slice(0, 12) + '000'))
      .sort((a, b) => a.properties.code.localeCompare(b.properties.code));
    for (const f of villages) {
      select.append(el('option', {value: f.properties.code.slice(0, 12)},
        f.properties.name + ' ' + f.properties.code.slice(0, 12)));
    }
  }

  function showBalance(result) {
    const table = $('balance-table');
    const body = table.querySelector('tbody');
    const rows = [
      [W.balance_grids, 'grids', (v) => number(v)],
      [W.balance_min, 'min', (v) => number(v)],
      [W.balance_max, 'max', (v) => number(v)],
      [W.balance_std, 'std', (v) => (v === null || v === undefined ? '—' : Number(v).toFixed(1))],
      [W.balance_pp, 'mean_polsby_popper', (v) => (v === null || v === undefined ? '—' : Number(v).toFixed(2))],
    ];
    body.replaceChildren(...rows.map(([label, key, show]) => el('tr', {},
      el('th', {}, label), el('td', {}, show(result.summary[key])),
      el('td', {}, show(result.today.summary[key])))));
    table.hidden = false;
  }

  $('proposal-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!state.draft) return;
    const form = event.target;
    const body = {village: form.village.value, min_households: Number(form.min.value),
                  max_households: Number(form.max.value)};
    $('propose').disabled = true;
    $('proposal-result').textContent = W.proposing;
    try {
      const {data} = await api('POST', config.urls.drafts + '/' + state.draft.id + '/proposals', {body});
      await loadDrafts();
      await openDraft(data.draft);
      $('proposal-result').textContent = fmt(W.proposal_done, {id: data.draft, n: data.grids.length});
      showBalance(data);
    } catch (err) {
      $('proposal-result').textContent = fmt(W.error, {message: (err.body && err.body.message) || err.message});
    } finally {
      $('propose').disabled = !state.draft || state.draft.state !== 'open';
    }
  });

  // ---- validation and impact ----------------------------------------------------------------

  async function refreshChecks() {
    if (!state.draft) return;
    const ticket = ++state.checks;
    const id = state.draft.id;
    $('validation-state').textContent = W.checking;
    $('validation-state').className = 'validation-state';
    $('impact-totals').textContent = W.computing;
    const [validation, impact] = await Promise.all([
      api('GET', config.urls.drafts + '/' + id + '/validation'),
      api('GET', config.urls.drafts + '/' + id + '/impact'),
    ]);
    if (ticket !== state.checks) return;  // a later edit asked again meanwhile
    showValidation(validation.data);
    showImpact(impact.data);
    restyle();
    showPublish();
  }

  function findingItem(finding, kind) {
    const area = finding.area_m2 !== null && finding.area_m2 !== undefined
      ? ' (' + number(Math.round(finding.area_m2)) + ' ' + W.m2 + ')' : '';
    const item = el('li', {class: 'finding ' + kind, dataset: {kind: finding.kind}},
      el('span', {class: 'finding-kind'}, finding.kind), ' ', finding.message + area);
    const codes = (finding.codes || []).filter((c) => state.features.has(c));
    const located = finding.lat !== null && finding.lat !== undefined;
    if (located || codes.length) {
      item.classList.add('located');
      item.tabIndex = 0;
      item.addEventListener('click', () => showFinding(finding));
    }
    return item;
  }

  /** A finding on the map: its grids selected (when the draft holds them), its place shown. */
  function showFinding(finding) {
    const codes = (finding.codes || []).filter((c) => state.features.has(c));
    if (codes.length && !state.tool) {
      // the leaf grids named, or the village grid when it is the only one
      const leaves = codes.filter((c) => !c.endsWith('000'));
      state.selection = leaves.length ? leaves : codes;
      restyle();
      showSelection();
    }
    if (finding.lat !== null && finding.lat !== undefined) {
      map.setView([finding.lat, finding.lon], Math.max(map.getZoom(), 16));
    } else if (codes.length) {
      map.fitBounds(L.featureGroup(codes.map((c) => state.layers.get(c))).getBounds(), {maxZoom: 17});
    }
  }

  function showValidation(v) {
    state.validation = v;
    const box = $('validation');
    box.dataset.revision = v.revision;
    box.dataset.ok = v.ok ? '1' : '0';
    const stateLabel = $('validation-state');
    stateLabel.textContent = v.ok ? W.valid : fmt(W.invalid, {n: v.errors.length});
    stateLabel.className = 'validation-state ' + (v.ok ? 'ok' : 'bad');
    const body = $('validation-body');
    body.replaceChildren();
    if (!v.errors.length && !v.warnings.length) body.append(el('p', {class: 'note'}, W.no_findings));
    if (v.errors.length) {
      body.append(el('h3', {}, W.errors + ' (' + v.errors.length + ')'),
        el('ul', {class: 'findings errors'}, v.errors.map((f) => findingItem(f, 'error'))));
    }
    if (v.warnings.length) {
      body.append(el('h3', {}, W.warnings + ' (' + v.warnings.length + ')'),
        el('ul', {class: 'findings warnings'}, v.warnings.map((f) => findingItem(f, 'warning'))));
    }
    findingsLayer.clearLayers();
    for (const [list, color] of [[v.errors, '#e03131'], [v.warnings, '#f08c00']]) {
      for (const f of list) {
        if (f.lat === null || f.lat === undefined) continue;
        L.circleMarker([f.lat, f.lon], {
          ...IGNORED, pane: 'findings', radius: 9, color: '#fff', weight: 2, fillColor: color,
          fillOpacity: 0.95, className: 'finding-marker',
        }).bindTooltip(text(f.message)).on('click', () => showFinding(f)).addTo(findingsLayer);
      }
    }
  }

  function gridName(code) {
    const f = state.features.get(code) || state.current.get(code);
    return f ? f.properties.name : '';
  }

  function gridShortName(code) {
    const f = state.features.get(code) || state.current.get(code);
    return f ? shortName(f) : '';
  }

  function moves(m) {
    return ['households', 'residents', 'enterprises', 'hazards', 'open_cases'].map((k) =>
      el('td', {class: 'num' + (m[k] ? ' moved' : '')}, m[k] ? number(m[k]) : '·'));
  }

  function showImpact(impact) {
    const box = $('impact');
    box.dataset.revision = impact.revision;
    box.dataset.rows = impact.grids.length;
    state.impact = new Map(impact.grids.map((g) => [g.code, g.change]));
    const rows = $('impact-rows');
    rows.replaceChildren();
    for (const g of impact.grids) {
      rows.append(el('tr', {dataset: {code: g.code, change: g.change},
        onclick: () => {
          const layer = state.layers.get(g.code);
          if (layer) map.fitBounds(layer.getBounds(), {maxZoom: 17});
        }},
        el('td', {class: 'grid-cell', title: gridName(g.code)},
          el('span', {class: 'grid-name'}, gridShortName(g.code) || g.code),
          el('span', {class: 'code'}, g.code)),
        el('td', {}, el('span', {class: 'change-badge change-' + g.change}, W['change_' + g.change] || g.change)),
        el('td', {class: 'num total'}, fmt(W.before_after, {a: number(g.households_before), b: number(g.households_after)})),
        moves(g.in), moves(g.out),
        el('td', {class: 'num total'}, fmt(W.before_after, {
          a: number(g.households_per_worker_before), b: number(g.households_per_worker_after)})),
      ));
    }
    $('impact-table').hidden = !impact.grids.length;
    $('impact-empty').hidden = !!impact.grids.length;
    $('impact-empty').textContent = W.no_impact;
    $('impact-totals').textContent = impact.grids.length ? fmt(W.totals, impact.totals_moving) : '';
    const cases = $('impact-cases');
    cases.replaceChildren();
    if (impact.cases_reassigned.length) {
      cases.append(el('h3', {}, fmt(W.reassigned, {n: impact.cases_reassigned.length})),
        el('ul', {class: 'reassigned'}, impact.cases_reassigned.map((c) => el('li', {dataset: {id: c.id}},
          el('a', {href: config.urls.casePage + c.id, target: '_blank', rel: 'noopener'}, '#' + c.id),
          ' ', (gridName(c.from_grid) || c.from_grid) + ' → ' + (gridName(c.to_grid) || c.to_grid)))));
    }
  }

  // ---- writes -------------------------------------------------------------------------------

  /** Send one edit made on the revision the planner sees; then redraw and check again. */
  async function edit(method, path, body) {
    if (!state.draft) return false;
    state.busy = true;
    showSelection();
    say(W.working, 'info');
    try {
      const {data} = await api(method, config.urls.drafts + '/' + state.draft.id + path,
        {body, revision: state.revision});
      state.revision = data.revision;
      if (body && body.op === 'merge') state.selection = [body.codes[0]];  // it keeps the union
      say(fmt(W.saved, {revision: data.revision}), 'ok');
      state.busy = false;
      await openDraft(state.draft.id, {keepMessage: true});
      return true;
    } catch (err) {
      state.busy = false;
      if (err instanceof ApiFailure) await refused(err);
      else say(fmt(W.error, {message: err.message}), 'alert');
      return false;
    } finally {
      state.busy = false;
      showSelection();
    }
  }

  function operation(body) {
    return edit('POST', '/operations', body);
  }

  // ---- tools --------------------------------------------------------------------------------

  function startTool(tool) {
    stopTool();
    state.tool = tool;
    $('tool-actions').hidden = false;
    $('shape-save').hidden = tool !== 'reshape';
    const [a, b] = state.selection;
    if (tool === 'draw') {
      hint(W.hint_draw);
      map.pm.enableDraw('Polygon', {snappable: true});
    } else if (tool === 'split') {
      hint(fmt(W.hint_split, {name: gridName(a)}));
      map.pm.enableDraw('Line', {snappable: true});
    } else if (tool === 'move_edge') {
      hint(fmt(W.hint_move_edge, {a: gridName(a), b: gridName(b)}));
      map.pm.enableDraw('Line', {snappable: true});
    } else if (tool === 'reshape') {
      hint(fmt(W.hint_reshape, {name: gridName(a)}));
      const layer = state.layers.get(a);
      layer.pm.enable({snappable: true, allowSelfIntersection: false, draggable: false});
    }
    map.doubleClickZoom.disable();  // a quick second click ends a line; it must not zoom
    document.body.dataset.tool = tool;
    showSelection();
  }

  function stopTool() {
    if (!state.tool) return;
    const tool = state.tool;
    state.tool = null;
    map.pm.disableDraw();
    if (tool === 'reshape') {
      for (const layer of state.layers.values()) if (layer.pm && layer.pm.enabled()) layer.pm.disable();
    }
    if (state.toolLayer) { state.toolLayer.remove(); state.toolLayer = null; }
    $('tool-actions').hidden = true;
    $('new-grid-form').hidden = true;
    hint('');
    map.doubleClickZoom.enable();
    delete document.body.dataset.tool;
    showSelection();
  }

  for (const button of document.querySelectorAll('button.tool')) {
    button.addEventListener('click', () => {
      const tool = button.dataset.tool;
      if (tool === 'merge') {
        operation({op: 'merge', codes: state.selection.slice()});
        return;
      }
      startTool(tool);
    });
  }

  $('tool-cancel').addEventListener('click', () => {
    const wasReshape = state.tool === 'reshape';
    stopTool();
    if (wasReshape && state.draft) openDraft(state.draft.id, {keepMessage: true}).catch(loadFailed);
  });

  map.on('pm:create', async (event) => {
    const tool = state.tool;
    state.toolLayer = event.layer;
    event.layer.options.pmIgnore = true;
    const geometry = event.layer.toGeoJSON().geometry;
    const [a, b] = state.selection;
    if (tool === 'draw') {
      showNewGridForm(geometry);
      return;
    }
    stopTool();
    if (tool === 'split') await operation({op: 'split', code: a, line: geometry});
    else if (tool === 'move_edge') await operation({op: 'move_edge', codes: [a, b], line: geometry});
  });

  $('shape-save').addEventListener('click', async () => {
    const code = state.selection[0];
    const layer = state.layers.get(code);
    const geometry = layer.toGeoJSON().geometry;
    stopTool();
    await operation({op: 'reshape', code, geometry});
  });

  // A new grid: its code is the village's lowest serial free in the draft and today's grids
  // (the server refuses a code in use); the planner may change it.
  function villageOf(geometry) {
    if (state.draft.scope_kind === 'village') return state.draft.scope_code.slice(0, 12);
    const centre = L.geoJSON(geometry).getBounds().getCenter();
    for (const [code, layer] of state.layers) {
      if (code.endsWith('000') && layer.getBounds().contains(centre)) return code.slice(0, 12);
    }
    return state.draft.town_code;
  }

  function freeCode(village) {
    for (let serial = 1; serial < 1000; serial++) {
      const code = village + String(serial).padStart(3, '0');
      if (!state.features.has(code) && !state.current.has(code)) return code;
    }
    return village;
  }

  let newGeometry = null;
  function showNewGridForm(geometry) {
    newGeometry = geometry;
    const form = $('new-grid-form');
    form.hidden = false;
    form.elements.code.value = freeCode(villageOf(geometry));
    form.elements.name.value = '';
    form.elements.name.focus();
    map.pm.disableDraw();
    hint('');
  }

  $('new-grid-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const code = form.elements.code.value.trim();
    const body = {code, name: form.elements.name.value.trim(), level: form.elements.level.value,
                  geometry: newGeometry};
    stopTool();
    if (await edit('POST', '/grids', body)) {
      state.selection = [code];
      restyle();
      showSelection();
    }
  });
  $('new-grid-cancel').addEventListener('click', () => stopTool());

  // ---- attributes ---------------------------------------------------------------------------

  function personLabel(p) {
    const role = config.roles[p.role] || p.role;
    return config.lang === 'zh' ? p.name + '（' + role + '）#' + p.id : p.name + ' (' + role + ') #' + p.id;
  }

  function showAttributes() {
    const form = $('attributes-form');
    const code = state.selection.length === 1 ? state.selection[0] : null;
    const f = code && state.features.get(code);
    if (!f) {
      form.hidden = true;
      form.dataset.code = '';
      $('attributes-hint').hidden = false;
      return;
    }
    if (form.dataset.code === code && form.dataset.revision === String(state.revision) && !form.hidden) {
      setFormEnabled(form, editable() && !state.tool);
      return;
    }
    const p = f.properties;
    form.dataset.code = code;
    form.dataset.revision = state.revision;
    form.hidden = false;
    $('attributes-hint').hidden = true;
    $('attr-code').textContent = code;
    $('attr-area').textContent = number(Math.round(p.area_m2)) + ' ' + W.m2;
    form.elements.name.value = p.name || '';
    form.elements.level.value = p.level;
    form.elements.parent_code.value = p.parent_code || '';
    form.elements.zone_code.value = p.zone_code || '';
    const village = code.slice(0, 12);
    const assigned = new Set([...(p.worker_ids || []), p.leader_id].filter((x) => x !== null && x !== undefined));
    // the grid's own people first, then the village's; grid workers for the worker posts,
    // anyone but an auxiliary for the leader's
    const offered = state.people
      .filter((person) => person.village_code === village || assigned.has(person.id))
      .sort((x, y) => (assigned.has(y.id) - assigned.has(x.id)) || (x.id - y.id));
    const leader = form.elements.leader;
    leader.replaceChildren(el('option', {value: ''}, W.no_leader));
    for (const person of offered.filter((x) => x.role !== 'auxiliary' || x.id === p.leader_id)) {
      leader.append(el('option', {value: person.id}, personLabel(person)));
    }
    leader.value = p.leader_id === null || p.leader_id === undefined ? '' : String(p.leader_id);
    const workers = $('attr-workers');
    workers.replaceChildren();
    const workerIds = p.worker_ids || [];
    for (const person of offered.filter((x) => x.role === 'grid_worker' || workerIds.includes(x.id))) {
      workers.append(el('label', {class: 'worker'},
        el('input', {type: 'checkbox', name: 'workers', value: person.id,
                     checked: workerIds.includes(person.id)}),
        ' ', personLabel(person)));
    }
    setFormEnabled(form, editable() && !state.tool);
  }

  function setFormEnabled(form, enabled) {
    for (const control of form.elements) control.disabled = !enabled;
  }

  $('attributes-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const code = form.dataset.code;
    const leader = form.elements.leader.value;
    const body = {
      name: form.elements.name.value.trim(),
      level: form.elements.level.value,
      parent_code: form.elements.parent_code.value.trim() || null,
      zone_code: form.elements.zone_code.value.trim() || null,
      leader: leader ? Number(leader) : null,
      workers: [...form.querySelectorAll('input[name=workers]:checked')].map((i) => Number(i.value)),
    };
    form.dataset.revision = '';
    await edit('PUT', '/grids/' + encodeURIComponent(code), body);
  });

  // ---- publish ------------------------------------------------------------------------------

  function nowLocalInput() {
    return localFormat.format(new Date()).replace(' ', 'T');
  }
  $('effective-at').value = nowLocalInput();

  function showPublish() {
    const ok = state.validation && state.validation.ok && state.validation.revision === state.revision;
    $('publish').disabled = !(editable() && ok && !state.tool);
  }

  $('publish').addEventListener('click', async () => {
    const chosen = $('effective-at').value;
    const body = {};
    if (chosen) {
      const at = new Date(chosen + ':00' + TZ_OFFSET);
      if (at.getTime() > Date.now()) body.effective_at = chosen + ':00' + TZ_OFFSET;
    }
    const result = $('publish-result');
    result.textContent = W.publishing;
    state.busy = true;
    showSelection();
    try {
      const answer = await api('POST', config.urls.drafts + '/' + state.draft.id + '/publish',
        {body, revision: state.revision});
      const data = answer.data;
      result.dataset.state = data.state;
      result.textContent = answer.status === 202
        ? fmt(W.scheduled, {at: local(data.effective_at)})
        : fmt(W.published, {version: data.version, at: local(data.effective_at), rerouted: data.rerouted ?? 0});
      say(result.textContent, 'ok');
      state.busy = false;
      await Promise.all([loadCurrent(false), loadVersions(), loadDrafts()]);
      await openDraft(state.draft.id, {keepMessage: true});
    } catch (err) {
      state.busy = false;
      const body422 = err.body || {};
      if (err.status === 422 && body422.error === 'draft_invalid') {
        result.textContent = fmt(W.publish_refused, {n: (body422.errors || []).length});
        say(result.textContent, 'alert');
        await refreshChecks();
      } else {
        result.textContent = '';
        if (err instanceof ApiFailure) await refused(err);
        else say(fmt(W.error, {message: err.message}), 'alert');
      }
    } finally {
      state.busy = false;
      showSelection();
    }
  });

  // ---- versions and their diff --------------------------------------------------------------

  let currentVersion = null;

  async function loadVersions() {
    const {data} = await api('GET', config.urls.versions);
    const list = $('versions-list');
    list.replaceChildren();
    const inForce = data.versions.filter((v) => v.in_force);
    currentVersion = inForce.length ? inForce[inForce.length - 1].number : null;
    if (!data.versions.length) list.append(el('li', {class: 'note'}, W.no_versions));
    for (const v of data.versions.slice().reverse()) {
      const status = v.number === currentVersion ? W.in_force : v.in_force ? '' : W.scheduled_version;
      const item = el('li', {dataset: {number: v.number}},
        el('div', {class: 'version-line'},
          el('strong', {}, fmt(W.version_n, {n: v.number})),
          ' ', el('span', {class: 'when'}, local(v.effective_at)),
          status ? el('span', {class: 'version-state' + (v.number === currentVersion ? ' current' : '')}, status) : null,
          el('span', {class: 'count'}, fmt(W.grids_n, {n: v.grids}))),
        v.note ? el('div', {class: 'note'}, v.note) : null);
      if (currentVersion !== null && v.number !== currentVersion) {
        item.append(el('button', {type: 'button', class: 'link diff-button',
          onclick: () => showDiff(v.number, currentVersion).catch(loadFailed)}, W.diff_current));
      }
      list.append(item);
    }
  }

  const DIFF_STYLE = {
    added: {color: '#2b8a3e', weight: 3, fillColor: '#40c057', fillOpacity: 0.35},
    removed: {color: '#c92a2a', weight: 3, dashArray: '6,6', fillColor: '#fa5252', fillOpacity: 0.2},
    changed: {color: '#e8590c', weight: 3, fillColor: '#ff922b', fillOpacity: 0.3},
  };

  async function showDiff(a, b) {
    const {data} = await api('GET', config.urls.versions + '/' + a + '/diff/' + b);
    diffLayer.clearLayers();
    for (const g of data.grids) {
      const shown = L.geoJSON(g.geometry, {...IGNORED, pane: 'diff', interactive: true,
        style: () => ({...DIFF_STYLE[g.change], className: 'diff-shape diff-' + g.change})});
      const pct = g.area_change_pct === null || g.area_change_pct === undefined ? '' : ' (' + g.area_change_pct + '%)';
      shown.bindTooltip(text(g.code + ' ' + (g.name || '') + ' · ' + (W['change_' + g.change] || g.change) + pct));
      diffLayer.addLayer(shown);
      if (g.geometry_a) {
        diffLayer.addLayer(L.geoJSON(g.geometry_a, {...IGNORED, pane: 'diff', interactive: false,
          style: () => ({color: '#495057', weight: 2, dashArray: '4,6', fill: false, className: 'diff-shape diff-before'})}));
      }
    }
    const summary = $('diff-summary');
    summary.textContent = fmt(W.diff_summary, {a, b, ...data.counts});
    summary.dataset.a = a;
    summary.dataset.shapes = data.grids.length;
    $('diff-clear').hidden = false;
    for (const item of document.querySelectorAll('.diff-legend')) item.hidden = false;
    if (data.grids.length) map.fitBounds(diffLayer.getBounds(), {padding: [20, 20]});
  }

  $('diff-clear').addEventListener('click', () => {
    diffLayer.clearLayers();
    $('diff-summary').textContent = '';
    delete $('diff-summary').dataset.a;
    $('diff-clear').hidden = true;
    for (const item of document.querySelectorAll('.diff-legend')) item.hidden = true;
  });

  // ---- start --------------------------------------------------------------------------------

  function loadFailed(err) {
    say(fmt(W.load_error, {message: (err.body && err.body.message) || err.message}), 'alert');
  }

  async function start() {
    const asked = Number(new URL(window.location.href).searchParams.get('draft')) || null;
    await loadCurrent(!asked);
    await Promise.all([loadDrafts(), loadVersions()]);
    if (asked) await openDraft(asked);
    else showDraft();
  }

  start().catch(loadFailed).finally(() => { document.body.dataset.ready = '1'; });
})();
