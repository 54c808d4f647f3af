//! Where the shipped model's inference time goes, node by node, under tract: the figures
//! behind README's "Performance" notes on inference.
//!
//!     cargo run --release --example profile_nodes -- [VARIANT] [THREADS] [RUNS] [ROWS]
//!
//! VARIANT: f32 (the fold hued runs; default), qdq (the file as it is), or i8pw / i8dw /
//! i8full / i8all (those convolutions on tract's int8 path). Input 256x192, as `hued bench
//! --infer`. Prints the median, per-op totals and the ROWS (default 25) slowest nodes. The
//! environment variables ELEM_T and PANEL_T set tract's threading thresholds (elements,
//! matrix panels) to try other values; NOHINTS=1 profiles the plan hued runs for a photo
//! without hints (the hint input a constant of zeros, its branches computed at planning).
use std::collections::HashMap;
use std::time::Instant;
use tract_core::plan::SimpleState;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let variant = args.get(1).map(String::as_str).unwrap_or("f32");
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(1);
    let runs: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(10);
    hued::model::set_threads(threads);
    if let Ok(v) = std::env::var("ELEM_T") {
        tract_linalg::multithread::set_threading_element_threshold(v.parse()?);
    }
    if let Ok(v) = std::env::var("PANEL_T") {
        tract_linalg::multithread::set_threading_panel_threshold(v.parse()?);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.onnx");
    let bytes = std::fs::read(&path)?;
    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
    let mut proto = onnx.proto_model_for_read(&mut bytes.as_slice())?;
    let g = proto.graph.as_mut().unwrap();
    let kinds: &[hued::model::ConvKind] = hued::model::ConvKind::VARIANTS.iter().find(|(name, _)| *name == variant).map_or(&[], |(_, kinds)| kinds);
    if variant != "qdq" {
        if !kinds.is_empty() {
            eprintln!("qlinear: {}", hued::model::qlinear_convs(g, |k| kinds.contains(&k)));
        }
        hued::model::fold_qdq(g);
    }
    let mut model = onnx.model_for_proto_model(&proto)?;
    let (h, w) = (192usize, 256usize);
    model.set_input_fact(0, f32::fact([1, 1, h, w]).into())?;
    model.set_input_fact(1, f32::fact([1, 3, h, w]).into())?;
    let mut typed = model.into_typed()?;
    let nohints = std::env::var("NOHINTS").is_ok();
    if nohints {
        typed = hued::model::hint_inputs_as_zeros(typed, &[false, true])?;
    }
    let t0 = Instant::now();
    let plan = typed.into_optimized()?.into_runnable()?;
    eprintln!("plan {:.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    let l = Tensor::from(tract_ndarray::Array4::<f32>::from_shape_fn((1, 1, h, w), |(_, _, y, x)| ((x * 7 + y * 3) % 100) as f32 / 100.0));
    let hints = Tensor::zero::<f32>(&[1, 3, h, w])?;
    let mut per_node: HashMap<usize, f64> = HashMap::new();
    let mut total = 0.0;
    let mut totals: Vec<f64> = Vec::new();
    for run in 0..runs + 2 {
        let mut state = SimpleState::new(&plan)?;
        let start = Instant::now();
        let mut times: Vec<(usize, f64)> = Vec::new();
        let inputs = if nohints { tvec!(l.clone().into()) } else { tvec!(l.clone().into(), hints.clone().into()) };
        state.run_plan_with_eval(inputs, |ctx, st, node, input| {
            let t = Instant::now();
            let r = tract_core::plan::eval(ctx, st, node, input);
            times.push((node.id, t.elapsed().as_secs_f64() * 1e3));
            r
        })?;
        if run >= 2 {
            total += start.elapsed().as_secs_f64() * 1e3;
            totals.push(start.elapsed().as_secs_f64() * 1e3);
            for (id, t) in times {
                *per_node.entry(id).or_default() += t;
            }
        }
    }
    let m = plan.model();
    let mut by_op: HashMap<String, (f64, usize)> = HashMap::new();
    let mut rows: Vec<(f64, String)> = Vec::new();
    for (id, t) in &per_node {
        let node = m.node(*id);
        let op = node.op().name().to_string();
        let e = by_op.entry(op.clone()).or_default();
        e.0 += t / runs as f64;
        e.1 += 1;
        let shape = m.outlet_fact(OutletId::new(*id, 0)).map(|f| format!("{:?}", f.shape)).unwrap_or_default();
        rows.push((t / runs as f64, format!("{:<28} {:<40} {}", op, node.name, shape)));
    }
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    totals.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{variant} threads={threads}: mean {:.2} median {:.2} min {:.2} ms/run", total / runs as f64, totals[totals.len() / 2], totals[0]);
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.partial_cmp(&a.1 .0).unwrap());
    for (op, (t, n)) in ops {
        println!("  {op:<30} {t:7.2} ms  x{n}");
    }
    for (t, r) in rows.iter().take(args.get(4).map(|s| s.parse().unwrap()).unwrap_or(25)) {
        println!("{t:7.3}  {r}");
    }
    Ok(())
}
