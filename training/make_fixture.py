#!/usr/bin/env python3
"""Write the small deterministic int8 QDQ test model: tests/fixtures/tiny-qdq.onnx + its manifest.

It has the same interface as hued's real model (inputs `l` and `hints`, output `ab` at 1/4
resolution) but only two convolutions with fixed weights: a tone-dependent tint (dark -> blue,
light -> warm) that is easy to check, plus the hint channels passed through. Only the `onnx`
package is needed:  python3 training/make_fixture.py
"""
import hashlib
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'tests', 'fixtures')


def qdq(name, scale, nodes, inits):
    """Quantize-dequantize an activation with a symmetric s8 scale (as onnxruntime's QDQ format does)."""
    inits += [numpy_helper.from_array(np.array(scale, np.float32), f'{name}_s'),
              numpy_helper.from_array(np.array(0, np.int8), f'{name}_z')]
    nodes += [helper.make_node('QuantizeLinear', [name, f'{name}_s', f'{name}_z'], [f'{name}_q']),
              helper.make_node('DequantizeLinear', [f'{name}_q', f'{name}_s', f'{name}_z'], [f'{name}_dq'])]
    return f'{name}_dq'


def weight(name, w, nodes, inits):
    """Per-output-channel s8 weight with its DequantizeLinear, as in static QDQ quantization."""
    scale = np.maximum(np.abs(w).reshape(w.shape[0], -1).max(1), 1e-8) / 127.0
    q = np.clip(np.round(w / scale.reshape(-1, 1, 1, 1)), -127, 127).astype(np.int8)
    inits += [numpy_helper.from_array(q, f'{name}_q'), numpy_helper.from_array(scale.astype(np.float32), f'{name}_s'),
              numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f'{name}_z')]
    nodes.append(helper.make_node('DequantizeLinear', [f'{name}_q', f'{name}_s', f'{name}_z'], [name], axis=0))
    return name


def build(hints=True):
    """hints=False: the same tint with only the `l` input, a model that takes no hints."""
    nodes, inits = [], []
    x = 'x'
    if hints:
        nodes.append(helper.make_node('Concat', ['l', 'hints'], [x], axis=1))
    else:
        nodes.append(helper.make_node('Identity', ['l'], [x]))
    x = qdq(x, 1.0 / 127, nodes, inits)
    # conv1 (4 -> 4, 4x4 average, stride 2): ch0 = L, ch1 = 1 - L, ch2/3 = hint a, b
    w1 = np.zeros((4, 4 if hints else 1, 4, 4), np.float32)
    w1[0, 0] = 1 / 16
    w1[1, 0] = -1 / 16
    if hints:
        w1[2, 1] = 1 / 16
        w1[3, 2] = 1 / 16
    b1 = np.array([0, 1, 0, 0], np.float32)
    inits.append(numpy_helper.from_array(b1, 'b1'))
    nodes.append(helper.make_node('Conv', [x, weight('w1', w1, nodes, inits), 'b1'], ['c1'], strides=[2, 2], pads=[1, 1, 2, 2]))
    x = qdq('c1', 1.0 / 127, nodes, inits)
    # conv2 (4 -> 2, 1x1 at stride 2): a = 0.25 L - 0.25 (1-L) + hint a; b = 0.5 L - 0.4 (1-L) + hint b
    w2 = np.array([[0.25, -0.25, 1.0, 0.0], [0.5, -0.4, 0.0, 1.0]], np.float32).reshape(2, 4, 1, 1)
    nodes.append(helper.make_node('Conv', [x, weight('w2', w2, nodes, inits)], ['c2'], strides=[2, 2]))
    x = qdq('c2', 1.0 / 127, nodes, inits)
    nodes.append(helper.make_node('Tanh', [x], ['ab']))
    graph = helper.make_graph(
        nodes, 'hued-tiny-fixture',
        [helper.make_tensor_value_info('l', TensorProto.FLOAT, [1, 1, 'h', 'w'])]
        + ([helper.make_tensor_value_info('hints', TensorProto.FLOAT, [1, 3, 'h', 'w'])] if hints else []),
        [helper.make_tensor_value_info('ab', TensorProto.FLOAT, [1, 2, 'h4', 'w4'])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='hued make_fixture.py')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    for stem, hints in [('tiny-qdq', True), ('tiny-qdq-nohints', False)]:
        path = os.path.join(OUT, f'{stem}.onnx')
        data = build(hints).SerializeToString()
        with open(path, 'wb') as f:
            f.write(data)
        sha = hashlib.sha256(data).hexdigest()
        hints_line = f'hints_name = "hints"\nhint_ab_scale = {1 / 110}\n' if hints else ''
        with open(os.path.join(OUT, f'{stem}.toml'), 'w') as f:
            f.write(f'''# Test fixture written by training/make_fixture.py: not a colorizer, a fixed tone tint.
name = "{stem}"
onnx = "{stem}.onnx"
sha256 = "{sha}"

[input]
l_name = "l"
l_scale = 0.01
l_offset = 0.0
{hints_line}size_multiple = 32
long_side = 128
min_side = 32
max_side = 512

[output]
name = "ab"
ab_scale = 110.0
downsample = 4
''')
        print(f'wrote {path} ({len(data)} bytes, sha256 {sha})')


if __name__ == '__main__':
    main()
