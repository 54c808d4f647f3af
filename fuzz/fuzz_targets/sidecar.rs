//! A hints sidecar (`<photo>.hints.toml`) as any bytes, as the pipeline reads it: parsed,
//! checked against a photo's size, made into the model's hint planes and spread over a small
//! photo by the propagation stage; each line also as a `--hint` and a `--stroke`. Errors,
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (w, h) = (1 + (size as u32 % 16) * 97, 1 + (size as u32 / 16) * 61);
    if let Ok(hints) = hued::hints::parse_sidecar(text) {
        if hued::hints::check(&hints, w, h).is_ok() {
            let planes = hued::pipeline::hints::hint_planes(&hints, w, h, 64, 64);
            drop(planes);
            // A small grid keeps each input fast; the photo's size still sets the scaling.
            let luma = hued::pipeline::prepare::Luma { width: w as usize, height: h as usize, l: (0..w * h).map(|i| (i % 101) as f32).collect() };
            let ab = hued::model::AbLow { width: 4, height: 4, a: vec![0.0; 16], b: vec![0.0; 16] };
            let params = hued::pipeline::propagate::Params { work_side: 24, ..Default::default() };
            let out = hued::pipeline::propagate::propagate(&luma, ab.clone(), &ab, &hints, &params);
            assert!(out.a.iter().chain(&out.b).all(|v| v.is_finite()));
        }
    }
    for line in text.lines() {
        let _ = line.parse::<hued::hints::Hint>();
        let _ = hued::hints::Hint::parse_stroke(line);
    }
});
