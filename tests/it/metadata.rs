//! What a colorized copy keeps of its original's metadata, and what it adds, read with the
//! archivist's own tool: exiftool (skipped with a message where it is not installed; CI has it).
//! Originals are made by exiftool too, as a cataloguing tool would write them.

use crate::common::*;
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
    check_copy_but(original, copy, &|_| false, &|_| false);
}

/// [`check_copy`], but for the fields `also_differs` and the validation warnings `known` allow.
fn check_copy_but(original: &Path, copy: &Path, also_differs: &dyn Fn(&str) -> bool, known: &dyn Fn(&str) -> bool) {
    let (before, after) = (tags(original), tags(copy));
    for (key, value) in &before {
        if may_differ(key) || also_differs(key) {
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
    let new_warnings: Vec<String> = validate_warnings(copy).into_iter().filter(|w| !validate_warnings(original).contains(w) && !known(w)).collect();
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

/// A JPEG whose XMP is over 64 KB (a long caption, a catalogue's history): exiftool writes the
/// rest as Extended XMP segments, and the copy carries them (the caption whole).
#[test]
fn a_jpeg_copy_keeps_extended_xmp() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("harbour.jpg");
    gray_photo(96, 64).save(&original).unwrap();
    record(&original, &[]);
    let caption = dir.path().join("caption.txt");
    std::fs::write(&caption, "Box 12, plate 3: the harbour at low tide, seen from the mole. ".repeat(1500)).unwrap();
    let o = Command::new("exiftool")
        .args(["-overwrite_original", "-q"])
        .arg(format!("-XMP-dc:Description<={}", caption.display()))
        .arg(&original)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tags(&original).contains_key("XMP-xmpNote:HasExtendedXMP"), "exiftool wrote Extended XMP");
    colorize(&original);
    let copy = dir.path().join("harbour.colorized.jpg");
    check_copy(&original, &copy);
    let description = |p: &Path| Command::new("exiftool").args(["-b", "-XMP-dc:Description"]).arg(p).output().unwrap().stdout;
    assert_eq!(description(&copy).len(), 93_000, "the whole caption, its Extended XMP part included");
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

/// A TIFF's record lives in its first directory (caption, maker, dates, artist, copyright,
/// Software, resolution, IPTC in tag 33723) and in the directories it points to: Exif (the date
/// the photo was taken, its ID, a comment), with its Interoperability directory, and GPS.
const TIFF_RECORD: &[&str] = &[
    "-ExifIFD:DateTimeOriginal=1910:06:01 12:00:00",
    "-ExifIFD:ImageUniqueID=0123456789ABCDEF0123456789ABCDEF",
    "-ExifIFD:UserComment=Box 12, plate 3",
    "-InteropIFD:InteropIndex=R98",
    "-GPS:GPSLatitude=54.32",
    "-GPS:GPSLatitudeRef=N",
    "-GPS:GPSLongitude=10.13",
    "-GPS:GPSLongitudeRef=E",
    "-IFD0:HostComputer=scan-station-2",
    "-IFD0:DocumentName=Harbour album",
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
    // A big-endian TIFF (as Mac scanning software writes them), made by libtiff's tiffcp: its
    // Exif and GPS values are turned to the copy's byte order, not copied as bytes.
    let big_endian = dir.path().join("harbour16be.tif");
    let tiffcp = Command::new("tiffcp").arg("-B").arg(&sixteen).arg(&big_endian).output();
    let mut originals = vec![&eight, &sixteen];
    match tiffcp {
        Ok(o) if o.status.success() => originals.push(&big_endian),
        _ => eprintln!("SKIPPED (big-endian TIFF): tiffcp is not installed (Debian: libtiff-tools)"),
    }
    for original in originals {
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

/// A hued.toml that signs with the test chain (or `chain`).
fn signing_config(dir: &Path, chain: &str) -> std::path::PathBuf {
    let config = dir.join("hued.toml");
    std::fs::write(
        &config,
        format!("[provenance]\nc2pa_cert = \"{}\"\nc2pa_key = \"{}\"\n", c2pa_fixture(chain).display(), c2pa_fixture("signer.key").display()),
    )
    .unwrap();
    config
}

/// With a key, every copy (JPEG, PNG, 8- and 16-bit TIFF, WebP) carries Content Credentials
/// that validate against the test root, say "edited" by a trained model, name hued and the
/// original (with its sha256), and keep every field the original had; a pixel altered
/// afterwards breaks them.
#[cfg(feature = "c2pa")]
#[test]
fn with_a_key_copies_carry_content_credentials_that_validate() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = signing_config(dir.path(), "chain.pem");
    let jpeg = dir.path().join("harbour.jpg");
    gray_photo(96, 64).save(&jpeg).unwrap();
    record(&jpeg, &[IPTC_RECORD, JFIF_DENSITY].concat());
    let png = dir.path().join("harbour.png");
    gray_photo(96, 64).save(&png).unwrap();
    record(&png, PNG_RECORD);
    let (tif8, tif16) = (dir.path().join("harbour8.tif"), dir.path().join("harbour16.tif"));
    gray_photo(96, 64).save(&tif8).unwrap();
    gray16_photo(96, 64).save(&tif16).unwrap();
    for tif in [&tif8, &tif16] {
        let o = Command::new("exiftool").args(["-overwrite_original", "-q"]).args(TIFF_RECORD).args(IPTC_RECORD).arg(tif).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let webp = dir.path().join("harbour.webp");
    gray_photo(96, 64).save(&webp).unwrap();
    let originals =
        [(&jpeg, "image/jpeg", "jpg"), (&png, "image/png", "png"), (&tif8, "image/tiff", "tif"), (&tif16, "image/tiff", "tif"), (&webp, "image/webp", "webp")];
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--config"])
        .arg(&config)
        .arg("--model")
        .arg(fixture_model())
        .args(originals.iter().map(|(p, _, _)| p.as_os_str()))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (original, mime, ext) in originals {
        let copy = original.with_file_name(format!("{}.colorized.{ext}", original.file_stem().unwrap().to_string_lossy()));
        let bytes = std::fs::read(&copy).unwrap();
        let c = read_credentials(mime, &bytes).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
        assert_eq!(c.state, "Trusted", "{}: {c:?}", copy.display());
        assert!(c.generator.iter().any(|g| g == "hued"), "{c:?}");
        assert!(
            c.actions.iter().any(|(a, t)| a == "c2pa.edited" && t.as_deref() == Some("http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia")),
            "{c:?}"
        );
        let name = original.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(c.parent, Some((name, Some(hash(original)))), "{}", copy.display());
        match ext {
            // exiftool 12.57 (Debian 12) does not show a signed PNG's EXIF: it takes the eXIf
            // chunk's first directory (at offset 8) for the C2PA box it read at the same offset
            // of the caBX chunk ("IFD0 pointer references previous JUMBFBox directory"). The
            // EXIF is there: the EXIF reader of kamadak-exif reads it back, field by field.
            "png" => {
                let exif_group = |k: &str| ["IFD0:", "ExifIFD:", "GPS:", "InteropIFD:"].iter().any(|g| k.starts_with(g));
                check_copy_but(original, &copy, &exif_group, &|w| w.contains("references previous JUMBFBox"));
                let exif = exif::Reader::new().read_from_container(&mut std::io::BufReader::new(std::fs::File::open(&copy).unwrap())).unwrap();
                let text = |tag| exif.get_field(tag, exif::In::PRIMARY).map(|f| f.display_value().to_string());
                assert_eq!(text(exif::Tag::Artist).as_deref(), Some("\"Jane Archivist\""));
                assert_eq!(text(exif::Tag::Copyright).as_deref(), Some("\"City Archive, CC BY 4.0\""));
                assert_eq!(text(exif::Tag::DateTimeOriginal).as_deref(), Some("1910-06-01 12:00:00"));
                assert!(text(exif::Tag::GPSLatitude).is_some());
            }
            // C2PA's TIFF writer rewrites the directories it knows; the Interoperability
            // directory (two DCF fields TIFF does not define) is left out of signed TIFF copies,
            // and its layout draws exiftool's minor warnings only (values at odd offsets, its
            // manifest tag 0xcd41 unknown to exiftool 12.57).
            "tif" => check_copy_but(original, &copy, &|k| k.starts_with("InteropIFD:"), &|w| w.starts_with("[minor]")),
            "jpg" => check_copy(original, &copy),
            _ => {}
        }
    }
    // A pixel changed after signing (inside the JPEG's scan, the PNG's image data): the copy no
    // longer validates, and says why.
    for (copy, mime, marker, skip) in [("harbour.colorized.jpg", "image/jpeg", &b"\xff\xda"[..], 30), ("harbour.colorized.png", "image/png", &b"IDAT"[..], 8)] {
        let mut bytes = std::fs::read(dir.path().join(copy)).unwrap();
        let at = bytes.windows(marker.len()).rposition(|w| w == marker).unwrap() + skip;
        bytes[at] ^= 0x55;
        let c = read_credentials(mime, &bytes).unwrap_or_else(|e| panic!("{copy} altered: {e}"));
        assert_eq!(c.state, "Invalid", "{copy} altered: {c:?}");
        assert!(c.failures.iter().any(|f| f == "assertion.dataHash.mismatch"), "{copy} altered: {c:?}");
    }
    // Without a key: no manifest at all.
    let plain = dir.path().join("plain.jpg");
    gray_photo(96, 64).save(&plain).unwrap();
    colorize(&plain);
    assert!(read_credentials("image/jpeg", &std::fs::read(dir.path().join("plain.colorized.jpg")).unwrap()).is_err());
}

/// A certificate C2PA readers would refuse is an error at start naming it, before any photo
/// is touched; so is a certificate without its key.
#[test]
fn a_certificate_c2pa_refuses_stops_the_run_before_any_photo() {
    let dir = tempfile::tempdir().unwrap();
    let config = signing_config(dir.path(), "noeku-chain.pem");
    let photo = dir.path().join("p.jpg");
    gray_photo(32, 32).save(&photo).unwrap();
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--config"])
        .arg(&config)
        .arg("--model")
        .arg(fixture_model())
        .arg(&photo)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("noeku-chain.pem"), "{err}");
    assert!(!dir.path().join("p.colorized.jpg").exists());
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued")).args(["check-config"]).arg(&config).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "check-config refuses it too: {}", String::from_utf8_lossy(&o.stdout));
}

/// A TIFF whose Exif directory holds image-structure tags (strip offsets and counts, copied as
/// stale offsets) or whose Exif and GPS pointers point back at the first directory: the copy
/// keeps the Exif fields but none of those (C2PA's TIFF reader refused the copy: "strip count
/// does not match strip offset count"), and exiftool finds no directory pointing at another.
#[test]
fn sub_directories_carry_fields_not_pointers_or_strip_tags() {
    if exiftool_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut originals = Vec::new();
    for name in ["exif-with-strip-tags.tif", "exif-gps-point-at-ifd0.tif"] {
        let original = dir.path().join(name);
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiff").join(name), &original).unwrap();
        originals.push(original);
    }
    #[cfg(feature = "c2pa")]
    let config = signing_config(dir.path(), "chain.pem");
    #[cfg(not(feature = "c2pa"))]
    let config = {
        let c = dir.path().join("plain.toml");
        std::fs::write(&c, "").unwrap();
        c
    };
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--force", "--config"])
        .arg(&config)
        .arg("--model")
        .arg(fixture_model())
        .args(&originals)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for original in &originals {
        let copy = original.with_file_name(format!("{}.colorized.tif", original.file_stem().unwrap().to_string_lossy()));
        let t = tags(&copy);
        let warnings: Vec<_> = t.iter().filter(|(k, v)| k.ends_with(":Warning") && v.contains("pointer references")).collect();
        assert!(warnings.is_empty(), "{}: {warnings:?}", copy.display());
        assert!(!t.keys().any(|k| k.starts_with("ExifIFD:Strip") || k.starts_with("GPS:Strip")), "{}: {t:?}", copy.display());
    }
    let t = tags(&originals[0].with_file_name("exif-with-strip-tags.colorized.tif"));
    assert_eq!(t.get("ExifIFD:DateTimeOriginal").map(String::as_str), Some("\"2001:02:03 04:05:06\""));
}

/// Issue 42: a copy colorized with a reference photo names it as a component ingredient of its
/// Content Credentials (title and sha256), beside the original as parent.
#[cfg(feature = "c2pa")]
#[test]
fn a_reference_photo_is_a_component_ingredient_of_the_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = signing_config(dir.path(), "chain.pem");
    let photo = dir.path().join("scene.jpg");
    image::DynamicImage::ImageRgb8(scene(320, 240, (12.0, -8.0), 1.0)).to_luma8().save(&photo).unwrap();
    let postcard = dir.path().join("postcard.jpg");
    scene(230, 170, (0.0, 0.0), 0.7).save(&postcard).unwrap();
    let o = Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--config"])
        .arg(&config)
        .arg("--model")
        .arg(fixture_model())
        .arg("--reference")
        .arg(&postcard)
        .arg(&photo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = read_credentials("image/jpeg", &std::fs::read(dir.path().join("scene.colorized.jpg")).unwrap()).unwrap();
    assert!(c.failures.is_empty(), "{c:?}");
    assert_eq!(c.components, vec![("postcard.jpg".to_string(), Some(hash(&postcard)))], "{c:?}");
    assert_eq!(c.parent.as_ref().map(|p| p.0.as_str()), Some("scene.jpg"));
}
