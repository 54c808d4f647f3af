//! `hued report merge` over a report file whose bytes anyone may have damaged (a killed run, a
//! disk error, a hand edit): counted as bad lines, never a panic, and totals that serialize.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
mod bodies;

fuzz_target!(|data: &[u8]| bodies::report_merge(data));
