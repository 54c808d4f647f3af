//! A hints sidecar (`<photo>.hints.toml`) as any bytes, as the pipeline reads it: parsed,
//! checked against a photo's size, made into the model's hint planes and spread over a small
//! photo by the propagation stage; each line also as a `--hint` and a `--stroke`. Errors,
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::sidecar(data));
