//! Text a user or a stranger writes: a hints sidecar dropped beside a photo, a --hint value or
//! the page's hint parameter, and hued.toml itself. Errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::text_inputs(data));
