//! A hints sidecar (`<photo>.hints.toml`) as any bytes, as the pipeline reads it: parsed,
//! checked against a photo's size, made into the model's hint planes. Errors, never panics.
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
        }
    }
    for line in text.lines() {
        let _ = line.parse::<hued::hints::Hint>();
    }
});
