/* The live board of an emergency (web/emergencies.py). The page comes with the figures of
   the moment; this script draws the map (the area and every task, coloured by its status),
   follows the stream (event: emergency, web/live.py) — a confirmation recolours its task at
   once and the figures are refetched, one request at a time, the latest answer winning — and
   sends the closing summary. Text is written with textContent only. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('emergency-config').textContent);
  var W = cfg.words;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute('content') : null;
  var markers = {};
  var state = {inFlight: false, again: false, lost: false, source: null};

  function byId(id) { return document.getElementById(id); }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  // -- the map --------------------------------------------------------------------------
  var map = L.map('em-map', {preferCanvas: true});
  if (cfg.basemap) {
    L.tileLayer(cfg.basemap, {attribution: cfg.basemapAttribution, maxZoom: 19}).addTo(map);
  }
  var area = L.geoJSON(cfg.area, {style: {color: '#c92a2a', weight: 2, fillOpacity: 0.06}}).addTo(map);
  map.fitBounds(area.getBounds(), {padding: [10, 10]});
  var renderer = L.canvas({padding: 0.5});

  function styleFor(task) {
    var color = cfg.colors[task.status] || '#333';
    return {radius: task.vulnerable > 0 ? 6 : 4, color: task.vulnerable > 0 ? '#5c0000' : color,
            weight: task.vulnerable > 0 ? 2 : 1, fillColor: color, fillOpacity: 0.85,
            renderer: renderer};
  }

  function drawTasks(tasks) {
    tasks.forEach(function (task) {
      var m = markers[task.id];
      if (m) { m.task = task; m.setStyle(styleFor(task)); return; }
      m = L.circleMarker([task.lat, task.lon], styleFor(task)).addTo(map);
      m.task = task;
      m.bindTooltip(function () {
        return (W.target[m.task.target_type] || '') + ' · ' + (W.status[m.task.status] || '');
      });
      markers[task.id] = m;
    });
  }

  function recolour(ev) {
    var m = markers[ev.task_id];
    if (!m) { return; }
    m.task.status = ev.status;
    m.setStyle(styleFor(m.task));
  }

  // -- the figures ----------------------------------------------------------------------
  function setCounts(totals) {
    document.querySelectorAll('[data-count]').forEach(function (node) {
      var v = totals[node.getAttribute('data-count')];
      if (v !== undefined) { node.textContent = String(v); }
    });
  }

  function fillTable(id, rows, cells, key) {
    var body = byId(id).querySelector('tbody');
    var fresh = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = el('tr', null, key(r));
      cells(r).forEach(function (c) { tr.appendChild(el('td', c)); });
      fresh.appendChild(tr);
    });
    body.replaceChildren(fresh);
  }

  function fillRecent(recent) {
    var list = byId('em-recent');
    list.replaceChildren();
    if (!recent.length) { list.appendChild(el('li', W.none_yet, {'class': 'note'})); return; }
    recent.forEach(function (r) {
      var li = el('li', null, {'data-task': r.id});
      li.appendChild(el('time', (r.received_at || '').slice(11, 19)));
      var text = ' ' + (r.name || '') + ' · ' + (W.status[r.status] || r.status);
      if (r.people !== null && r.people !== undefined) { text += ' · ' + r.people; }
      if (r.relocated_to) { text += ' → ' + r.relocated_to; }
      text += ' · ' + (r.confirmed_by_name || '');
      li.appendChild(document.createTextNode(text));
      list.appendChild(li);
    });
  }

  function drawTimeline(timeline, total) {
    var svg = byId('em-timeline');
    var NS = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    if (!timeline.length) { return; }
    var first = Date.parse(timeline[0].minute);
    var last = Date.parse(timeline[timeline.length - 1].minute);
    var span = Math.max(1, (last - first) / 60000 + 1);
    var peak = Math.max.apply(null, timeline.map(function (p) { return p.confirmed; }));
    var width = 300 / span;
    var sum = 0;
    var points = ['0,80'];
    timeline.forEach(function (p) {
      var x = (Date.parse(p.minute) - first) / 60000 * width;
      var h = p.confirmed / peak * 38;
      var bar = document.createElementNS(NS, 'rect');
      bar.setAttribute('x', x.toFixed(2)); bar.setAttribute('width', Math.max(1, width - 1).toFixed(2));
      bar.setAttribute('y', (80 - h).toFixed(2)); bar.setAttribute('height', h.toFixed(2));
      var title = document.createElementNS(NS, 'title');
      title.textContent = p.minute.slice(11, 16) + ' · ' + p.confirmed + ' · ' + W.per_minute;
      bar.appendChild(title);
      svg.appendChild(bar);
      sum += p.confirmed;
      points.push((x + width).toFixed(2) + ',' + (80 - sum / Math.max(1, total) * 78).toFixed(2));
    });
    var line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.appendChild(line);
  }

  function render(p) {
    setCounts(p.totals);
    fillTable('em-grids', p.grids, function (g) {
      return [g.grid_name || g.grid_code, g.workers.filter(Boolean).join('、'), g.targets,
              g.confirmed, g.households - g.households_confirmed, g.people_relocated,
              g.vulnerable_not_reached];
    }, function (g) { return {'data-grid': g.grid_code}; });
    fillTable('em-workers', p.workers, function (w) {
      return [w.name || '—', w.targets, w.confirmed, w.to_go, w.people_relocated,
              w.vulnerable_not_reached];
    }, function (w) { return {'data-person': w.person_id || ''}; });
    fillRecent(p.recent);
    drawTimeline(p.timeline, p.totals.targets);
    if (p.tasks) { drawTasks(p.tasks); }
    if (p.emergency.closed_at && !cfg.closed) { window.location.reload(); }
  }

  // One request at a time; events that come meanwhile ask for one more after it.
  function refresh(withTasks) {
    if (state.inFlight) { state.again = true; state.againTasks = state.againTasks || withTasks; return; }
    state.inFlight = true;
    fetch(cfg.urls.progress + (withTasks ? '?tasks=true' : ''), {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { if (p) { render(p); } })
      .catch(function () { /* the stream's reconnect refetches */ })
      .then(function () {
        state.inFlight = false;
        if (state.again) {
          var tasks = state.againTasks;
          state.again = state.againTasks = false;
          refresh(tasks);
        }
      });
  }

  function setLive(on) {
    var badge = byId('em-live');
    badge.setAttribute('data-state', on ? 'on' : 'off');
    badge.textContent = on ? W.live : W.live_lost;
  }

  function connect() {
    var source = state.source = new EventSource(cfg.urls.stream);
    source.addEventListener('emergency', function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (err) { return; }
      if (ev.emergency_id !== cfg.id) { return; }
      if (ev.event === 'confirmed') { recolour(ev); }
      refresh(false);
    });
    source.addEventListener('open', function () {
      setLive(true);
      // ": connected" promises every change from now on: fetch what came before it
      refresh(true);
    });
    source.addEventListener('error', function () {
      setLive(false);
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 3000); }
    });
  }

  // -- closing --------------------------------------------------------------------------
  var form = byId('em-close-form');
  if (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var headers = {'Content-Type': 'application/json'};
      if (CSRF) { headers['X-CSRF-Token'] = CSRF; }
      fetch(cfg.urls.close, {method: 'POST', credentials: 'same-origin', headers: headers,
                             body: JSON.stringify({summary: form.summary.value})})
        .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
        .then(function (res) {
          if (res[0]) { window.location.reload(); return; }
          form.querySelector('.em-error').textContent = res[1].message || res[1].error;
        });
    });
  }

  if (cfg.closed) {
    refresh(true);  // no stream: nothing changes any more
  } else {
    connect();
  }
}());
