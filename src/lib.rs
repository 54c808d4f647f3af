//! hued: an offline photo colorizer for scanning stations.
//!
//! The data flows through the modules in this order:
//!
//! * [`source`]: where work comes from (command-line paths; later folder watches and cameras),
//! * [`job`]: one photo to colorize, with the options and the output target that apply to it,
//! * [`pipeline`]: the stages, each a plain function:
//!   [`pipeline::decode`] → [`pipeline::prepare`] → [`pipeline::infer`] →
//!   [`pipeline::recombine`] → [`pipeline::encode`],
//! * [`sink`]: where a result lands, written atomically (temp file + fsync + rename);
//!   [`report`]: the JSON-lines record of a batch run.
//!
//! [`model`] loads a colorization model described by its manifest; [`config`] reads hued.toml;
//! [`base`] holds the low pieces every layer may use (exit codes, hued's file names).
//!
//! Each module uses only the modules below it, lowest first: `base` (what every layer may use:
//! exit codes, hued's file names, the supported formats), `color`, `model`, `config`, `hints`,
//! `report`, `sink`, `credentials`, `metrics`, `budget`, `reference`, `job`, `pipeline`, `bench`,
//! `source`, `web`,
//! `daemon`, `cli`: no loops, nothing imported against the order (`tests/it/layers.rs` reads the
//! sources and fails on an import that breaks it).
#![warn(missing_docs, unreachable_pub)]

pub mod base;
pub(crate) mod bench;
pub mod budget;
pub mod cli;
pub(crate) mod color;
pub mod config;
pub mod credentials;
pub(crate) mod daemon;
pub mod hints;
pub mod job;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod reference;
pub mod report;
pub(crate) mod sink;
pub mod source;
pub(crate) mod web;

/// hued's version, as written into the provenance of every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `N` random bytes as lowercase hex: an id that tells apart runs and copies (not a secret:
/// without an entropy source, the time and the process id still do).
pub(crate) fn unique_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let fallback = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
        for (b, f) in bytes.iter_mut().zip(fallback.iter().cycle()) {
            *b = *f;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
