//! Chooses the hint propagation's settings (`src/pipeline/propagate.rs`, `Params`) on the
//! validation photos, in one process: each photo is turned gray, given 0, 5 and 20 true-color
//! hints at seeded random points (each the truth's mean over 5x5 pixels: the protocol of
//! Zhang et al. 2017), run through hued's stages (the model once per hint count, then the
//! propagation with each candidate setting, then the recombination), and scored by PSNR
//! against the truth. The official measurement goes through the real binary:
//! `bench/hint_propagation.py`.
//!
//!     cargo run --release --example tune_propagation -- [VAL_DIR] [PHOTOS]
//!
//! Prints, per candidate: mean PSNR at 0/5/20 hints, the gains, and the worst photo's change.
use hued::hints::Hint;
use hued::pipeline::{infer, prepare, propagate, recombine};
use std::path::Path;

/// A small seeded generator (SplitMix64): the same points on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % n as u64) as u32
    }
}

/// `n` true-color hints: at random points, the mean color of the truth's 5x5 pixels there.
fn true_hints(truth: &image::RgbImage, rng: &mut Rng, n: usize) -> Vec<Hint> {
    let (w, h) = truth.dimensions();
    (0..n)
        .map(|_| {
            let (x, y) = (2 + rng.below(w - 4), 2 + rng.below(h - 4));
            let mut sum = [0u32; 3];
            for dy in 0..5 {
                for dx in 0..5 {
                    let p = truth.get_pixel(x + dx - 2, y + dy - 2).0;
                    (0..3).for_each(|c| sum[c] += p[c] as u32);
                }
            }
            Hint::point(x, y, sum.map(|s| ((s + 12) / 25) as u8))
        })
        .collect()
}

/// The gray photo as training/evaluate.py writes it: the truth's L as 8-bit gray.
fn gray_as_evaluate_writes_it(truth: &image::RgbImage) -> image::GrayImage {
    let luma = prepare::lightness(&image::DynamicImage::ImageRgb8(truth.clone()));
    image::GrayImage::from_fn(truth.width(), truth.height(), |x, y| {
        let l = luma.l[(y * truth.width() + x) as usize];
        let lin = if l > 8.0 { ((l + 16.0) / 116.0).powi(3) } else { l / 903.3 };
        let s = if lin <= 0.003_130_8 { 12.92 * lin } else { 1.055 * lin.powf(1.0 / 2.4) - 0.055 };
        image::Luma([(s * 255.0 + 0.5).clamp(0.0, 255.0) as u8])
    })
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let se: f64 = a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum();
    let mse = se / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let val = args.get(1).map(String::as_str).unwrap_or("../shared/data/val");
    let limit: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(usize::MAX);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(hued::model::DEFAULT_MANIFEST);
    let model = hued::model::Model::load(&manifest)?;
    let mut files: Vec<_> = std::fs::read_dir(val)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png" || e == "jpeg"))
        .collect();
    files.sort();
    files.truncate(limit);

    let base = propagate::Params::default();
    let mut candidates = vec![("shipped".to_string(), base)];
    // Candidates: HUED_TUNE="smooth,sigma,lambda,chroma[,grid side[,gate[,tolerance[,trust[,dark[,patch]]]]]];..." or the default sweep.
    let sweep = std::env::var("HUED_TUNE").unwrap_or_else(|_| "1,1.5,5e-5,0;1,1.5,1e-4,0;1,1.5,5e-5,0.5;1,1.5,5e-5,1;1,2.5,5e-5,1;2,2.5,5e-5,1".into());
    for c in sweep.split(';') {
        let v: Vec<f64> = c.split(',').map(str::parse).collect::<Result<_, _>>()?;
        let work_side = v.get(4).map_or(base.work_side, |&s| s as usize);
        let gate = v.get(5).map_or(base.gate, |&g| g as f32);
        let tolerance = v.get(6).map_or(base.tolerance, |&t| t as f32);
        let trust = v.get(7).map_or(base.trust, |&t| t as f32);
        let dark = v.get(8).map_or(base.dark, |&d| d as f32);
        let patch = v.get(9).map_or(base.patch, |&p| p as usize);
        let params = propagate::Params {
            smooth: v[0] as f32,
            sigma: v[1] as f32,
            lambda: v[2],
            chroma: v[3] as f32,
            work_side,
            gate,
            tolerance,
            trust,
            dark,
            patch,
            ..base
        };
        candidates.push((
            format!(
                "smooth {} sigma {} lambda {:e} chroma {} grid {work_side} gate {gate} tolerance {tolerance} trust {trust} dark {dark} patch {patch}",
                v[0], v[1], v[2], v[3]
            ),
            params,
        ));
    }
    // psnr[candidate][hint count] summed, and the worst per-photo change from no hints.
    // HUED_TUNE_PHOTO=FILE HUED_TUNE_HINTS="x,y,#rrggbb;...": only that photo with those hints,
    // colorized by each candidate into /tmp/tune-photo-N.png, to look at (a real hinted scan).
    if let Ok(photo) = std::env::var("HUED_TUNE_PHOTO") {
        let hints = std::env::var("HUED_TUNE_HINTS")?
            .split(';')
            .map(|h| {
                let v: Vec<&str> = h.split(',').collect();
                Ok(Hint::point(v[0].parse()?, v[1].parse()?, hued::hints::parse_color(v[2]).map_err(anyhow::Error::msg)?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let luma = prepare::lightness(&image::open(&photo)?);
        let plain = infer::infer(&model, &luma, 0, &[])?;
        let hinted = infer::infer(&model, &luma, 0, &hints)?;
        for (c, (name, params)) in candidates.iter().enumerate() {
            let spread = propagate::propagate(&luma, hinted.clone(), &plain, &hints, params);
            let recombine::Colorized::Rgb8(img) = recombine::recombine(&luma, &spread, 1.0, false) else { unreachable!() };
            img.save(format!("/tmp/tune-photo-{c}.png"))?;
            println!("/tmp/tune-photo-{c}.png: {name}");
        }
        return Ok(());
    }
    let counts = [5usize, 20];
    let mut sums = vec![[0f64; 2]; candidates.len()];
    let mut worst = vec![[f64::MAX; 2]; candidates.len()];
    let mut worse = vec![[0usize; 2]; candidates.len()];
    let mut worst_name = vec![[String::new(), String::new()]; candidates.len()];
    let mut no_hints = 0f64;
    let mut model_only = [0f64; 2];
    // HUED_TUNE_ONLY=A,B: only the photos named (each keeps the hints it gets in a full run).
    let only = std::env::var("HUED_TUNE_ONLY").ok();
    // HUED_TUNE_SIDECARS=DIR: the gray photos and hints `bench/hint_propagation.py --out DIR`
    // wrote (DIR/in0/NAME.png, DIR/in{5,20}/NAME.png.hints.toml): the official protocol's
    // hint sets, scored in-process.
    let sidecars = std::env::var("HUED_TUNE_SIDECARS").ok().map(std::path::PathBuf::from);
    // HUED_TUNE_DUMP=NAME: the photo NAME as colorized by each candidate, and its hints.
    let dump = std::env::var("HUED_TUNE_DUMP").ok();
    // HUED_TUNE_BLAME=1: for a photo the last candidate makes worse, what each hint does.
    let blame = std::env::var("HUED_TUNE_BLAME").is_ok();
    let mut scored = 0usize;
    for (i, f) in files.iter().enumerate() {
        if only.as_ref().is_some_and(|only| !only.split(',').any(|o| f.ends_with(o))) {
            continue;
        }
        scored += 1;
        let truth = image::open(f)?.to_rgb8();
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        let gray_img = match &sidecars {
            Some(dir) => image::open(dir.join("in0").join(format!("{stem}.png")))?,
            None => image::DynamicImage::ImageLuma8(gray_as_evaluate_writes_it(&truth)),
        };
        let luma = prepare::lightness(&gray_img);
        let score = |ab: &hued::model::AbLow| {
            let recombine::Colorized::Rgb8(img) = recombine::recombine(&luma, ab, 1.0, false) else { unreachable!() };
            psnr(&img, &truth)
        };
        let plain_ab = infer::infer(&model, &luma, 0, &[])?;
        let plain = score(&plain_ab);
        no_hints += plain;
        let mut rng = Rng(i as u64 + 1);
        let twenty = true_hints(&truth, &mut rng, 20);
        for (k, &n) in counts.iter().enumerate() {
            let read;
            let hints = match &sidecars {
                Some(dir) => {
                    let side = dir.join(format!("in{n}")).join(format!("{stem}.png.hints.toml"));
                    read = hued::hints::parse_sidecar(&std::fs::read_to_string(&side)?).map_err(anyhow::Error::msg)?;
                    &read[..]
                }
                None => &twenty[..n],
            };
            let ab = infer::infer(&model, &luma, 0, hints)?;
            model_only[k] += score(&ab);
            for (c, (_, params)) in candidates.iter().enumerate() {
                let spread = propagate::propagate(&luma, ab.clone(), &plain_ab, hints, params);
                let p = score(&spread);
                if dump.as_ref().is_some_and(|d| f.ends_with(d)) {
                    let recombine::Colorized::Rgb8(img) = recombine::recombine(&luma, &spread, 1.0, false) else { unreachable!() };
                    img.save(format!("/tmp/dump-{n}-{c}.png"))?;
                    let recombine::Colorized::Rgb8(img) = recombine::recombine(&luma, &plain_ab, 1.0, false) else { unreachable!() };
                    img.save("/tmp/dump-plain.png")?;
                    eprintln!("{n} hints: {:?}", hints.iter().map(|h| (h.points[0], h.rgb)).collect::<Vec<_>>());
                }
                // The photo's PSNR change with each hint left out (model and propagation).
                if blame && p < plain && c + 1 == candidates.len() {
                    eprintln!("\n{} with {n} hints: {:+.2} dB", f.display(), p - plain);
                    for skip in 0..n {
                        let rest: Vec<Hint> = hints.iter().enumerate().filter(|&(j, _)| j != skip).map(|(_, h)| h.clone()).collect();
                        let ab_rest = infer::infer(&model, &luma, 0, &rest)?;
                        let without = score(&propagate::propagate(&luma, ab_rest, &plain_ab, &rest, params));
                        let [x, y] = hints[skip].points[0];
                        let at = (y * truth.width() + x) as usize;
                        eprintln!(
                            "  hint {skip} at {x},{y} rgb {:?} ab {:?}, L {:.1}: leaving it out {:+.2} dB",
                            hints[skip].rgb,
                            hints[skip].ab().map(|v| v.round()),
                            luma.l[at],
                            without - p
                        );
                    }
                }
                sums[c][k] += p;
                worse[c][k] += (p < plain) as usize;
                if p - plain < worst[c][k] {
                    worst[c][k] = p - plain;
                    worst_name[c][k] = f.file_name().unwrap().to_string_lossy().into_owned();
                }
            }
        }
        eprint!("\r{}/{}", i + 1, files.len());
    }
    eprintln!();
    let n = scored as f64;
    println!(
        "{} photos; no hints {:.2} dB; model hint planes only: 5 {:+.2}, 20 {:+.2}",
        scored,
        no_hints / n,
        model_only[0] / n - no_hints / n,
        model_only[1] / n - no_hints / n
    );
    println!("| candidate | 5 hints | 20 hints | worst photo 5 / 20 | photos worse 5 / 20 |");
    println!("|---|---|---|---|---|");
    for (c, (name, _)) in candidates.iter().enumerate() {
        let (w5, w20) = (&worst_name[c][0], &worst_name[c][1]);
        println!(
            "| {name} | {:+.2} | {:+.2} | {:+.2} ({w5}) / {:+.2} ({w20}) | {} / {} |",
            sums[c][0] / n - no_hints / n,
            sums[c][1] / n - no_hints / n,
            worst[c][0],
            worst[c][1],
            worse[c][0],
            worse[c][1]
        );
    }
    Ok(())
}
