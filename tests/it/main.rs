//! The integration tests: one binary (cargo's advice for a large suite: one link of tract and
//! c2pa instead of one per file), a module per subject. Each runs the real `hued` binary or the
//! library against real files; `common` holds the shared fixtures.

mod aarch64;
mod batch;
mod camera;
mod color_detection;
mod colorize_cli;
mod common;
mod daemon;
mod deploy;
mod fuzz_corpus;
mod hint_propagation;
mod hostile;
mod layers;
mod metadata;
mod shipped_model;
mod v4l2_bindings;
mod web;
mod x86_no_avx;
