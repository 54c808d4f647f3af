// End-to-end test of the kiosk page: the real `hued run` daemon with [web] enabled, driven in
// headless Chromium (Debian's chromium package) through playwright-core.
//
//   HUED_BIN=target/debug/hued node tests/e2e/kiosk_page.test.mjs
//
// Uploads a historical scan, waits for the result, places hints (click, drag, remove), runs
// again with a hint, downloads, checks the file and that nothing of the upload reached the
// disk; then a non-image upload shows its error, and the kiosk view shows a watched scan.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const bin = path.resolve(repo, process.env.HUED_BIN || 'target/debug/hued');
const historical = path.resolve(repo, '..', 'shared', 'data', 'historical');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

if (!fs.existsSync(historical)) {
  console.log(`SKIP: ${historical} is absent (the shared data set); the kiosk page E2E test needs its scans`);
  process.exit(0);
}
assert.ok(fs.existsSync(bin), `${bin} not found: build hued first (cargo build)`);
assert.ok(fs.existsSync(chromiumPath), `${chromiumPath} not found: apt-get install chromium`);

const photo = path.join(historical, '1890CliffHouseSF.jpg');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hued-e2e-'));
const dirs = Object.fromEntries(['state', 'watch', 'tmp', 'cwd', 'downloads'].map((d) => [d, path.join(root, d)]));
Object.values(dirs).forEach((d) => fs.mkdirSync(d));
fs.writeFileSync(path.join(root, 'hued.toml'), `
[daemon]
state_dir = "${dirs.state}"
stability_delay = 0.5
[[watch]]
path = "${dirs.watch}"
[web]
enabled = true
listen = "127.0.0.1:0"
`);

// The daemon, with its own empty TMPDIR and working folder, so a stray file would show.
const daemon = spawn(bin, ['run', '--config', path.join(root, 'hued.toml')], {
  cwd: dirs.cwd, env: { ...process.env, TMPDIR: dirs.tmp, RUST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
});
let log = '';
daemon.stdout.on('data', (d) => { log += d; });
daemon.stderr.on('data', (d) => { log += d; });
const base = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('daemon did not start:\n' + log)), 30000);
  const check = () => {
    const m = log.match(/kiosk page at (http:\/\/[0-9.:]+)\//);
    if (m) { clearTimeout(t); resolve(m[1]); } else setTimeout(check, 100);
  };
  check();
});
console.log('daemon serving', base);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let failed = false;
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 1000 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto(base + '/');
  assert.match(await page.textContent('#privacy'), /never saved/);

  // 1. Upload and wait for the before/after view.
  await page.setInputFiles('#file', photo);
  await page.waitForSelector('#result:not([hidden])', { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById('after').naturalWidth > 0 && document.getElementById('before').naturalWidth > 0);
  const facts = await page.textContent('#facts');
  assert.match(facts, /640 × 479 pixels/);
  // The slider moves the divider.
  await page.fill('#slider', '80');
  assert.equal(await page.$eval('#divider', (d) => d.style.left), '80%');

  // 2. Hints: place two, drag one, remove the other.
  assert.equal(await page.isVisible('#hints'), true, 'the shipped model takes hints, so the page offers them');
  await page.fill('#hint-color', '#2255cc');
  await page.click('#hint-mode');
  // The mouse works in viewport coordinates: bring the whole photo into view first (the
  // controls under it may have scrolled it partly off the top).
  const compareBox = () => page.$eval('#compare', (e) => {
    e.scrollIntoView({ block: 'center' });
    const r = e.getBoundingClientRect();
    return { x: r.left, y: r.top, w: r.width, h: r.height };
  });
  let box = await compareBox();
  await page.mouse.click(box.x + box.w * 0.5, box.y + box.h * 0.2);
  await page.mouse.click(box.x + box.w * 0.2, box.y + box.h * 0.8);
  assert.equal(await page.locator('.dot').count(), 2);
  const first = await page.textContent('#hint-list li:first-child');
  assert.match(first, /#2255cc at 320, 9[0-9]/, first);
  const dot = page.locator('.dot').first();
  const db = await dot.boundingBox();
  await page.mouse.move(db.x + db.width / 2, db.y + db.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.w * 0.6, box.y + box.h * 0.25, { steps: 5 });
  await page.mouse.up();
  const moved = await page.textContent('#hint-list li:first-child');
  assert.match(moved, /at 38[0-9], 1[12][0-9]/, moved);
  await page.click('#hint-list li:nth-child(2) button');
  assert.equal(await page.locator('.dot').count(), 1);

  // 3. Run again with the hint.
  await page.click('#rerun');
  await page.waitForFunction(() => /1 color hint used/.test(document.getElementById('facts').textContent), null, { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById('after').complete && document.getElementById('after').naturalWidth > 0);

  // 3b. A stroke: drawn over the beach (lower left), in green, beside the point hint; the
  //     stroked region turns greener, the point hint still counts, and the hint list shows
  //     what each hint gives at its spot (the photo keeps its lightness).
  const sample = () => page.evaluate(() => {
    const img = document.getElementById('after');
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const [x0, y0, w, h] = [0.08, 0.82, 0.3, 0.1].map((f, i) => Math.round(f * (i % 2 ? c.height : c.width)));
    const d = ctx.getImageData(x0, y0, w, h).data;
    let g = 0;
    for (let i = 0; i < d.length; i += 4) g += d[i + 1] - (d[i] + d[i + 2]) / 2;
    return g / (d.length / 4);
  });
  const greenBefore = await sample();
  await page.fill('#hint-color', '#1f9d3a');
  await page.click('#hint-mode');
  box = await compareBox();
  await page.mouse.move(box.x + box.w * 0.1, box.y + box.h * 0.87);
  await page.mouse.down();
  await page.mouse.move(box.x + box.w * 0.35, box.y + box.h * 0.87, { steps: 12 });
  await page.mouse.up();
  assert.equal(await page.locator('#hint-list li').count(), 2, 'a point and a stroke');
  assert.equal(await page.locator('.strokes polyline').count(), 1, 'the stroke is drawn over the photo');
  const strokeItem = await page.textContent('#hint-list li:nth-child(2)');
  assert.match(strokeItem, /#1f9d3a stroke from \d+, \d+/, strokeItem);
  assert.match(strokeItem, /gives #[0-9a-f]{6}/, 'the list shows the color the hint gives there');
  await page.click('#rerun');
  await page.waitForFunction(() => /2 color hints used/.test(document.getElementById('facts').textContent), null, { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById('after').complete && document.getElementById('after').naturalWidth > 0);
  const greenAfter = await sample();
  assert.ok(greenAfter - greenBefore > 8, `the stroked beach should turn green: ${greenBefore.toFixed(1)} -> ${greenAfter.toFixed(1)}`);
  assert.match(await page.textContent('#lightness-note'), /keeps its own lightness/);

  await page.screenshot({ path: path.join(root, 'result.png'), fullPage: true });

  // 4. Download: same format, provenance inside; the server forgets it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), '1890CliffHouseSF-colorized.jpg');
  const saved = path.join(dirs.downloads, download.suggestedFilename());
  await download.saveAs(saved);
  const bytes = fs.readFileSync(saved);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
  assert.ok(bytes.includes('AI-colorized by hued'), 'provenance in the EXIF block');
  await page.waitForFunction(() => /no longer on the device/.test(document.getElementById('facts').textContent));
  await new Promise((r) => setTimeout(r, 300));
  assert.match(log, /downloaded and dropped from memory/);

  // 5. Nothing of the uploads reached the disk: no file in the daemon's TMPDIR or working
  //    folder, and no file anywhere under the test folder holds the photo's bytes.
  const original = fs.readFileSync(photo);
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
  assert.deepEqual(walk(dirs.tmp), [], 'daemon TMPDIR stays empty');
  assert.deepEqual(walk(dirs.cwd), [], 'daemon working folder stays empty');
  for (const f of walk(root)) {
    assert.ok(!fs.readFileSync(f).includes(original.subarray(1000, 1400)), `${f} holds upload bytes`);
  }

  // 6. A bad upload gets a clear message on the page.
  const fake = path.join(dirs.downloads, 'notes.jpg');
  fs.writeFileSync(fake, 'these are not pixels\n'.repeat(20));
  await page.click('#again').catch(() => {});
  await page.setInputFiles('#file', fake);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /not an image/);

  // 7. Drag and drop: a gray picture drawn in the page, dropped on the drop zone.
  const dropped = await page.evaluateHandle(async () => {
    const c = document.createElement('canvas');
    c.width = 160; c.height = 120;
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, 160, 0);
    grad.addColorStop(0, '#222'); grad.addColorStop(1, '#ddd');
    g.fillStyle = grad; g.fillRect(0, 0, 160, 120);
    const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
  await page.waitForFunction(() => /160 × 120 pixels/.test(document.getElementById('facts').textContent) && !document.getElementById('result').hidden, null, { timeout: 60000 });
  assert.equal(await page.isVisible('#error'), false);
  assert.equal(await page.getAttribute('#download', 'download'), 'dropped-colorized.png');

  // 7b. Colors from a photo: a gray scene (shapes on a textured ground) and a color postcard of
  //     it (larger, brighter, framed otherwise), both drawn in the page; with the postcard sent
  //     beside it, the gray photo's disc takes the postcard's green (the model alone paints it
  //     warm) and its square the blue, and nothing of the postcard stays anywhere after the
  //     download.
  const pair = await page.evaluate(() => {
    const draw = (w, h, scale, dx, dy, gray) => {
      const c = document.createElement('canvas');
      c.width = w; c.height = h;
      const g = c.getContext('2d');
      const img = g.createImageData(w, h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const [X, Y] = [(x - dx) / scale, (y - dy) / scale];
          const ground = 150 + 45 * Math.sin(X / 13) * Math.cos(Y / 17);
          let rgb = [ground, ground, ground];
          // Light colors (a dark one has no room for color: the photo keeps its lightness), and
          // a black and a white bar, so that the gray photo does not look like a faded print.
          if ((X - 100) ** 2 + (Y - 90) ** 2 < 40 ** 2) rgb = [80, 210, 110];
          else if (X >= 180 && X < 240 && Y >= 60 && Y < 120) rgb = [90, 130, 240];
          else if (Y >= 195 && Y < 205) rgb = X < 160 ? [12, 12, 12] : [245, 245, 245];
          if (gray) { const v = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]; rgb = [v, v, v]; }
          else rgb = rgb.map((v) => Math.min(255, v * 1.1 + 10));
          img.data.set([...rgb, 255], 4 * (y * w + x));
        }
      }
      g.putImageData(img, 0, 0);
      return c.toDataURL('image/png').split(',')[1];
    };
    return { gray: draw(320, 240, 1, 12, -8, true), postcard: draw(230, 170, 0.7, 0, 0, false) };
  });
  const postcard = Buffer.from(pair.postcard, 'base64');
  await page.click('#again').catch(() => {});
  await page.setInputFiles('#file', { name: 'scene.png', mimeType: 'image/png', buffer: Buffer.from(pair.gray, 'base64') });
  await page.waitForFunction(() => /320 × 240 pixels/.test(document.getElementById('facts').textContent) && !document.getElementById('result').hidden, null, { timeout: 60000 });
  assert.equal(await page.isVisible('#reference'), true, 'the page offers colors from a photo');
  // The mean color of the after image over a box (fractions of its size).
  const colorAt = (fx, fy, fw, fh) => page.evaluate(([fx, fy, fw, fh]) => {
    const img = document.getElementById('after');
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(Math.round(fx * c.width), Math.round(fy * c.height), Math.round(fw * c.width), Math.round(fh * c.height)).data;
    const m = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) m[k] += d[i + k];
    return m.map((v) => v / (d.length / 4));
  }, [fx, fy, fw, fh]);
  // The after image of a new result, loaded (`previous`: the src it must differ from).
  const afterLoaded = (previous) => page.waitForFunction((prev) => {
    const img = document.getElementById('after');
    return img.src !== prev && img.complete && img.naturalWidth > 0;
  }, previous, { timeout: 60000 });
  await afterLoaded('');
  // The disc's middle: around (112, 82) of 320 x 240; the square's: around (222, 82).
  const discBefore = await colorAt(0.31, 0.3, 0.08, 0.08);
  const srcBefore = await page.getAttribute('#after', 'src');
  await page.setInputFiles('#reference-file', { name: 'postcard.png', mimeType: 'image/png', buffer: postcard });
  await page.waitForFunction(() => /matched/.test(document.getElementById('reference-name').textContent), null, { timeout: 60000 });
  await afterLoaded(new URL(srcBefore, base).href);
  const disc = await colorAt(0.31, 0.3, 0.08, 0.08);
  const square = await colorAt(0.66, 0.3, 0.06, 0.08);
  await page.screenshot({ path: path.join(root, 'reference.png'), fullPage: true });
  assert.ok(disc[1] - disc[0] > 30 && disc[1] - disc[0] > discBefore[1] - discBefore[0] + 40,
    `the disc takes the postcard's green: ${discBefore.map(Math.round)} -> ${disc.map(Math.round)} (${await page.textContent('#reference-name')}; screenshot ${root}/reference.png)`);
  assert.ok(square[2] - square[0] > 30, `the square takes the postcard's blue: ${square.map(Math.round)}`);
  assert.match(await page.textContent('#reference-name'), /postcard\.png: \d+ % of the photo matched/);
  const [refDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await refDownload.saveAs(path.join(dirs.downloads, 'scene-colorized.png'));
  await page.waitForFunction(() => /no longer on the device/.test(document.getElementById('facts').textContent));
  for (const f of walk(root)) {
    assert.ok(!fs.readFileSync(f).includes(postcard.subarray(200, 600)), `${f} holds the postcard's bytes`);
  }
  assert.deepEqual(walk(dirs.tmp), [], 'daemon TMPDIR stays empty');

  // 8. The kiosk view shows the newest scan of the folder watch, before and after.
  const kiosk = await context.newPage();
  await kiosk.goto(base + '/kiosk');
  assert.equal(await kiosk.isVisible('#kiosk-waiting'), true);
  fs.copyFileSync(photo, path.join(dirs.watch, 'scan-0001.jpg'));
  await kiosk.waitForSelector('#kiosk-pair:not([hidden])', { timeout: 60000 });
  await kiosk.waitForFunction(() => document.getElementById('kiosk-after').naturalWidth > 0 && document.getElementById('kiosk-before').naturalWidth > 0);
  assert.equal(await kiosk.textContent('#kiosk-name'), 'scan-0001.jpg');
  await kiosk.screenshot({ path: path.join(root, 'kiosk.png') });
  // The pair fills its screen: the box around both drawn images (object-fit and the computed
  // object-position taken into account) is vertically centered within 5 % and uses at least
  // 80 % of the width or the height, on landscape and portrait screens.
  for (const [width, height] of [[1280, 900], [1920, 1080], [1080, 1920]]) {
    await kiosk.setViewportSize({ width, height });
    const box = await kiosk.evaluate(() => {
      const drawn = (img) => {
        const r = img.getBoundingClientRect();
        const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
        const [w, h] = [img.naturalWidth * s, img.naturalHeight * s];
        const [px, py] = getComputedStyle(img).objectPosition.split(' ').map((v) => parseFloat(v) / 100);
        return { x0: r.left + (r.width - w) * px, y0: r.top + (r.height - h) * py, x1: r.left + (r.width - w) * px + w, y1: r.top + (r.height - h) * py + h };
      };
      const [a, b] = [drawn(document.getElementById('kiosk-before')), drawn(document.getElementById('kiosk-after'))];
      return { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) };
    });
    const centerOff = Math.abs((box.y0 + box.y1) / 2 - height / 2) / height;
    const used = Math.max((box.x1 - box.x0) / width, (box.y1 - box.y0) / height);
    assert.ok(centerOff <= 0.05, `kiosk ${width}x${height}: the pair's center is ${(100 * centerOff).toFixed(1)} % off the middle (${JSON.stringify(box)})`);
    assert.ok(used >= 0.8, `kiosk ${width}x${height}: the pair uses ${(100 * used).toFixed(0)} % of the screen (${JSON.stringify(box)})`);
    await kiosk.screenshot({ path: path.join(root, `kiosk-${width}x${height}.png`) });
  }
  await page.screenshot({ path: path.join(root, 'page.png'), fullPage: true });

  assert.deepEqual(consoleErrors.filter((e) => !/status of 4\d\d/.test(e)), [], 'no script errors');
  console.log('PASS: upload, result, hints (place, drag, remove), re-run, a stroke, download, nothing on disk, bad upload, drag and drop, colors from a photo, kiosk view');
  console.log('screenshots in', root);
} catch (e) {
  failed = true;
  console.error('FAIL:', e);
  console.error('daemon log:\n' + log);
} finally {
  await browser.close();
  daemon.kill('SIGTERM');
  const code = await new Promise((r) => daemon.on('exit', r));
  if (code !== 0) { failed = true; console.error('daemon exited with', code); }
}
process.exit(failed ? 1 : 0);
