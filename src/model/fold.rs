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
//! The output moves by less than the int8 rounding itself (tests/shipped_model.rs bounds it on
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
    let q = values(x)?;
    let dims: Vec<usize> = x.dims.iter().map(|&d| d as usize).collect();
    if dims.iter().product::<usize>() != q.len() || zero.len() != scale.len() {
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
        (1, q.len())
    };
    let mut raw = Vec::with_capacity(q.len() * 4);
    for (i, &v) in q.iter().enumerate() {
        let c = (i / inner) % channels;
        raw.extend_from_slice(&(((v - zero[c]) * scale[c]) as f32).to_le_bytes());
    }
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
