//! The shipped model, loaded and run by tract exactly as `hued colorize` does with no flags.

use crate::common;

use assert_cmd::Command;
use hued::model::{resolve_manifest, Model};
use std::path::Path;

#[test]
fn the_shipped_model_loads_runs_and_gives_plausible_colors() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let model = Model::load(&manifest).expect("shipped model loads (its sha256 matches its manifest)");
    assert!(model.has_hints(), "the shipped model takes color hints");
    assert!(std::fs::metadata(manifest.with_extension("onnx")).unwrap().len() <= 8_000_000, "model size <= 8 MB");
    // A plain gradient: the model must answer in range at several input sizes (one plan each).
    for (w, h) in [(256u32, 192u32), (192, 256), (256, 256)] {
        let l: Vec<f32> = (0..w * h).map(|i| 20.0 + 60.0 * ((i % w) as f32 / w as f32)).collect();
        let ab = model.run(&l, None, w, h).unwrap();
        assert_eq!((ab.width, ab.height), (w as usize / 4, h as usize / 4));
        assert!(ab.a.iter().chain(&ab.b).all(|v| v.is_finite() && v.abs() < 128.0));
    }
}

#[test]
fn colorize_uses_the_shipped_model_by_default() {
    // The default is the shipped model: this tree's, or an installed copy (/usr/share/hued).
    let default = std::fs::read_to_string(resolve_manifest(None).unwrap()).unwrap();
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml")).unwrap();
    assert_eq!(default, shipped);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("landscape.png");
    match common::shared_data() {
        Some(data) => {
            image::open(data.join("historical/1890CliffHouseSF.jpg")).unwrap().save(&input).unwrap();
        }
        None => common::gray_photo(320, 240).save(&input).unwrap(),
    }
    Command::cargo_bin("hued").unwrap().arg("colorize").arg(&input).assert().success();
    let out = dir.path().join("landscape.colorized.png");
    let img = image::open(&out).unwrap();
    assert!(common::has_color(&img));
    let prov = hued::pipeline::metadata::read_provenance(&out).unwrap();
    assert_eq!(prov.model_name, "hued-color-v4-int8");
}

#[test]
fn a_hint_colors_its_spot_and_a_sidecar_does_the_same() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cliff.jpg");
    std::fs::copy(data.join("historical/1890CliffHouseSF.jpg"), &input).unwrap();
    let out = dir.path().join("cliff.colorized.jpg");
    let run = |hint: Option<&str>| {
        let mut c = Command::cargo_bin("hued").unwrap();
        c.arg("colorize").arg("--force").arg(&input);
        if let Some(h) = hint {
            c.arg("--hint").arg(h);
        }
        c.assert().success();
        image::open(&out).unwrap().to_rgb8()
    };
    // A mid-gray rock under the Cliff House (580, 280) and a crimson hint on it.
    let plain = common::window_mean(&run(None), 580, 280);
    let hinted = common::window_mean(&run(Some("580,280,#dc143c")), 580, 280);
    assert!(common::redness(hinted) - common::redness(plain) > 30.0, "the hint should redden its spot: {plain:?} -> {hinted:?}");
    // The same hint from a sidecar gives the same picture.
    std::fs::write(dir.path().join("cliff.jpg.hints.toml"), "[[hint]]\nx = 580\ny = 280\ncolor = \"#dc143c\"\n").unwrap();
    let from_sidecar = common::window_mean(&run(None), 580, 280);
    assert_eq!(from_sidecar, hinted);
}

/// The model-load transform (weights folded to f32, activation Quantize/Dequantize dropped)
/// against the file's graph run as it is, on a real photo: the colors may move by less than
/// the int8 rounding of the activations (stated tolerance: mean |Δab| ≤ 1.0, 99th percentile
/// ≤ 4.0 Lab units; measured 0.50 / 2.12, max 3.07, on this photo).
#[test]
fn the_folded_graph_matches_the_qdq_graph_on_a_real_photo() {
    use hued::model::Precision;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg");
    let luma = hued::pipeline::prepare::lightness(&image::open(&sample).unwrap());
    let run = |precision| {
        let model = Model::load_with(&manifest, precision).unwrap();
        assert_eq!(model.precision, precision);
        hued::pipeline::infer::infer(&model, &luma, 0, &[]).unwrap()
    };
    let (qdq, folded) = (run(Precision::Qdq), run(Precision::F32));
    assert_eq!((qdq.width, qdq.height), (folded.width, folded.height));
    let mut diffs: Vec<f32> = qdq.a.iter().chain(&qdq.b).zip(folded.a.iter().chain(&folded.b)).map(|(x, y)| (x - y).abs()).collect();
    diffs.sort_by(f32::total_cmp);
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let p99 = diffs[diffs.len() * 99 / 100];
    let spread = qdq.a.iter().chain(&qdq.b).map(|v| v.abs()).sum::<f32>() / diffs.len() as f32;
    eprintln!("folded vs QDQ: mean |Δab| {mean:.3}, p99 {p99:.3}, max {:.3} (mean |ab| {spread:.2})", diffs.last().unwrap());
    assert!(spread > 2.0, "the photo should get some color ({spread})");
    assert!(mean <= 1.0 && p99 <= 4.0, "the folded graph drifts from the QDQ graph: mean {mean}, p99 {p99}");
}

/// The native int8 variant `hued bench --infer` measures (convolutions as QLinearConv, the rest
/// folded) is the same network, so that its timing is a fair comparison: on a real photo it
/// stays within int8 rounding of the QDQ graph (measured: mean |Δab| 1.05, p99 3.66, max 5.1 —
/// tract requantizes each convolution's output in fixed point, which the f32 graph does not;
/// tolerance mean ≤ 1.5, p99 ≤ 5). It is measured, not shipped: slower on every CPU measured
/// so far (README, "Performance").
#[test]
fn the_int8_convolution_variant_matches_the_qdq_graph_on_a_real_photo() {
    use hued::model::{ConvKind, Precision};
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg");
    let luma = hued::pipeline::prepare::lightness(&image::open(&sample).unwrap());
    let qdq = hued::pipeline::infer::infer(&Model::load_with(&manifest, Precision::Qdq).unwrap(), &luma, 0, &[]).unwrap();
    let int8 = Model::load_with_int8_convs(&manifest, &[ConvKind::Pointwise, ConvKind::Depthwise, ConvKind::Full]).unwrap();
    let int8 = hued::pipeline::infer::infer(&int8, &luma, 0, &[]).unwrap();
    let mut diffs: Vec<f32> = qdq.a.iter().chain(&qdq.b).zip(int8.a.iter().chain(&int8.b)).map(|(x, y)| (x - y).abs()).collect();
    diffs.sort_by(f32::total_cmp);
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let p99 = diffs[diffs.len() * 99 / 100];
    eprintln!("int8 convolutions vs QDQ: mean |Δab| {mean:.3}, p99 {p99:.3}, max {:.3}", diffs.last().unwrap());
    assert!(mean <= 1.5 && p99 <= 5.0, "the int8 convolution variant drifts from the QDQ graph: mean {mean}, p99 {p99}");
}

/// Without hints, hued runs a plan in which tract has computed the hint branches once, for
/// zero hints, at planning. That plan must leave them out, and give the colors of the full
/// graph fed hint planes of zeros (within float summation order: 0.01 ab units).
#[test]
fn without_hints_the_hint_branches_are_left_out_and_the_colors_are_the_same() {
    use hued::model::Precision;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg");
    let luma = hued::pipeline::prepare::lightness(&image::open(&sample).unwrap());
    // f32 (x86's), and the QDQ graph, in which the zeros go through a Quantize first.
    for precision in [Precision::F32, Precision::Qdq] {
        let model = Model::load_with(&manifest, precision).unwrap();
        let (w, h) = model.manifest.input_size(luma.width as u32, luma.height as u32, 0);
        let small = hued::pipeline::infer::shrink_plane(&luma.l, luma.width, luma.height, w as usize, h as usize);
        // Computed: any node of a hint branch but the constant that stands for its result.
        let hint_nodes =
            |with_hints| model.plan_nodes(w, h, with_hints).unwrap().into_iter().filter(|(name, op)| name.contains("/hint") && op != "Const").count();
        assert!(hint_nodes(true) > 0, "{precision}: the plan with hints runs the hint branches");
        assert_eq!(hint_nodes(false), 0, "{precision}: the plan without hints leaves them out: {:?}", model.plan_nodes(w, h, false));
        let zeros = vec![0f32; 3 * (w * h) as usize];
        let (full, folded) = (model.run(&small, Some(&zeros), w, h).unwrap(), model.run(&small, None, w, h).unwrap());
        let max = full.a.iter().chain(&full.b).zip(folded.a.iter().chain(&folded.b)).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        eprintln!("{precision}: no-hint plan vs zero hints: max |Δab| {max}");
        assert!(max <= 0.01, "{precision}: the plan without hints changes the colors: max |Δab| {max}");
    }
}

/// Each plan holds its own copy of the weights outside the jobs' memory budget: a kiosk fed
/// photos of every shape, with and without hints, keeps at most `MAX_PLANS` of them, and a
/// shape whose plan went is planned again.
#[test]
fn plans_for_many_shapes_stay_bounded() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let model = Model::load(&manifest).unwrap();
    let shapes: Vec<(u32, u32)> = (2..=6).map(|n| (64, 32 * n)).collect();
    let rss = || common::rss_mib(std::process::id());
    let before = rss();
    for with_hints in [false, true] {
        for &(w, h) in &shapes {
            let l = vec![50f32; (w * h) as usize];
            let zeros = vec![0f32; 3 * (w * h) as usize];
            model.run(&l, with_hints.then_some(&zeros[..]), w, h).unwrap();
            assert!(model.cached_plans() <= hued::model::MAX_PLANS, "{} plans kept", model.cached_plans());
        }
    }
    eprintln!("{} shapes x with/without hints: {} plans kept, RSS {before:.0} -> {:.0} MiB", shapes.len(), model.cached_plans(), rss());
    assert_eq!(model.cached_plans(), hued::model::MAX_PLANS);
    // A size the model cannot take fails, and its failed build takes no kept plan's place.
    let err = model.run(&vec![50f32; 33 * 64], None, 33, 64).unwrap_err();
    assert!(err.to_string().contains("model input 33x64 is not in multiples of 32"), "{err:#}");
    assert_eq!(model.cached_plans(), hued::model::MAX_PLANS, "a failed build pushed out a kept plan");
    let (w, h) = shapes[0];
    let ab = model.run(&vec![50f32; (w * h) as usize], None, w, h).unwrap();
    assert_eq!((ab.width, ab.height), (w as usize / 4, h as usize / 4), "an evicted shape is planned again");
}
