//! The model-load transform: the file on disk stays int8 QDQ (small, one file for every device),
//! and at load its graph is rewritten for a CPU run by tract.
//!
//! tract runs a QDQ convolution in f32 anyway, after dequantizing its weights and after
//! quantizing and dequantizing every activation: the Quantize/Dequantize pairs between layers
//! only cost time (measured: half the inference time) and round the activations. So:
//! - every `DequantizeLinear` of a constant (the int8 weights, the int32 biases) becomes the
//!   f32 constant it computes, once;
//! - every activation `QuantizeLinear` → `DequantizeLinear` pair is dropped, its consumers
//!   reading the f32 value the pair rounded.
//!
//! The output moves by less than the int8 rounding itself (tests/it/shipped_model.rs bounds it on
//! a real photo).

use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

/// ONNX element types this transform reads.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;

/// What the transform did, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FoldReport {
    /// Constant dequantizations replaced by f32 constants.
    pub constants_folded: usize,
    /// Activation Quantize → Dequantize pairs removed.
    pub pairs_dropped: usize,
}

/// A tensor's elements as f64 (exact for every type read here), or None for another type.
fn values(t: &TensorProto) -> Option<Vec<f64>> {
    let raw = &t.raw_data;
    let v = match t.data_type {
        FLOAT if !raw.is_empty() => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        FLOAT => t.float_data.iter().map(|&v| v as f64).collect(),
        INT8 if !raw.is_empty() => raw.iter().map(|&b| b as i8 as f64).collect(),
        UINT8 if !raw.is_empty() => raw.iter().map(|&b| b as f64).collect(),
        INT8 | UINT8 => t.int32_data.iter().map(|&v| v as f64).collect(),
        INT32 if !raw.is_empty() => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        INT32 => t.int32_data.iter().map(|&v| v as f64).collect(),
        _ => return None,
    };
    Some(v)
}

fn attribute_i(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// `DequantizeLinear(x, scale, zero_point)` of constants, computed: per tensor, or per channel
/// along `axis` (default 1).
fn dequantize(node: &NodeProto, consts: &HashMap<String, TensorProto>) -> Option<TensorProto> {
    let x = consts.get(node.input.first()?)?;
    let scale = values(consts.get(node.input.get(1)?)?)?;
    let zero = match node.input.get(2).filter(|n| !n.is_empty()) {
        Some(name) => values(consts.get(name)?)?,
        None => vec![0.0],
    };
    // 8-bit weights are read straight from their bytes; anything else through f64 values.
    let bytes = matches!(x.data_type, INT8 | UINT8) && !x.raw_data.is_empty();
    let q = if bytes { Vec::new() } else { values(x)? };
    let count = if bytes { x.raw_data.len() } else { q.len() };
    let dims: Vec<usize> = x.dims.iter().map(|&d| d as usize).collect();
    if dims.iter().product::<usize>() != count || zero.len() != scale.len() {
        return None;
    }
    let per_channel = scale.len() > 1;
    let (channels, inner) = if per_channel {
        let rank = dims.len() as i64;
        let axis = attribute_i(node, "axis").unwrap_or(1);
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) || dims[axis as usize] != scale.len() {
            return None;
        }
        (scale.len(), dims[axis as usize + 1..].iter().product::<usize>())
    } else {
        (1, count)
    };
    // Channel by channel over runs of `inner` values (no division per weight: this runs over
    // every weight of the model at each start).
    // In f32 for bytes: (v - zero) is a small exact integer and scale an f32, so the one
    // rounding of the product gives the same value as the f64 route.
    let mut out: Vec<f32> = Vec::with_capacity(count);
    if bytes {
        let signed = x.data_type == INT8;
        for (run, values) in x.raw_data.chunks(inner.max(1)).enumerate() {
            let c = run % channels;
            let (zero, scale) = (zero[c] as f32, scale[c] as f32);
            if signed {
                out.extend(values.iter().map(|&b| (b as i8 as f32 - zero) * scale));
            } else {
                out.extend(values.iter().map(|&b| (b as f32 - zero) * scale));
            }
        }
    } else {
        for (run, values) in q.chunks(inner.max(1)).enumerate() {
            let c = run % channels;
            let (zero, scale) = (zero[c], scale[c]);
            out.extend(values.iter().map(|&v| ((v - zero) * scale) as f32));
        }
    }
    // ONNX raw data is little-endian, as every CPU hued runs on is (one copy, not a byte loop).
    let raw: Vec<u8> = if cfg!(target_endian = "little") { bytemuck::cast_slice(&out).to_vec() } else { out.iter().flat_map(|v| v.to_le_bytes()).collect() };
    Some(TensorProto { name: node.output[0].clone(), dims: x.dims.clone(), data_type: FLOAT, raw_data: raw, ..Default::default() })
}

/// Rewrites a QDQ graph for f32 execution (see the module docs). A graph without Q/DQ nodes
/// is left as it is.
pub fn fold_qdq(graph: &mut GraphProto) -> FoldReport {
    let mut report = FoldReport::default();
    let mut consts: HashMap<String, TensorProto> = graph.initializer.drain(..).map(|t| (t.name.clone(), t)).collect();
    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();

    // 1. Constant dequantizations become f32 constants.
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in graph.node.drain(..) {
        if node.op_type == "DequantizeLinear" && node.domain.is_empty() && !graph_outputs.contains(&node.output[0]) {
            if let Some(folded) = dequantize(&node, &consts) {
                consts.insert(folded.name.clone(), folded);
                report.constants_folded += 1;
                continue;
            }
        }
        kept.push(node);
    }

    // 2. Activation Q → DQ pairs whose Q feeds only DQs are dropped: each DQ's output is
    //    renamed to the Q's input.
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in kept.iter().enumerate() {
        for input in &node.input {
            consumers.entry(input.as_str()).or_default().push(i);
        }
    }
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut dropped = vec![false; kept.len()];
    for (i, q) in kept.iter().enumerate() {
        if q.op_type != "QuantizeLinear" || !q.domain.is_empty() || graph_outputs.contains(&q.output[0]) {
            continue;
        }
        let users = consumers.get(q.output[0].as_str()).map(Vec::as_slice).unwrap_or_default();
        let all_dequantize = !users.is_empty()
            && users
                .iter()
                .all(|&u| kept[u].op_type == "DequantizeLinear" && kept[u].input.first() == Some(&q.output[0]) && !graph_outputs.contains(&kept[u].output[0]));
        if !all_dequantize {
            continue;
        }
        dropped[i] = true;
        for &u in users {
            dropped[u] = true;
            renamed.insert(kept[u].output[0].clone(), q.input[0].clone());
        }
        report.pairs_dropped += 1;
    }
    graph.node = kept.into_iter().zip(dropped).filter(|(_, d)| !d).map(|(n, _)| n).collect();
    for node in &mut graph.node {
        for input in &mut node.input {
            // A renamed value may itself be the output of a dropped pair (Q→DQ→Q→DQ).
            while let Some(to) = renamed.get(input.as_str()) {
                *input = to.clone();
            }
        }
    }

    // Only the constants something still reads are kept (the int8 weights, scales and zero
    // points go).
    let used: HashSet<&str> = graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).chain(graph_outputs.iter().map(String::as_str)).collect();
    let mut initializer: Vec<TensorProto> = consts.into_values().filter(|t| used.contains(t.name.as_str())).collect();
    initializer.sort_by(|a, b| a.name.cmp(&b.name));
    graph.initializer = initializer;
    report
}

/// The kinds of convolution, for choosing which run through tract's native int8 path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvKind {
    /// 1x1, one group: a plain matrix product.
    Pointwise,
    /// One group per channel (3x3 or 5x5 in this network).
    Depthwise,
    /// Any other (the stem's 3x3, the decoder's 3x3s).
    Full,
}

impl ConvKind {
    /// The int8 variants `hued bench --infer` measures, by the name its rows carry: each kind
    /// alone, then all three.
    pub const VARIANTS: [(&'static str, &'static [ConvKind]); 4] = [
        ("i8pw", &[ConvKind::Pointwise]),
        ("i8dw", &[ConvKind::Depthwise]),
        ("i8full", &[ConvKind::Full]),
        ("i8all", &[ConvKind::Pointwise, ConvKind::Depthwise, ConvKind::Full]),
    ];
}

fn conv_kind(conv: &NodeProto, consts: &HashMap<&str, &TensorProto>, weight: &str) -> Option<ConvKind> {
    let dims = &consts.get(weight)?.dims;
    let group = attribute_i(conv, "group").unwrap_or(1);
    Some(if group > 1 && dims.get(1) == Some(&1) {
        ConvKind::Depthwise
    } else if group == 1 && dims.len() == 4 && dims[2] == 1 && dims[3] == 1 {
        ConvKind::Pointwise
    } else {
        ConvKind::Full
    })
}

/// Rewrites `DequantizeLinear(x_q) → Conv(·, DequantizeLinear(W), DequantizeLinear(B)) →
/// QuantizeLinear` into one `QLinearConv(x_q, …, W, …, B)` for the convolutions whose kind
/// `take` accepts, so that tract runs them with its int8 matrix kernels instead of in f32.
/// Run before [`fold_qdq`], which then folds what is left. Returns how many were rewritten.
/// A convolution is left alone unless the pattern is exact (constant int8 weights, an int32
/// bias whose scale is the input's times the weights', one QuantizeLinear as its only user).
pub fn qlinear_convs(graph: &mut GraphProto, take: impl Fn(ConvKind) -> bool) -> usize {
    let consts: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let producer: HashMap<&str, usize> = graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let mut users: HashMap<&str, usize> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *users.entry(i.as_str()).or_default() += 1;
        }
    }
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let dequantize_of = |name: &str| -> Option<&NodeProto> {
        let n = &graph.node[*producer.get(name)?];
        (n.op_type == "DequantizeLinear" && n.domain.is_empty() && n.input.len() >= 2).then_some(n)
    };
    let scalar = |name: Option<&String>| name.and_then(|n| consts.get(n.as_str())).and_then(|t| values(t));
    // (conv index, quantize index, new node)
    let mut rewrites: Vec<(usize, usize, NodeProto)> = Vec::new();
    for (ci, conv) in graph.node.iter().enumerate() {
        if conv.op_type != "Conv" || !conv.domain.is_empty() || conv.input.len() < 2 {
            continue;
        }
        let (Some(x), Some(w)) = (dequantize_of(&conv.input[0]), dequantize_of(&conv.input[1])) else { continue };
        let Some(kind) = conv_kind(conv, &consts, &w.input[0]) else { continue };
        if !take(kind) || consts.get(w.input[0].as_str()).map(|t| t.data_type) != Some(INT8) || consts.contains_key(x.input[0].as_str()) {
            continue;
        }
        // The output must feed exactly one QuantizeLinear and nothing else.
        let out = conv.output[0].as_str();
        let qs: Vec<usize> = graph.node.iter().enumerate().filter(|(_, n)| n.input.iter().any(|i| i == out)).map(|(i, _)| i).collect();
        let [qi] = qs[..] else { continue };
        let q = &graph.node[qi];
        if q.op_type != "QuantizeLinear" || users.get(out) != Some(&1) || graph_outputs.contains(out) || q.input.len() < 3 {
            continue;
        }
        let mut inputs = vec![x.input[0].clone(), x.input[1].clone(), x.input.get(2).cloned().unwrap_or_default()];
        inputs.extend([w.input[0].clone(), w.input[1].clone(), w.input.get(2).cloned().unwrap_or_default()]);
        inputs.extend([q.input[1].clone(), q.input[2].clone()]);
        if inputs.iter().any(String::is_empty) {
            continue;
        }
        if let Some(bias) = conv.input.get(2).filter(|b| !b.is_empty()) {
            // QLinearConv's bias is int32 at scale x_scale · w_scale: the quantizer writes it so.
            let Some(b) = dequantize_of(bias) else { continue };
            let (Some(sb), Some(sx), Some(sw)) = (scalar(b.input.get(1)), scalar(x.input.get(1)), scalar(w.input.get(1))) else { continue };
            let matches = sb.len() == sw.len() && sx.len() == 1 && sb.iter().zip(&sw).all(|(b, w)| (b - sx[0] * w).abs() <= 1e-6 * b.abs().max(1e-30));
            let zero = b.input.get(2).filter(|z| !z.is_empty()).map(|z| scalar(Some(z)).is_some_and(|v| v.iter().all(|&v| v == 0.0))).unwrap_or(true);
            if !matches || !zero || consts.get(b.input[0].as_str()).map(|t| t.data_type) != Some(INT32) {
                continue;
            }
            inputs.push(b.input[0].clone());
        }
        let node = NodeProto {
            op_type: "QLinearConv".into(),
            name: format!("{}_qlinear", conv.name),
            input: inputs,
            output: vec![q.output[0].clone()],
            attribute: conv.attribute.clone(),
            ..Default::default()
        };
        rewrites.push((ci, qi, node));
    }
    let count = rewrites.len();
    let mut replace: HashMap<usize, NodeProto> = HashMap::new();
    let mut remove: HashSet<usize> = HashSet::new();
    for (ci, qi, node) in rewrites {
        replace.insert(ci, node);
        remove.insert(qi);
    }
    let nodes = std::mem::take(&mut graph.node);
    graph.node = nodes.into_iter().enumerate().filter(|(i, _)| !remove.contains(i)).map(|(i, n)| replace.remove(&i).unwrap_or(n)).collect();
    // Dequantizations nobody reads any more (the rewritten convolutions' inputs) go too.
    loop {
        let read: HashSet<&str> =
            graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).chain(graph.output.iter().map(|o| o.name.as_str())).collect();
        let unread: HashSet<usize> =
            graph.node.iter().enumerate().filter(|(_, n)| n.op_type == "DequantizeLinear" && !read.contains(n.output[0].as_str())).map(|(i, _)| i).collect();
        if unread.is_empty() {
            break;
        }
        let nodes = std::mem::take(&mut graph.node);
        graph.node = nodes.into_iter().enumerate().filter(|(i, _)| !unread.contains(i)).map(|(_, n)| n).collect();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::AttributeProto;

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto { op_type: op.into(), input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], ..Default::default() }
    }

    fn tensor(name: &str, data_type: i32, dims: &[i64], raw: Vec<u8>) -> TensorProto {
        TensorProto { name: name.into(), data_type, dims: dims.to_vec(), raw_data: raw, ..Default::default() }
    }

    fn f32s(t: &TensorProto) -> Vec<f32> {
        values(t).unwrap().into_iter().map(|v| v as f32).collect()
    }

    fn attr_i(name: &str, i: i64) -> AttributeProto {
        AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
    }

    /// x_q → DQ → Conv(DQ(W), DQ(B)) → Q → DQ → out, with `bias_scale` for B.
    fn qdq_conv(bias_scale: f32) -> GraphProto {
        let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut conv = node("Conv", &["x_dq", "w_dq", "b_dq"], "y");
        conv.attribute = vec![attr_i("group", 1)];
        GraphProto {
            node: vec![
                node("QuantizeLinear", &["x", "xs", "xz"], "x_q"),
                node("DequantizeLinear", &["x_q", "xs", "xz"], "x_dq"),
                node("DequantizeLinear", &["w", "ws", "wz"], "w_dq"),
                node("DequantizeLinear", &["b", "bs", "bz"], "b_dq"),
                conv,
                node("QuantizeLinear", &["y", "ys", "yz"], "y_q"),
                node("DequantizeLinear", &["y_q", "ys", "yz"], "out"),
            ],
            initializer: vec![
                tensor("xs", FLOAT, &[], f(&[0.5])),
                tensor("xz", UINT8, &[], vec![128]),
                tensor("w", INT8, &[2, 3, 1, 1], vec![1, 2, 3, 4, 5, 6]),
                tensor("ws", FLOAT, &[2], f(&[0.1, 0.2])),
                tensor("wz", INT8, &[2], vec![0, 0]),
                tensor("b", INT32, &[2], [7i32, -7].iter().flat_map(|v| v.to_le_bytes()).collect()),
                tensor("bs", FLOAT, &[2], f(&[bias_scale, 0.1])),
                tensor("bz", INT32, &[2], vec![0; 8]),
                tensor("ys", FLOAT, &[], f(&[0.25])),
                tensor("yz", UINT8, &[], vec![128]),
            ],
            output: vec![tract_onnx::pb::ValueInfoProto { name: "out".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn a_qdq_convolution_becomes_one_qlinear_conv() {
        let mut g = qdq_conv(0.05); // 0.5 · 0.1: the bias scale QLinearConv implies
        assert_eq!(qlinear_convs(&mut g, |k| k == ConvKind::Pointwise), 1);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]);
        assert_eq!(g.node[1].input, ["x_q", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"]);
        assert_eq!(g.node[1].output, ["y_q"]);
        // Another kind, or a bias at a scale QLinearConv cannot express: left as it was.
        assert_eq!(qlinear_convs(&mut qdq_conv(0.05), |k| k == ConvKind::Depthwise), 0);
        let mut odd = qdq_conv(0.07);
        assert_eq!(qlinear_convs(&mut odd, |_| true), 0);
        assert_eq!(odd.node.len(), 7);
    }

    #[test]
    fn per_channel_weights_fold_and_activation_pairs_go() {
        // w: int8 [2, 1, 1, 2], per-channel along axis 0: scales 0.5 and 2, zero points 0 and 1.
        let w = tensor("w", INT8, &[2, 1, 1, 2], vec![2u8, (-4i8) as u8, 3, 1]);
        let scale = tensor("s", FLOAT, &[2], [0.5f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect());
        let zero = tensor("z", INT8, &[2], vec![0, 1]);
        let act_scale = tensor("as", FLOAT, &[], 0.1f32.to_le_bytes().to_vec());
        let act_zero = tensor("az", INT8, &[], vec![0]);
        let mut dq_w = node("DequantizeLinear", &["w", "s", "z"], "w_f");
        dq_w.attribute.push(AttributeProto { name: "axis".into(), i: 0, ..Default::default() });
        let mut graph = GraphProto {
            node: vec![
                node("QuantizeLinear", &["x", "as", "az"], "x_q"),
                node("DequantizeLinear", &["x_q", "as", "az"], "x_dq"),
                dq_w,
                node("Conv", &["x_dq", "w_f"], "y"),
            ],
            initializer: vec![w, scale, zero, act_scale, act_zero],
            output: vec![tract_onnx::pb::ValueInfoProto { name: "y".into(), ..Default::default() }],
            ..Default::default()
        };
        let report = fold_qdq(&mut graph);
        assert_eq!(report, FoldReport { constants_folded: 1, pairs_dropped: 1 });
        assert_eq!(graph.node.len(), 1);
        assert_eq!(graph.node[0].input, vec!["x".to_string(), "w_f".to_string()]);
        assert_eq!(graph.initializer.len(), 1, "the int8 weights and unused scales are gone");
        assert_eq!(graph.initializer[0].dims, vec![2, 1, 1, 2]);
        assert_eq!(f32s(&graph.initializer[0]), vec![1.0, -2.0, 4.0, 0.0]);
    }

    #[test]
    fn a_quantize_read_by_other_ops_is_kept() {
        let mut graph = GraphProto {
            node: vec![node("QuantizeLinear", &["x", "s"], "q"), node("DequantizeLinear", &["q", "s"], "d"), node("Identity", &["q"], "y")],
            initializer: vec![tensor("s", FLOAT, &[], 1f32.to_le_bytes().to_vec())],
            output: vec![tract_onnx::pb::ValueInfoProto { name: "y".into(), ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(fold_qdq(&mut graph).pairs_dropped, 0);
        assert_eq!(graph.node.len(), 3);
    }
}
