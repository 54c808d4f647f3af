//! hued on an x86-64 CPU without AVX: `qemu-x86_64 -cpu Westmere` (SSE4.2, no AVX) runs this
//! build's binary on a sample photo. The depthwise kernel hued files into tract's registry
//! (src/model/depthwise_x86.rs) needs AVX: there tract must not pick it, and its generic path
//! must give the same colors as this machine's. Skipped where qemu-x86_64 is not installed.

use std::path::Path;
use std::process::Command;

#[test]
fn a_cpu_without_avx_runs_hued_and_gets_the_same_colors() {
    if Command::new("qemu-x86_64").arg("--version").output().is_err() {
        eprintln!("SKIPPED: qemu-x86_64 is not installed (Debian: qemu-user)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("sample.png");
    image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/1890-surfer.jpg")).unwrap().to_luma8().save(&input).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/hued-color-v4-int8.toml");
    let hued = assert_cmd::cargo::cargo_bin("hued");
    let run = |program: &mut Command, out: &str| {
        let o = program.args(["colorize", "--force", "--model"]).arg(&model).arg("--out").arg(dir.path().join(out)).arg(&input).output().unwrap();
        assert!(o.status.success(), "{out} run failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr));
        image::open(dir.path().join(out).join("sample.colorized.png")).unwrap().to_rgb8()
    };
    let native = run(&mut Command::new(&hued), "native");
    let no_avx = run(Command::new("qemu-x86_64").args(["-cpu", "Westmere"]).arg(&hued), "westmere");
    assert_eq!(native.dimensions(), no_avx.dimensions());
    let diffs: Vec<u8> = native.as_raw().iter().zip(no_avx.as_raw()).map(|(a, b)| a.abs_diff(*b)).collect();
    let max = *diffs.iter().max().unwrap();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
    eprintln!("x86-64 without AVX (qemu Westmere) vs this CPU: max difference {max} levels, mean {mean:.4} levels");
    // Only the matrix kernels' float rounding differs (SSE vs this CPU's): a few levels at most.
    assert!(max <= 4 && mean < 0.5, "output without AVX differs: max {max}, mean {mean}");
}
