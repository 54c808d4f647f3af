//! Image bytes as a dropped file or an upload brings them: probing (the page's check before
//! queueing) and decoding under the pixel limit must return an error, never panic, hang or
//! allocate past the limits (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch the latter).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::decode(data));
