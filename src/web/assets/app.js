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
let hints = [];           // [{ points: [{ x, y }, ...], color }] in pixels of the upright photo: one point, or a stroke
let placing = false;
let drawing = null;       // the stroke being drawn: { points, pointerId }
let lightness = null;     // L* of the original's preview: { width, height, data }
let pollTimer = null;
let reference = null;     // "Colors from a photo": a color photo sent with the upload, or null

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
  reference = null;
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
  // A reference photo goes first in the body, its size named (src/web/routes.rs, upload).
  if (reference) {
    if (reference.size > info.max_upload_bytes) {
      showError(`"${reference.name}" is ${(reference.size / 1e6).toFixed(1)} MB: the limit is ${Math.round(info.max_upload_bytes / 1e6)} MB.`);
      return;
    }
    params.set('reference_bytes', String(reference.size));
    params.set('reference_name', reference.name);
  }
  // The upload's options (src/web/options.rs): the color strength when not the station's own.
  const vividness = $('vividness').value;
  if (vividness !== $('vividness').defaultValue) params.set('vividness', vividness);
  for (const h of hints) {
    if (h.points.length === 1) params.append('hint', `${h.points[0].x},${h.points[0].y},${h.color}`);
    else params.append('stroke', h.points.map((p) => `${p.x},${p.y}`).join(' ') + ',' + h.color);
  }
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
  xhr.send(reference ? new Blob([reference, file]) : file);
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
  lightness = null;
  $('before').onload = () => { readLightness(); renderHints(); };
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
  $('reference').hidden = !info.hints;
  $('reference-name').textContent = reference ? (body.reference || reference.name) : '';
  $('reference-clear').hidden = !reference;
  $('rerun').disabled = hints.length === 0;
  setSlider(Number($('slider').value));
  renderHints();
}

function setSlider(percent) {
  // The original covers the left part, the colorized photo shows on the right.
  $('before').style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $('divider').style.left = percent + '%';
}

// ---- colors: what a hint gives where it lands ----
// hued keeps the photo's own lightness and takes only the hue and saturation of a hint: the
// color a hint gives at a pixel is the hint color at that pixel's lightness (CIELAB, D65).
const toLinear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
const WHITE = [0.95047, 1, 1.08883];
function hexToLab(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => toLinear(parseInt(hex.slice(i, i + 2), 16) / 255));
  const xyz = [0.4124 * r + 0.3576 * g + 0.1805 * b, 0.2126 * r + 0.7152 * g + 0.0722 * b, 0.0193 * r + 0.1192 * g + 0.9505 * b];
  const f = xyz.map((v, i) => { const t = v / WHITE[i]; return t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116; });
  return [116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])];
}
function labToHex([L, a, b]) {
  const fy = (L + 16) / 116, fx = fy + a / 500, fz = fy - b / 200;
  const inv = (t) => (t ** 3 > 216 / 24389 ? t ** 3 : (116 * t - 16) / (24389 / 27));
  const [x, y, z] = [inv(fx) * WHITE[0], inv(fy) * WHITE[1], inv(fz) * WHITE[2]];
  const rgb = [3.2406 * x - 1.5372 * y - 0.4986 * z, -0.9689 * x + 1.8758 * y + 0.0415 * z, 0.0557 * x - 0.2040 * y + 1.0570 * z];
  return '#' + rgb.map((c) => Math.round(255 * Math.min(Math.max(toSrgb(Math.min(Math.max(c, 0), 1)), 0), 1)).toString(16).padStart(2, '0')).join('');
}
function readLightness() {
  // The original's preview comes from this page's own server, so its pixels can be read.
  const img = $('before');
  if (!img.naturalWidth) return;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  lightness = { width: canvas.width, height: canvas.height, data: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
}
// The color a hint gives at photo pixel p (null until the preview is read).
function givenColor(color, p) {
  if (!lightness || !result) return null;
  const x = Math.min(lightness.width - 1, Math.floor((p.x + 0.5) * lightness.width / result.width));
  const y = Math.min(lightness.height - 1, Math.floor((p.y + 0.5) * lightness.height / result.height));
  const i = 4 * (y * lightness.width + x);
  const hex = '#' + [0, 1, 2].map((k) => lightness.data[i + k].toString(16).padStart(2, '0')).join('');
  const [, a, b] = hexToLab(color);
  return labToHex([hexToLab(hex)[0], a, b]);
}

// ---- hints ----
const SVG = 'http://www.w3.org/2000/svg';
function strokeLine(points, color) {
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.map((p) => `${p.x + 0.5},${p.y + 0.5}`).join(' '));
  line.setAttribute('stroke', color);
  line.setAttribute('class', 'stroke');
  return line;
}

function renderHints() {
  const dots = $('dots');
  dots.replaceChildren();
  const list = $('hint-list');
  list.replaceChildren();
  if (result) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${result.width} ${result.height}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'strokes');
    for (const h of hints.filter((h) => h.points.length > 1)) svg.appendChild(strokeLine(h.points, h.color));
    if (drawing) svg.appendChild(strokeLine(drawing.points, $('hint-color').value));
    dots.appendChild(svg);
  }
  hints.forEach((h, i) => {
    const stroke = h.points.length > 1;
    if (!stroke) {
      const p = h.points[0];
      const dot = document.createElement('div');
      dot.className = 'dot';
      dot.title = `Hint ${i + 1}: ${h.color} — drag to move`;
      dot.dataset.index = String(i);
      dot.style.background = h.color;
      if (result) {
        dot.style.left = (100 * (p.x + 0.5) / result.width) + '%';
        dot.style.top = (100 * (p.y + 0.5) / result.height) + '%';
      }
      dot.addEventListener('pointerdown', (e) => dragDot(e, i));
      dots.appendChild(dot);
    }

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
    const first = h.points[0];
    li.append(sw, document.createTextNode(stroke ? `${h.color} stroke from ${first.x}, ${first.y}` : `${h.color} at ${first.x}, ${first.y}`));
    const given = givenColor(h.color, stroke ? h.points[Math.floor(h.points.length / 2)] : first);
    if (given) {
      const out = document.createElement('span');
      out.className = 'given';
      out.title = 'The color this hint gives there: the photo keeps its own lightness';
      const gs = document.createElement('span');
      gs.className = 'swatch';
      gs.style.background = given;
      out.append(' → ', gs, ` gives ${given}`);
      li.appendChild(out);
    }
    li.appendChild(remove);
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
  const move = (ev) => { const p = photoPoint(ev); hints[i].points = [p]; dot.style.left = (100 * (p.x + 0.5) / result.width) + '%'; dot.style.top = (100 * (p.y + 0.5) / result.height) + '%'; };
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
// In placing mode a click places a point; pressing and drawing places a stroke: a line over
// a region whose color is known ("this whole dress was red").
const MAX_STROKE_POINTS = 500;
$('compare').addEventListener('pointerdown', (e) => {
  if (!placing || !result || e.target.classList.contains('dot') || e.button !== 0) return;
  e.preventDefault();
  $('compare').setPointerCapture(e.pointerId);
  drawing = { points: [photoPoint(e)], pointerId: e.pointerId, screen: [{ x: e.clientX, y: e.clientY }] };
});
$('compare').addEventListener('pointermove', (e) => {
  if (!drawing || e.pointerId !== drawing.pointerId) return;
  // A point every few photo pixels is enough for the server, and keeps the address short.
  const spacing = Math.max(2, Math.round(Math.max(result.width, result.height) / 150));
  const p = photoPoint(e);
  const last = drawing.points[drawing.points.length - 1];
  if (Math.hypot(p.x - last.x, p.y - last.y) >= spacing && drawing.points.length < MAX_STROKE_POINTS) {
    drawing.points.push(p);
    drawing.screen.push({ x: e.clientX, y: e.clientY });
    renderHints();
  }
});
const endStroke = (e) => {
  if (!drawing || e.pointerId !== drawing.pointerId) return;
  const d = drawing;
  drawing = null;
  // Under 8 screen pixels of movement it was a click, not a line.
  const travelled = d.screen.slice(1).reduce((sum, p, i) => sum + Math.hypot(p.x - d.screen[i].x, p.y - d.screen[i].y), 0);
  const color = $('hint-color').value;
  if (d.points.length > 1 && travelled >= 8) hints.push({ points: d.points, color });
  else if (e.type === 'pointerup') hints.push({ points: [d.points[0]], color });
  renderHints();
};
$('compare').addEventListener('pointerup', endStroke);
$('compare').addEventListener('pointercancel', endStroke);
$('rerun').addEventListener('click', () => { setPlacing(false); forget(); start(); });
$('vividness').addEventListener('input', () => {
  $('vividness-value').textContent = Number($('vividness').value).toFixed(1);
  $('recolor').disabled = !file;
});
$('recolor').addEventListener('click', () => { $('recolor').disabled = true; setPlacing(false); forget(); start(); });
$('reference-file').addEventListener('change', (e) => {
  const f = e.target.files[0];
  e.target.value = '';
  if (!f || !file) return;
  reference = f;
  setPlacing(false); forget(); start();
});
$('reference-clear').addEventListener('click', () => { reference = null; setPlacing(false); forget(); start(); });
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
