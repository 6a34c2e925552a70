// What the page keeps on the phone, in IndexedDB (through idb, a thin promise wrapper):
// - kv: the last answers of the API per account (inbox, visits due, grid outlines, the
//   categories, the account itself), so the page works offline;
// - queue: what the worker did that is still to be sent, in order (autoincrement seq);
// - conflicts: what the server refused when it was sent, until the worker dismisses it.
import { openDB } from '/static/vendor/idb/index.js';

const dbPromise = openDB('gridgov-worker', 1, {
  upgrade(db) {
    db.createObjectStore('kv');
    const queue = db.createObjectStore('queue', {keyPath: 'seq', autoIncrement: true});
    queue.createIndex('account', 'account');
    db.createObjectStore('conflicts', {keyPath: 'id'});
  },
});

export async function get(key) { return (await dbPromise).get('kv', key); }
export async function put(key, value) { return (await dbPromise).put('kv', value, key); }

export async function enqueue(item) {
  const db = await dbPromise;
  item.seq = await db.add('queue', item);
  return item;
}

export async function queued(account) {
  const db = await dbPromise;
  const items = await db.getAllFromIndex('queue', 'account', account);
  return items.sort((a, b) => a.seq - b.seq);
}

export async function update(item) { return (await dbPromise).put('queue', item); }
export async function remove(seq) { return (await dbPromise).delete('queue', seq); }

export async function addConflict(conflict) { return (await dbPromise).put('conflicts', conflict); }
export async function conflicts(account) {
  const all = await (await dbPromise).getAll('conflicts');
  return all.filter((c) => c.account === account).sort((a, b) => a.seq - b.seq);
}
export async function dismissConflict(id) { return (await dbPromise).delete('conflicts', id); }
