#!/usr/bin/env python3
"""Benchmark of the kiosk page (`hued run` with [web]): time from upload to result, the
memory an upload costs, and whether the folder watch keeps its pace while the page is busy.

    cargo build --release && python3 bench/web.py [--model models/hued-color-v4-int8.toml]
    python3 bench/web.py --load 300          # 20 clients uploading for 300 s, plus slow clients

The load run: 20 concurrent clients upload historical scans (retrying on 503), 4 slow clients
hold connections open with bodies that trickle in, and the folder watch is timed idle and
under load. Reports throughput, p50/p95 upload -> result, RSS first/last/peak.

Photos: the historical scans of ../shared/data. Prints a table.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUED = os.path.join(ROOT, 'target', 'release', 'hued')
PHOTOS = os.path.join(ROOT, '..', 'shared', 'data', 'historical')


def start(tmp, model, delay):
    os.makedirs(os.path.join(tmp, 'scans'), exist_ok=True)
    cfg = os.path.join(tmp, 'hued.toml')
    with open(cfg, 'w') as f:
        f.write(f'[colorize]\nmodel = "{model}"\nskip_color = false\n[daemon]\nstate_dir = "{tmp}/state"\n'
                f'stability_delay = {delay}\n[[watch]]\npath = "{tmp}/scans"\n'
                f'[web]\nenabled = true\nlisten = "127.0.0.1:0"\nqueue_capacity = 4\n')
    log = os.path.join(tmp, 'run.log')
    p = subprocess.Popen([HUED, 'run', '--config', cfg], stderr=open(log, 'w'), env=dict(os.environ, RUST_LOG='info'))
    while True:
        m = re.search(r'kiosk page at (http://[0-9.:]+)/', open(log).read())
        if m:
            return p, m.group(1)
        time.sleep(0.01)


def request(url, data=None, method=None):
    req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/octet-stream'} if data else {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def colorize(base, data, name='photo.jpg'):
    """Upload → done → download; returns (seconds to done, seconds to downloaded) or None when busy."""
    t0 = time.time()
    status, body = request(f'{base}/api/jobs?name={name}', data, 'POST')
    if status == 503:
        return None
    assert status == 202, (status, body)
    job = json.loads(body)['id']
    while True:
        s = json.loads(request(f'{base}/api/jobs/{job}')[1])
        if s['state'] in ('done', 'failed'):
            break
        time.sleep(0.02)
    assert s['state'] == 'done', s
    t_done = time.time() - t0
    status, result = request(f'{base}/api/jobs/{job}/download')
    assert status == 200 and len(result) > 0
    return t_done, time.time() - t0


def rss_mib(pid):
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return 0.0


def watch_latencies(tmp, photos, n, prefix):
    out = []
    for i in range(n):
        dst = os.path.join(tmp, 'scans', f'{prefix}{i:02}.jpg')
        shutil.copyfile(photos[i % len(photos)], dst)
        t = time.time()
        target = dst.replace('.jpg', '.colorized.jpg')
        while not os.path.exists(target):
            time.sleep(0.005)
        out.append(time.time() - t)
    return out


def slow_client(base, stop):
    """Opens a connection, declares a 1 MB upload and sends a byte every 5 s (under the 20 s idle
    limit), over and over: what a hostile or very bad network does to the page."""
    import socket
    host, port = base.replace('http://', '').rsplit(':', 1)
    while not stop.is_set():
        try:
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(f'POST /api/jobs?name=slow.jpg HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000\r\n\r\n'.encode())
            while not stop.is_set():
                s.sendall(b'x')
                stop.wait(5)
        except OSError:
            stop.wait(1)


def load_run(base, pid, photos, tmp, seconds, clients=20, slow=4):
    datas = [open(p, 'rb').read() for p in photos[:clients]]
    alone = watch_latencies(tmp, photos, 5, 'idle')
    stop = threading.Event()
    lock, results, busy_answers = threading.Lock(), [], [0]
    rss = [rss_mib(pid)]

    refused = [0]

    def client(i):
        while not stop.is_set():
            try:
                r = colorize(base, datas[i % len(datas)], name=f'c{i}.jpg')
            except (OSError, urllib.error.URLError):
                # All clients here share one address, which may hold 4 connections: the rest
                # are refused at once, as a real client on that address would see.
                with lock:
                    refused[0] += 1
                time.sleep(0.5)
                continue
            with lock:
                if r is None:
                    busy_answers[0] += 1
                else:
                    results.append(r[0])
            if r is None:
                time.sleep(0.5)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads += [threading.Thread(target=slow_client, args=(base, stop)) for _ in range(slow)]
    t0 = time.time()
    for t in threads:
        t.start()
    loaded = []
    while time.time() - t0 < seconds:
        loaded += watch_latencies(tmp, photos, 1, f'load{len(loaded):03}-')
        rss.append(rss_mib(pid))
        time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    q = statistics.quantiles(results, n=20) if len(results) >= 20 else [float('nan')] * 19
    print(f'load: {clients} clients + {slow} slow clients for {elapsed:.0f} s')
    print(f'  {len(results)} photos colorized ({len(results) / elapsed:.2f}/s), {busy_answers[0]} answers "busy, retry", '
          f'{refused[0]} connections refused (4 per client address; all clients here share 127.0.0.1)')
    print(f'  upload -> result: p50 {statistics.median(results):.2f} s, p95 {q[18]:.2f} s')
    print(f'  daemon RSS: first {rss[0]:.0f} MiB, last {rss[-1]:.0f} MiB, peak {max(rss):.0f} MiB')
    print(f'  folder watch latency: idle median {statistics.median(alone):.2f} s, under load median {statistics.median(loaded):.2f} s '
          f'(ratio {statistics.median(loaded) / statistics.median(alone):.2f})')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--load', type=float, default=0, help='seconds of the load run (0: the latency benchmark)')
    ap.add_argument('--model', default=os.path.join(ROOT, 'models', 'hued-color-v4-int8.toml'))
    ap.add_argument('--delay', type=float, default=1.0, help='stability_delay of the watch')
    args = ap.parse_args()
    if not os.path.isdir(PHOTOS):
        raise SystemExit(f'SKIPPED: {PHOTOS} is absent')
    photos = sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS) if f.endswith('.jpg'))
    tmp = tempfile.mkdtemp(prefix='hued-bench-web-')
    d, base = start(tmp, args.model, args.delay)
    try:
        # A historical scan as uploaded, and a 12 MP JPEG made from one (a phone photo's size).
        small = open(photos[0], 'rb').read()
        big_path = os.path.join(tmp, 'big.jpg')
        subprocess.run(['python3', '-c', f'from PIL import Image; Image.open({photos[0]!r}).convert("L").resize((4000, 3000)).save({big_path!r}, quality=92)'], check=True)
        big = open(big_path, 'rb').read()
        colorize(base, small)  # warm-up: the first photo of a shape pays tract's optimization
        if args.load:
            load_run(base, d.pid, photos, tmp, args.load)
            return
        rss0 = rss_mib(d.pid)
        rows = []
        for label, data in [('historical scan (%d KB)' % (len(small) // 1024), small), ('12 MP JPEG (%.1f MB)' % (len(big) / 1e6), big)]:
            colorize(base, data)
            times = [colorize(base, data) for _ in range(5)]
            rows.append((label, statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)))
        rss_after = rss_mib(d.pid)

        # The folder watch, alone and while the page is kept busy by a client uploading 12 MP photos.
        alone = watch_latencies(tmp, photos, 10, 'alone')
        stop, served = threading.Event(), [0]

        def load():
            while not stop.is_set():
                if colorize(base, big) is None:
                    time.sleep(0.2)
                else:
                    served[0] += 1
        t = threading.Thread(target=load)
        t.start()
        time.sleep(1)
        busy = watch_latencies(tmp, photos, 10, 'busy')
        stop.set()
        t.join()
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait()
    print(f'machine: {os.cpu_count()} cores; model {os.path.basename(args.model)}')
    for label, done, dl in rows:
        print(f'upload -> result, {label}: {done:.2f} s (with download {dl:.2f} s), median of 5')
    print(f'daemon RSS: {rss0:.0f} MiB after warm-up, {rss_after:.0f} MiB after 12 uploads (all downloaded, so none held)')
    print(f'folder watch latency (stability_delay {args.delay} s), median of 10: alone {statistics.median(alone):.2f} s, '
          f'while the page colorized {served[0]} 12 MP uploads {statistics.median(busy):.2f} s')
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
