// Photos from the phone's camera (or gallery), made smaller on the phone before they are
// queued: the longest side at most 1,600 px, JPEG. A 12-megapixel photo of several MB becomes
// a few hundred KB, which a weak signal can carry and the server's 5 MB limit accepts.
import { W, el, fmt } from './ui.js';

export const MAX_SIDE_PX = 1600;
export const MAX_PHOTOS = 5;
const QUALITY = 0.85;

export async function resized(file) {
  // createImageBitmap applies the photo's EXIF orientation (imageOrientation's default)
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE_PX / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error('toBlob failed'))), 'image/jpeg', QUALITY));
}

// A "拍照" field: a camera input, thumbnails of what was chosen; .blobs() gives the resized JPEGs.
export function photoField() {
  const blobs = [];
  const input = el('input', {type: 'file', accept: 'image/*', capture: 'environment', multiple: true,
                             name: 'photos', class: 'wk-photo-input'});
  const count = el('span', {class: 'wk-photo-count'});
  const thumbs = el('div', {class: 'wk-thumbs'});
  const busy = [];
  input.addEventListener('change', () => {
    for (const file of Array.from(input.files).slice(0, MAX_PHOTOS - blobs.length)) {
      busy.push(resized(file).then((blob) => {
        blobs.push(blob);
        const img = el('img', {alt: '', src: URL.createObjectURL(blob)});
        thumbs.append(img);
        count.textContent = fmt(W.photos_n, {n: blobs.length});
      }).catch(() => null));
    }
    input.value = '';
  });
  const label = el('label', {class: 'wk-field wk-photos'},
    el('span', {class: 'caption', text: W.photos}),
    el('span', {class: 'wk-photo-button', text: W.take_photo}), input, count);
  return {node: el('div', {}, label, thumbs), blobs: async () => { await Promise.all(busy); return blobs.slice(); }};
}
