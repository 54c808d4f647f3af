//! The aarch64 build under emulation: set HUED_AARCH64_BIN to a cross-built binary (see
//! cross/README.md) and this runs it with `qemu-aarch64 -cpu cortex-a72` (a Raspberry Pi 4;
//! qemu's default CPU has SVE, which no Pi has) on a sample photo, and compares its output
//! with this machine's. Skipped when HUED_AARCH64_BIN is unset.

use crate::common;

use std::path::Path;
use std::process::Command;

#[test]
fn aarch64_output_matches_x86_64_output() {
    let Some(arm_bin) = std::env::var_os("HUED_AARCH64_BIN") else {
        eprintln!("SKIPPED: HUED_AARCH64_BIN is not set (cross-build first: cross/README.md)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.png");
    match common::shared_data() {
        Some(data) => image::open(data.join("historical/1890Surfer.jpg")).unwrap().to_luma8().save(&input).unwrap(),
        None => common::gray_photo(640, 480).save(&input).unwrap(),
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let model = if model.exists() { model } else { common::fixture_model() };
    let run = |program: &mut Command, out: &str| {
        let status = program.args(["colorize", "--force", "--model"]).arg(&model).arg("--out").arg(dir.path().join(out)).arg(&input).status().unwrap();
        assert!(status.success(), "{out} run failed");
        image::open(dir.path().join(out).join("sample.colorized.png")).unwrap().to_rgb8()
    };
    let x86 = run(&mut Command::new(assert_cmd::cargo::cargo_bin("hued")), "x86");
    let arm = run(Command::new("qemu-aarch64").args(["-cpu", "cortex-a72", "-L", "/usr/aarch64-linux-gnu"]).arg(&arm_bin), "arm");
    assert_eq!(x86.dimensions(), arm.dimensions());
    let diffs: Vec<u8> = x86.as_raw().iter().zip(arm.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let max = *diffs.iter().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    eprintln!("aarch64 (qemu cortex-a72) vs x86-64 output: max difference {max} levels, mean {mean:.4} levels ({} px)", diffs.len() / 3);
    // Float rounding differs (FMA, NEON vs AVX kernels in tract): a few 8-bit levels at most.
    assert!(max <= 4 && mean < 0.5, "aarch64 output differs from x86-64: max {max}, mean {mean}");
}

/// The f16 variant that `precision = "auto"` picks on CPUs with half-precision arithmetic (a
/// Pi 5's Cortex-A76, Orin), run under `qemu-aarch64 -cpu cortex-a76`, against x86-64's f32.
/// (auto follows tract's own detection, which reads /proc/cpuinfo: under qemu-user that is the
/// host's, so auto picks f32 there and the f16 path is forced with --precision f16.)
#[test]
fn aarch64_f16_output_on_a_cortex_a76_matches_x86_64_f32() {
    let Some(arm_bin) = std::env::var_os("HUED_AARCH64_BIN") else {
        eprintln!("SKIPPED: HUED_AARCH64_BIN is not set (cross-build first: cross/README.md)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.jpg");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg"), &input).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let run = |program: &mut Command, precision: &str, out: &str| {
        let o = program
            .args(["colorize", "--precision", precision, "--model"])
            .arg(&model)
            .arg("--out")
            .arg(dir.path().join(out))
            .arg(&input)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert!(o.status.success(), "{out} run failed: {}", String::from_utf8_lossy(&o.stderr));
        (image::open(dir.path().join(out).join("sample.colorized.jpg")).unwrap().to_rgb8(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (x86, _) = run(&mut Command::new(assert_cmd::cargo::cargo_bin("hued")), "f32", "x86");
    let mut qemu = Command::new("qemu-aarch64");
    qemu.args(["-cpu", "cortex-a76", "-L", "/usr/aarch64-linux-gnu"]).arg(&arm_bin);
    let (arm, log) = run(&mut qemu, "f16", "arm-f16");
    assert!(log.contains("(f16)"), "the model should have loaded in f16:\n{log}");
    let mut qemu = Command::new("qemu-aarch64");
    qemu.args(["-cpu", "cortex-a76", "-L", "/usr/aarch64-linux-gnu"]).arg(&arm_bin);
    let (_, auto_log) = run(&mut qemu, "auto", "arm-auto");
    eprintln!("precision auto on a Cortex-A76: {}", auto_log.lines().find(|l| l.contains("loaded in")).unwrap_or("?"));
    let diffs: Vec<u8> = x86.as_raw().iter().zip(arm.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let max = *diffs.iter().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    eprintln!("aarch64 f16 (qemu cortex-a76) vs x86-64 f32: max difference {max} levels, mean {mean:.3} levels");
    // f16 carries 11 bits of mantissa: the colors move a little, the picture does not.
    assert!(mean < 1.5 && max <= 24, "f16 output differs too much from f32: max {max}, mean {mean}");
}
