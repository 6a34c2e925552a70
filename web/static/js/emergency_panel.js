/* The operator map's emergency panel (应急动员, web/templates/_emergency_panel.html): choose
 * an area — drawn on the map (a polygon; a river line or a point with a buffer in metres, via
 * leaflet-draw), a grid or village code, or an uploaded GeoJSON file — see what it holds
 * (POST /api/v1/emergencies/preview: totals, a table by grid and worker, the vulnerable
 * households on the map), and mobilise (POST /api/v1/emergencies), then open its board.
 * Kept apart from operator.js: it shares only the map. Text goes in with textContent only.
 */
(function () {
  'use strict';

  var G = window.gridgov = window.gridgov || {};
  var W, map, drawn = null, uploaded = null, shown = null, handler = null;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var HEADERS = {'Content-Type': 'application/json'};
  if (csrfMeta) { HEADERS['X-CSRF-Token'] = csrfMeta.getAttribute('content'); }

  function byId(id) { return document.getElementById(id); }

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] === undefined ? m : String(values[k]);
    });
  }

  function td(text) { var c = document.createElement('td'); c.textContent = String(text); return c; }

  function status(text, isError) {
    var node = byId('emp-status');
    node.textContent = text || '';
    node.classList.toggle('error', !!isError);
  }

  function post(url, body) {
    return fetch(url, {method: 'POST', credentials: 'same-origin', headers: HEADERS,
                       body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          if (!r.ok) { var e = new Error(b.message || ('HTTP ' + r.status)); e.body = b; throw e; }
          return b;
        });
      });
  }

  function mode() { return byId('emp-mode').value; }

  function showFields() {
    var m = mode();
    document.querySelectorAll('#emergency-panel [data-for]').forEach(function (node) {
      node.hidden = node.getAttribute('data-for').split(' ').indexOf(m) < 0;
    });
    byId('emp-result').hidden = true;
  }

  function clearShown() {
    if (shown) { map.removeLayer(shown); shown = null; }
  }

  function startDrawing() {
    if (handler) { handler.disable(); }
    var kinds = {polygon: L.Draw.Polygon, line: L.Draw.Polyline, point: L.Draw.Marker};
    handler = new kinds[mode()](map, {shapeOptions: {color: '#c92a2a'}});
    handler.enable();
  }

  // ends a polygon or line being drawn (leaflet-draw's own way, a click on the first or last
  // point, is hard to hit on a phone-sized screen)
  function finishDrawing() {
    if (handler && handler.enabled() && handler.completeShape) { handler.completeShape(); }
  }

  function area() {
    var m = mode();
    if (m === 'grid' || m === 'village') {
      var code = byId('emp-code').value.trim();
      if (!code) { return null; }
      var out = {};
      out[m] = code;
      return out;
    }
    if (m === 'upload') { return uploaded ? {geojson: uploaded} : null; }
    if (!drawn || drawn.mode !== m) { return null; }
    var a = {geojson: drawn.geometry};
    if (m !== 'polygon') { a.buffer_m = Number(byId('emp-buffer').value); }
    return a;
  }

  function showPreview(p) {
    clearShown();
    shown = L.featureGroup().addTo(map);
    L.geoJSON(p.area, {style: {color: '#c92a2a', weight: 2, fillOpacity: 0.08}}).addTo(shown);
    p.vulnerable.forEach(function (h) {
      L.circleMarker([h.lat, h.lon], {radius: 5, color: '#5c0000', weight: 1, fillColor: '#e8590c',
                                      fillOpacity: 0.9})
        .bindTooltip(h.name + ' · ' + h.vulnerable).addTo(shown);
    });
    map.fitBounds(shown.getBounds(), {padding: [20, 20]});
    byId('emp-totals').textContent = fmt(W.totals, p.totals);
    var body = byId('emp-grids').querySelector('tbody');
    body.replaceChildren();
    p.grids.forEach(function (g) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-grid', g.grid_code);
      [g.grid_name || g.grid_code, g.worker_name || '—', g.households, g.residents, g.vulnerable,
       g.enterprises, g.hazards].forEach(function (v) { tr.appendChild(td(v)); });
      body.appendChild(tr);
    });
    byId('emp-result').hidden = false;
  }

  function preview() {
    var a = area();
    if (!a) { status(W.need_area, true); return; }
    status(W.working);
    post('/api/v1/emergencies/preview', {area: a}).then(function (p) {
      status('');
      showPreview(p);
    }).catch(function (err) {
      byId('emp-result').hidden = true;
      status(err.message, true);
    });
  }

  function listOpen() {
    fetch('/api/v1/emergencies', {credentials: 'same-origin', cache: 'no-store'})
      .then(function (r) { return r.ok ? r.json() : {emergencies: []}; })
      .then(function (b) {
        var list = byId('emp-open');
        list.replaceChildren();
        var open = b.emergencies.filter(function (e) { return !e.closed_at; });
        if (!open.length) {
          var li = document.createElement('li');
          li.className = 'empty';
          li.textContent = W.none_open;
          list.appendChild(li);
        }
        open.forEach(function (e) {
          var li = document.createElement('li');
          var a = document.createElement('a');
          a.href = '/emergencies/' + e.id;
          a.textContent = e.name + '（' + (e.kind_zh || e.kind) + '）';
          li.appendChild(a);
          li.appendChild(document.createTextNode(' ' + e.confirmed + '/' + e.tasks));
          list.appendChild(li);
        });
      }).catch(function () { /* the list is a convenience */ });
  }

  function mobilise(ev) {
    ev.preventDefault();
    var a = area();
    if (!a) { status(W.need_area, true); return; }
    var form = ev.target;
    var button = byId('emp-mobilise');
    button.disabled = true;
    post('/api/v1/emergencies', {name: form.name.value.trim(), kind: form.kind.value,
                                 instructions: form.instructions.value.trim() || null, area: a})
      .then(function (p) {
        var node = byId('emp-status');
        node.classList.remove('error');
        node.textContent = fmt(W.mobilised, {n: p.totals.targets}) + ' ';
        var link = document.createElement('a');
        link.href = '/emergencies/' + p.emergency.id;
        link.id = 'emp-board-link';
        link.textContent = W.open_board;
        node.appendChild(link);
        listOpen();
      })
      .catch(function (err) { status(err.message, true); })
      .then(function () { button.disabled = false; });
  }

  function readFile() {
    var file = byId('emp-file').files[0];
    uploaded = null;
    if (!file) { return; }
    file.text().then(function (text) {
      uploaded = JSON.parse(text);
      status('');
    }).catch(function () { status(W.bad_file, true); });
  }

  G.emergencyPanel = {
    start: function (leafletMap) {
      map = leafletMap;
      W = JSON.parse(byId('emergency-panel-words').textContent);
      byId('emp-mode').addEventListener('change', showFields);
      byId('emp-draw').addEventListener('click', startDrawing);
      byId('emp-finish').addEventListener('click', finishDrawing);
      byId('emp-preview').addEventListener('click', preview);
      byId('emp-file').addEventListener('change', readFile);
      byId('emp-form').addEventListener('submit', mobilise);
      map.on(L.Draw.Event.CREATED, function (e) {
        var m = mode();
        clearShown();
        shown = L.featureGroup([e.layer]).addTo(map);
        drawn = {mode: m, geometry: e.layer.toGeoJSON().geometry};
        status(W.drawn);
      });
      showFields();
      listOpen();
    }
  };
}());
