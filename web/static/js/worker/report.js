// 上报: a new case from where the phone is, on the patrol channel. The category list puts the
// worker's own checklist first (regional or service grid: DOMAIN.md "照单履职", from the
// levels of the worker's grids); the position goes with its CRS (a position typed from a
// Chinese map app is GCJ-02, converted by the server as everywhere else).
import { W, el, fmt, toast } from './ui.js';
import { position } from './geo.js';
import { photoField } from './photos.js';
import * as queue from './queue.js';

const state = {categories: null, grids: null};

function checklistOrder() {
  const levels = new Set(((state.grids && state.grids.features) || []).map((f) => f.properties && f.properties.level));
  if (levels.has('service') && !levels.has('regional')) { return ['service', 'regional']; }
  return ['regional', 'service'];
}

function categorySelect() {
  const select = el('select', {name: 'category', required: true},
                    el('option', {value: '', text: W.choose}));
  const tops = (state.categories && state.categories.categories) || [];
  const [mine, other] = checklistOrder();
  for (const [list, caption] of [[mine, W.my_checklist], [other, W.other_checklist]]) {
    const group = el('optgroup', {label: fmt(caption, {list: W[`checklist_${list}`]}), 'data-checklist': list});
    for (const top of tops.filter((t) => t.checklist === list)) {
      for (const sub of (top.subcategories.length ? top.subcategories : [top])) {
        group.append(el('option', {value: sub.code, text: `${top.name_zh} · ${sub.name_zh}`}));
      }
    }
    select.append(group);
  }
  return select;
}

function where() {
  if (!position.raw) { return W.need_position; }
  const crs = position.crs !== 'wgs84' ? ` ${position.crs.toUpperCase()}` : '';
  return fmt(W.report_where, {p: `${position.raw[0].toFixed(5)}, ${position.raw[1].toFixed(5)}${crs}`});
}

export function render() {
  const slot = document.getElementById('report-form-slot');
  if (slot.querySelector('form') && slot.dataset.built === '1') {
    slot.querySelector('.wk-where').textContent = where();
    return;
  }
  const category = categorySelect();
  const description = el('textarea', {name: 'description', rows: '4', maxlength: '2000'});
  const photos = photoField();
  const error = el('p', {class: 'wk-error', role: 'alert'});
  const form = el('form', {class: 'wk-form wk-report-form', novalidate: true},
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.category + ' *'}), category),
    el('label', {class: 'wk-field'}, el('span', {class: 'caption', text: W.description + ' *'}), description),
    photos.node,
    el('p', {class: 'wk-where', text: where()}),
    error,
    el('div', {class: 'wk-buttons'}, el('button', {type: 'submit', class: 'primary', text: W.submit})));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!category.value) { error.textContent = W.need_category; return; }
    if (!description.value.trim()) { error.textContent = W.need_description; return; }
    if (!position.raw) { error.textContent = W.need_position; return; }
    error.textContent = '';
    const option = category.selectedOptions[0];
    await queue.add('report', {
      label: `${W.kind_report} · ${option.textContent}`, category: category.value,
      description: description.value.trim(), position: position.raw.slice(), crs: position.crs,
      photos: await photos.blobs(),
    });
    toast(navigator.onLine ? W.sending : W.report_queued);
    slot.dataset.built = '0';
    render();
  });
  slot.replaceChildren(form);
  slot.dataset.built = '1';
}

export function setCategories(categories) { state.categories = categories; document.getElementById('report-form-slot').dataset.built = '0'; render(); }
export function setGrids(grids) { state.grids = grids; document.getElementById('report-form-slot').dataset.built = '0'; render(); }
