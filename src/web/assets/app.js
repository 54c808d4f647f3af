// hued kiosk page: upload → wait → before/after → download; color hints; nothing kept.
// Plain JS, no external assets (the kiosk has no internet).
'use strict';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') || '';
const withToken = (url) => token ? url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : url;
const authHeaders = () => token ? { Authorization: 'Bearer ' + token } : {};

let info = { hints: false, max_upload_bytes: 50e6, keep_minutes: 10 };
let file = null;          // the photo being worked on (kept by the browser, not the server)
let jobId = null;         // its job on the server, while the server holds a result
let result = null;        // { width, height, download_name }
let hints = [];           // [{ x, y, color }] in pixels of the upright photo
let placing = false;
let pollTimer = null;

async function loadInfo() {
  try {
    const r = await fetch(withToken('/api/info'), { headers: authHeaders() });
    const body = await r.json();
    if (!r.ok) { showError(body.error || ('Error ' + r.status)); return; }
    info = body;
    $('keep-minutes').textContent = String(Math.round(info.keep_minutes * 10) / 10);
    $('max-mb').textContent = String(Math.round(info.max_upload_bytes / 1e6));
  } catch (e) { showError('The colorizer is not answering: ' + e.message); }
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('progress').hidden = true;
}

function setStatus(text, fraction) {
  $('progress').hidden = false;
  $('status').textContent = text;
  const fill = $('bar-fill');
  if (fraction === null) { fill.classList.add('busy'); fill.style.width = ''; }
  else { fill.classList.remove('busy'); fill.style.width = Math.round(fraction * 100) + '%'; }
}

function forget() {
  // Tell the server to drop what it still holds of the previous run.
  if (jobId) fetch(withToken('/api/jobs/' + jobId), { method: 'DELETE', headers: authHeaders() }).catch(() => {});
  jobId = null;
  clearTimeout(pollTimer);
}

function choose(f) {
  if (!f) return;
  forget();
  file = f;
  hints = [];
  renderHints();
  $('result').hidden = true;
  start();
}

function start() {
  $('error').hidden = true;
  if (file.size > info.max_upload_bytes) {
    showError(`"${file.name}" is ${(file.size / 1e6).toFixed(1)} MB: the limit is ${Math.round(info.max_upload_bytes / 1e6)} MB.`);
    return;
  }
  const params = new URLSearchParams({ name: file.name });
  for (const h of hints) params.append('hint', `${h.x},${h.y},${h.color}`);
  const xhr = new XMLHttpRequest();
  xhr.open('POST', withToken('/api/jobs?' + params));
  for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) setStatus('Uploading… ' + Math.round(100 * e.loaded / e.total) + '%', e.loaded / e.total); };
  xhr.onerror = () => showError('The upload failed: the colorizer is not answering.');
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 202) { jobId = body.id; poll(); return; }
    let msg = body.error || ('Error ' + xhr.status);
    if (xhr.status === 503) msg += ` (try again in ${xhr.getResponseHeader('Retry-After') || 10} s)`;
    showError(msg);
  };
  setStatus('Uploading…', 0);
  xhr.send(file);
}

async function poll() {
  const id = jobId;
  if (!id) return;
  let body;
  try {
    const r = await fetch(withToken('/api/jobs/' + id), { headers: authHeaders() });
    body = await r.json();
    if (!r.ok) { showError(body.error || ('Error ' + r.status)); return; }
  } catch (e) { showError('Lost contact with the colorizer: ' + e.message); return; }
  if (id !== jobId) return;
  if (body.state === 'queued') {
    setStatus(body.ahead > 0 ? `Waiting: ${body.ahead} photo${body.ahead > 1 ? 's are' : ' is'} ahead of yours…` : 'Starting…', null);
  } else if (body.state === 'running') {
    setStatus('Colorizing…', null);
  } else if (body.state === 'done') {
    showResult(id, body);
    return;
  } else {
    showError(body.error || 'The photo could not be colorized.');
    return;
  }
  pollTimer = setTimeout(poll, 400);
}

function showResult(id, body) {
  result = body;
  $('progress').hidden = true;
  $('result').hidden = false;
  $('before').src = withToken(`/api/jobs/${id}/before.jpg`);
  $('after').src = withToken(`/api/jobs/${id}/after.jpg`);
  const dl = $('download');
  dl.href = withToken(`/api/jobs/${id}/download`);
  dl.download = body.download_name;
  dl.hidden = false;
  dl.textContent = 'Download ' + body.download_name;
  $('facts').textContent = `${body.width} × ${body.height} pixels, colorized in ${(body.millis / 1000).toFixed(1)} s.` +
    (hints.length ? ` ${hints.length} color hint${hints.length > 1 ? 's' : ''} used.` : '');
  $('hints').hidden = !info.hints;
  $('rerun').disabled = hints.length === 0;
  setSlider(Number($('slider').value));
  renderHints();
}

function setSlider(percent) {
  // The original covers the left part, the colorized photo shows on the right.
  $('before').style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $('divider').style.left = percent + '%';
}

// ---- hints ----
function renderHints() {
  const dots = $('dots');
  dots.replaceChildren();
  const list = $('hint-list');
  list.replaceChildren();
  hints.forEach((h, i) => {
    const dot = document.createElement('div');
    dot.className = 'dot';
    dot.title = `Hint ${i + 1}: ${h.color} — drag to move`;
    dot.dataset.index = String(i);
    dot.style.background = h.color;
    if (result) {
      dot.style.left = (100 * (h.x + 0.5) / result.width) + '%';
      dot.style.top = (100 * (h.y + 0.5) / result.height) + '%';
    }
    dot.addEventListener('pointerdown', (e) => dragDot(e, i));
    dots.appendChild(dot);

    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = h.color;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.title = 'Remove this hint';
    remove.setAttribute('aria-label', `Remove hint ${i + 1}`);
    remove.addEventListener('click', () => { hints.splice(i, 1); renderHints(); });
    li.append(sw, document.createTextNode(`${h.color} at ${h.x}, ${h.y}`), remove);
    list.appendChild(li);
  });
  $('rerun').disabled = hints.length === 0 || !file;
}

function photoPoint(e) {
  const box = $('compare').getBoundingClientRect();
  const fx = Math.min(Math.max((e.clientX - box.left) / box.width, 0), 0.9999);
  const fy = Math.min(Math.max((e.clientY - box.top) / box.height, 0), 0.9999);
  return { x: Math.floor(fx * result.width), y: Math.floor(fy * result.height) };
}

function dragDot(e, i) {
  e.preventDefault();
  e.stopPropagation();
  const dot = e.currentTarget;
  dot.setPointerCapture(e.pointerId);
  const move = (ev) => { Object.assign(hints[i], photoPoint(ev)); dot.style.left = (100 * (hints[i].x + 0.5) / result.width) + '%'; dot.style.top = (100 * (hints[i].y + 0.5) / result.height) + '%'; };
  const up = () => { dot.removeEventListener('pointermove', move); dot.removeEventListener('pointerup', up); renderHints(); };
  dot.addEventListener('pointermove', move);
  dot.addEventListener('pointerup', up);
}

function setPlacing(on) {
  placing = on;
  $('hint-mode').setAttribute('aria-pressed', String(on));
  $('hint-mode').textContent = on ? 'Done placing' : 'Place hints';
  $('compare').classList.toggle('placing', on);
  if (on) { $('slider').value = '0'; setSlider(0); }
}

// ---- wiring ----
$('file').addEventListener('change', (e) => choose(e.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); choose(e.dataTransfer.files[0]); });
$('slider').addEventListener('input', (e) => setSlider(Number(e.target.value)));
$('hint-mode').addEventListener('click', () => setPlacing(!placing));
$('compare').addEventListener('click', (e) => {
  if (!placing || !result || e.target.classList.contains('dot')) return;
  hints.push({ ...photoPoint(e), color: $('hint-color').value });
  renderHints();
});
$('rerun').addEventListener('click', () => { setPlacing(false); forget(); start(); });
$('again').addEventListener('click', () => { forget(); file = null; hints = []; renderHints(); $('result').hidden = true; $('file').value = ''; $('file').click(); });
$('download').addEventListener('click', () => {
  // The server hands the file out once and forgets it; a new run uploads the photo again.
  setTimeout(() => {
    jobId = null;
    $('download').hidden = true;
    $('facts').textContent += ' Downloaded: the result is no longer on the device.';
  }, 0);
});
window.addEventListener('pagehide', forget);
loadInfo();
