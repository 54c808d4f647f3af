//! `hued colorize` as a cluster task: shards, list files, JSON-lines reports and their merge,
//! reruns and two runs at once. The real binary, real files, the tiny fixture model.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hued(args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("hued"));
    c.env("RUST_LOG", "warn").env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX").args(args);
    c
}

fn colorize(extra: &[&str], paths: &[&Path]) -> Output {
    let mut c = hued(&["colorize", "--model"]);
    c.arg(fixture_model()).args(extra).args(paths);
    c.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A tree of `n` small gray photos in a few folders.
fn archive(root: &Path, n: usize) -> Vec<PathBuf> {
    let bytes = {
        let mut b = Vec::new();
        image::DynamicImage::ImageLuma8(gray_photo(48, 32)).write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Png).unwrap();
        b
    };
    (0..n)
        .map(|i| {
            let p = root.join(format!("box{}/scan{i:04}.png", i % 3));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, &bytes).unwrap();
            p
        })
        .collect()
}

fn outputs(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        walkdir::WalkDir::new(root).into_iter().flatten().map(|e| e.into_path()).filter(|p| p.to_string_lossy().contains(".colorized.")).collect();
    v.sort();
    v
}

fn report_lines(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn four_shards_colorize_every_photo_exactly_once_and_their_reports_merge() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let photos = archive(&root, 30);
    let mut reports = Vec::new();
    for k in 0..4 {
        let report = dir.path().join(format!("shard{k}.jsonl"));
        let o = colorize(&["-r", "--shard", &format!("{k}/4"), "--report", report.to_str().unwrap()], &[&root]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        reports.push(report);
    }
    assert_eq!(outputs(&root).len(), 30, "every photo colorized");
    let mut seen: Vec<String> = reports
        .iter()
        .flat_map(|r| report_lines(r))
        .map(|l| {
            assert_eq!(l["outcome"], "done", "{l}");
            assert_eq!(l["model"], "tiny-qdq");
            assert_eq!(l["sha256"].as_str().unwrap().len(), 64);
            assert!(Path::new(l["output"].as_str().unwrap()).exists());
            l["path"].as_str().unwrap().to_string()
        })
        .collect();
    seen.sort();
    let mut expected: Vec<String> = photos.iter().map(|p| p.display().to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "each photo in exactly one shard's report");
    let merged = hued(&["report", "merge"]).args(&reports).output().unwrap();
    assert!(merged.status.success());
    let totals: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!((totals["inputs"].as_u64(), totals["done"].as_u64(), totals["failed"].as_u64()), (Some(30), Some(30), Some(0)), "{totals}");
    // The same shards again: nothing left to do, and the merged totals still count 30 inputs.
    let o = colorize(&["-r", "--shard", "2/4", "--report", reports[2].to_str().unwrap()], &[&root]);
    assert!(stdout(&o).starts_with("0 done,"), "{}", stdout(&o));
    let totals: serde_json::Value = serde_json::from_slice(&hued(&["report", "merge"]).args(&reports).output().unwrap().stdout).unwrap();
    assert_eq!(totals["inputs"].as_u64(), Some(30));
}

#[test]
fn shard_auto_reads_slurm_and_kubernetes_indices() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    archive(&root, 12);
    let mut done = 0;
    for (var, index) in [("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "0")] {
        let mut c = hued(&["colorize", "-r", "--shard", "auto", "--shards", "2", "--model"]);
        let o = c.arg(fixture_model()).arg(&root).env(var, index).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("(from {var})")));
        done += stdout(&o).split(' ').next().unwrap().parse::<usize>().unwrap();
    }
    assert_eq!(done, 12, "shards 1/2 (Slurm) and 0/2 (Kubernetes) together did all");
    let o = colorize(&["--shard", "auto"], &[&root]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither SLURM_ARRAY_TASK_ID"));
}

#[test]
fn files_from_takes_lines_or_nul_separated_paths_and_a_rerun_does_only_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let photos = archive(&dir.path().join("a"), 6);
    let list = dir.path().join("list.txt");
    fs::write(&list, photos[..3].iter().map(|p| format!("{}\n", p.display())).collect::<String>()).unwrap();
    let o = colorize(&["--files-from", list.to_str().unwrap()], &[]);
    assert!(stdout(&o).starts_with("3 done, 0 skipped, 0 failed"), "{}", stdout(&o));
    let nul = dir.path().join("list.nul");
    fs::write(&nul, photos.iter().map(|p| format!("{}\0", p.display())).collect::<String>()).unwrap();
    let o = colorize(&["--files-from", nul.to_str().unwrap(), "-0"], &[]);
    assert!(stdout(&o).starts_with("3 done, 3 skipped, 0 failed"), "only what was left: {}", stdout(&o));
    let o = colorize(&["--files-from", dir.path().join("missing.txt").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn two_runs_over_the_same_folder_at_once_leave_whole_outputs_and_no_temps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    archive(&root, 24);
    let spawn = || {
        let mut c = hued(&["colorize", "-r", "--force", "--model"]);
        c.arg(fixture_model()).arg(&root).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let outs = outputs(&root);
    assert_eq!(outs.len(), 24);
    for o in &outs {
        let img = image::open(o).unwrap_or_else(|e| panic!("{}: {e}", o.display()));
        assert_eq!(img.width(), 48);
        assert!(hued::pipeline::metadata::read_provenance(o).is_some());
    }
    let temps: Vec<_> = walkdir::WalkDir::new(&root).into_iter().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".hued-tmp")).collect();
    assert!(temps.is_empty(), "{temps:?}");
}
