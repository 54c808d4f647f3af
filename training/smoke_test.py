#!/usr/bin/env python3
"""Smoke test of the training pipeline: a few steps on a handful of photos, export, int8
quantization, then the real hued binary colorizes a photo with the result (tract loads it).

    python3 training/smoke_test.py

Skips (exit 0, with a message) where torch or ../shared/data is absent.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, '..', 'shared', 'data')


def main():
    try:
        import torch  # noqa: F401
        import onnxruntime  # noqa: F401
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: training smoke test needs the training packages ({e.name} missing): "
              f"pip install -r training/requirements.txt")
        return 0
    if not os.path.isdir(DATA):
        print(f"SKIPPED: training smoke test needs {DATA}")
        return 0
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE')
    with tempfile.TemporaryDirectory() as tmp:
        run = lambda *cmd: subprocess.run(cmd, cwd=HERE, env=env, check=True)
        run(sys.executable, 'train.py', '--train', os.path.join(DATA, 'train'), '--out', os.path.join(tmp, 'run'),
            '--steps', '3', '--batch', '4', '--size', '64', '--limit', '12', '--threads', '2')
        run(sys.executable, 'export.py', '--ckpt', os.path.join(tmp, 'run', 'last.pt'), '--val', os.path.join(DATA, 'val'),
            '--out', os.path.join(tmp, 'models'), '--name', 'smoke', '--alpha', '1', '--limit', '4')
        manifest = os.path.join(tmp, 'models', 'smoke-int8.toml')
        photo = os.path.join(DATA, 'historical', '1890Surfer.jpg')
        out = os.path.join(tmp, 'out')
        subprocess.run(['cargo', 'run', '--quiet', '--', 'colorize', '--model', manifest, '--out', out, photo],
                       cwd=ROOT, check=True)
        result = os.path.join(out, '1890Surfer.colorized.jpg')
        assert os.path.getsize(result) > 0, result
        print(f"OK: trained 3 steps, exported, quantized, and hued colorized {photo} with it")
    return 0


if __name__ == '__main__':
    sys.exit(main())
