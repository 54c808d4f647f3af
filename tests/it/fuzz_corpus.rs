//! The fuzz smoke of every CI run: each cargo-fuzz target's body (`fuzz/bodies.rs`, the same
//! code libFuzzer runs) over the corpus committed for it in `fuzz/seeds/<target>/`: the seeds
//! and the minimized corpora of the fuzzing runs (docs/performance.md, "Fuzzing"). An input
//! that once crashed hued stays here, so the bug cannot come back unseen. Stable Rust, seconds.

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten().map(|e| e.path()).collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{}: no corpus", dir.display());
    for input in &inputs {
        let data = std::fs::read(input).unwrap();
        // A panic names the input that caused it.
        if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
            panic!("{target}: {} fails: {:?}", input.display(), panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied()));
        }
    }
    eprintln!("{target}: {} inputs replayed", inputs.len());
}

#[test]
fn decode_corpus() {
    replay("decode", bodies::decode);
}

#[test]
fn metadata_corpus() {
    replay("metadata", bodies::metadata);
}

#[test]
fn text_inputs_corpus() {
    replay("text_inputs", bodies::text_inputs);
}

#[test]
fn report_merge_corpus() {
    replay("report_merge", bodies::report_merge);
}

#[test]
fn files_from_corpus() {
    replay("files_from", bodies::files_from);
}

#[test]
fn sidecar_corpus() {
    replay("sidecar", bodies::sidecar);
}
