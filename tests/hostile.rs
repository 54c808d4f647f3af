//! Hostile files against the real binary, one process at a time (this file's tests run in
//! their own test process, so the peak memory of the children is theirs alone).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Peak resident memory of all children waited for so far, in MiB.
fn children_peak_rss_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as f64 / 1024.0
}

fn png_chunk(tag: &[u8], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(tag);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(tag);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out
}

/// A 16x16 gray PNG whose iCCP chunk inflates to `icc_mib` MiB (about 1 KB compressed per MiB).
fn png_with_icc_bomb(path: &Path, icc_mib: usize) {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..icc_mib {
        z.write_all(&zeros).unwrap();
    }
    let mut iccp = b"x\0\0".to_vec();
    iccp.extend(z.finish().unwrap());
    let raw: Vec<u8> = (0..16u8).flat_map(|y| std::iter::once(0).chain(std::iter::repeat_n(y * 16, 16))).collect();
    let mut idat = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    idat.write_all(&raw).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 16u32.to_be_bytes().to_vec();
    ihdr.extend(16u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"iCCP", &iccp));
    png.extend(png_chunk(b"IDAT", &idat.finish().unwrap()));
    png.extend(png_chunk(b"IEND", b""));
    std::fs::write(path, png).unwrap();
}

#[test]
fn a_png_with_a_decompression_bomb_in_its_icc_chunk_is_refused_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.png");
    // 1 GiB of ICC profile from about 1 MB of file (before: hued inflated all of it, 3 GB RSS
    // for the 1.5 GB one, and the whole service was OOM-killed under MemoryMax=2G).
    png_with_icc_bomb(&bomb, 1024);
    let out = Command::new(assert_cmd::cargo::cargo_bin("hued")).args(["colorize", "--model"]).arg(common::fixture_model()).arg(&bomb).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let peak = children_peak_rss_mib();
    assert!(peak < 300.0, "peak RSS {peak:.0} MiB");
    // The ICC chunk is dropped (the decoder stops inflating it at its metadata allowance); the
    // photo itself is fine, so it is colorized, without that profile.
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let output = dir.path().join("bomb.colorized.png");
    assert!(std::fs::metadata(&output).unwrap().len() < 100_000, "no giant profile copied");
}
