/* The operator map's 巡访合规 layer (geo/layers/compliance.py): when switched on, the leaf
 * grids the page already draws are copied into it, coloured by the current month's share of
 * visits made on time (GET /api/v1/compliance?level=grid), each with a popup. Text is written
 * with textContent only. */
(function () {
  'use strict';
  var G = window.gridgov = window.gridgov || {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function colour(cfg, share) {
    if (share === null || share === undefined) { return cfg.noData; }
    var out = cfg.bands[0][1];
    cfg.bands.forEach(function (b) { if (share >= b[0]) { out = b[1]; } });
    return out;
  }

  function percent(share) { return share === null ? '–' : (share * 100).toFixed(1) + '%'; }

  function popup(cfg, name, code, row, period) {
    var W = cfg.words, box = el('div', 'compliance-popup');
    box.appendChild(el('strong', null, name));
    var dl = el('dl');
    [[W.grid, code], [W.period, period], [W.share, row ? percent(row.share) : W.no_data],
     [W.targets, row ? row.targets + W.unit : '0'],
     [W.on_time, row ? row.visited_on_time + W.unit : '0'],
     [W.overdue, row ? row.overdue + W.unit : '0']].forEach(function (pair) {
      dl.appendChild(el('dt', null, pair[0]));
      var dd = el('dd', null, pair[1]);
      if (pair[0] === W.overdue) { dd.setAttribute('data-overdue', row ? row.overdue : 0); }
      dl.appendChild(dd);
    });
    box.appendChild(dl);
    return box;
  }

  G.compliance = {
    start: function (cfg, handles) {
      var map = handles.map, layer = handles.compliance, state = {loaded: false};
      var legend = document.getElementById('legend-compliance');
      var status = document.getElementById('legend-compliance-status');

      function draw(body) {
        var rows = {};
        body.rows.forEach(function (r) { rows[r.code] = r; });
        document.getElementById('legend-compliance-period').textContent = body.period;
        ['regional', 'service'].forEach(function (name) {
          handles[name].eachLayer(function (source) {
            var p = source.feature.properties, row = rows[p.code] || null;
            var fill = colour(cfg, row ? row.share : null);
            var shape = L.geoJSON(source.feature, {style: {
              color: '#555', weight: 0.8, opacity: 0.9, fillColor: fill, fillOpacity: 0.75}});
            shape.eachLayer(function (part) {
              part.bindPopup(popup(cfg, p.name, p.code, row, body.period));
              part.on('add', function () {
                if (part._path) {
                  part._path.setAttribute('data-grid', p.code);
                  part._path.setAttribute('data-share', row && row.share !== null ? row.share : '');
                }
              });
            });
            shape.addTo(layer);
          });
        });
        state.loaded = true;
        document.body.setAttribute('data-compliance', 'drawn');
      }

      function load() {
        status.textContent = '';
        fetch(cfg.url + '?level=grid', {credentials: 'same-origin', cache: 'no-store'})
          .then(function (r) {
            if (r.status === 403) { throw new Error(cfg.words.refused); }
            if (!r.ok) { throw new Error(cfg.words.failed); }
            return r.json();
          })
          .then(draw)
          .catch(function (err) {
            status.textContent = err.message || cfg.words.failed;
            document.body.setAttribute('data-compliance', 'failed');
          });
      }

      map.on('overlayadd overlayremove', function (e) {
        if (e.layer !== layer) { return; }
        legend.hidden = e.type !== 'overlayadd';
        if (e.type === 'overlayadd' && !state.loaded) { load(); }
      });
    }
  };
})();
