// hued kiosk view: the newest colorized scan of the folder watches and the camera, before and
// after, refreshed by itself. For the screen beside a scanning station.
'use strict';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') || '';
const withToken = (url) => token ? url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : url;
let shown = 0;

async function refresh() {
  try {
    const r = await fetch(withToken('/api/latest'), { headers: token ? { Authorization: 'Bearer ' + token } : {} });
    const body = await r.json();
    if (r.ok && body.seq && body.seq !== shown) {
      // Both images load before the pair is swapped in, so the screen never shows a mix.
      const load = (part) => new Promise((resolve, reject) => {
        const img = new Image();
        img.onload = () => resolve(img.src);
        img.onerror = reject;
        img.src = withToken(`/api/latest/${part}.jpg?seq=${body.seq}`);
      });
      const [before, after] = await Promise.all([load('before'), load('after')]);
      $('kiosk-before').src = before;
      $('kiosk-after').src = after;
      $('kiosk-name').textContent = body.original;
      $('kiosk-waiting').hidden = true;
      $('kiosk-pair').hidden = false;
      shown = body.seq;
    }
  } catch (e) { /* the daemon restarts or the photo is being replaced: try again */ }
  setTimeout(refresh, 2000);
}

$('kiosk-full').addEventListener('click', () => document.documentElement.requestFullscreen().catch(() => {}));
refresh();
