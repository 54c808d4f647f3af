//! The V4L2 bindings are checked in (vendor/v4l2-sys-mit) instead of generated at build time.
//! These tests make sure the checked-in files still describe the kernel's structs: every size and
//! field offset bindgen recorded for a `v4l2_*` struct or union becomes a C `_Static_assert`,
//! compiled against the target's <linux/videodev2.h> by that target's C compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

fn vendor_file(arch: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/v4l2-sys-mit/src").join(format!("{arch}.rs"))
}

/// (struct, field or None for the whole, bytes) as bindgen's layout tests record them.
fn recorded_layout(bindings: &str) -> Vec<(String, Option<String>, usize)> {
    let flat: String = bindings.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for chunk in flat.split("assert_eq!(").skip(1) {
        let number = |after: &str| -> Option<usize> {
            let rest = &chunk[chunk.find(after)? + after.len()..];
            let start = rest.find(|c: char| c.is_ascii_digit())?;
            let digits: String = rest[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
            rest[start + digits.len()..].starts_with("usize").then(|| digits.parse().ok())?
        };
        let between = |open: &str, close: &str| -> Option<String> {
            let rest = &chunk[chunk.find(open)? + open.len()..];
            Some(rest[..rest.find(close)?].to_string())
        };
        if chunk.contains("\"Size of: \"") {
            if let (Some(name), Some(size)) = (between("size_of::<", ">()"), number(">(),")) {
                out.push((name, None, size));
            }
        } else if chunk.contains("\"Offset of field: \"") {
            if let (Some(field), Some(owner), Some(offset)) = (between("(*ptr).", ")"), between("stringify!(", ")"), number("as usize },")) {
                out.push((owner, Some(field), offset));
            }
        }
    }
    out
}

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn",
    "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct",
    "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// A C file asserting every recorded layout of the `v4l2_*` types.
fn c_assertions(bindings: &str) -> (String, usize) {
    let mut c = String::from("#include <stddef.h>\n#include <linux/videodev2.h>\n");
    let mut count = 0;
    for (name, field, bytes) in recorded_layout(bindings) {
        if !name.starts_with("v4l2_") || name.contains("__bindgen") || field.as_deref().is_some_and(|f| f.starts_with("__bindgen")) {
            continue;
        }
        let kind = if bindings.contains(&format!("pub union {name} {{")) { "union" } else { "struct" };
        // bindgen appends '_' to fields named like Rust keywords (type -> type_).
        let field = field.map(|f| match f.strip_suffix('_') {
            Some(base) if RUST_KEYWORDS.contains(&base) => base.to_string(),
            _ => f,
        });
        let expr = match &field {
            None => format!("sizeof({kind} {name})"),
            Some(f) => format!("offsetof({kind} {name}, {f})"),
        };
        c.push_str(&format!("_Static_assert({expr} == {bytes}, \"{name} {}\");\n", field.as_deref().unwrap_or("size")));
        count += 1;
    }
    (c, count)
}

fn check_against_headers(arch: &str, compiler: &str, extra: &[&str]) {
    if Command::new(compiler).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {compiler} not installed, so the {arch} bindings are not checked (CI installs gcc-aarch64-linux-gnu)");
        return;
    }
    let bindings = std::fs::read_to_string(vendor_file(arch)).unwrap();
    let (c, count) = c_assertions(&bindings);
    assert!(count > 500, "only {count} layout facts found in the {arch} bindings: did bindgen's test format change?");
    for ioctl_struct in ["v4l2_capability", "v4l2_format", "v4l2_buffer", "v4l2_requestbuffers", "v4l2_fmtdesc", "v4l2_streamparm", "v4l2_control"] {
        assert!(c.contains(&format!("{ioctl_struct} size")), "{ioctl_struct} is not checked");
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    std::fs::write(&src, &c).unwrap();
    let out = Command::new(compiler).args(extra).arg("-fsyntax-only").arg(&src).output().unwrap();
    assert!(
        out.status.success(),
        "the checked-in {arch} V4L2 bindings disagree with the kernel headers (run vendor/v4l2-sys-mit/regenerate.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{arch}: {count} sizes and offsets match the kernel headers");
}

#[test]
fn x86_64_bindings_match_kernel_headers() {
    check_against_headers("x86_64", "gcc", &[]);
}

#[test]
fn aarch64_bindings_match_kernel_headers() {
    check_against_headers("aarch64", "aarch64-linux-gnu-gcc", &[]);
}

/// The compiled crate (what the v4l crate's ioctls use) has the sizes the headers give.
#[cfg(target_arch = "x86_64")]
#[test]
fn compiled_bindings_have_the_recorded_sizes() {
    use v4l::v4l_sys as sys;
    let bindings = std::fs::read_to_string(vendor_file("x86_64")).unwrap();
    let size = |name: &str| recorded_layout(&bindings).into_iter().find(|(n, f, _)| n == name && f.is_none()).map(|(_, _, s)| s).unwrap();
    assert_eq!(std::mem::size_of::<sys::v4l2_buffer>(), size("v4l2_buffer"));
    assert_eq!(std::mem::size_of::<sys::v4l2_format>(), size("v4l2_format"));
    assert_eq!(std::mem::size_of::<sys::v4l2_capability>(), size("v4l2_capability"));
    assert_eq!(std::mem::size_of::<sys::v4l2_requestbuffers>(), size("v4l2_requestbuffers"));
}

#[test]
fn no_build_script_runs_bindgen() {
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let out = Command::new(env!("CARGO"))
            .args(["tree", "--offline", "-e", "build", "-i", "bindgen", "--target", target])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("did not match any packages"),
            "{target}: bindgen is in the build graph again:\n{}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
