/* gridgov: the command-center operator's live map (web/templates/operator.html).
 *
 * The folium map and its layers are built by the page; this script brings them to life:
 * filters (they re-point the case tiles and the hot spot request), the choropleth of the
 * grids, the grid panel, the day's numbers, the hot spots and their heat map, and the live
 * stream (GET /api/v1/stream). Every string that came from a person is put into the page
 * with textContent (see el()), never as HTML. A request that fails in a way that may pass
 * (no answer, 5xx, 429) shows a banner over the map and is tried again (see withRetry()).
 */
(function () {
  'use strict';

  var G = window.gridgov = {};
  var cfg, map, layers, W, names;
  var state = {
    stats: null, choropleth: '', selected: null, categories: {}, lost: false,
    timers: {}, pending: [], source: null, tilesLoaded: false, todayLoaded: false
  };
  var TZ = 'Asia/Shanghai';
  var LATEST_MAX = 20;
  var LEAF_LABEL_ZOOM = 16;

  // -- small helpers ---------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') { node.textContent = attrs[key]; }
      else if (key === 'className') { node.className = attrs[key]; }
      else if (attrs[key] !== null && attrs[key] !== undefined) { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function byId(id) { return document.getElementById(id); }

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, key) {
      return values[key] === undefined ? m : String(values[key]);
    });
  }

  function number(n) {
    if (n === null || n === undefined) { return W.no_value; }
    return Number(n).toLocaleString(cfg.lang === 'zh' ? 'zh-CN' : 'en-GB');
  }

  // The JSON at url; a failure is an Error with `status` (0: no answer at all).
  // The session's CSRF token (web/auth.py): sent with every request of ours, so a write from
  // this page is accepted; a cross-site page cannot read it.
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? {'X-CSRF-Token': csrfMeta.getAttribute('content')} : {};

  function getJSON(url) {
    return fetch(url, {credentials: 'same-origin', cache: 'no-store', headers: CSRF}).catch(function (err) {
      err.status = 0;
      throw err;
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) {
          var err = new Error(body.message || ('HTTP ' + r.status));
          err.status = r.status;
          throw err;
        }
        return body;
      });
    });
  }

  // -- failed requests: tell the operator, try again -------------------------------------

  // After a failure that may pass, the same load runs again after 1, 2, 4 … s, never more
  // than 30 s apart: a server restarting or a database failing over comes back without the
  // operator reloading the page, and a server in trouble is not hammered.
  var RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 30000;
  var failing = {};  // the name of each load now failing -> its attempts so far

  function retryable(err) {
    return err.status === 0 || err.status === 429 || err.status >= 500;
  }

  function showFailures() {
    var names = Object.keys(failing);
    var banner = byId('load-banner');
    banner.hidden = names.length === 0;
    banner.setAttribute('data-failing', names.join(' '));
  }

  function settled(name) {
    if (failing[name] !== undefined) { delete failing[name]; showFailures(); }
  }

  // Run load() (it fetches and draws, and returns a promise); when it fails with a retryable
  // error, show the banner and run it again later, until it succeeds (the banner goes) or
  // wanted() says the result is no longer needed (a closed popup, another grid chosen).
  // The returned promise is the first attempt's, so callers can show that it failed.
  function withRetry(name, load, wanted) {
    clearTimeout(state.timers['retry:' + name]);
    return load().then(function (value) {
      settled(name);
      return value;
    }, function (err) {
      if (!retryable(err) || (wanted && !wanted())) {
        settled(name);
        throw err;
      }
      var attempt = failing[name] = (failing[name] || 0) + 1;
      showFailures();
      var delay = Math.min(RETRY_FIRST_MS * Math.pow(2, attempt - 1), RETRY_MAX_MS);
      state.timers['retry:' + name] = setTimeout(function () {
        withRetry(name, load, wanted).catch(function () { /* shown by the banner */ });
      }, delay);
      throw err;
    });
  }

  var dayFormat = new Intl.DateTimeFormat('en-CA', {timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit'});
  var timeFormat = new Intl.DateTimeFormat('zh-CN', {timeZone: TZ, month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hour12: false});
  var clockFormat = new Intl.DateTimeFormat('zh-CN', {timeZone: TZ, year: 'numeric', month: '2-digit',
    day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});

  function localDay(date) { return dayFormat.format(date); }
  function localTime(iso) { return iso ? timeFormat.format(new Date(iso)) : ''; }

  function debounce(name, ms, fn) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, ms);
  }

  // -- filters ---------------------------------------------------------------------------

  function filters() {
    var days = byId('f-window').value;
    var since = null;
    if (days !== '') {
      since = localDay(new Date(Date.now() - Number(days) * 86400000));
    }
    return {
      category: byId('f-category').value, state: byId('f-state').value,
      channel: byId('f-channel').value, days: days, since: since
    };
  }

  function query(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== null && params[k] !== ''; })
      .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]); }).join('&');
  }

  function tilesUrl() {
    var f = filters(), p = {};
    if (f.state === 'open') { p.open = '1'; } else if (f.state === 'all') { p.open = '0'; } else { p.status = f.state; }
    p.category = f.category; p.channel = f.channel; p.since = f.since;
    return cfg.urls.tiles + '?' + query(p);
  }

  function windowLabel(f) {
    var key = {'': 'window_all', '0': 'window_today', '7': 'window_7', '30': 'window_30', '90': 'window_90', '365': 'window_365'}[f.days];
    return W[key];
  }

  function applyFilters() {
    layers.cases.setUrl(tilesUrl());
    if (hotspotsShown()) { loadHotspots(); }
    if (state.choropleth) { loadStats(); }
    updateMethod();
  }

  // -- categories ------------------------------------------------------------------------

  function loadCategories() {
    return withRetry('categories', function () { return getJSON(cfg.urls.categories).then(drawCategories); })
      .catch(function () { /* the filter stays "all categories" until a retry succeeds */ });
  }

  function drawCategories(body) {
    var select = byId('f-category');
    body.categories.forEach(function (top) {
      var label = cfg.lang === 'zh' ? top.name_zh : top.name_en;
      state.categories[top.code] = label;
      var group = el('optgroup', {label: label});
      group.appendChild(el('option', {value: top.code, text: label + ' · ' + W.all_categories}));
      top.subcategories.forEach(function (sub) {
        var name = cfg.lang === 'zh' ? sub.name_zh : sub.name_en;
        state.categories[sub.code] = name;
        group.appendChild(el('option', {value: sub.code, text: name}));
      });
      select.appendChild(group);
    });
    updateMethod();
  }

  function categoryName(code) { return state.categories[code] || code || ''; }

  // -- the day's numbers -----------------------------------------------------------------

  function loadToday() {
    return withRetry('today', function () { return getJSON(cfg.urls.today).then(drawToday); })
      .catch(function () {});
  }

  function drawToday(t) {
    byId('today-day').textContent = t.day;
    byId('today-new').textContent = number(t['new']);
    byId('today-open').textContent = number(t.open);
    byId('today-overdue').textContent = number(t.overdue);
    byId('today-closed').textContent = number(t.closed);
    var s = t.satisfaction;
    byId('today-satisfaction').textContent = s.satisfied_share === null ? '–'
      : (s.satisfied_share * 100).toFixed(1) + '%';
    byId('today-satisfaction-note').textContent = s.evaluated
      ? fmt(W.satisfaction_note, {days: s.days, n: number(s.evaluated)}) : fmt(W.no_ratings, {days: s.days});
    var bar = byId('satisfaction-bar');
    bar.textContent = '';
    Object.keys(s.levels).forEach(function (level) {
      if (!s.evaluated) { return; }
      var share = s.levels[level] / s.evaluated;
      bar.appendChild(el('span', {className: 'level-' + level, style: 'flex-grow: ' + share.toFixed(4),
        title: names.satisfaction[level] + ' ' + (share * 100).toFixed(1) + '%'}));
    });
    if (!state.todayLoaded && window.performance && performance.mark) { performance.mark('gridgov-today'); }
    state.todayLoaded = true;
    document.body.setAttribute('data-today-loaded', '1');
  }

  // -- grid styles and the choropleth ----------------------------------------------------

  // Class limits: quantiles, with zero in a class of its own when it occurs (regional grids
  // have no households, so "households per worker" has many zeros); equal limits merge.
  function breaks(values) {
    var n = cfg.styles.ramp.length;
    var positive = values.filter(function (v) { return v > 0; }).sort(function (a, b) { return a - b; });
    var out = [];
    var classes = positive.length < values.length ? n - 1 : n;
    if (positive.length < values.length) { out.push(Number.MIN_VALUE); }
    for (var i = 1; i < classes; i++) { out.push(positive[Math.floor(i * positive.length / classes)]); }
    return out.filter(function (v, i, all) { return v !== undefined && (i === 0 || v > all[i - 1]); });
  }

  function classOf(value, limits) {
    var i = 0;
    while (i < limits.length && value >= limits[i]) { i++; }
    return i;
  }

  function gridStyle(feature) {
    var p = feature.properties, style = L.extend({}, cfg.styles.levels[p.level]);
    var metric = state.choropleth;
    if (metric && state.stats && p.level !== 'admin') {
      var v = (state.stats[p.code] || {})[metric];
      style.fillOpacity = 0.78;
      style.fillColor = (v === null || v === undefined) ? cfg.styles.noValue
        : cfg.styles.ramp[Math.min(classOf(v, state.limits), cfg.styles.ramp.length - 1)];
    }
    if (p.no_duty) { L.extend(style, cfg.styles.noDuty); }
    if (state.selected === p.code) { L.extend(style, {color: '#111111', weight: 4, dashArray: null, opacity: 1}); }
    return style;
  }

  function restyle() {
    ['regional', 'service', 'admin'].forEach(function (name) {
      layers[name].eachLayer(function (layer) { layer.setStyle(gridStyle(layer.feature)); });
    });
    var group = byId('legend-choropleth');
    if (!state.choropleth || !state.stats) { group.hidden = true; return; }
    group.hidden = false;
    var option = byId('f-choropleth').selectedOptions[0];
    byId('legend-choropleth-title').textContent = option ? option.textContent : '';
    var ramp = byId('legend-choropleth-ramp');
    ramp.textContent = '';
    // each class labelled with the smallest and largest value actually in it
    var seen = {};
    state.values.forEach(function (v) {
      var c = Math.min(classOf(v, state.limits), cfg.styles.ramp.length - 1);
      seen[c] = seen[c] ? [Math.min(seen[c][0], v), Math.max(seen[c][1], v)] : [v, v];
    });
    Object.keys(seen).map(Number).sort(function (a, b) { return a - b; }).forEach(function (c) {
      var lo = seen[c][0], hi = seen[c][1];
      ramp.appendChild(el('li', {}, [el('span', {className: 'swatch box', style: 'background-color: ' + cfg.styles.ramp[c]}),
        el('span', {className: 'label', text: lo === hi ? number(lo) : number(lo) + ' – ' + number(hi)})]));
    });
    ramp.appendChild(el('li', {}, [el('span', {className: 'swatch box', style: 'background-color: ' + cfg.styles.noValue}),
      el('span', {className: 'label', text: W.no_value})]));
  }

  function loadStats() {
    return withRetry('stats', function () {
      var f = filters();
      return getJSON(cfg.urls.gridStats + (f.since ? '?since=' + f.since : '')).then(drawStats);
    }).catch(function () {});
  }

  function drawStats(body) {
    state.stats = body.grids;
    var values = [];
    Object.keys(body.grids).forEach(function (code) {
      var g = body.grids[code], v = state.choropleth ? g[state.choropleth] : null;
      if (g.level !== 'admin' && v !== null && v !== undefined) { values.push(v); }
    });
    state.limits = breaks(values);
    state.values = values;
    restyle();
  }

  // -- the grid panel --------------------------------------------------------------------

  function numberRow(key, label, value) {
    return el('div', {className: 'number'}, [el('dt', {text: label}), el('dd', {'data-key': key, text: number(value)})]);
  }

  function showGrid(feature) {
    var p = feature.properties, n = p.numbers || {};
    byId('grid-panel-level').textContent = names.level[p.level] || p.level;
    byId('grid-panel-name').textContent = p.name;
    var body = byId('grid-panel-body');
    body.textContent = '';
    var facts = el('dl', {className: 'facts'}, [
      el('dt', {text: W.code}), el('dd', {text: p.code, 'data-key': 'code'}),
      p.parent_name ? el('dt', {text: W.village}) : null, p.parent_name ? el('dd', {text: p.parent_name}) : null,
      p.zone_name ? el('dt', {text: W.zone}) : null, p.zone_name ? el('dd', {text: p.zone_name}) : null
    ]);
    body.appendChild(facts);
    if (p.level !== 'admin' && n.workers_on_duty === 0) {
      body.appendChild(el('p', {className: 'warning', text: W.no_worker_on_duty}));
    }
    body.appendChild(el('dl', {className: 'numbers compact'}, [
      numberRow('open', W.open, n.open), numberRow('overdue', W.overdue, n.overdue),
      numberRow('cases', filters().since ? W.cases_window : W.cases_30_days, n.cases), numberRow('households', W.households, n.households),
      numberRow('residents', W.residents, n.residents), numberRow('workers_on_duty', W.workers_on_duty, n.workers_on_duty),
      numberRow('households_per_worker', W.households_per_worker, n.households_per_worker),
      numberRow('cases_per_1000', W.cases_per_1000, n.cases_per_1000)
    ]));
    var people = (p.people || []).filter(function (x) { return x.post !== 'auxiliary'; });
    var auxiliaries = (p.people || []).length - people.length;
    var list = el('ul', {className: 'people'});
    people.forEach(function (person) {
      list.appendChild(el('li', {'data-post': person.post}, [
        el('span', {className: 'post', text: names.post[person.post] || person.post}),
        el('span', {className: 'person', text: person.name}),
        person.post === 'worker' ? el('span', {className: person.on_duty ? 'badge on' : 'badge off',
          text: person.on_duty ? W.on_duty : W.off_duty}) : null,
        person.phone ? el('span', {className: 'phone', text: person.phone}) : null
      ]));
    });
    if (auxiliaries) {
      list.appendChild(el('li', {}, [el('span', {className: 'post', text: names.post.auxiliary}),
        el('span', {className: 'person', text: number(auxiliaries)})]));
    }
    body.appendChild(el('h3', {text: W.people}));
    body.appendChild(list);
    body.appendChild(el('a', {className: 'button', href: cfg.urls.gridCases + encodeURIComponent(p.code),
      text: W.view_cases}));
    byId('grid-panel').hidden = false;
    byId('grid-panel').scrollIntoView({block: 'nearest'});
  }

  G.openGrid = function (code, layer, e) {
    if (e && e.originalEvent) { L.DomEvent.stopPropagation(e); }
    state.selected = code;
    if (layers) { restyle(); }
    var panel = byId('grid-panel');
    panel.hidden = false;
    panel.setAttribute('data-code', code);
    panel.setAttribute('data-loading', '1');
    byId('grid-panel-name').textContent = W.loading;
    function wanted() { return !panel.hidden && panel.getAttribute('data-code') === code; }
    withRetry('grid', function () {
      var f = filters();
      var since = f.since ? '?since=' + f.since : '';
      return getJSON(cfg.urls.grid + encodeURIComponent(code) + since).then(function (feature) {
        if (!wanted()) { return; }
        showGrid(feature);
        panel.removeAttribute('data-loading');
      });
    }, wanted).catch(function (err) {
      if (!wanted()) { return; }
      byId('grid-panel-name').textContent = (retryable(err) ? W.loading : W.load_error + ': ' + err.message);
      if (!retryable(err)) { panel.removeAttribute('data-loading'); }
    });
  };

  function closeGrid() {
    state.selected = null;
    byId('grid-panel').hidden = true;
    byId('grid-panel').removeAttribute('data-code');
    restyle();
  }

  // -- cases: popups and the live list ---------------------------------------------------

  function statusBadge(status, overdue) {
    return el('span', {className: 'status-badge', style: 'background-color: ' + (cfg.styles.statusColors[status] || '#555'),
      text: names.status[status] || status}, []);
  }

  function casePopup(id, latlng) {
    var box = el('div', {className: 'case-popup', 'data-case-id': String(id)}, [el('p', {text: W.loading})]);
    var popup = L.popup({maxWidth: 320, minWidth: 240}).setLatLng(latlng).setContent(box).openOn(map);
    function wanted() { return map.hasLayer(popup); }
    withRetry('case', function () { return getJSON(cfg.urls.caseApi + id).then(drawCase); }, wanted)
      .catch(function (err) { if (!retryable(err)) { box.textContent = W.load_error + ': ' + err.message; } });

    function drawCase(c) {
      box.textContent = '';
      var due = c.deadlines && c.deadlines.due_at;
      var overdue = due && cfg.openStates.indexOf(c.status) >= 0 && c.status !== 'parked' && new Date(due) < new Date();
      // the worst card the supervision pass gave the case (黄牌 / 红牌), beside its status
      var card = c.worst_card === 'yellow' || c.worst_card === 'red'
        ? el('span', {className: 'card-badge card-' + c.worst_card, text: names.card[c.worst_card]}) : null;
      box.appendChild(el('h3', {}, [W.case + ' #' + c.id + ' ', statusBadge(c.status),
        overdue ? el('span', {className: 'overdue-badge', text: W.overdue_badge}) : null, card]));
      var category = c.category || {};
      box.appendChild(el('dl', {}, [
        el('dt', {text: W.category}), el('dd', {text: (cfg.lang === 'zh' ? category.name_zh : category.name_en) || category.code}),
        el('dt', {text: W.created}), el('dd', {text: localTime(c.created_at)}),
        el('dt', {text: W.due}), el('dd', {className: overdue ? 'overdue' : '', text: localTime(due) || '—'}),
        el('dt', {text: W.assignee}), el('dd', {text: c.assignee ? c.assignee.name : W.unassigned})
      ]));
      var text = c.description || '';
      box.appendChild(el('p', {className: 'description', text: text.length > 140 ? text.slice(0, 140) + '…' : text}));
      box.appendChild(el('a', {href: cfg.urls.casePage + c.id, text: W.open_case}));
      popup.update();
    }
  }

  function onCaseClick(e) {
    var p = e.layer && e.layer.properties;
    if (!p) { return; }
    L.DomEvent.stopPropagation(e);
    if (p.count !== undefined) {
      map.setView(e.latlng, Math.min(map.getZoom() + 2, cfg.pointsMinZoom + 2));
      return;
    }
    casePopup(p.id, e.latlng);
  }

  function addLatest(ev) {
    var list = byId('latest-list');
    var empty = list.querySelector('.empty');
    if (empty) { empty.remove(); }
    var old = list.querySelector('li[data-case-id="' + ev.id + '"]');
    if (old) { old.remove(); }
    var description = el('span', {className: 'description'});
    var item = el('li', {'data-case-id': String(ev.id), 'data-op': ev.op}, [
      el('div', {className: 'line'}, [
        el('span', {className: 'time', text: localTime(ev.updated_at || ev.created_at)}),
        ev.op === 'card'
          ? el('span', {className: 'op card-badge card-' + ev.signal, text: names.card[ev.signal] || ev.signal})
          : el('span', {className: 'op', text: ev.op === 'insert' ? W.op_insert : W.op_update}),
        statusBadge(ev.status),
        el('a', {href: cfg.urls.casePage + ev.id, text: '#' + ev.id})
      ]),
      el('div', {className: 'line'}, [el('span', {className: 'category', text: categoryName(ev.category_code)}), description])
    ]);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > LATEST_MAX) { list.removeChild(list.lastChild); }
    withRetry('latest:' + ev.id, function () {
      return getJSON(cfg.urls.caseApi + ev.id).then(function (c) {
        var text = c.description || '';
        description.textContent = text.length > 60 ? text.slice(0, 60) + '…' : text;
      });
    }, function () { return document.body.contains(item); }).catch(function () {});
  }

  function pulse(ev) {
    if (ev.lat === null || ev.lon === null || ev.lat === undefined) { return; }
    var ring = L.circleMarker([ev.lat, ev.lon], {pane: 'cases', radius: 14, color: '#d7191c', weight: 3,
      fill: false, interactive: false, className: 'live-pulse'}).addTo(map);
    setTimeout(function () { map.removeLayer(ring); }, 8000);
  }

  // Redraw only the case tiles around the points that changed: a full redraw would blank the
  // whole layer for a moment on every event. Uses GridLayer's internals (_tiles, _tileZoom,
  // _removeTile, _update) as of Leaflet 1.9; falls back to redraw() when many points changed.
  function refreshTiles() {
    var points = state.pending;
    state.pending = [];
    var layer = layers.cases, z = layer._tileZoom;
    if (!layer._map || z === undefined) { return; }
    if (points.length > 30) { layer.redraw(); return; }
    var size = layer.getTileSize().x, keys = {};
    points.forEach(function (ll) {
      var px = map.project(ll, z);
      [-8, 8].forEach(function (dx) {
        [-8, 8].forEach(function (dy) {
          var t = px.add([dx, dy]).divideBy(size).floor();
          keys[t.x + ':' + t.y + ':' + z] = true;
        });
      });
    });
    var removed = false;
    Object.keys(keys).forEach(function (key) {
      if (layer._tiles[key]) { layer._removeTile(key); removed = true; }
    });
    if (removed) { layer._update(); }
  }

  function onCaseEvent(ev) {
    // many cases at once: an import, or a publish of new boundaries that re-routed them
    if (ev.op === 'bulk' || ev.op === 'boundaries') {
      refreshAll();
      if (ev.op === 'boundaries' && ev.town_code === cfg.town) { boundariesChanged(ev); }
      return;
    }
    [[ev.lat, ev.lon], [ev.old_lat, ev.old_lon]].forEach(function (ll) {
      if (ll[0] !== null && ll[0] !== undefined) { state.pending.push(L.latLng(ll[0], ll[1])); }
    });
    debounce('tiles', 150, refreshTiles);
    debounce('today', 1000, loadToday);
    if (state.choropleth) { debounce('stats', 5000, loadStats); }
    if (hotspotsShown()) { debounce('hotspots', 15000, loadHotspots); }
    addLatest(ev);
    pulse(ev);
  }

  // The grid outlines are drawn by the page (folium, with the page's own properties and
  // styles): after a publish they are those of the old version until the page is reloaded, so
  // the operator is told and offered the reload, not surprised by a reload mid-work.
  function boundariesChanged(ev) {
    byId('boundaries-text').textContent = fmt(W.boundaries_changed, {version: ev.version});
    byId('boundaries-banner').hidden = false;
  }

  function refreshAll() {
    layers.cases.redraw();
    loadToday();
    if (state.choropleth) { loadStats(); }
    if (hotspotsShown()) { loadHotspots(); }
  }

  function setLive(s) {
    var badge = byId('live-state');
    badge.setAttribute('data-state', s);
    badge.textContent = s === 'on' ? W.live : W.live_lost;
  }

  function connect() {
    var source = state.source = new EventSource(cfg.urls.stream);
    source.addEventListener('case', function (m) {
      try { onCaseEvent(JSON.parse(m.data)); } catch (err) { /* a malformed event is skipped */ }
    });
    // a deadline signal or card of the supervision pass (cases/supervision.py): in the
    // latest list with its badge (黄牌, 红牌, …), and a pulse on the case
    source.addEventListener('card', function (m) {
      try { var ev = JSON.parse(m.data); addLatest(ev); pulse(ev); } catch (err) { /* skipped */ }
    });
    source.addEventListener('open', function () {
      setLive('on');
      if (state.lost) { state.lost = false; refreshAll(); }  // the server restarted: refetch
    });
    source.addEventListener('error', function () {
      setLive('lost');
      state.lost = true;
      // EventSource retries by itself after a network error, but gives up on an HTTP error
      // (a proxy's 502 while the server restarts): then start over.
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 3000); }
    });
  }

  // -- hot spots -------------------------------------------------------------------------

  function hotspotsShown() { return map.hasLayer(layers.hotspots) || map.hasLayer(layers.heat); }

  function updateMethod() {
    var f = filters();
    byId('method-params').textContent = fmt(W.method_params, {
      cell: cfg.hotspot.cellSize, perm: cfg.hotspot.permutations,
      category: f.category ? categoryName(f.category) : W.all_categories, window: windowLabel(f)
    });
  }

  function loadHotspots() {
    var status = byId('hotspot-status');
    status.textContent = W.hotspot_loading;
    document.body.setAttribute('data-hotspots', 'loading');
    return withRetry('hotspots', function () {
      var f = filters();
      var url = cfg.urls.hotspots + '?' + query({category: f.category, since: f.since, cell_size: cfg.hotspot.cellSize});
      return getJSON(url).then(drawHotspots);
    }, hotspotsShown).catch(function (err) {
      if (retryable(err)) { return; }  // still "computing" while the retries run
      status.textContent = W.hotspot_error + err.message;
      document.body.setAttribute('data-hotspots', 'error');
    });
  }

  function drawHotspots(fc) {
    var status = byId('hotspot-status');
    layers.hotspots.clearLayers();
    layers.hotspots.addData(fc);
    var max = 0, points = [];
    fc.features.forEach(function (cell) { max = Math.max(max, cell.properties.count); });
    fc.features.forEach(function (cell) {
      var ring = cell.geometry.coordinates[0], n = cell.properties.count;
      if (!n) { return; }
      points.push([(ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2, n / max]);
      // (the layer's `max` option, above 1, keeps neighbouring cells from saturating)
    });
    layers.heat.setLatLngs(points);
    var classes = (fc.properties && fc.properties.classes) || {};
    var hot = 0, cold = 0;
    Object.keys(classes).forEach(function (k) {
      if (k.indexOf('hot') === 0) { hot += classes[k]; } else if (k.indexOf('cold') === 0) { cold += classes[k]; }
    });
    status.textContent = fmt(W.hotspot_summary, {cases: number(fc.properties ? fc.properties.cases : 0),
      hot: number(hot), cold: number(cold)});
    document.body.setAttribute('data-hotspots', 'drawn');
  }

  function onOverlay(e) {
    if (e.layer === layers.hotspots || e.layer === layers.heat) {
      byId('legend-hotspots').hidden = !map.hasLayer(layers.hotspots);
      if (e.type === 'overlayadd') { loadHotspots(); }
    }
  }

  // -- start -----------------------------------------------------------------------------

  function tick() { byId('clock').textContent = clockFormat.format(new Date()); }

  // "Interactive" (bench/page_bench.py measures it): folium's script has drawn every grid
  // (synchronously, before start()), and the case layer has fetched and drawn every tile of
  // the first view.
  function ready() {
    if (document.body.getAttribute('data-ready')) { return; }
    document.body.setAttribute('data-ready', '1');
    if (window.performance && performance.mark) { performance.mark('gridgov-interactive'); }
    window.gridgovReady = performance.now();
  }

  // Leaf grids' names as map labels from zoom 16 up (below it they would cover the map); the
  // names are the page's escaped text (geo/layers/grids.py), which tooltips show as text.
  function leafLabels() {
    var show = map.getZoom() >= LEAF_LABEL_ZOOM;
    map.getContainer().classList.toggle('show-leaf-labels', show);
    if (!show || state.leafLabels) { return; }
    state.leafLabels = true;
    ['regional', 'service'].forEach(function (name) {
      layers[name].eachLayer(function (layer) {
        layer.bindTooltip(layer.feature.properties.name, {permanent: true, direction: 'center',
          className: 'grid-label leaf-label', interactive: false});
      });
    });
  }

  G.start = function (config, handles) {
    cfg = config;
    layers = handles;
    map = handles.map;
    W = cfg.i18n.words;
    names = cfg.i18n;
    layers.cases.on('click', onCaseClick);
    layers.cases.once('load', function () { state.tilesLoaded = true; ready(); });
    if (!map.hasLayer(layers.cases)) { ready(); }
    map.on('overlayadd overlayremove', onOverlay);
    map.on('zoomend', leafLabels);
    leafLabels();
    ['f-category', 'f-state', 'f-channel', 'f-window'].forEach(function (id) {
      byId(id).addEventListener('change', applyFilters);
    });
    byId('f-choropleth').addEventListener('change', function (e) {
      state.choropleth = e.target.value;
      if (state.choropleth) { loadStats(); } else { restyle(); }
    });
    byId('grid-panel-close').addEventListener('click', closeGrid);
    byId('boundaries-reload').addEventListener('click', function () { window.location.reload(); });
    tick();
    setInterval(tick, 1000);
    loadCategories();
    loadToday();
    updateMethod();
    connect();
  };
})();
