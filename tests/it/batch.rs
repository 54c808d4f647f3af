//! `hued colorize` as a cluster task: shards, list files, JSON-lines reports and their merge,
//! reruns and two runs at once. The real binary, real files, the tiny fixture model.

use crate::common::*;
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

// ---- Batch safety (issue 26): each row of the issue's table, reproduced on the real binary. ----

fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut b = Vec::new();
    image::DynamicImage::ImageLuma8(gray_photo(w, h)).write_to(&mut std::io::Cursor::new(&mut b), image::ImageFormat::Png).unwrap();
    b
}

fn merge(reports: &[PathBuf]) -> (Option<i32>, serde_json::Value) {
    let o = hued(&["report", "merge"]).args(reports).output().unwrap();
    (o.status.code(), serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null))
}

fn counts(t: &serde_json::Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| t[k].as_u64().unwrap_or(u64::MAX);
    (n("inputs"), n("done"), n("skipped"), n("failed"))
}

/// Row 1: two photos of one name in two subfolders, sharded with one --out: each gets its own
/// copy (subfolders mirrored under --out), and a copy of another photo is never "up to date".
#[test]
fn sharded_runs_into_one_out_folder_give_each_photo_its_own_copy() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    for (sub, w) in [("box1", 48), ("box2", 40)] {
        fs::create_dir_all(root.join(sub)).unwrap();
        fs::write(root.join(sub).join("IMG.png"), png_bytes(w, 32)).unwrap();
    }
    // A shard count that puts the two in different shards (separate processes).
    let count = (2..64)
        .find(|&n| {
            let shard = hued::source::args::Shard { index: 0, count: n };
            shard.takes(Path::new("box1/IMG.png")) != shard.takes(Path::new("box2/IMG.png"))
        })
        .unwrap();
    let out = dir.path().join("out");
    let mut reports = Vec::new();
    for k in 0..count {
        let report = dir.path().join(format!("shard-{k}.jsonl"));
        let o = colorize(&["-r", "--out", out.to_str().unwrap(), "--shard", &format!("{k}/{count}"), "--report", report.to_str().unwrap()], &[&root]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        reports.push(report);
    }
    for sub in ["box1", "box2"] {
        let copy = out.join(sub).join("IMG.colorized.png");
        let prov = hued::pipeline::metadata::read_provenance(&copy).unwrap_or_else(|| panic!("{} missing", copy.display()));
        assert_eq!(prov.source_sha256, hash(&root.join(sub).join("IMG.png")), "{sub}'s copy is of {sub}'s photo");
    }
    assert_eq!(counts(&merge(&reports).1), (2, 2, 0, 0));
    // Photos given one by one (a list file) land flat in --out: the second, in a separate run,
    // finds the first's copy under its name. That copy is not its own: failed, naming both.
    let flat = dir.path().join("flat");
    let o = colorize(&["--out", flat.to_str().unwrap()], &[&root.join("box1/IMG.png")]);
    assert!(o.status.success());
    let o = colorize(&["--out", flat.to_str().unwrap()], &[&root.join("box2/IMG.png")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("copy of another photo") && err.contains("box1/IMG.png"), "{err}");
    let o = colorize(&["--out", flat.to_str().unwrap(), "--force"], &[&root.join("box2/IMG.png")]);
    assert_eq!(o.status.code(), Some(1), "--force does not overwrite another photo's copy either");
    let prov = hued::pipeline::metadata::read_provenance(&flat.join("IMG.colorized.png")).unwrap();
    assert_eq!(prov.source_sha256, hash(&root.join("box1/IMG.png")));
}

/// Row 2: file names that are not UTF-8 keep their bytes in the copy's name and in the report.
#[test]
fn names_that_are_not_utf8_get_their_own_copies_and_report_lines() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("scans");
    fs::create_dir(&root).unwrap();
    let names: [&[u8]; 2] = [b"x\xff.png", b"x\xfe.png"];
    for (i, n) in names.iter().enumerate() {
        fs::write(root.join(std::ffi::OsStr::from_bytes(n)), png_bytes(48 - 8 * i as u32, 32)).unwrap();
    }
    let report = dir.path().join("r.jsonl");
    let o = colorize(&["--report", report.to_str().unwrap()], &[&root]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).starts_with("2 done, 0 skipped, 0 failed"), "{}", stdout(&o));
    for n in names {
        let mut copy = n[..n.len() - 4].to_vec();
        copy.extend_from_slice(b".colorized.png");
        let copy = root.join(std::ffi::OsStr::from_bytes(&copy));
        let prov = hued::pipeline::metadata::read_provenance(&copy).unwrap_or_else(|| panic!("{copy:?} missing"));
        assert_eq!(prov.source_sha256, hash(&root.join(std::ffi::OsStr::from_bytes(n))));
    }
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 2, "a line for every input");
    let mut bytes: Vec<Vec<u8>> = lines.iter().map(|l| l["path_bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect()).collect();
    bytes.sort();
    let mut expected: Vec<Vec<u8>> = names.iter().map(|n| root.join(std::ffi::OsStr::from_bytes(n)).as_os_str().as_bytes().to_vec()).collect();
    expected.sort();
    assert_eq!(bytes, expected);
    assert_eq!(counts(&merge(&[report]).1), (2, 2, 0, 0));
}

/// Row 3: a.jpg and a.png each get their own comparison sheet.
#[test]
fn compare_sheets_of_one_stem_in_two_formats_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    gray_photo(48, 32).save(dir.path().join("a.png")).unwrap();
    gray_photo(40, 32).save(dir.path().join("a.jpg")).unwrap();
    let o = colorize(&["--compare"], &[dir.path()]);
    assert!(o.status.success() && stdout(&o).starts_with("2 done"), "{}", stdout(&o));
    let a = image::open(dir.path().join("a.png.compare.jpg")).unwrap();
    let b = image::open(dir.path().join("a.jpg.compare.jpg")).unwrap();
    assert_eq!((a.height(), b.height()), (32, 32));
    assert_ne!(a.width(), b.width(), "one sheet per photo");
}

/// Row 4: merge takes each input's newest line whatever the order of the files, and counts
/// the work of every run.
#[test]
fn merge_takes_the_newest_line_of_each_input_whatever_the_argument_order() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("scan.png");
    fs::write(&photo, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let (first, second) = (dir.path().join("shard-0.jsonl"), dir.path().join("shard-1.jsonl"));
    let o = colorize(&["--report", second.to_str().unwrap()], &[&photo]);
    assert_eq!(o.status.code(), Some(1));
    fs::write(&photo, png_bytes(48, 32)).unwrap();
    let o = colorize(&["--report", first.to_str().unwrap()], &[&photo]);
    assert!(o.status.success());
    let lines = report_lines(&first);
    assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'), "UTC timestamp: {}", lines[0]);
    assert_ne!(lines[0]["run"], report_lines(&second)[0]["run"], "each run has its id");
    for order in [[first.clone(), second.clone()], [second.clone(), first.clone()]] {
        let (code, t) = merge(&order);
        assert_eq!((code, counts(&t)), (Some(0), (1, 1, 0, 0)), "{t}");
        assert_eq!((t["runs"].as_u64(), t["work"]["done"].as_u64(), t["work"]["failed"].as_u64()), (Some(2), Some(1), Some(1)), "{t}");
    }
}

/// Row 5: a link to nothing under a walked folder is skipped once, by one shard, with a warning.
#[test]
fn a_dangling_link_is_skipped_once_not_a_failure_of_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    archive(&root, 6);
    std::os::unix::fs::symlink(dir.path().join("gone.png"), root.join("box0/dangling.png")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone-folder"), root.join("box1/dangling-folder")).unwrap();
    // An editor's lock link (always dangling, hidden): nothing at all.
    std::os::unix::fs::symlink("user@host.1234", root.join("box1/.#notes.txt")).unwrap();
    let mut reports = Vec::new();
    let mut warnings = 0;
    for k in 0..3 {
        let report = dir.path().join(format!("s{k}.jsonl"));
        let o = colorize(&["-r", "--shard", &format!("{k}/3"), "--report", report.to_str().unwrap()], &[&root]);
        assert!(o.status.success(), "shard {k}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        warnings += err.matches("dangling.png").count() + err.matches("dangling-folder").count();
        reports.push(report);
    }
    assert_eq!(warnings, 2, "each link named once, by one shard");
    // The photo-named link is an input skipped; the other is a warning only.
    assert_eq!(counts(&merge(&reports).1), (7, 6, 1, 0));
}

/// Runs a command with a deadline; kills it past it.
fn output_within(mut c: Command, secs: u64) -> Output {
    let child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let o = child.wait_with_output().unwrap();
    drop(killer);
    o
}

/// Row 6: an endless list (/dev/zero, with or without -0) is an error naming the file and the
/// line, in bounded time and memory.
#[test]
fn an_endless_files_from_list_is_refused_by_its_line_cap() {
    for extra in [&[][..], &["-0"][..]] {
        let mut c = hued(&["colorize", "--model"]);
        c.arg(fixture_model()).args(["--files-from", "/dev/zero"]).args(extra);
        let o = output_within(c, 30);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("/dev/zero") && err.contains("line 1") && err.contains("1 MiB"), "{err}");
    }
}

/// Rows 7 and 8: a report must be a file that takes its lines.
#[test]
fn a_report_that_is_not_a_regular_file_is_refused_and_a_failed_write_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("scan.png");
    fs::write(&photo, png_bytes(48, 32)).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for bad in [fifo.to_str().unwrap(), "/dev/full"] {
        let mut c = hued(&["colorize", "--model"]);
        c.arg(fixture_model()).args(["--report", bad]).arg(&photo);
        let o = output_within(c, 30);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(bad) && err.contains("not a regular file"), "{err}");
    }
    assert!(!dir.path().join("scan.colorized.png").exists(), "nothing attempted");
    // A regular report that cannot take a line (the file-size limit reached, as a full disk
    // would): the photo is done, the run fails naming the report.
    let report = dir.path().join("r.jsonl");
    fs::write(&report, vec![b'\n'; 200_000]).unwrap();
    let mut c = hued(&["colorize", "--model"]);
    c.arg(fixture_model()).args(["--report", report.to_str().unwrap()]).arg(&photo);
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: 200_000, rlim_max: 200_000 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            Ok(())
        });
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("cannot write report {}", report.display())), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("scan.colorized.png").exists());
}

/// Row 9: the temporary file of a run killed by SIGKILL is swept by the next run.
#[test]
fn a_rerun_sweeps_the_temporary_file_of_a_killed_run() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    image::DynamicImage::ImageLuma8(gray_photo(4000, 3000)).save(&big).unwrap();
    let mut c = hued(&["colorize", "--model"]);
    let mut child = c.arg(fixture_model()).arg(&big).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while temp_files(dir.path()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no temporary file appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(temp_files(dir.path()).len(), 1, "SIGKILL leaves the temporary");
    let small = dir.path().join("small.png");
    fs::write(&small, png_bytes(48, 32)).unwrap();
    let o = colorize(&[], &[&small]);
    assert!(o.status.success());
    assert!(temp_files(dir.path()).is_empty(), "swept by the rerun: {:?}", temp_files(dir.path()));
}

/// Row 10: a photo named like a copy but not made by hued is a photo.
#[test]
fn a_photo_named_like_a_copy_that_hued_did_not_make_is_colorized() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("old.colorized.png");
    fs::write(&odd, png_bytes(48, 32)).unwrap();
    let o = colorize(&[], &[dir.path()]);
    assert!(stdout(&o).starts_with("1 done"), "in a folder walk: {}", stdout(&o));
    assert!(dir.path().join("old.colorized.colorized.png").exists());
    let o = colorize(&["--force"], &[&odd]);
    assert!(stdout(&o).starts_with("1 done"), "named: {}", stdout(&o));
    // hued's own copy is still recognized, by its provenance.
    let o = colorize(&["--force"], &[&dir.path().join("old.colorized.colorized.png")]);
    assert!(stdout(&o).contains("is a colorized copy made by hued"), "{}", stdout(&o));
}

// ---- What a review of the above found (each reproduced first). ----

fn big_png(path: &Path, seed: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::GrayImage::from_fn(3000, 2000, |x, y| image::Luma([((x * (3 + seed) + y * 7) % 251) as u8]));
    img.save(path).unwrap();
}

/// Two shards at once, each with one of two photos of one name, into one flat --out: the one
/// that places its copy second must not replace the first's (both said "done", one copy lost).
#[test]
fn two_shards_at_once_never_replace_each_others_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("d1/x.png"), dir.path().join("d2/x.png"));
    big_png(&a, 0);
    big_png(&b, 1);
    let out = dir.path().join("o");
    let spawn = |photo: &Path| {
        let mut c = hued(&["colorize", "--model"]);
        c.arg(fixture_model()).arg("--out").arg(&out).arg(photo).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    let (pa, pb) = (spawn(&a), spawn(&b));
    let (oa, ob) = (pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap());
    let codes = [oa.status.code(), ob.status.code()];
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(1)), "one done, one refused: {codes:?}\n{}\n{}", stdout(&oa), stdout(&ob));
    let refused = if oa.status.success() { &ob } else { &oa };
    assert!(String::from_utf8_lossy(&refused.stderr).contains("copy of another photo"), "{}", String::from_utf8_lossy(&refused.stderr));
    let done = if oa.status.success() { &a } else { &b };
    let prov = hued::pipeline::metadata::read_provenance(&out.join("x.colorized.png")).unwrap();
    assert_eq!(prov.source_sha256, hash(done), "the copy is the photo that was reported done");
}

/// BMP copies carry no metadata: their name tells. An --out inside the walked folder must not
/// make copies of copies on each rerun.
#[test]
fn bmp_copies_inside_the_walked_folder_are_not_colorized_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("in");
    fs::create_dir(&root).unwrap();
    gray_photo(48, 32).save(root.join("x.bmp")).unwrap();
    for _ in 0..3 {
        let o = colorize(&["-r", "--out", root.join("col").to_str().unwrap()], &[&root]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(root.join("col/x.colorized.bmp").exists());
    assert!(!root.join("col/col").exists(), "a copy was colorized again");
}

/// A deep path recorded in a JPEG whose original EXIF is large: the copy is still written
/// (the path once went into the EXIF block, over a JPEG segment's 64 KB).
#[test]
fn a_long_path_and_a_large_exif_block_still_give_a_jpeg_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut deep = dir.path().to_path_buf();
    for _ in 0..12 {
        deep.push("é".repeat(100));
    }
    fs::create_dir_all(&deep).unwrap();
    let mut writer = exif::experimental::Writer::new();
    let artist = exif::Field { tag: exif::Tag::Artist, ifd_num: exif::In::PRIMARY, value: exif::Value::Ascii(vec![vec![b'a'; 62_000]]) };
    writer.push_field(&artist);
    let mut block = std::io::Cursor::new(Vec::new());
    writer.write(&mut block, false).unwrap();
    let gray = gray_photo(48, 32);
    let mut jpeg = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 90);
    enc.add_app_segment(1, [&b"Exif\0\0"[..], block.get_ref()].concat()).unwrap();
    enc.encode(gray.as_raw(), 48, 32, jpeg_encoder::ColorType::Luma).unwrap();
    let photo = deep.join("scan.jpg");
    fs::write(&photo, &jpeg).unwrap();
    let o = colorize(&[], &[&photo]);
    assert!(o.status.success() && stdout(&o).starts_with("1 done"), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let prov = hued::pipeline::metadata::read_provenance(&deep.join("scan.colorized.jpg")).unwrap();
    assert_eq!(prov.source_sha256, hash(&photo));
}

/// `--report -`: standard output holds the report's lines and nothing else.
#[test]
fn a_report_on_standard_output_is_json_lines_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.png"), png_bytes(48, 32)).unwrap();
    let o = colorize(&["--report", "-"], &[dir.path()]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect();
    assert_eq!(lines.len(), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 done"), "the summary is on standard error");
}

/// A tree moved away and a photo edited: the recorded original is not here, so the copy is
/// not taken as another photo's for good; --force replaces it.
#[test]
fn a_copy_whose_recorded_original_is_gone_is_replaced_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, out) = (dir.path().join("in"), dir.path().join("in2"), dir.path().join("o"));
    fs::create_dir(&old).unwrap();
    fs::write(old.join("x.png"), png_bytes(48, 32)).unwrap();
    assert!(colorize(&["-r", "--out", out.to_str().unwrap()], &[&old]).status.success());
    fs::rename(&old, &new).unwrap();
    fs::write(new.join("x.png"), png_bytes(40, 32)).unwrap();
    let o = colorize(&["-r", "--out", out.to_str().unwrap()], &[&new]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force replaces"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = colorize(&["-r", "--force", "--out", out.to_str().unwrap()], &[&new]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hued::pipeline::metadata::read_provenance(&out.join("x.colorized.png")).unwrap().source_sha256, hash(&new.join("x.png")));
}

/// `hued report merge` of something that is not a file (/dev/zero never ends) is refused.
#[test]
fn merge_refuses_what_is_not_a_regular_file() {
    let o = output_within(hued(&["report", "merge", "/dev/zero"]), 20);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
}

/// A photo reached twice through a link to its folder is one input, colorized once.
#[test]
fn a_photo_reached_through_a_folder_link_is_colorized_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("in");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/a.png"), png_bytes(48, 32)).unwrap();
    std::os::unix::fs::symlink("sub", root.join("alias")).unwrap();
    let out = dir.path().join("o");
    let o = colorize(&["-r", "--out", out.to_str().unwrap()], &[&root]);
    assert!(stdout(&o).starts_with("1 done, 1 skipped"), "{}", stdout(&o));
    assert_eq!(outputs(&out).len(), 1, "{:?}", outputs(&out));
}

/// A run in another process-id namespace (a container sharing the host name) must not take a
/// live run's temporary for a dead one's.
#[test]
fn a_run_in_another_pid_namespace_leaves_live_temporaries_alone() {
    let probe = Command::new("unshare").args(["--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: unshare cannot make a pid namespace here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("a/big.png");
    big_png(&big, 2);
    let small = dir.path().join("b/small.png");
    fs::create_dir_all(small.parent().unwrap()).unwrap();
    fs::write(&small, png_bytes(48, 32)).unwrap();
    let out = dir.path().join("o");
    let mut c = hued(&["colorize", "--model"]);
    let mut first =
        c.arg(fixture_model()).arg("--out").arg(&out).arg(&big).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out.is_dir() || temp_files(&out).is_empty() {
        assert!(std::time::Instant::now() < deadline && first.try_wait().unwrap().is_none(), "no temporary seen");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let o = Command::new("unshare")
        .args(["--user", "--map-root-user", "--pid", "--fork", "--mount-proc"])
        .arg(assert_cmd::cargo::cargo_bin("hued"))
        .args(["colorize", "--model"])
        .arg(fixture_model())
        .arg("--out")
        .arg(&out)
        .arg(&small)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(first.wait().unwrap().success(), "the first run's temporary was removed under it");
    assert!(out.join("big.colorized.png").exists());
}

/// TIFF copies are known by their provenance too: a TIFF copy of another photo of the same
/// name is neither up to date nor replaced.
#[test]
fn a_tiff_copy_of_another_photo_is_not_taken_for_this_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a/p.tif"), dir.path().join("b/p.tif"));
    for (p, w) in [(&a, 48), (&b, 40)] {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        gray_photo(w, 32).save(p).unwrap();
    }
    let out = dir.path().join("out");
    assert!(colorize(&["--out", out.to_str().unwrap()], &[&a]).status.success());
    let o = colorize(&["--out", out.to_str().unwrap()], &[&b]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("copy of another photo"));
    assert_eq!(hued::pipeline::metadata::read_provenance(&out.join("p.colorized.tif")).unwrap().source_sha256, hash(&a));
}

/// Issue 37, row 1: a file at the copy's name that hued did not write (a person's hand-tinted
/// `x.colorized.jpg`, no hued provenance in it) is never taken for hued's copy nor replaced:
/// not when it is newer than the original, not after the original changes, not with --force.
/// The photo fails with the reason, in the summary and in the report.
#[test]
fn a_file_hued_did_not_write_is_never_replaced_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("x.jpg");
    gray_photo(64, 48).save(&original).unwrap();
    let theirs = dir.path().join("x.colorized.jpg");
    let tinted = image::RgbImage::from_fn(64, 48, |x, _| image::Rgb([200, (x * 3) as u8, 40]));
    tinted.save(&theirs).unwrap();
    let made = std::fs::read(&theirs).unwrap();
    let report = dir.path().join("report.jsonl");
    let expect_refused = |o: &Output, when: &str| {
        assert_eq!(o.status.code(), Some(1), "{when}: {}", stdout(o));
        let text = format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr));
        assert!(text.contains("was not written by hued"), "{when}: {text}");
        assert_eq!(std::fs::read(&theirs).unwrap(), made, "{when}: the person's file is untouched");
    };
    expect_refused(&colorize(&["--report", report.to_str().unwrap()], &[&original]), "newer than the original");
    // The original changes (a caption fixed): still not replaced.
    std::thread::sleep(std::time::Duration::from_millis(20));
    gray_photo(64, 48).save(dir.path().join("y.jpg")).unwrap();
    std::fs::rename(dir.path().join("y.jpg"), &original).unwrap();
    expect_refused(&colorize(&[], &[&original]), "after the original changed");
    expect_refused(&colorize(&["--force"], &[&original]), "with --force");
    let line = std::fs::read_to_string(&report).unwrap();
    assert!(line.contains("\"failed\"") && line.contains("not written by hued"), "{line}");
}
