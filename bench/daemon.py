#!/usr/bin/env python3
"""Benchmark of `hued run`: latency from a file's last write to its colorized copy, and the
throughput of a backlog against the single-image rate.

    cargo build --release && python3 bench/daemon.py [--model models/hued-color-v4-int8.toml]

Photos: the historical scans of ../shared/data (cycled to 200 files). Prints a table.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUED = os.path.join(ROOT, 'target', 'release', 'hued')
PHOTOS = os.path.join(ROOT, '..', 'shared', 'data', 'historical')


def config(tmp, name, model, delay):
    """A config watching <tmp>/<name>, with its own state directory."""
    path = os.path.join(tmp, f'{name}.toml')
    with open(path, 'w') as f:
        f.write(f'[colorize]\nmodel = "{model}"\nskip_color = false\n[daemon]\nstate_dir = "{tmp}/state-{name}"\n'
                f'stability_delay = {delay}\n[[watch]]\npath = "{tmp}/{name}"\n')
    return path


def start(cfg, log):
    p = subprocess.Popen([HUED, 'run', '--config', cfg], stderr=open(log, 'w'), env=dict(os.environ, RUST_LOG='info'))
    while 'watching' not in open(log).read():
        time.sleep(0.01)
    return p


def wait_file(path, timeout=120):
    t0 = time.time()
    while not os.path.exists(path):
        if time.time() - t0 > timeout:
            raise SystemExit(f'timed out waiting for {path}')
        time.sleep(0.005)
    return time.time()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=os.path.join(ROOT, 'models', 'hued-color-v4-int8.toml'))
    ap.add_argument('--delay', type=float, default=3.0, help='stability_delay (default: the shipped 3 s)')
    ap.add_argument('--files', type=int, default=200)
    args = ap.parse_args()
    if not os.path.isdir(PHOTOS):
        raise SystemExit(f'SKIPPED: {PHOTOS} is absent')
    photos = sorted(os.path.join(PHOTOS, f) for f in os.listdir(PHOTOS) if f.endswith('.jpg'))
    tmp = tempfile.mkdtemp(prefix='hued-bench-daemon-')
    os.makedirs(os.path.join(tmp, 'scans'))
    cfg = config(tmp, 'scans', args.model, args.delay)
    log = os.path.join(tmp, 'run.log')

    # Latency: one file at a time, from its last write to its colorized copy.
    d = start(cfg, log)
    latencies = []
    for i in range(20):
        dst = os.path.join(tmp, 'scans', f'lat{i:02}.jpg')
        shutil.copyfile(photos[i % len(photos)], dst)
        t_written = time.time()
        latencies.append(wait_file(dst.replace('.jpg', '.colorized.jpg')) - t_written)
    d.send_signal(signal.SIGTERM)
    d.wait()
    proc_ms = [int(m) for m in re.findall(r' in (\d+) ms', open(log).read())]

    # Throughput: a backlog of N files at start, against the single-image rate.
    scans2 = os.path.join(tmp, 'scans2')
    os.makedirs(scans2)
    for i in range(args.files):
        shutil.copyfile(photos[i % len(photos)], os.path.join(scans2, f'b{i:03}.jpg'))
    past = time.time() - 60
    for f in os.listdir(scans2):
        os.utime(os.path.join(scans2, f), (past, past))
    # The single-image rate: the same photos colorized one after another by `hued colorize`
    # (one process, model loaded once; --force as the daemon runs with skip_color = false),
    # wall time per photo. Measured first, so the daemon gets no warmer cache than it.
    t_cli = time.time()
    subprocess.run([HUED, 'colorize', '--model', args.model, '--out', os.path.join(tmp, 'cli'), scans2, '--force'],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, RUST_LOG='warn'))
    single = (time.time() - t_cli) / args.files
    cfg2 = config(tmp, 'scans2', args.model, args.delay)
    log2 = os.path.join(tmp, 'backlog.log')
    t0 = time.time()
    d = start(cfg2, log2)
    t_ready = time.time()
    for i in range(args.files):
        wait_file(os.path.join(scans2, f'b{i:03}.colorized.jpg'), timeout=1200)
    t_done = time.time()
    d.send_signal(signal.SIGTERM)
    d.wait()
    wall = t_done - t_ready
    print(f'machine: {os.cpu_count()} cores; model {os.path.basename(args.model)}; stability_delay {args.delay} s')
    print(f'latency, last write -> colorized copy, median of 20: {statistics.median(latencies):.2f} s '
          f'(min {min(latencies):.2f}, max {max(latencies):.2f}; processing alone median {statistics.median(proc_ms)} ms)')
    print(f'backlog of {args.files}: {wall:.1f} s after ready (start-up {t_ready - t0:.2f} s) = {args.files / wall:.2f} files/s; '
          f'single-image rate ({"hued colorize"} on the same photos) {1 / single:.2f} files/s ({single * 1000:.0f} ms per photo); '
          f'throughput {100 * args.files * single / wall:.1f} % of the single-image rate')
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main()
