// The public board's map: pins closer together than their size are pushed apart, a little at a
// time, until none covers another (recomputed after every zoom: where they stand apart they
// sit on their own positions). No data and no text here: the pins and their tooltips are
// folium's (geo/layers/public_cases.py).
(function () {
  "use strict";
  const PIN_PX = 26;
  const GAP_PX = PIN_PX + 2;
  const ROUNDS = 200;

  function spread(map, group) {
    const markers = [];
    group.eachLayer(function (m) { if (m._icon) markers.push(m); });
    const home = markers.map(function (m) { return map.latLngToLayerPoint(m.getLatLng()); });
    const at = home.map(function (p) { return {x: p.x, y: p.y}; });
    for (let round = 0; round < ROUNDS; round++) {
      let moved = false;
      for (let i = 0; i < at.length; i++) {
        for (let j = i + 1; j < at.length; j++) {
          let dx = at[j].x - at[i].x;
          let dy = at[j].y - at[i].y;
          let d = Math.hypot(dx, dy);
          // pins overlap as squares: apart enough when either axis is a pin and more apart
          if (Math.abs(dx) >= GAP_PX || Math.abs(dy) >= GAP_PX) continue;
          if (d < 0.01) { dx = Math.cos(i + j); dy = Math.sin(i + j); d = 1; }  // same spot
          // along the line between them, each far enough for the longer axis to reach GAP_PX
          const m = Math.max(Math.abs(dx), Math.abs(dy));
          const push = ((GAP_PX - m) * d) / m / 2 + 0.5;
          at[i].x -= (dx / d) * push; at[i].y -= (dy / d) * push;
          at[j].x += (dx / d) * push; at[j].y += (dy / d) * push;
          moved = true;
        }
      }
      if (!moved) break;
    }
    markers.forEach(function (m, i) {
      m._icon.style.marginLeft = (at[i].x - home[i].x - PIN_PX / 2) + "px";
      m._icon.style.marginTop = (at[i].y - home[i].y - PIN_PX / 2) + "px";
    });
    document.body.dataset.pinsSpread = "1";
  }

  window.gridgovBoard = function (map, group) {
    map.on("zoomend", function () { spread(map, group); });
    spread(map, group);
  };
})();
