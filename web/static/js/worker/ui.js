// Small helpers shared by the worker page's modules: the configuration web/worker.py put in
// the page, its words, element building (text goes in with textContent, never as HTML), and
// the toast line.
export const config = JSON.parse(document.getElementById('worker-config').textContent);
export const W = config.words;

export function fmt(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) { continue; }
    if (k === 'text') { node.textContent = v; } else if (k.startsWith('on')) {
      node.addEventListener(k.slice(2), v);
    } else { node.setAttribute(k, v === true ? '' : v); }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) { continue; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An address as a worker on the spot reads it: the part after the town (the village, the
// street, the door), which a phone's line has room for; the whole address stays in the title.
export function localAddress(full) {
  if (!full) { return ''; }
  const m = full.match(/^.*?(?:镇|乡|街道)(.+)$/);
  return m ? m[1] : full;
}

let toastTimer = null;
export function toast(text, kind) {
  const node = document.getElementById('wk-toast');
  node.textContent = text;
  node.dataset.kind = kind || '';
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
}

export function localTime(iso) {
  if (!iso) { return ''; }
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getMonth() + 1}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A duration in seconds as "2天3小时" / "3小时20分" / "25分钟".
export function duration(seconds) {
  const s = Math.abs(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) { return fmt(W.d_h, {d, h}); }
  if (h) { return fmt(W.h_m, {h, m}); }
  return fmt(W.m, {m});
}

export function distanceText(metres) {
  if (metres === null || metres === undefined) { return W.no_position; }
  if (metres >= 1000) { return fmt(W.kilometres, {n: (metres / 1000).toFixed(metres >= 10000 ? 0 : 1)}); }
  return fmt(W.metres, {n: Math.round(metres)});
}

export function uuid() {
  if (crypto.randomUUID) { return crypto.randomUUID(); }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// An ISO time with the phone's offset (what taken_at / visited_at carry).
export function nowIso() {
  const d = new Date();
  const off = -d.getTimezoneOffset();
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 19);
  return `${local}${off >= 0 ? '+' : '-'}${pad(off / 60)}:${pad(off % 60)}`;
}
