// The grid worker page's service worker (web/worker.py), scope /worker. It keeps the page and
// its assets in one cache per version ({{ version }}: a digest of the files), answers them from
// there at once (the page refreshed behind it, the assets only when the version changes), and
// deletes older versions' caches when it takes over. It never caches the API (the page keeps
// its data in IndexedDB) and never touches a request to another host.
'use strict';
const CACHE = 'gridgov-worker-{{ version }}';
const PAGE = {{ page|tojson }};
const ASSETS = {{ assets|safe }};

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(ASSETS);
    // the page itself: only a real answer (a session that expired answers a redirect to /login)
    try {
      const page = await fetch(PAGE, {credentials: 'same-origin'});
      if (page.ok && !page.redirected) { await cache.put(PAGE, page); }
    } catch (e) { /* offline at install: the page is cached on its next load */ }
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('gridgov-worker-') && name !== CACHE) { await caches.delete(name); }
    }
    await self.clients.claim();
  })());
});

function pageKey(url) {
  return url.pathname + url.search;
}

async function page(request) {
  const url = new URL(request.url);
  const cache = await caches.open(CACHE);
  const cached = (await cache.match(pageKey(url))) || (await cache.match(PAGE));
  const fresh = fetch(request).then(async (response) => {
    if (response.ok && !response.redirected) { await cache.put(pageKey(url), response.clone()); }
    return response;
  });
  if (cached) {
    fresh.catch(() => null);  // offline: the cached page is the answer
    return cached;
  }
  return fresh;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === 'navigate' && (url.pathname === PAGE)) {
    event.respondWith(page(request));
    return;
  }
  if (url.pathname.startsWith('/static/')) {
    event.respondWith(caches.open(CACHE).then((cache) => cache.match(request).then(
      (hit) => hit || fetch(request))));
  }
});
