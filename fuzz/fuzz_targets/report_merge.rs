//! `hued report merge` over a report file whose bytes anyone may have damaged (a killed run, a
//! disk error, a hand edit): counted as bad lines, never a panic, and totals that serialize.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.flush().expect("flush");
    let path = file.path().to_path_buf();
    // The same file twice: every input then repeats, and the newest line must still win.
    let totals = hued::report::merge(&[path.clone(), path]).expect("a readable file merges");
    assert_eq!(totals.inputs, totals.done + totals.skipped + totals.failed);
    serde_json::to_string(&totals).expect("totals serialize");
});
