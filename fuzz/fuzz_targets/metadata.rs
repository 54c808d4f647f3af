//! An original's metadata, carried into the colorized copy: any bytes as its EXIF block must
//! give a block that reads back (or a warning), and any bytes as its XMP packet must give a
//! packet whose hued note reads back as the copy's provenance; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (exif, _warning) = hued::pipeline::metadata::exif_for_output(Some(data));
    assert!(exif::Reader::new().read_raw(exif).is_ok(), "the copy's EXIF block reads back");
    let _ = hued::pipeline::metadata::icc_for_rgb_output(Some(data));
    let provenance = hued::pipeline::metadata::Provenance {
        model_name: "m".into(),
        model_sha256: "0".repeat(64),
        source_sha256: "1".repeat(64),
        source_path: Some("/scans/a b;(c).tif".into()),
    };
    let facts = hued::pipeline::xmp::CopyFacts { provenance: &provenance, when: "2026-12-06T00:00:00.000Z".into(), instance_id: "xmp.iid:0".into(), parameters: "p".into() };
    let (xmp, _warning) = hued::pipeline::xmp::xmp_for_output(Some(data), &facts);
    let note = hued::pipeline::xmp::hued_note(&xmp).expect("the copy's packet carries hued's note");
    assert_eq!(hued::pipeline::metadata::Provenance::parse(&note), Some(provenance), "and it reads back as the provenance");
});
