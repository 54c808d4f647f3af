#!/usr/bin/env python3
"""Model inference: tract (through `hued bench --infer`) beside onnxruntime, on the same model
file and the same input (the sample photo at 256x192), at 1 and 2 threads, in one run.

    python3 bench/infer.py [--bin target/release/hued] [--model models/hued-color-v4-int8.toml] [--runs 20]

Prints each time and the ratio tract / onnxruntime-int8. Needs `pip install onnxruntime numpy`.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def without_hint_input(onnx_path, out_path):
    """The same int8 file with its hint input made a constant of zeros at 256x192: what
    onnxruntime can do for a photo without hints (its graph optimizer folds what it can), to
    set beside hued's plan without hints."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(onnx_path))
    hints = [i for i in m.graph.input if i.name != "l"]
    for i in hints:
        m.graph.input.remove(i)
        m.graph.initializer.append(numpy_helper.from_array(np.zeros((1, 3, 192, 256), np.float32), i.name))
    onnx.save(m, str(out_path))


def ort_median(onnx_path, l_input, threads, runs):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        feeds[i.name] = l_input if i.name == "l" else np.zeros((1, 3, 192, 256), np.float32)
    sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def one_round(a, manifest, onnx_path, no_hints, tmp, only=None):
    """`hued bench --infer` (all rows, or `only`), then onnxruntime on the same input: on the
    file without hints (for the rows without hints) and on the file as it is (for "+h").
    Returns hued's printout, {row: (1 thread, 2 threads) ms} and {row: the onnxruntime times
    it is compared with}."""
    import numpy as np

    raw = pathlib.Path(tmp) / "l.f32"
    cmd = [a.bin, "bench", "--infer", "--runs", str(a.runs), "--model", str(manifest), "--save-input", str(raw)]
    if only:
        cmd += ["--only", ",".join(only)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"}).stdout
    l_input = np.fromfile(raw, dtype="<f4").reshape(1, 1, 192, 256)
    # Interleaved, so that a busy moment of the machine does not fall on one of them only.
    ort_t, ort_h = {}, {}
    for t in (1, 2):
        ort_t[t] = ort_median(no_hints, l_input, t, a.runs)
        ort_h[t] = ort_median(onnx_path, l_input, t, a.runs)
    tract, refs = {}, {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 5 and (f[0] in ("qdq", "f32", "f32+h", "f16") or f[0].startswith("i8")):
            tract[f[0]] = (float(f[3]), float(f[4]))
            refs[f[0]] = ort_h if f[0].endswith("+h") else ort_t
    return out, tract, refs, ort_t, ort_h


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=str(ROOT / "target/release/hued"))
    ap.add_argument("--model", default=str(ROOT / "models/hued-color-v4-int8.toml"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of tract's f32 rows and onnxruntime in turn, after the first full round; "
                         "each round's ratio is printed and their median (a busy moment of a shared "
                         "machine then falls on one round, not on one side of every ratio)")
    a = ap.parse_args()

    manifest = pathlib.Path(a.model)
    onnx_name = re.search(r'^onnx\s*=\s*"([^"]+)"', manifest.read_text(), re.M).group(1)
    onnx_path = manifest.parent / onnx_name
    ver = __import__('onnxruntime').__version__
    with tempfile.TemporaryDirectory() as tmp:
        no_hints = pathlib.Path(tmp) / "no-hints.onnx"
        without_hint_input(onnx_path, no_hints)
        out, tract, refs, ort_t, ort_h = one_round(a, manifest, onnx_path, no_hints, tmp)
        print(out.rstrip())
        print(f"onnxruntime {ver} on the same int8 file, hints given: 1 thread {ort_h[1]:.1f} ms, 2 threads {ort_h[2]:.1f} ms")
        print(f"onnxruntime {ver} on the same int8 file, hint input a constant (no hints): 1 thread {ort_t[1]:.1f} ms, 2 threads {ort_t[2]:.1f} ms")
        print(f"{'tract':<8} {'1 thread':>10} {'ratio':>7} {'2 threads':>10} {'ratio':>7}   (ratio = tract / onnxruntime-int8, like for like; target <= 2.0)")
        for prec, (t1, t2) in tract.items():
            ref = refs[prec]
            print(f"{prec:<8} {t1:>10.1f} {t1 / ref[1]:>7.2f} {t2:>10.1f} {t2 / ref[2]:>7.2f}")
        print("(rows without +h: no hints, against onnxruntime with the hint input a constant; +h: hints given, against the file as it is)")
        if a.rounds <= 1:
            return
        # More rounds of the f32 rows, tract and onnxruntime in turn; the median ratio of all.
        rows = ("f32", "f32+h")
        ratios = {p: [(tract[p][0] / refs[p][1], tract[p][1] / refs[p][2])] for p in rows}
        for r in range(2, a.rounds + 1):
            _, tract, refs, _, _ = one_round(a, manifest, onnx_path, no_hints, tmp, only=rows)
            for p in rows:
                (t1, t2), ref = tract[p], refs[p]
                ratios[p].append((t1 / ref[1], t2 / ref[2]))
                print(f"round {r}: {p:<6} tract {t1:.1f} / {t2:.1f} ms, onnxruntime {ref[1]:.1f} / {ref[2]:.1f} ms, "
                      f"ratio {t1 / ref[1]:.2f} / {t2 / ref[2]:.2f}")
    for prec, rs in ratios.items():
        one = sorted(x[0] for x in rs)
        two = sorted(x[1] for x in rs)
        print(f"{prec:<6} over {len(rs)} rounds: ratio 1 thread median {statistics.median(one):.2f} (range {one[0]:.2f}-{one[-1]:.2f}), "
              f"2 threads median {statistics.median(two):.2f} (range {two[0]:.2f}-{two[-1]:.2f})")


if __name__ == "__main__":
    sys.exit(main())
