//! What a colorized copy keeps of its original's metadata, and what it adds, read with the
//! archivist's own tool: exiftool (skipped with a message where it is not installed; CI has it).
//! Originals are made by exiftool too, as a cataloguing tool would write them.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn exiftool_missing() -> bool {
    if Command::new("exiftool").arg("-ver").output().is_ok_and(|o| o.status.success()) {
        return false;
    }
    eprintln!("SKIPPED: exiftool is not installed (Debian: libimage-exiftool-perl)");
    true
}

/// exiftool's tags of a file as group:name -> value (-a -G1, values as printed with -n).
fn tags(path: &Path) -> BTreeMap<String, String> {
    let o = Command::new("exiftool").args(["-j", "-a", "-G1", "-n", "-struct"]).arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
}

/// exiftool -validate's warnings, but for its count line, and for the Deflate compression of
/// hued's TIFF copies (code 8, a TIFF extension every TIFF reader and libtiff take, which the
/// validator counts as not baseline).
fn validate_warnings(path: &Path) -> Vec<String> {
    let o = Command::new("exiftool").args(["-validate", "-warning", "-a", "-s3"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && l != "OK" && !l.contains(" Warning") && l != "Invalid value for IFD0 tag 0x0103 Compression")
        .collect()
}

/// The archive's record of one photo, written by exiftool into a gray original.
const RECORD: &[&str] = &[
    "-EXIF:Artist=Jane Archivist",
    "-EXIF:Copyright=City Archive, CC BY 4.0",
    "-EXIF:DateTimeOriginal=1910:06:01 12:00:00",
    "-EXIF:ImageDescription=Harbour at low tide",
    "-EXIF:Software=EPSON Scan 3.9",
    "-EXIF:ImageUniqueID=0123456789ABCDEF0123456789ABCDEF",
    "-EXIF:GPSLatitude=54.32",
    "-EXIF:GPSLatitudeRef=N",
    "-XMP-dc:Title=Harbour, 1910",
    "-XMP-dc:Creator=Unknown photographer",
    "-XMP-dc:Rights=Public domain",
    "-XMP-photoshop:DateCreated=1910:06:01",
    "-XMP-xmp:CreatorTool=EPSON Scan 3.9",
];
/// A scan's resolution, where the format keeps it outside EXIF.
const JFIF_DENSITY: &[&str] = &["-JFIF:XResolution=600", "-JFIF:YResolution=600", "-JFIF:ResolutionUnit=inches"];
const IPTC_RECORD: &[&str] =
    &["-IPTC:ObjectName=Harbour", "-IPTC:By-line=Unknown photographer", "-IPTC:CopyrightNotice=Public domain", "-IPTC:Caption-Abstract=Harbour at low tide"];

fn record(path: &Path, extra: &[&str]) {
    let o = Command::new("exiftool").args(["-overwrite_original", "-q"]).args(RECORD).args(extra).arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Tags a copy may differ in: the file itself, its pixels' encoding, and what hued documents
/// that it sets (orientation reset, a fresh ImageUniqueID and InstanceID, its CreatorTool).
fn may_differ(key: &str) -> bool {
    let name = key.rsplit(':').next().unwrap();
    key.starts_with("System:")
        || key.starts_with("File:")
        || key.starts_with("ExifTool:")
        || key == "JFIF:JFIFVersion"
        || (key.starts_with("PNG:") && matches!(key.rsplit(':').next().unwrap(), "BitDepth" | "ColorType" | "Compression" | "Filter" | "Interlace"))
        || key.starts_with("Composite:")
        || key == "SourceFile"
        || matches!(
            name,
            "Orientation" | "ImageUniqueID" | "InstanceID" | "CreatorTool" | "ExifImageWidth" | "ExifImageHeight" | "ColorComponents" | "YCbCrSubSampling"
        )
        || matches!(name, "EncodingProcess" | "BitsPerSample" | "ImageWidth" | "ImageHeight" | "ImageSize" | "Megapixels")
        || matches!(name, "XMPToolkit" | "CurrentIPTCDigest" | "IPTCDigest")
        || matches!(
            name,
            "Compression"
                | "StripOffsets"
                | "RowsPerStrip"
                | "StripByteCounts"
                | "PhotometricInterpretation"
                | "SamplesPerPixel"
                | "PlanarConfiguration"
                | "Predictor"
                | "SampleFormat"
        )
}

fn check_copy(original: &Path, copy: &Path) {
    let (before, after) = (tags(original), tags(copy));
    for (key, value) in &before {
        if may_differ(key) {
            continue;
        }
        assert_eq!(after.get(key), Some(value), "{}: {key} lost or changed", copy.display());
    }
    let source_type = after.iter().find(|(k, _)| k.ends_with(":DigitalSourceType")).map(|(_, v)| v.as_str());
    assert_eq!(source_type, Some("\"http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia\""), "{}", copy.display());
    assert!(after
        .iter()
        .any(|(k, v)| k.ends_with(":DerivedFrom") && v.contains(&hash(original)) || k.ends_with(":OriginalSHA256") && v.contains(&hash(original))));
    if let Some(id) = before.get("ExifIFD:ImageUniqueID") {
        assert_ne!(after.get("ExifIFD:ImageUniqueID"), Some(id), "the copy has its own identity");
    }
    let note = after.iter().find(|(k, _)| k.ends_with(":Note")).map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(note.contains("AI-colorized by hued"), "hued's note, beside the caption: {note}");
    let history = after.iter().find(|(k, _)| k.ends_with(":History")).map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(history.contains("derived") && history.contains("hued"), "an XMP History event: {history}");
    let new_warnings: Vec<String> = validate_warnings(copy).into_iter().filter(|w| !validate_warnings(original).contains(w)).collect();
    assert!(new_warnings.is_empty(), "{}: new exiftool -validate warnings: {new_warnings:?}", copy.display());
}

fn colorize(original: &Path) {
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--model"])
        .arg(fixture_model())
        .arg(original)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_jpeg_copy_keeps_exif_xmp_and_iptc_and_says_it_is_ai() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("harbour.jpg");
    gray_photo(96, 64).save(&original).unwrap();
    record(&original, &[IPTC_RECORD, JFIF_DENSITY].concat());
    let before = std::fs::read(&original).unwrap();
    colorize(&original);
    assert_eq!(std::fs::read(&original).unwrap(), before, "the original is untouched");
    check_copy(&original, &dir.path().join("harbour.colorized.jpg"));
}

/// What a PNG says of itself outside EXIF and XMP: text chunks (tEXt, and iTXt for text beyond
/// Latin-1) and its resolution (pHYs: 600 dpi is 23622 pixels per metre).
const PNG_RECORD: &[&str] = &[
    "-PNG:Author=Jane Archivist",
    "-PNG:Copyright=City Archive, CC BY 4.0",
    "-PNG:Comment=Négatif n° 12, Hafen bei Ebbe",
    "-PNG-pHYs:PixelsPerUnitX=23622",
    "-PNG-pHYs:PixelsPerUnitY=23622",
    "-PNG-pHYs:PixelUnits=meters",
];

#[test]
fn a_png_copy_keeps_exif_and_xmp_and_says_it_is_ai() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("harbour.png");
    gray_photo(96, 64).save(&original).unwrap();
    record(&original, PNG_RECORD);
    colorize(&original);
    check_copy(&original, &dir.path().join("harbour.colorized.png"));
}

/// A TIFF's record lives in its first directory: caption, maker, dates, artist, copyright,
/// Software, resolution, and IPTC in tag 33723.
const TIFF_RECORD: &[&str] = &[
    "-IFD0:Artist=Jane Archivist",
    "-IFD0:Copyright=City Archive, CC BY 4.0",
    "-IFD0:ImageDescription=Harbour at low tide",
    "-IFD0:Software=EPSON Scan 3.9",
    "-IFD0:ModifyDate=2024:01:02 03:04:05",
    "-IFD0:Make=EPSON",
    "-IFD0:Model=Perfection V850",
    "-IFD0:XResolution=600",
    "-IFD0:YResolution=600",
    "-IFD0:ResolutionUnit=inches",
    "-XMP-dc:Title=Harbour, 1910",
    "-XMP-dc:Rights=Public domain",
];

#[test]
fn eight_and_sixteen_bit_tiff_copies_keep_their_tags_xmp_and_iptc() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let eight = dir.path().join("harbour8.tif");
    gray_photo(96, 64).save(&eight).unwrap();
    let sixteen = dir.path().join("harbour16.tif");
    gray16_photo(96, 64).save(&sixteen).unwrap();
    for original in [&eight, &sixteen] {
        let o = Command::new("exiftool").args(["-overwrite_original", "-q"]).args(TIFF_RECORD).args(IPTC_RECORD).arg(original).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        colorize(original);
        let copy = original.with_file_name(format!("{}.colorized.tif", original.file_stem().unwrap().to_string_lossy()));
        check_copy(original, &copy);
    }
}

/// A caption that quotes a hued note (a stranger's photo, or a copy described by hand) neither
/// makes the photo "hued's copy" nor makes its own copy "another photo's".
#[test]
fn a_caption_quoting_a_hued_note_is_not_taken_for_provenance() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("a.jpg");
    gray_photo(96, 64).save(&original).unwrap();
    std::fs::write(dir.path().join("other.jpg"), b"x").unwrap();
    let fake = format!(
        "-XMP-dc:Description=AI-colorized by hued 0.2.0 (model x, sha256 y; original sha256 z; original path {})",
        dir.path().join("other.jpg").display()
    );
    record(&original, &[&fake]);
    let run = || {
        Command::new(assert_cmd::cargo::cargo_bin("hued"))
            .args(["colorize", "--model"])
            .arg(fixture_model())
            .arg(&original)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success() && String::from_utf8_lossy(&first.stdout).starts_with("1 done"), "{}", String::from_utf8_lossy(&first.stdout));
    let again = run();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"), "{}", String::from_utf8_lossy(&again.stdout));
    let prov = hued::pipeline::metadata::read_provenance(&dir.path().join("a.colorized.jpg")).unwrap();
    assert_eq!(prov.source_sha256, hash(&original));
}
