//! The `--files-from` reader over any bytes: paths, or one error naming a line, in bounded
//! memory; never a panic. The first byte picks NUL-separated (-0) or line mode.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::files_from(data));
