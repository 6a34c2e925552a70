// The page's maps: one Leaflet map per tab and one on a case (our own outlines and points on a
// plain background, a basemap only when one is configured: nothing from another host), and
// the cards' tiny maps, drawn as SVG: a Leaflet map per card would cost a phone hundreds of
// map instances for a long inbox, and a card needs only its grid's outline and the point.
import { config, W } from './ui.js';
import { setManual, position } from './geo.js';

const L = () => window.L;
export const STATUS_COLORS = config.statusColors || {};

// A Leaflet map in `node`; a tap sets the phone's position when `tapSetsPosition`.
export function leafletMap(node, tapSetsPosition) {
  // no animations: cheaper on a phone, and a case's map may be removed while one would run
  const map = L().map(node, {zoomControl: true, attributionControl: !!config.basemap, maxZoom: 19,
                               zoomAnimation: false, fadeAnimation: false, markerZoomAnimation: false});
  if (config.basemap) {
    L().tileLayer(config.basemap, {attribution: config.basemapAttribution, maxZoom: 19}).addTo(map);
  }
  map.setView([35.64, 112.87], 13);
  const me = L().circleMarker([0, 0], {radius: 7, color: '#fff', weight: 2, fillColor: '#1565c0',
                                         fillOpacity: 1, interactive: false});
  const layers = {grids: L().layerGroup().addTo(map), points: L().layerGroup().addTo(map), me};
  if (tapSetsPosition) {
    map.on('click', (ev) => setManual([ev.latlng.lng, ev.latlng.lat], 'wgs84', 'tapped'));
  }
  return {map, layers};
}

export function showGrids(m, grids) {
  m.layers.grids.clearLayers();
  if (!grids || !grids.features || !grids.features.length) { return; }
  L().geoJSON(grids, {interactive: false, style: () => ({color: '#1f3b73', weight: 2, fillOpacity: 0.06})})
    .addTo(m.layers.grids);
}

export function showMe(m) {
  if (!position.lonlat) { m.layers.me.remove(); return; }
  m.layers.me.setLatLng([position.lonlat[1], position.lonlat[0]]).addTo(m.map);
}

// Points [{lonlat, color, label, onClick}]; fits the view to them, the grids and the phone.
export function showPoints(m, points, fit) {
  m.layers.points.clearLayers();
  const bounds = [];
  for (const p of points) {
    if (!p.lonlat) { continue; }
    const marker = L().circleMarker([p.lonlat[1], p.lonlat[0]], {radius: 8, color: '#fff', weight: 2,
      fillColor: p.color || '#e66101', fillOpacity: 0.95});
    if (p.label) { marker.bindTooltip(p.label); }
    if (p.onClick) { marker.on('click', (ev) => { L().DomEvent.stopPropagation(ev); p.onClick(); }); }
    marker.addTo(m.layers.points);
    bounds.push([p.lonlat[1], p.lonlat[0]]);
  }
  showMe(m);
  if (fit !== false) {
    if (position.lonlat) { bounds.push([position.lonlat[1], position.lonlat[0]]); }
    m.layers.grids.eachLayer((layer) => { const b = layer.getBounds(); if (b.isValid()) { bounds.push(b.getSouthWest(), b.getNorthEast()); } });
    if (bounds.length) { m.map.fitBounds(bounds, {padding: [16, 16], maxZoom: 17, animate: false}); }
  }
}

// -- the cards' tiny maps ------------------------------------------------------------------

function rings(geometry) {
  if (!geometry) { return []; }
  if (geometry.type === 'Polygon') { return geometry.coordinates; }
  if (geometry.type === 'MultiPolygon') { return geometry.coordinates.flat(); }
  return [];
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) { node.setAttribute(k, v); }
  return node;
}

// An SVG of `size` px: the grid's outline, the case's point and, when it falls inside the
// view, the phone. Equirectangular, x scaled by cos(latitude): true enough for a grid.
export function miniMap(grid, lonlat, color, size = 72) {
  const outline = rings(grid && grid.geometry);
  const all = outline.flat().concat(lonlat ? [lonlat] : []);
  const root = svg('svg', {class: 'wk-mini', width: size, height: size, viewBox: `0 0 ${size} ${size}`,
                           role: 'img', 'aria-label': W.map});
  if (!all.length) { return root; }
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of all) { w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y); }
  const k = Math.cos(((s + n) / 2) * Math.PI / 180);
  const span = Math.max((e - w) * k, n - s, 0.002);
  const pad = 6;
  const scale = (size - 2 * pad) / span;
  const cx = (w + e) / 2;
  const cy = (s + n) / 2;
  const px = ([x, y]) => [size / 2 + (x - cx) * k * scale, size / 2 - (y - cy) * scale];
  for (const ring of outline) {
    const d = ring.map((p, i) => `${i ? 'L' : 'M'}${px(p).map((v) => v.toFixed(1)).join(' ')}`).join('') + 'Z';
    root.append(svg('path', {d, fill: 'rgba(31,59,115,.08)', stroke: '#1f3b73', 'stroke-width': 1.2}));
  }
  if (position.lonlat) {
    const [x, y] = px(position.lonlat);
    if (x >= 0 && x <= size && y >= 0 && y <= size) {
      root.append(svg('circle', {cx: x, cy: y, r: 4, fill: '#1565c0', stroke: '#fff', 'stroke-width': 1.5, class: 'me'}));
    }
  }
  if (lonlat) {
    const [x, y] = px(lonlat);
    root.append(svg('circle', {cx: x, cy: y, r: 5, fill: color || '#e66101', stroke: '#fff', 'stroke-width': 1.5}));
  }
  return root;
}
