//! Image bytes as a dropped file or an upload brings them: probing (the page's check before
//! queueing) and decoding under the pixel limit must return an error, never panic, hang or
//! allocate past the limits (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch the latter).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hued::pipeline::decode::probe_bytes(data, 4.0);
    if let Ok(decoded) = hued::pipeline::decode::decode_bytes(data, 4.0) {
        // What the pipeline does next with a decoded photo: its lightness and color check.
        let luma = hued::pipeline::prepare::lightness(&decoded.image);
        assert_eq!(luma.l.len(), luma.width * luma.height);
        let _ = hued::pipeline::prepare::color_stats(&decoded.image);
    }
});
