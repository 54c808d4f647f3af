//! The bodies of the fuzz targets, shared by `fuzz_targets/*.rs` (libFuzzer, nightly) and by
//! `tests/it/fuzz_corpus.rs`, which replays the committed corpora in `fuzz/seeds/` on every CI run
//! (stable, seconds): what the fuzzers found interesting keeps being checked.
#![allow(dead_code)]

/// Image bytes as a dropped file or an upload brings them: probing (the page's check before
/// queueing) and decoding under the pixel limit must return an error, never panic, hang or
/// allocate past the limits (libFuzzer's -rss_limit_mb / -malloc_limit_mb catch the latter).
pub fn decode(data: &[u8]) {
    let _ = hued::pipeline::decode::probe_bytes(data, 4.0);
    if let Ok(decoded) = hued::pipeline::decode::decode_bytes(data, 4.0) {
        // What the pipeline does next with a decoded photo: its lightness and color check.
        let luma = hued::pipeline::prepare::lightness(&decoded.image);
        assert_eq!(luma.l.len(), luma.width * luma.height);
        let _ = hued::pipeline::prepare::color_stats(&decoded.image);
    }
}

/// An original's metadata, carried into the colorized copy: any bytes as its EXIF block must
/// give a block that reads back (or a warning), and any bytes as its XMP packet must give a
/// packet whose hued note reads back as the copy's provenance; never a panic.
pub fn metadata(data: &[u8]) {
    let (exif, _warning) = hued::pipeline::metadata::exif_for_output(Some(data));
    assert!(exif::Reader::new().read_raw(exif).is_ok(), "the copy's EXIF block reads back");
    let _ = hued::pipeline::metadata::icc_for_rgb_output(Some(data));
    let provenance = hued::pipeline::metadata::Provenance {
        model_name: "m".into(),
        model_sha256: "0".repeat(64),
        source_sha256: "1".repeat(64),
        source_path: Some("/scans/a b;(c).tif".into()),
    };
    let facts = hued::pipeline::xmp::CopyFacts {
        provenance: &provenance,
        when: "2026-12-06T00:00:00.000Z".into(),
        instance_id: "xmp.iid:0".into(),
        parameters: "p".into(),
    };
    let (xmp, _warning) = hued::pipeline::xmp::xmp_for_output(Some(data), &facts);
    let note = hued::pipeline::xmp::hued_note(&xmp).expect("the copy's packet carries hued's note");
    assert_eq!(hued::pipeline::metadata::Provenance::parse(&note), Some(provenance), "and it reads back as the provenance");
}

/// Text a user or a stranger writes: a hints sidecar dropped beside a photo, a --hint value or
/// the page's hint parameter, and hued.toml itself. Errors, never panics.
pub fn text_inputs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(hints) = hued::hints::parse_sidecar(text) {
        // The pipeline makes the planes only of hints that passed the check.
        if hued::hints::check(&hints, 640, 480).is_ok() {
            let _ = hued::pipeline::hint_planes::hint_planes(&hints, 640, 480, 256, 192);
        }
    }
    let _ = text.parse::<hued::hints::Hint>();
    let _ = hued::config::parse_config(text, std::path::Path::new("fuzz.toml"));
}

/// `hued report merge` over a report file whose bytes anyone may have damaged (a killed run, a
/// disk error, a hand edit): counted as bad lines, never a panic, and totals that serialize.
pub fn report_merge(data: &[u8]) {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.flush().expect("flush");
    let path = file.path().to_path_buf();
    // The same file twice: every input then repeats, and the newest line must still win.
    let totals = hued::report::merge(&[path.clone(), path]).expect("a readable file merges");
    assert_eq!(totals.inputs, totals.done + totals.skipped + totals.failed);
    serde_json::to_string(&totals).expect("totals serialize");
}

/// The `--files-from` reader over any bytes: paths, or one error naming a line, in bounded
/// memory; never a panic. The first byte picks NUL-separated (-0) or line mode.
pub fn files_from(data: &[u8]) {
    let Some((&mode, list)) = data.split_first() else { return };
    let mut errors = 0;
    for entry in hued::source::args::list_file(list, mode & 1 == 1) {
        match entry {
            Ok(path) => assert!(!path.as_os_str().is_empty() && path.as_os_str().len() <= hued::source::args::MAX_LIST_LINE),
            Err(e) => {
                errors += 1;
                assert!(e.to_string().contains("line "), "{e}");
            }
        }
    }
    assert!(errors <= 1, "reading stops at its first error");
}

/// A hints sidecar (`<photo>.hints.toml`) as any bytes, as the pipeline reads it: parsed,
/// checked against a photo's size, made into the model's hint planes and spread over a small
/// photo by the propagation stage; each line also as a `--hint` and a `--stroke`. Errors,
/// never panics.
pub fn sidecar(data: &[u8]) {
    let Some((&size, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (w, h) = (1 + (size as u32 % 16) * 97, 1 + (size as u32 / 16) * 61);
    if let Ok(hints) = hued::hints::parse_sidecar(text) {
        if hued::hints::check(&hints, w, h).is_ok() {
            let planes = hued::pipeline::hint_planes::hint_planes(&hints, w, h, 64, 64);
            drop(planes);
            // A small grid keeps each input fast; the photo's size still sets the scaling.
            let luma = hued::pipeline::prepare::Luma { width: w as usize, height: h as usize, l: (0..w * h).map(|i| (i % 101) as f32).collect() };
            let ab = hued::model::AbLow { width: 4, height: 4, a: vec![0.0; 16], b: vec![0.0; 16] };
            let params = hued::pipeline::propagate::Params { work_side: 24, ..Default::default() };
            let out = hued::pipeline::propagate::propagate(&luma, ab.clone(), &ab, &hints, &params);
            assert!(out.a.iter().chain(&out.b).all(|v| v.is_finite()));
        }
    }
    for line in text.lines() {
        let _ = line.parse::<hued::hints::Hint>();
        let _ = hued::hints::Hint::parse_stroke(line);
    }
}
