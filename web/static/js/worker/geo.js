// Where the phone is: the browser's geolocation (WGS 84), or a position typed (from any of
// our CRSs) or tapped on the map when geolocation is refused. Distances and bearings are
// geodesic on the WGS 84 ellipsoid, computed on the phone by GeographicLib's own JavaScript
// port, so the inbox re-sorts as the worker walks, online or not.
import { W, fmt, distanceText } from './ui.js';

// lonlat: WGS 84 (what distances use); raw + crs: as given (what a report sends, so the
// server converts it as everywhere else); source: gps | typed | tapped
export const position = {lonlat: null, raw: null, crs: 'wgs84', accuracy: null, source: null};
const listeners = [];
let refused = false;

export function onPosition(fn) { listeners.push(fn); }

function set(next) {
  Object.assign(position, next);
  render();
  listeners.forEach((fn) => fn(position));
}

const CRS = {gcj02: 'GCJ02', bd09: 'BD09'};

// [lon, lat] in `crs` to WGS 84 (gcoord: the published GCJ-02 / BD-09 formulas), loaded only
// when a position from a Chinese map app is typed.
export async function toWgs84(lonlat, crs) {
  if (!CRS[crs]) { return lonlat; }
  const gcoord = (await import('/static/vendor/gcoord/gcoord.esm.js')).default;
  return gcoord.transform(lonlat, gcoord[CRS[crs]], gcoord.WGS84);
}

// Geodesic distance (m) and bearing (degrees clockwise from north) from `a` to `b`, [lon, lat].
export function inverse(a, b) {
  const g = window.geodesic.Geodesic.WGS84.Inverse(a[1], a[0], b[1], b[0]);
  return {distance_m: g.s12, bearing_deg: (g.azi1 + 360) % 360};
}

// Distance and bearing from the phone to [lon, lat]; nulls when the position is unknown.
export function from(lonlat) {
  if (!position.lonlat || !lonlat || lonlat[0] === null || lonlat[0] === undefined) {
    return {distance_m: null, bearing_deg: null};
  }
  return inverse(position.lonlat, lonlat);
}

const bar = () => document.getElementById('wk-position');

function render() {
  const text = bar().querySelector('.wk-pos-text');
  if (!position.lonlat) {
    text.textContent = refused ? W.position_refused : W.locating;
    bar().dataset.state = refused ? 'refused' : 'locating';
    return;
  }
  const [lon, lat] = position.raw || position.lonlat;
  const source = W[`position_${position.source}`] || '';
  const accuracy = position.accuracy ? ' · ' + fmt(W.accuracy, {m: Math.round(position.accuracy)}) : '';
  const crs = position.crs !== 'wgs84' ? ` (${position.crs.toUpperCase()})` : '';
  text.textContent = `${W.position}：${lon.toFixed(5)}, ${lat.toFixed(5)}${crs} · ${source}${accuracy}`;
  bar().dataset.state = position.source;
}

export async function setManual(lonlat, crs, source) {
  set({lonlat: await toWgs84(lonlat, crs), raw: lonlat, crs, accuracy: null, source});
}

function openForm(open) {
  bar().querySelector('.wk-pos-form').hidden = !open;
}

function gpsFix(p) {
  refused = false;
  const lonlat = [p.coords.longitude, p.coords.latitude];
  set({lonlat, raw: lonlat, crs: 'wgs84', accuracy: p.coords.accuracy, source: 'gps'});
}

function gpsError(err) {
  if (err.code === err.PERMISSION_DENIED) {
    refused = true;
    if (!position.lonlat) { openForm(true); }
  }
  render();
}

export function start() {
  const node = bar();
  node.querySelector('.wk-pos-edit').addEventListener('click', () => {
    openForm(node.querySelector('.wk-pos-form').hidden);
  });
  node.querySelector('.wk-pos-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const parts = form.lonlat.value.replace(/[，\s]+/g, ',').split(',').filter(Boolean).map(Number);
    const error = form.querySelector('.wk-error');
    if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x)) || Math.abs(parts[0]) > 180
        || Math.abs(parts[1]) > 90) {
      error.textContent = W.bad_lonlat;
      return;
    }
    error.textContent = '';
    setManual(parts, form.crs.value, 'typed');
    openForm(false);
  });
  render();
  if (!navigator.geolocation) { refused = true; openForm(true); render(); return; }
  const options = {enableHighAccuracy: true, maximumAge: 5000, timeout: 30000};
  navigator.geolocation.watchPosition(gpsFix, gpsError, options);
}

// "320 米" and an arrow turned to the bearing, for a card or a list row.
export function distanceNode(el, lonlat) {
  const d = from(lonlat);
  const box = el('span', {class: 'wk-dist'});
  const arrow = el('span', {class: 'wk-arrow', 'aria-hidden': 'true', text: '↑'});
  if (d.bearing_deg === null || d.distance_m < 1) { arrow.hidden = true; } else {
    arrow.style.transform = `rotate(${Math.round(d.bearing_deg)}deg)`;
    box.dataset.bearing = String(Math.round(d.bearing_deg));
  }
  box.append(arrow, el('b', {text: distanceText(d.distance_m)}), el('small', {text: W.straight_line}));
  if (d.distance_m !== null) { box.dataset.distance = String(Math.round(d.distance_m)); }
  return box;
}
