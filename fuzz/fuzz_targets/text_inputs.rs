//! Text a user or a stranger writes: a hints sidecar dropped beside a photo, a --hint value or
//! the page's hint parameter, and hued.toml itself. Errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(hints) = hued::hints::parse_sidecar(text) {
        // The pipeline makes the planes only of hints that passed the check.
        if hued::hints::check(&hints, 640, 480).is_ok() {
            let _ = hued::pipeline::hints::hint_planes(&hints, 640, 480, 256, 192);
        }
    }
    let _ = text.parse::<hued::hints::Hint>();
    let _ = hued::config::parse_config(text, std::path::Path::new("fuzz.toml"));
});
