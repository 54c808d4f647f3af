//! `hued colorize` end to end: the real binary, real files, the tiny QDQ fixture model.

use crate::common::*;
use assert_cmd::Command;
use image::{DynamicImage, GenericImageView, Rgb};
use predicates::prelude::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

fn hued() -> Command {
    let mut c = Command::cargo_bin("hued").unwrap();
    c.env("RUST_LOG", "info");
    c
}

fn colorize(args: &[&Path]) -> Command {
    colorize_with(&fixture_model(), args)
}

fn colorize_with(model: &Path, args: &[&Path]) -> Command {
    let mut c = hued();
    c.arg("colorize").arg("--model").arg(model).args(args);
    c
}

/// hued run as user nobody, so that file permissions apply even when the tests run as root.
/// The binary and the model are copied into `dir` (world-readable) first, as the checkout
/// may sit where nobody cannot reach (/root).
fn colorize_as_nobody(dir: &Path, args: &[&Path]) -> Command {
    let (mut exe, mut model) = (assert_cmd::cargo::cargo_bin("hued"), fixture_model());
    if running_as_root() {
        let tools = dir.join("tools");
        fs::create_dir_all(&tools).unwrap();
        fs::copy(&exe, tools.join("hued")).unwrap();
        for ext in ["toml", "onnx"] {
            fs::copy(model.with_extension(ext), tools.join("tiny-qdq").with_extension(ext)).unwrap();
        }
        fs::set_permissions(&tools, fs::Permissions::from_mode(0o755)).unwrap();
        // A test thread that forked while the copy was open for writing holds it until its
        // child execs: executing the copy then fails with ETXTBSY ("Text file busy"), a flake
        // of CI. Wait until the copy runs.
        for _ in 0..200 {
            match std::process::Command::new(tools.join("hued")).arg("--version").output() {
                Err(e) if e.raw_os_error() == Some(26) => std::thread::sleep(std::time::Duration::from_millis(10)),
                _ => break,
            }
        }
        (exe, model) = (tools.join("hued"), tools.join("tiny-qdq.toml"));
    }
    let mut std_cmd = std::process::Command::new(exe);
    std_cmd.arg("colorize").arg("--model").arg(model).args(args);
    if running_as_root() {
        std_cmd.uid(65534).gid(65534);
    }
    Command::from_std(std_cmd)
}

fn open_world(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
}

#[test]
fn gray_jpeg_gets_a_colorized_copy_beside_it_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("portrait.jpg");
    gray_photo(300, 200).save(&input).unwrap();
    let before = hash(&input);
    colorize(&[&input]).assert().success().stdout(predicate::str::contains("1 done, 0 skipped, 0 failed"));
    let out = dir.path().join("portrait.colorized.jpg");
    let img = image::open(&out).unwrap();
    assert_eq!(img.dimensions(), (300, 200));
    assert!(has_color(&img), "the copy should have color");
    assert_eq!(hash(&input), before, "the original is untouched");
    let prov = hued::pipeline::metadata::read_provenance(&out).expect("provenance in EXIF");
    assert_eq!(prov.model_name, "tiny-qdq");
    assert_eq!(prov.source_sha256, before);
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn sixteen_bit_tiff_stays_sixteen_bit_and_sepia_is_neutralized() {
    let dir = tempfile::tempdir().unwrap();
    let gray16 = dir.path().join("scan16.tif");
    gray16_photo(160, 120).save(&gray16).unwrap();
    let sepia = dir.path().join("sepia.png");
    sepia_photo(160, 120).save(&sepia).unwrap();
    let gray = dir.path().join("gray.png");
    gray_photo(160, 120).save(&gray).unwrap();
    // Levels forced on: the sepia version is darker overall (its tint dims the white), and only
    // with both stretched to the same range is the comparison about the tint alone.
    colorize(&[&gray16, &sepia, &gray]).args(["--levels", "on"]).assert().success().stdout(predicate::str::contains("3 done"));
    let out16 = image::open(dir.path().join("scan16.colorized.tif")).unwrap();
    assert!(matches!(out16, DynamicImage::ImageRgb16(_)), "16-bit in, 16-bit out: {:?}", out16.color());
    // The tint is dropped: a sepia print and the same photo in gray colorize the same way.
    let a = image::open(dir.path().join("sepia.colorized.png")).unwrap().to_rgb8();
    let b = image::open(dir.path().join("gray.colorized.png")).unwrap().to_rgb8();
    let max_diff = a.pixels().zip(b.pixels()).flat_map(|(p, q)| (0..3).map(move |k| p.0[k].abs_diff(q.0[k]))).max().unwrap();
    assert!(max_diff <= 12, "sepia and gray inputs should give nearly the same colors (max diff {max_diff})");
}

#[test]
fn compression_trades_size_for_speed_and_stays_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan16.tif");
    gray16_photo(160, 120).save(&scan).unwrap();
    let mut sizes = Vec::new();
    let mut pixels = Vec::new();
    for level in ["none", "fast", "small"] {
        let config = dir.path().join(format!("{level}.toml"));
        fs::write(&config, format!("[colorize]\ncompression = \"{level}\"\n")).unwrap();
        let out = dir.path().join(level);
        colorize(&[&scan]).arg("--config").arg(&config).arg("--out").arg(&out).assert().success();
        let copy = out.join("scan16.colorized.tif");
        sizes.push(fs::metadata(&copy).unwrap().len());
        pixels.push(image::open(&copy).unwrap().into_rgb16().into_raw());
        assert!(hued::pipeline::metadata::read_provenance(&copy).is_some(), "{level}: provenance kept");
    }
    assert!(sizes[0] >= 160 * 120 * 6 && sizes[1] < sizes[0] && sizes[2] <= sizes[1], "none > fast >= small: {sizes:?}");
    assert!(pixels[0] == pixels[1] && pixels[1] == pixels[2], "the same pixels at every level");
    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[colorize]\ncompression = \"max\"\n").unwrap();
    colorize(&[&scan]).arg("--config").arg(&bad).assert().code(2).stderr(predicate::str::contains("bad.toml:2:15: unknown variant `max`"));
}

/// Our TIFF strips are compressed by hued (in parallel, with the horizontal predictor), not by
/// the tiff crate: libtiff, which most archive software reads TIFF with, must decode them to the
/// same pixels image reads, at 8 and 16 bits and with strips that do not divide the height.
#[test]
fn tiff_copies_decode_in_libtiff_to_the_same_pixels() {
    if std::process::Command::new("tiffcp").arg("-h").output().is_err() {
        eprintln!("SKIPPED: tiffcp (libtiff-tools) is not installed; .ci/run installs it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scan16 = dir.path().join("scan16.tif");
    gray16_photo(1000, 173).save(&scan16).unwrap(); // 6000-byte rows: 43 rows a strip, 5 strips, the last short
    let scan8 = dir.path().join("scan8.tif");
    DynamicImage::ImageLuma8(gray_photo(301, 97)).to_rgb8().save(&scan8).unwrap();
    colorize(&[&scan16, &scan8]).assert().success().stdout(predicate::str::contains("2 done"));
    // The same copies uncompressed: raw samples, the reference for what the pixels must be.
    let config = dir.path().join("none.toml");
    fs::write(&config, "[colorize]\ncompression = \"none\"\n").unwrap();
    colorize(&[&scan16, &scan8]).arg("--config").arg(&config).arg("--out").arg(dir.path().join("none")).assert().success();
    for name in ["scan16", "scan8"] {
        let copy = dir.path().join(format!("{name}.colorized.tif"));
        let plain = dir.path().join(format!("{name}.libtiff.tif"));
        let out = std::process::Command::new("tiffcp").args(["-c", "none"]).arg(&copy).arg(&plain).output().unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{name}: libtiff: {}", String::from_utf8_lossy(&out.stderr));
        let reference = image::open(dir.path().join("none").join(format!("{name}.colorized.tif"))).unwrap();
        for (reader, decoded) in [("image", image::open(&copy).unwrap()), ("libtiff", image::open(&plain).unwrap())] {
            assert_eq!(decoded.color(), reference.color(), "{name}, {reader}");
            assert!(decoded.as_bytes() == reference.as_bytes(), "{name}: {reader} decodes other pixels than the uncompressed copy has");
        }
    }
}

#[test]
fn every_format_round_trips_in_its_own_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for ext in ["png", "bmp", "webp", "tiff", "jpeg"] {
        let p = dir.path().join(format!("photo.{ext}"));
        DynamicImage::ImageLuma8(gray_photo(96, 64)).to_rgb8().save(&p).unwrap();
        inputs.push(p);
    }
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    colorize(&refs).assert().success().stdout(predicate::str::contains("5 done"));
    for ext in ["png", "bmp", "webp", "tiff", "jpeg"] {
        let out = dir.path().join(format!("photo.colorized.{ext}"));
        let fmt = image::ImageFormat::from_path(&out).unwrap();
        let bytes = fs::read(&out).unwrap();
        assert_eq!(image::guess_format(&bytes).unwrap(), fmt, "{ext}");
        assert!(has_color(&image::load_from_memory(&bytes).unwrap()), "{ext}");
    }
}

#[test]
fn exif_orientation_is_applied() {
    // A 40x20 JPEG tagged "rotate 90° CW" must come out 20x40 (and tagged upright).
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rotated.jpg");
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new(&mut bytes);
    let exif = {
        let f = exif::Field { tag: exif::Tag::Orientation, ifd_num: exif::In::PRIMARY, value: exif::Value::Short(vec![6]) };
        let mut w = exif::experimental::Writer::new();
        w.push_field(&f);
        let mut c = std::io::Cursor::new(Vec::new());
        w.write(&mut c, false).unwrap();
        c.into_inner()
    };
    image::ImageEncoder::set_exif_metadata(&mut enc, exif).unwrap();
    image::ImageEncoder::write_image(enc, gray_photo(40, 20).as_raw(), 40, 20, image::ExtendedColorType::L8).unwrap();
    fs::write(&input, bytes).unwrap();
    colorize(&[&input]).assert().success();
    let out = dir.path().join("rotated.colorized.jpg");
    assert_eq!(image::image_dimensions(&out).unwrap(), (20, 40));
    let mut dec = image::ImageReader::open(&out).unwrap().into_decoder().unwrap();
    assert_eq!(image::ImageDecoder::orientation(&mut dec).unwrap(), image::metadata::Orientation::NoTransforms);
}

#[test]
fn color_photos_are_skipped_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("holiday.png");
    color_photo(64, 64).save(&input).unwrap();
    colorize(&[&input]).assert().success().stdout(predicate::str::contains("0 done, 1 skipped").and(predicate::str::contains("already in color")));
    assert!(!dir.path().join("holiday.colorized.png").exists());
    colorize(&[&input]).arg("--force").assert().success().stdout(predicate::str::contains("1 done"));
    assert!(dir.path().join("holiday.colorized.png").exists());
}

#[test]
fn folders_recursion_out_dir_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let scans = dir.path().join("scans");
    fs::create_dir_all(scans.join("box2")).unwrap();
    gray_photo(64, 48).save(scans.join("a.png")).unwrap();
    gray_photo(64, 48).save(scans.join("box2/b.jpg")).unwrap();
    fs::write(scans.join("notes.txt"), "not a photo").unwrap();
    let out = dir.path().join("out");
    // Without -r only the top folder.
    colorize(&[&scans]).arg("--out").arg(&out).assert().success().stdout(predicate::str::contains("1 done, 0 skipped"));
    assert!(out.join("a.colorized.png").exists());
    assert!(!scans.join("a.colorized.png").exists(), "--out writes only there");
    // With -r the subfolder too; the copies made beside originals are not picked up again.
    colorize(&[&scans]).arg("-r").arg("--compare").assert().success().stdout(predicate::str::contains("2 done"));
    assert!(scans.join("box2/b.colorized.jpg").exists());
    let compare = image::open(scans.join("box2/b.jpg.compare.jpg")).unwrap();
    assert!(compare.width() > 2 * 64 && compare.height() == 48);
    // A rerun does only what is left: copies newer than their originals are up to date...
    colorize(&[&scans])
        .arg("-r")
        .assert()
        .success()
        .stdout(predicate::str::contains("0 done, 2 skipped, 0 failed").and(predicate::str::contains("up to date")));
    // ...a replaced original is redone, and --force redoes everything.
    std::thread::sleep(std::time::Duration::from_millis(20));
    gray_photo(64, 48).save(scans.join("a.png")).unwrap();
    colorize(&[&scans]).arg("-r").assert().success().stdout(predicate::str::contains("1 done, 1 skipped, 0 failed"));
    colorize(&[&scans]).arg("-r").arg("--force").assert().success().stdout(predicate::str::contains("2 done, 0 skipped, 0 failed"));
}

#[test]
fn vividness_zero_gives_gray_and_levels_off_keeps_tones() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.png");
    gray_photo(64, 64).save(&input).unwrap();
    colorize(&[&input]).args(["--vividness", "0", "--levels", "off"]).assert().success();
    let out = image::open(dir.path().join("p.colorized.png")).unwrap().to_rgb8();
    let src = image::open(&input).unwrap().to_luma8();
    for (p, g) in out.pixels().zip(src.pixels()) {
        assert!(p.0[0] == p.0[1] && p.0[1] == p.0[2], "gray at vividness 0");
        assert!(p.0[0].abs_diff(g.0[0]) <= 1, "levels off keeps tones: {} vs {}", p.0[0], g.0[0]);
    }
    colorize(&[&input]).args(["--vividness", "9"]).assert().code(2).stderr(predicate::str::contains("0 to 4"));
}

// ---- bad input: one line naming the file and the reason, no output, exit 1, others go on ----

fn bad_input_case(name: &str, content: &[u8], reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join(name);
    fs::write(&bad, content).unwrap();
    let good = dir.path().join("good.png");
    gray_photo(64, 48).save(&good).unwrap();
    let assert = colorize(&[&bad, &good]).assert().code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    let line = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert!(line.contains(&bad.display().to_string()) && line.contains(reason), "{line}");
    assert!(dir.path().join("good.colorized.png").exists(), "the good file is still processed");
    let stem = Path::new(name).file_stem().unwrap().to_string_lossy().to_string();
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".hued-tmp") || (n.starts_with(&stem) && n != name))
        .collect();
    assert!(leftovers.is_empty(), "no output or temp file for the bad input: {leftovers:?}");
}

#[test]
fn zero_byte_file_fails_cleanly() {
    bad_input_case("empty.jpg", b"", "empty file");
}

#[test]
fn truncated_jpeg_fails_cleanly() {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(gray_photo(200, 150)).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes.truncate(bytes.len() / 2);
    bad_input_case("cut.jpg", &bytes, "truncated");
}

#[test]
fn text_file_named_jpg_fails_cleanly() {
    bad_input_case("letter.jpg", b"Dear archivist,\nthis is not a photo.\n", "not an image file");
}

#[test]
fn unsupported_format_fails_cleanly() {
    // A complete 1x1 GIF: a real image, in a format hued does not colorize.
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    bad_input_case("anim.gif", gif, "Gif images are not supported");
}

#[test]
fn image_over_the_pixel_limit_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hued.toml");
    fs::write(&config, "[colorize]\nmax_megapixels = 0.01\n").unwrap();
    let big = dir.path().join("big.png");
    gray_photo(200, 100).save(&big).unwrap();
    let small = dir.path().join("small.png");
    gray_photo(90, 90).save(&small).unwrap();
    colorize(&[&big, &small])
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("error: {}: image is 200x100 (0.0 MP), over the limit of 0.01 MP", big.display())));
    assert!(!dir.path().join("big.colorized.png").exists());
    assert!(dir.path().join("small.colorized.png").exists());
}

#[test]
fn unreadable_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    open_world(dir.path());
    let secret = dir.path().join("secret.png");
    gray_photo(32, 32).save(&secret).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let good = dir.path().join("good.png");
    gray_photo(32, 32).save(&good).unwrap();
    colorize_as_nobody(dir.path(), &[&secret, &good])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("error: {}: cannot read: Permission denied", secret.display())));
    assert!(!dir.path().join("secret.colorized.png").exists());
    assert!(dir.path().join("good.colorized.png").exists());
}

#[test]
fn unwritable_output_folder_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    open_world(dir.path());
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    let photo = locked.join("p.png");
    gray_photo(32, 32).save(&photo).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let free = dir.path().join("free.png");
    gray_photo(32, 32).save(&free).unwrap();
    colorize_as_nobody(dir.path(), &[&photo, &free]).assert().code(1).stderr(predicate::str::contains(format!(
        "error: {}: cannot write {}",
        photo.display(),
        locked.join("p.colorized.png").display()
    )));
    assert_eq!(fs::read_dir(&locked).unwrap().count(), 1, "nothing written in the locked folder");
    assert!(dir.path().join("free.colorized.png").exists());
}

#[test]
fn broken_exif_does_not_stop_the_image() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bicycles.jpg");
    fs::copy(data.join("historical/bicycles.jpg"), &input).unwrap();
    colorize(&[&input]).assert().success().stdout(predicate::str::contains("1 done"));
    let out = dir.path().join("bicycles.colorized.jpg");
    assert!(hued::pipeline::metadata::read_provenance(&out).is_some());
}

#[test]
fn version_check_config_and_usage_errors() {
    hued().arg("--version").assert().success().stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    fs::write(&good, format!("[colorize]\nmodel = {:?}\nvividness = 1.3\n", fixture_model().display().to_string())).unwrap();
    hued().arg("check-config").arg(&good).assert().success().stdout(predicate::str::contains("vividness = 1.3"));
    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[colorize]\nvividness = 1.3\ncolour = true\n").unwrap();
    hued().arg("check-config").arg(&bad).assert().code(2).stderr(predicate::str::contains(format!("{}:3:1: unknown field `colour`", bad.display())));
    hued().arg("colorize").assert().code(2);
    hued().args(["colorize", "x.jpg", "--config"]).arg(&bad).assert().code(2);
}

#[test]
fn bad_hints_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    gray_photo(120, 80).save(&input).unwrap();
    colorize(&[&input]).arg("--hint").arg("10,20").assert().code(2).stderr(predicate::str::contains("expected X,Y,#RRGGBB"));
    colorize(&[&input]).arg("--hint").arg("10,20,#12345").assert().code(2).stderr(predicate::str::contains("not a color"));
    colorize(&[&input])
        .arg("--hint")
        .arg("10,90,#ff0000")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("photo.png").and(predicate::str::contains("hint at 10,90 lies outside the 120x80 photo")));
    assert!(!dir.path().join("photo.colorized.png").exists());
    assert_eq!(temp_files(dir.path()), Vec::<std::path::PathBuf>::new());
    colorize(&[&input]).arg("--hint").arg("10,20,#ff0000").arg("--hint").arg("119,79,00ff00").assert().success();
    assert!(dir.path().join("photo.colorized.png").exists());
}

#[test]
fn a_malformed_hints_sidecar_names_itself_and_a_good_one_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scan.png");
    gray_photo(120, 80).save(&input).unwrap();
    let sidecar = dir.path().join("scan.png.hints.toml");
    fs::write(&sidecar, "[[hint]]\nx = 5\ny = 5\ncolor = \"crimson\"\n").unwrap();
    colorize(&[&input]).assert().code(1).stderr(predicate::str::contains("scan.png.hints.toml").and(predicate::str::contains("#RRGGBB")));
    assert!(!dir.path().join("scan.colorized.png").exists());
    fs::write(&sidecar, "[[hint]]\nx = 5\ny = 500\ncolor = \"#dc143c\"\n").unwrap();
    colorize(&[&input]).assert().code(1).stderr(predicate::str::contains("outside the 120x80 photo"));
    assert!(!dir.path().join("scan.colorized.png").exists());
    assert_eq!(temp_files(dir.path()), Vec::<std::path::PathBuf>::new());
    fs::write(&sidecar, "[[hint]]\nx = 5\ny = 5\ncolor = \"#dc143c\"\n").unwrap();
    colorize(&[&input]).assert().success();
    assert!(dir.path().join("scan.colorized.png").exists());
}

#[test]
fn hints_for_a_model_without_hint_inputs_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("photo.png");
    gray_photo(64, 48).save(&input).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qdq-nohints.toml");
    colorize_with(&model, &[&input])
        .arg("--hint")
        .arg("1,1,#ff0000")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("model tiny-qdq-nohints takes no color hints"));
    // Without --hint it colorizes; a sidecar is not read (the model could not use it) and
    // the run says so, as the daemon does.
    fs::write(dir.path().join("photo.png.hints.toml"), "not toml at all [[[").unwrap();
    colorize_with(&model, &[&input])
        .assert()
        .success()
        .stderr(predicate::str::contains("photo.png.hints.toml ignored: model tiny-qdq-nohints takes no color hints"));
}

#[test]
fn two_photos_whose_copies_would_collide_in_one_out_folder_are_not_both_written() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        gray_photo(64, 48).save(dir.path().join(sub).join("IMG_0001.png")).unwrap();
    }
    let out = dir.path().join("out");
    let a = dir.path().join("a/IMG_0001.png");
    let b = dir.path().join("b/IMG_0001.png");
    colorize(&[&a, &b])
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("1 done, 0 skipped, 1 failed"))
        .stderr(predicate::str::contains("would overwrite the copy of").and(predicate::str::contains(a.display().to_string())));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn a_motion_photo_with_a_video_after_the_jpeg_is_colorized_and_a_cut_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut jpeg = Vec::new();
    DynamicImage::ImageLuma8(gray_photo(120, 90)).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    // Phones append the video (megabytes, here 256 KB) after the image's end marker.
    let mut motion = jpeg.clone();
    motion.extend(b"....ftypmp42".iter().cycle().take(256 * 1024));
    let motion_path = dir.path().join("motion.jpg");
    std::fs::write(&motion_path, &motion).unwrap();
    let cut_path = dir.path().join("cut.jpg");
    std::fs::write(&cut_path, &jpeg[..jpeg.len() * 2 / 3]).unwrap();
    colorize(&[&motion_path, &cut_path])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("1 done, 0 skipped, 1 failed").and(predicate::str::contains("cut.jpg: corrupt image: truncated JPEG")));
    assert!(dir.path().join("motion.colorized.jpg").exists());
}

/// A scan in LZW strips is colorized (its strips decoded in parallel); the same scan with a
/// damaged strip fails with a message naming the file and the strip, and leaves no copy, no
/// temporary file, and the original as it was.
#[test]
fn a_strip_tiff_is_colorized_and_one_with_a_damaged_strip_is_refused() {
    use tiff::encoder::{colortype::Gray16, Compression, TiffEncoder};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (160u32, 120u32);
    let gray = gray_photo(w, h);
    let samples: Vec<u16> = gray.as_raw().iter().map(|&v| v as u16 * 257).collect();
    let mut file = std::io::Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut file).unwrap().with_compression(Compression::Lzw);
    let mut image = encoder.new_image::<Gray16>(w, h).unwrap();
    image.rows_per_strip(8).unwrap();
    image.write_data(&samples).unwrap();
    let good = file.into_inner();
    // The tiff crate writes its directory after the strips: damage strips in the middle.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle - 2000..middle + 2000].fill(0xFF);
    let (good_path, damaged_path) = (dir.path().join("scan.tif"), dir.path().join("damaged.tif"));
    fs::write(&good_path, &good).unwrap();
    fs::write(&damaged_path, &damaged).unwrap();
    colorize(&[&good_path, &damaged_path])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("1 done, 0 skipped, 1 failed").and(predicate::str::contains("damaged.tif: corrupt image: TIFF strip")));
    assert!(dir.path().join("scan.colorized.tif").exists());
    assert!(!dir.path().join("damaged.colorized.tif").exists());
    assert_eq!(temp_files(dir.path()), Vec::<std::path::PathBuf>::new());
    assert_eq!(fs::read(&damaged_path).unwrap(), damaged, "the original is untouched");
}

/// `hued colorize ... 2>&1 | head -3`: once the reader is gone, every message fails to write.
/// The batch goes on (its report file keeps the record); before, the first message panicked
/// ("failed printing to stderr"), exit 101, and the rest of the inputs were never colorized.
#[test]
fn a_batch_goes_on_when_its_output_pipe_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let photos: Vec<std::path::PathBuf> = (0..3).map(|i| dir.path().join(format!("p{i}.png"))).collect();
    for p in &photos {
        gray_photo(64, 48).save(p).unwrap();
    }
    let report = dir.path().join("r.jsonl");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hued"))
        .env("RUST_LOG", "info")
        .args(["colorize", "--model"])
        .arg(fixture_model())
        .arg("--report")
        .arg(&report)
        .args(&photos)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading ends at once: the reader went away.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    for p in &photos {
        assert!(p.with_file_name(format!("{}.colorized.png", p.file_stem().unwrap().to_string_lossy())).exists(), "{} not colorized", p.display());
    }
    assert_eq!(std::fs::read_to_string(&report).unwrap().lines().count(), 3);
}

/// The same photo listed twice (or spelled two ways, dir//a.png) is one input: colorized
/// once, the repeat skipped, nothing failed (before: the repeat "would overwrite the copy of"
/// itself, a failure, and the merged report then called the photo failed).
#[test]
fn a_photo_listed_twice_is_colorized_once_and_nothing_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    gray_photo(64, 48).save(dir.path().join("d/a.png")).unwrap();
    let list = dir.path().join("list.txt");
    let (plain, doubled) = (dir.path().join("d/a.png"), format!("{}//a.png", dir.path().join("d").display()));
    std::fs::write(&list, format!("{}\n{}\n{doubled}\n", plain.display(), plain.display())).unwrap();
    let report = dir.path().join("r.jsonl");
    hued()
        .args(["colorize", "--model"])
        .arg(fixture_model())
        .arg("--files-from")
        .arg(&list)
        .arg("--report")
        .arg(&report)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 done, 2 skipped, 0 failed"));
    hued().args(["report", "merge"]).arg(&report).assert().code(0).stdout(predicate::str::contains("\"failed\": 0"));
}

/// SIGTERM (Slurm at a job's time limit, or on preemption) or SIGINT in the middle of writing a
/// copy: the process ends with no temporary file left (before: the `.hued-tmp-*` file stayed,
/// and nothing removed it, not even a rerun).
#[test]
fn a_batch_stopped_by_a_signal_while_writing_leaves_no_temporary_file() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("big.png");
        gray_photo(3000, 2000).save(&photo).unwrap();
        let out = dir.path().join("out");
        // The slowest compression, so that the write lasts long enough to be interrupted.
        let config = dir.path().join("hued.toml");
        std::fs::write(&config, format!("[colorize]\nmodel = \"{}\"\ncompression = \"small\"\n", fixture_model().display())).unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hued"))
            .args(["colorize", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .arg(&photo)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let temp = || std::fs::read_dir(&out).ok().into_iter().flatten().flatten().any(|e| e.file_name().to_string_lossy().starts_with(".hued-tmp-"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !temp() {
            assert!(std::time::Instant::now() < deadline, "no temporary file appeared");
            assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        assert!(!status.success(), "an interrupted batch does not report success: {status}");
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".hued-tmp-")), "signal {signal}: left {left:?}");
        assert!(photo.exists());
    }
}

/// Issue 42: `--reference` with a color photo of the same scene (framed and sized otherwise,
/// brighter) gives the gray photo's shapes their colors, says how much matched and names the
/// reference in the copy's History; a reference of another scene changes nothing.
#[test]
fn a_reference_photo_of_the_same_scene_colors_it_and_one_of_another_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("scene.png");
    DynamicImage::ImageRgb8(scene(320, 240, (12.0, -8.0), 1.0)).to_luma8().save(&photo).unwrap();
    fs::create_dir(dir.path().join("refs")).unwrap();
    let postcard = dir.path().join("refs/postcard.jpg");
    let mut card = scene(230, 170, (0.0, 0.0), 0.7);
    card.pixels_mut().for_each(|p| p.0 = p.0.map(|c| (c as f32 * 1.1 + 10.0).min(255.0) as u8));
    card.save(&postcard).unwrap();
    let other = dir.path().join("refs/other.jpg");
    image::RgbImage::from_fn(300, 200, |x, y| Rgb([(200 - y / 2) as u8, (80 + (x % 37) * 2) as u8, (y / 2 + 40) as u8])).save(&other).unwrap();
    let run = |out: &str, extra: &[&Path]| {
        let o = colorize(&[&photo]).arg("--out").arg(dir.path().join(out)).args(extra).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (image::open(dir.path().join(out).join("scene.colorized.png")).unwrap().to_rgb8(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (plain, _) = run("plain", &[]);
    let (with, said) = run("with", &[Path::new("--reference"), &postcard]);
    assert!(said.contains("reference postcard.jpg: ") && said.contains("% of the photo matched"), "{said}");
    // The disc around (112, 82), the square around (222, 82).
    let (disc, square) = (mean_rgb(&with, 104, 74, 16, 16), mean_rgb(&with, 214, 74, 16, 16));
    assert!(disc[0] > disc[1] + 50.0 && disc[0] > disc[2] + 50.0, "the disc is red: {disc:?} (without the reference {:?})", mean_rgb(&plain, 104, 74, 16, 16));
    assert!(square[2] > square[0] + 40.0, "the square is blue: {square:?}");
    let copy = fs::read(dir.path().join("with/scene.colorized.png")).unwrap();
    let sha = hash(&postcard);
    assert!(String::from_utf8_lossy(&copy).contains(&format!("postcard.jpg (sha256 {sha})")), "the History names the reference");
    // Another scene: nothing matched, the copy as without it.
    let (unmoved, said) = run("other", &[Path::new("--reference"), &other]);
    assert!(said.contains("contributed little"), "{said}");
    let diff: f64 =
        plain.pixels().zip(unmoved.pixels()).map(|(a, b)| (0..3).map(|k| (a[k] as f64 - b[k] as f64).abs()).sum::<f64>()).sum::<f64>() / (3 * 320 * 240) as f64;
    assert!(diff < 0.5, "a reference of another scene changed the colors by {diff:.2} levels on average");
}
