//! An original's EXIF block, carried into the colorized copy with hued's provenance: any bytes
//! must give a block that reads back with the provenance, or a warning, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let provenance = hued::pipeline::metadata::Provenance { model_name: "m".into(), model_sha256: "0".repeat(64), source_sha256: "1".repeat(64), source_path: None };
    let (exif, _warning) = hued::pipeline::metadata::exif_for_output(Some(data), &provenance);
    assert!(!exif.is_empty(), "the provenance is always written");
    let _ = hued::pipeline::metadata::icc_for_rgb_output(Some(data));
});
