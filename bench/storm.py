#!/usr/bin/env python3
"""Storm and soak of `hued run` (issue 12): many files dropped at once, then a steady stream of
drops with hostile files mixed in (corrupt, empty, FIFOs, symlinks, huge declared sizes).
Checks that every good file is colorized exactly once, every original keeps its sha256, no
temporary file is left, the daemon stays alive, and reports RSS first/last/peak.

    cargo build --release && python3 bench/storm.py --storm 10000 --soak 3600

Runs only against this machine's files (a temporary folder); stops by itself.
"""
import argparse
import hashlib
import io
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUED = os.path.join(ROOT, 'target', 'release', 'hued')


def gray_jpeg(w, h, seed):
    from PIL import Image
    rng = random.Random(seed)
    im = Image.linear_gradient('L').resize((w, h)).rotate(rng.randint(0, 359))
    b = io.BytesIO()
    im.save(b, 'JPEG', quality=85)
    return b.getvalue()


def huge_png():
    """A tiny PNG declaring 30000 x 30000 16-bit pixels (900 MP): refused before decoding."""
    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', 30000, 30000, 16, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 1000)) + chunk(b'IEND', b'')


def rss_mib(pid):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def threads(pid):
    return len(os.listdir(f'/proc/{pid}/task'))


def sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--storm', type=int, default=10000, help='good files dropped at once')
    ap.add_argument('--soak', type=float, default=3600, help='seconds of steady drops afterwards')
    ap.add_argument('--rate', type=float, default=2.0, help='drops a second during the soak')
    ap.add_argument('--model', default=os.path.join(ROOT, 'models', 'hued-color-v4-int8.toml'), type=os.path.abspath)
    ap.add_argument('--hued', default=HUED, help='the binary (copy it elsewhere to rebuild during a long soak)')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='hued-storm-')
    scans = os.path.join(tmp, 'scans')
    os.makedirs(scans)
    cfg = os.path.join(tmp, 'hued.toml')
    with open(cfg, 'w') as f:
        f.write(f'[colorize]\nmodel = "{args.model}"\n[daemon]\nstate_dir = "{tmp}/state"\nstability_delay = 1.0\n'
                f'workers = 2\n[[watch]]\npath = "{scans}"\n')
    log = os.path.join(tmp, 'run.log')
    d = subprocess.Popen([args.hued, 'run', '--config', cfg], stderr=open(log, 'w'), env=dict(os.environ, RUST_LOG='info'))
    while 'watching 1 folder' not in open(log).read():
        if d.poll() is not None:
            raise SystemExit(f'the daemon did not start:\n{open(log).read()}')
        time.sleep(0.05)
    good, originals, rss = [], {}, [rss_mib(d.pid)]
    photos = [gray_jpeg(96, 64, i) for i in range(16)]
    outside = os.path.join(tmp, 'outside.jpg')
    open(outside, 'wb').write(photos[0])

    def drop_good(name, i):
        p = os.path.join(scans, name)
        # Scanners write a temporary name and rename it into place.
        open(p + '.part', 'wb').write(photos[i % len(photos)])
        os.rename(p + '.part', p)
        good.append(p)
        originals[p] = sha(p)

    t0 = time.time()
    for i in range(args.storm):
        drop_good(f'storm{i:05}.jpg', i)
    print(f'storm: {args.storm} files dropped in {time.time() - t0:.1f} s', flush=True)
    # A timeline, so that "flat" can be read, not assumed: RSS, open descriptors, threads.
    timeline, next_sample = [], time.time()
    rng = random.Random(1)
    hostile = {'corrupt': 0, 'empty': 0, 'fifo': 0, 'symlink': 0, 'huge': 0}
    t1, n = time.time(), 0
    while time.time() - t1 < args.soak:
        n += 1
        kind = rng.choices(['good', 'corrupt', 'empty', 'fifo', 'symlink', 'huge'], [10, 1, 1, 1, 1, 1])[0]
        p = os.path.join(scans, f'soak{n:06}.jpg')
        if kind == 'good':
            drop_good(os.path.basename(p), n)
        elif kind == 'corrupt':
            open(p, 'wb').write(photos[0][:len(photos[0]) // 2])
        elif kind == 'empty':
            open(p, 'wb').close()
        elif kind == 'fifo':
            os.mkfifo(p)
        elif kind == 'symlink':
            os.symlink(outside, p)
        else:
            open(p.replace('.jpg', '.png'), 'wb').write(huge_png())
        if kind != 'good':
            hostile[kind] += 1
        if n % 20 == 0:
            rss.append(rss_mib(d.pid))
        if time.time() >= next_sample:
            done = sum(1 for p in good if os.path.exists(p[:-4] + '.colorized.jpg'))
            row = (time.time() - t0, rss_mib(d.pid), open_fds(d.pid), threads(d.pid), done, len(good))
            timeline.append(row)
            print('  t=%5.0f s  RSS %4.0f MiB  fds %3d  threads %2d  colorized %d/%d' % row, flush=True)
            next_sample = time.time() + max(30.0, args.soak / 12)
        time.sleep(1 / args.rate)
    # Let the queue drain: every good file colorized.
    deadline = time.time() + 1800
    pending = [p for p in good if not os.path.exists(p[:-4] + '.colorized.jpg')]
    while pending and time.time() < deadline and d.poll() is None:
        time.sleep(2)
        rss.append(rss_mib(d.pid))
        pending = [p for p in pending if not os.path.exists(p[:-4] + '.colorized.jpg')]
    alive = d.poll() is None
    if alive:
        end = (time.time() - t0, rss_mib(d.pid), open_fds(d.pid), threads(d.pid), len(good) - len(pending), len(good))
        timeline.append(end)
        print('  t=%5.0f s  RSS %4.0f MiB  fds %3d  threads %2d  colorized %d/%d (drained)' % end, flush=True)
    d.send_signal(signal.SIGTERM)
    code = d.wait(timeout=60)
    text = open(log).read()
    started = re.findall(r'done (\S+) ->', text)
    twice = len(started) - len(set(started))
    changed = [p for p, h in originals.items() if sha(p) != h]
    temps = [f for _, _, fs in os.walk(scans) for f in fs if f.startswith('.hued-tmp')]
    print(f'good files: {len(good)}, colorized: {len(good) - len(pending)}, not colorized: {len(pending)}, colorized twice: {twice}')
    print(f'hostile files mixed in: {hostile}')
    print(f'originals changed: {len(changed)}, temporary files left: {len(temps)}, alive to the end: {alive}, exit code {code}')
    print(f'daemon RSS: first {rss[0]:.0f} MiB, last {rss[-1]:.0f} MiB, peak {max(rss):.0f} MiB; total {time.time() - t0:.0f} s')
    if len(timeline) >= 2:
        print(f'soak timeline: RSS {timeline[0][1]:.0f} -> {timeline[-1][1]:.0f} MiB, fds {timeline[0][2]} -> {timeline[-1][2]}, '
              f'threads {timeline[0][3]} -> {timeline[-1][3]}')
    ok = not pending and not twice and not changed and not temps and alive and code == 0
    print('PASS' if ok else f'FAIL (log: {log})')
    if ok:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
