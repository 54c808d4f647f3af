//! `hued bench`: per-stage wall times and peak memory on a 1 MP and a 12 MP JPEG (each also
//! with color hints) and a 50 MP 16-bit TIFF, generated from a historical photo (or a synthetic pattern) so that every
//! machine measures the same thing. Each case runs in a child process so its peak RSS is its own.

use crate::base::Exit;
use crate::base::OutputTarget;
use crate::config::{ColorizeOverrides, Config};
use crate::job::{Job, Loaded, Profile, Settings};
use crate::model::{resolve_manifest, Model};
use crate::pipeline::{self, Outcome, Steps};
use clap::Args;
use image::{DynamicImage, ImageBuffer, Rgb};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Options of `hued bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Folder for the generated inputs and outputs (default: a temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Runs per case; the median is reported (default: 3).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Model manifest (default: the shipped model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Only the named case (1mp-jpeg, 1mp-jpeg+hints, 1mp-jpeg+reference, 12mp-jpeg,
    /// 12mp-jpeg+hints, 12mp-jpeg+reference, 50mp-tiff16);
    /// used for the child processes.
    #[arg(long)]
    case: Option<String>,
    /// With --case: print the table's header (its stage columns) first.
    #[arg(long, hide = true)]
    header: bool,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Only the model: load and first-plan times, then inference at 1 and 2 threads in each
    /// precision, on the sample photo at 256x192 (bench/infer.py adds onnxruntime beside it).
    #[arg(long)]
    infer: bool,
    /// With --infer: also write the model's input L plane there (f32 little-endian, 1x1x192x256,
    /// already scaled as the model takes it), for onnxruntime.
    #[arg(long, value_name = "FILE")]
    save_input: Option<PathBuf>,
    /// With --infer: only these rows, by name, comma-separated (e.g. f32,f32+h; default: all).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    only: Vec<String>,
}

/// `hued bench --infer`: the model alone, each precision, 1 and 2 threads.
fn run_infer(a: &BenchArgs) -> anyhow::Result<()> {
    use crate::model::Precision;
    let manifest = resolve_manifest(a.model.as_deref())?;
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg");
    let photo = image::open(&sample)
        .map(|i| i.resize_exact(256, 192, image::imageops::FilterType::Triangle))
        .unwrap_or_else(|_| source_photo().resize_exact(256, 192, image::imageops::FilterType::Triangle));
    let luma = crate::pipeline::prepare::lightness(&photo);
    let (w, h) = (256u32, 192u32);
    let mut precisions = vec![Precision::Qdq, Precision::F32];
    if crate::model::cpu_has_f16() {
        precisions.push(Precision::F16);
    }
    let runs = a.runs.max(5);
    println!("hued {} bench --infer: {}, input 256x192, median of {runs} runs, times in ms", crate::VERSION, manifest.display());
    println!("{:<6} {:>7} {:>10} {:>10} {:>10}", "graph", "load", "firstplan", "1 thread", "2 threads");
    // Besides each precision, the f32 graph with one kind of convolution on tract's native int8
    // path (QLinearConv), so that a CPU's own figures decide whether that path is worth having.
    // Rows run without hints (hued's common case: a plan without the hint branches), and the
    // f32 graph once more with hint planes given ("f32+h": the whole graph, as for a hinted upload).
    let mut variants: Vec<(String, Precision, &[crate::model::ConvKind], bool)> = precisions.into_iter().map(|p| (p.to_string(), p, &[][..], false)).collect();
    let after_f32 = variants.iter().position(|v| v.1 == Precision::F32).map_or(variants.len(), |i| i + 1);
    variants.insert(after_f32, ("f32+h".to_string(), Precision::F32, &[], true));
    for (name, kinds) in crate::model::ConvKind::VARIANTS {
        variants.push((name.to_string(), Precision::F32, kinds, false));
    }
    if !a.only.is_empty() {
        variants.retain(|v| a.only.contains(&v.0));
        anyhow::ensure!(!variants.is_empty(), "--only {}: no such rows", a.only.join(","));
    }
    for (i, (name, precision, int8_convs, with_hints)) in variants.into_iter().enumerate() {
        let t = std::time::Instant::now();
        let model = if int8_convs.is_empty() { Model::load_with(&manifest, precision)? } else { Model::load_with_int8_convs(&manifest, int8_convs)? };
        let load = t.elapsed();
        // The input is the same for every precision: written once.
        if let Some(path) = a.save_input.as_ref().filter(|_| i == 0) {
            let spec = &model.manifest.input;
            let scaled: Vec<f32> = luma.l.iter().map(|&v| v * spec.l_scale + spec.l_offset).collect();
            std::fs::write(path, bytemuck::cast_slice::<f32, u8>(&scaled))?;
        }
        let zero_hints = vec![0f32; 3 * (w * h) as usize];
        let hints = with_hints.then_some(&zero_hints[..]);
        let t = std::time::Instant::now();
        model.run(&luma.l, hints, w, h)?;
        let first = t.elapsed();
        let mut per_threads = Vec::new();
        for threads in [1, 2] {
            crate::model::set_threads(threads);
            let mut times: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = std::time::Instant::now();
                    model.run(&luma.l, hints, w, h).map(|_| t.elapsed().as_secs_f64() * 1000.0)
                })
                .collect::<anyhow::Result<_>>()?;
            times.sort_by(f64::total_cmp);
            per_threads.push(times[times.len() / 2]);
        }
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        println!("{:<6} {:>7.0} {:>10.0} {:>10.1} {:>10.1}", name, ms(load), ms(first), per_threads[0], per_threads[1]);
    }
    Ok(())
}

/// Name, width, height. A `+hints` case colorizes the same photo as the case without it, with
/// [`bench_hints`]; a `+reference` case with a color reference photo of it
/// ([`make_reference`]): the difference between the rows is what the hints or the reference cost.
const CASES: &[(&str, u32, u32)] = &[
    ("1mp-jpeg", 1155, 866),
    ("1mp-jpeg+hints", 1155, 866),
    ("1mp-jpeg+reference", 1155, 866),
    ("12mp-jpeg", 4000, 3000),
    ("12mp-jpeg+hints", 4000, 3000),
    ("12mp-jpeg+reference", 4000, 3000),
    ("50mp-tiff16", 8660, 5774),
];

/// A color reference of the bench photo, as an archive's postcard of the same place would be:
/// 70 % of it, offset, at 1600 px, its tones given colors (blue above, warm below) and brighter.
fn make_reference(dir: &Path, w: u32, h: u32) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("reference-{w}x{h}.jpg"));
    if path.exists() {
        return Ok(path);
    }
    let src = source_photo().resize_exact(w, h, image::imageops::FilterType::Triangle).to_luma8();
    let (cw, ch) = (w * 7 / 10, h * 7 / 10);
    let crop = image::imageops::crop_imm(&src, w / 5, h / 10, cw, ch).to_image();
    let small = image::imageops::resize(&crop, 1600, 1600 * ch / cw, image::imageops::FilterType::Triangle);
    let (sw, sh) = small.dimensions();
    let colored = image::RgbImage::from_fn(sw, sh, |x, y| {
        let v = small.get_pixel(x, y).0[0] as f32 * 0.9 + 20.0;
        let t = y as f32 / sh as f32;
        Rgb([(v * (0.7 + 0.5 * t)).min(255.0) as u8, (v * 0.9).min(255.0) as u8, (v * (1.2 - 0.5 * t)).min(255.0) as u8])
    });
    colored.save(&path)?;
    Ok(path)
}

/// The hints of a `+hints` case, as a person at the kiosk gives them to the Cliff House photo:
/// blue in the sky, sand on the beach, a stroke along the surf, a dark coat.
fn bench_hints(w: u32, h: u32) -> Vec<crate::hints::Hint> {
    let at = |fx: f64, fy: f64| [(fx * w as f64) as u32, (fy * h as f64) as u32];
    let point = |fx, fy, rgb| crate::hints::Hint { points: vec![at(fx, fy)], rgb };
    vec![
        point(0.2, 0.15, [110, 150, 200]),
        point(0.5, 0.1, [110, 150, 200]),
        point(0.7, 0.85, [200, 180, 140]),
        point(0.35, 0.7, [40, 40, 60]),
        crate::hints::Hint { points: vec![at(0.05, 0.6), at(0.3, 0.62), at(0.6, 0.63), at(0.9, 0.6)], rgb: [60, 110, 130] },
    ]
}

fn source_photo() -> DynamicImage {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/historical");
    if let Ok(img) = image::open(dir.join("1890CliffHouseSF.jpg")) {
        return img;
    }
    eprintln!("note: ../shared/data/historical not found; benchmarking a synthetic pattern");
    DynamicImage::ImageLuma8(image::GrayImage::from_fn(800, 600, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8 ^ ((x / 40 + y / 40) % 2 * 60) as u8])))
}

fn make_input(dir: &Path, name: &str, w: u32, h: u32) -> anyhow::Result<PathBuf> {
    let path = dir.join(if name.ends_with("tiff16") { format!("{name}.tif") } else { format!("{name}.jpg") });
    if path.exists() {
        return Ok(path);
    }
    let src = source_photo().resize_exact(w, h, image::imageops::FilterType::Triangle);
    if name.ends_with("tiff16") {
        // A 16-bit RGB scan of a sepia print: the common archive master.
        let rgb = src.to_rgb16();
        let sepia: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(w, h, |x, y| {
            let v = rgb.get_pixel(x, y).0[1] as f32;
            Rgb([v as u16, (v * 0.88) as u16, (v * 0.7) as u16])
        });
        sepia.save(&path)?;
    } else {
        src.to_luma8().save(&path)?;
    }
    Ok(path)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn run_case(a: &BenchArgs, dir: &Path, name: &str) -> anyhow::Result<()> {
    let &(_, w, h) = CASES.iter().find(|c| c.0 == name).ok_or_else(|| anyhow::anyhow!("unknown case {name}"))?;
    let input = make_input(dir, name.trim_end_matches("+hints").trim_end_matches("+reference"), w, h)?;
    // A `+reference` case colorizes the same photo with a color reference of it.
    let reference = name.ends_with("+reference").then(|| make_reference(dir, w, h)).transpose()?;
    // The same resolver as `hued colorize`, on the built-in defaults and these flags.
    let flags = ColorizeOverrides {
        model: a.model.clone().map(Some),
        skip_color: Some(false),
        threads: Some(a.threads),
        reference: reference.map(Some),
        ..Default::default()
    };
    let profile = Profile::resolve(&Config::default(), None, &flags, &mut Loaded::default())?;
    crate::model::set_threads(a.threads);
    // Every run colorizes, though the last one's copy is up to date.
    let settings = Settings { force: true, ..profile.settings.clone() };
    let mut job = Job::new(input.clone(), &OutputTarget::Beside, Arc::new(profile.with_settings(settings)));
    if name.ends_with("+hints") {
        job.hints = bench_hints(w, h);
    }
    let mut runs: Vec<Steps> = Vec::new();
    for _ in 0..a.runs.max(1) {
        match pipeline::colorize(&job)? {
            Outcome::Done(written) => runs.push(written.steps),
            Outcome::Skipped(r) => anyhow::bail!("skipped: {r}"),
        }
    }
    runs.sort_by_key(|t| t.total());
    let t = &runs[runs.len() / 2];
    let decoded_mib = w as f64 * h as f64 * if name.ends_with("tiff16") { 6.0 } else { 1.0 } / (1 << 20) as f64;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    // Each row names the pipeline's own steps (a case with a reference has one more): a new
    // stage shows up by itself.
    if a.header {
        println!("{:<20} {:>6} {:>8}  {:<64} {:>10} {:>10}", "case", "MP", "total ms", "steps (ms)", "decodedMiB", "peakRSSMiB");
    }
    let each: Vec<String> = t.0.iter().map(|s| format!("{} {:.0}", s.name, ms(s.time))).collect();
    println!("{:<20} {:>6.1} {:>8.0}  {:<64} {:>10.0} {:>10.0}", name, w as f64 * h as f64 / 1e6, ms(t.total()), each.join(", "), decoded_mib, peak_rss_mib());
    Ok(())
}

/// Runs the benchmark; returns the exit code.
pub(crate) fn run(a: BenchArgs) -> Exit {
    let temp;
    let dir = match &a.dir {
        Some(d) => {
            let _ = std::fs::create_dir_all(d);
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("hued-bench").tempdir().expect("temp dir");
            temp.path().to_path_buf()
        }
    };
    if a.infer {
        return match run_infer(&a) {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!("error: {e:#}");
                Exit::Failed
            }
        };
    }
    if let Some(case) = &a.case {
        return match run_case(&a, &dir, case) {
            Ok(()) => Exit::Success,
            Err(e) => {
                eprintln!("error: {e:#}");
                Exit::Failed
            }
        };
    }
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    println!("hued {} bench: median of {} runs, {threads} threads, times in ms", crate::VERSION, a.runs);
    let exe = std::env::current_exe().expect("own path");
    let mut code = Exit::Success;
    for (i, (name, _, _)) in CASES.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        cmd.args(["bench", "--case", name, "--runs", &a.runs.to_string(), "--threads", &a.threads.to_string(), "--dir"]).arg(&dir);
        if i == 0 {
            cmd.arg("--header");
        }
        if let Some(m) = &a.model {
            cmd.arg("--model").arg(m);
        }
        let status = cmd.env("RUST_LOG", "warn").status();
        if !status.is_ok_and(|s| s.success()) {
            code = Exit::Failed;
        }
    }
    code
}
