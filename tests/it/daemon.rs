//! `hued run` against the real binary: real folders, real files, real signals.

use crate::common::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        Daemon::start_with_env(config, &[])
    }

    fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = config.with_extension("log");
        let child = Command::new(assert_cmd::cargo::cargo_bin("hued"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "debug,notify=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args(["-s", sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok);
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn stop(mut self) -> i32 {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "daemon did not stop; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, daemon: &Daemon, timeout_s: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Station {
    dir: tempfile::TempDir,
    originals: std::cell::RefCell<Vec<(PathBuf, String)>>,
}

impl Station {
    fn new() -> Station {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("scans")).unwrap();
        Station { dir, originals: Default::default() }
    }
    /// Writes an original and remembers its hash.
    fn put(&self, path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
        self.originals.borrow_mut().push((path.to_path_buf(), hash(path)));
    }
    /// Every original written through `put` is still byte-identical.
    fn check_originals(&self) {
        for (p, h) in self.originals.borrow().iter() {
            if p.exists() {
                assert_eq!(&hash(p), h, "{} was modified", p.display());
            }
        }
    }
    fn scans(&self) -> PathBuf {
        self.dir.path().join("scans")
    }
    fn config(&self, extra_watch: &str, extra: &str) -> PathBuf {
        let path = self.dir.path().join("hued.toml");
        fs::write(
            &path,
            format!(
                "[colorize]\nmodel = {:?}\n[daemon]\nstate_dir = {:?}\nstability_delay = 0.6\nshutdown_timeout = 5\n{extra}\n[[watch]]\npath = {:?}\n{extra_watch}\n",
                fixture_model().display().to_string(),
                self.dir.path().join("state").display().to_string(),
                self.scans().display().to_string(),
            ),
        )
        .unwrap();
        path
    }
}

fn photo_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(gray_photo(w, h)).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

fn colorized(p: &Path) -> PathBuf {
    let stem = p.file_stem().unwrap().to_string_lossy();
    p.with_file_name(format!("{stem}.colorized.{}", p.extension().unwrap().to_string_lossy()))
}

fn count_outputs(dir: &Path) -> usize {
    walk(dir).iter().filter(|p| p.to_string_lossy().contains(".colorized.")).count()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn no_temp_files(dir: &Path) {
    let temps: Vec<_> = walk(dir).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".hued-tmp")).collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

#[test]
fn copied_slow_renamed_and_many_files_are_each_colorized_once() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));

    // A file copied in.
    let a = st.scans().join("copied.jpg");
    st.put(&a, &photo_bytes(120, 90));
    let a_hash = hash(&a);
    wait_for("copied file", &d, 20, || colorized(&a).exists());

    // A file written slowly in chunks over ~2 s (longer than the stability delay in total).
    let b = st.scans().join("slow.jpg");
    let bytes = photo_bytes(200, 150);
    let mut f = fs::File::create(&b).unwrap();
    for chunk in bytes.chunks(bytes.len() / 5 + 1) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(!colorized(&b).exists(), "processed before the scanner finished writing");
    }
    drop(f);
    st.originals.borrow_mut().push((b.clone(), hash(&b)));
    wait_for("slowly written file", &d, 20, || colorized(&b).exists());
    assert!(!d.log().contains("failed"), "the half-written file must not have been tried:\n{}", d.log());

    // A file written under a temp name and renamed (rsync, scanner drivers).
    let tmp = st.scans().join("renamed.jpg.part");
    st.put(&tmp, &photo_bytes(100, 100));
    let c = st.scans().join("renamed.jpg");
    fs::rename(&tmp, &c).unwrap();
    st.originals.borrow_mut().push((c.clone(), hash(&c)));
    wait_for("renamed file", &d, 20, || colorized(&c).exists());
    assert!(!st.scans().join("renamed.jpg.colorized.part").exists());

    // 50 files at once.
    let bytes = photo_bytes(64, 48);
    for i in 0..50 {
        st.put(&st.scans().join(format!("batch{i:02}.jpg")), &bytes);
    }
    wait_for("50 files", &d, 60, || count_outputs(&st.scans()) == 53);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count_outputs(&st.scans()), 53, "each file colorized once, outputs never re-processed");
    assert_eq!(d.log().matches("done ").count(), 53, "{}", d.log());
    assert!(d.alive());
    assert_eq!(hash(&a), a_hash, "original untouched");
    assert_eq!(d.stop(), 0);
    st.check_originals();
    no_temp_files(&st.scans());
}

#[test]
fn new_subfolders_are_watched_when_recursive() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("recursive = true", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let sub = st.scans().join("box 7/roll 2");
    fs::create_dir_all(&sub).unwrap();
    let p = sub.join("x.jpg");
    st.put(&p, &photo_bytes(80, 60));
    wait_for("file in new subfolder", &d, 20, || colorized(&p).exists());
    assert!(d.alive());
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn corrupt_file_is_logged_and_the_next_good_one_is_done() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let bad = st.scans().join("bad.jpg");
    st.put(&bad, b"this is not a jpeg");
    wait_for("failure logged", &d, 20, || d.log().contains(&format!("failed {}: unsupported format", bad.display())));
    let good = st.scans().join("good.jpg");
    st.put(&good, &photo_bytes(80, 60));
    wait_for("good file", &d, 20, || colorized(&good).exists());
    assert!(d.alive());
    // The state is written a moment later (writes are grouped).
    let state_file = st.dir.path().join("state/state.json");
    wait_for("the state written", &d, 10, || fs::read_to_string(&state_file).is_ok_and(|s| s.contains("bad.jpg")));
    let state = fs::read_to_string(&state_file).unwrap();
    assert!(state.contains("bad.jpg") && state.contains("failed"), "{state}");
    assert_eq!(d.stop(), 0);
    st.check_originals();
    assert!(!colorized(&bad).exists());
}

#[test]
fn unwritable_output_folder_is_retried_until_it_works() {
    // Permissions do not stop root (these tests may run as root), so the output folder is
    // made unwritable by a file standing where it should be, which stops everyone.
    let st = Station::new();
    let out = st.dir.path().join("out");
    fs::write(&out, b"a file where the output folder should be").unwrap();
    let mut d = Daemon::start(&st.config(&format!("output = {:?}", out.display().to_string()), ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let p = st.scans().join("p.jpg");
    st.put(&p, &photo_bytes(80, 60));
    wait_for("transient failure", &d, 20, || d.log().contains("retrying in"));
    fs::remove_file(&out).unwrap();
    wait_for("retried and done", &d, 30, || out.join("p.colorized.jpg").exists());
    assert!(d.alive());
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn sigterm_during_processing_exits_0_without_temp_files() {
    let st = Station::new();
    let d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // A big photo keeps the (debug-build) pipeline busy for a while.
    let p = st.scans().join("big.png");
    gray_photo(4000, 3000).save(&p).unwrap();
    st.originals.borrow_mut().push((p.clone(), hash(&p)));
    wait_for("processing to start", &d, 30, || d.log().contains("started ") && d.log().contains("big.png"));
    let code = d.stop();
    assert_eq!(code, 0);
    st.check_originals();
    no_temp_files(&st.scans());
    // Either finished (whole) or abandoned (absent): never partial.
    if colorized(&p).exists() {
        image::open(colorized(&p)).expect("a finished output is a complete image");
    }
}

#[test]
fn restart_does_the_backlog_without_duplicates() {
    let st = Station::new();
    let cfg = st.config("", "");
    let bytes = photo_bytes(64, 48);
    for i in 0..3 {
        st.put(&st.scans().join(format!("old{i}.jpg")), &bytes);
    }
    let d = Daemon::start(&cfg);
    wait_for("first backlog", &d, 30, || count_outputs(&st.scans()) == 3);
    assert_eq!(d.stop(), 0);
    st.check_originals();
    let before: Vec<_> = walk(&st.scans()).iter().map(|p| (p.clone(), fs::metadata(p).unwrap().modified().unwrap())).collect();
    // While it was down, two more scans arrived.
    for i in 0..2 {
        st.put(&st.scans().join(format!("new{i}.jpg")), &bytes);
    }
    let d = Daemon::start(&cfg);
    wait_for("second backlog", &d, 30, || count_outputs(&st.scans()) == 5);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count_outputs(&st.scans()), 5, "no duplicates");
    for (p, mtime) in before {
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), mtime, "{} was redone", p.display());
    }
    assert_eq!(d.log().matches("done ").count(), 2, "{}", d.log());
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn sighup_with_a_bad_config_keeps_the_old_one() {
    let st = Station::new();
    let cfg = st.config("", "");
    let mut d = Daemon::start(&cfg);
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let good = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, format!("{good}\nthis is = not toml ]]\n")).unwrap();
    d.signal("HUP");
    wait_for("reload refused", &d, 20, || d.log().contains("config reload failed, keeping the previous configuration"));
    assert!(d.alive());
    let p = st.scans().join("after.jpg");
    st.put(&p, &photo_bytes(64, 48));
    wait_for("still working", &d, 20, || colorized(&p).exists());
    // A good config is taken.
    fs::write(&cfg, good.replace("stability_delay = 0.6", "stability_delay = 0.3")).unwrap();
    d.signal("HUP");
    wait_for("reloaded", &d, 20, || d.log().contains("config reloaded"));
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn polling_mode_sees_files_without_inotify() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("poll = true\npoll_interval = 0.3", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let p = st.scans().join("share.jpg");
    st.put(&p, &photo_bytes(64, 48));
    wait_for("polled file", &d, 20, || colorized(&p).exists());
    assert!(d.alive());
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn outputs_go_to_a_mirrored_tree_and_originals_stay_byte_identical() {
    let st = Station::new();
    let out = st.dir.path().join("colorized");
    fs::create_dir_all(st.scans().join("a/b")).unwrap();
    let p = st.scans().join("a/b/deep.jpg");
    st.put(&p, &photo_bytes(64, 48));
    let h = hash(&p);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o444)).unwrap();
    let d = Daemon::start(&st.config(&format!("recursive = true\noutput = {:?}", out.display().to_string()), ""));
    wait_for("mirrored output", &d, 20, || out.join("a/b/deep.colorized.jpg").exists());
    assert_eq!(hash(&p), h);
    assert_eq!(fs::read_dir(st.scans().join("a/b")).unwrap().count(), 1, "nothing written beside the original");
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

#[test]
fn tells_systemd_ready_status_and_pings_the_watchdog() {
    use std::os::unix::net::UnixDatagram;
    let st = Station::new();
    let cfg = st.config("", "");
    let sock_path = st.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let log = st.dir.path().join("sd.log");
    // `exec` keeps the shell's pid, so WATCHDOG_PID names the daemon, as systemd sets it.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("WATCHDOG_PID=$$ exec {:?} run --config {:?}", assert_cmd::cargo::cargo_bin("hued"), cfg))
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    st.put(&st.scans().join("one.jpg"), &photo_bytes(64, 48));
    let mut messages = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !(messages.matches("WATCHDOG=1").count() >= 3 && messages.contains("1 done")) {
        if let Ok(n) = sock.recv(&mut buf) {
            messages.push_str(&String::from_utf8_lossy(&buf[..n]));
            messages.push('\n');
        }
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(messages.contains("READY=1"), "{messages}");
    assert!(messages.matches("WATCHDOG=1").count() >= 3, "{messages}");
    assert!(messages.contains("STATUS=watching 1 folders; 1 done, 0 failed, 0 queued"), "{messages}");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let unit = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/hued.service")).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "User=hued",
        "ProtectSystem=strict",
        "ReadWritePaths=",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "IPAddressDeny=any",
        "IPAddressAllow=localhost",
        "MemoryMax=",
    ] {
        assert!(unit.contains(key), "unit lacks {key}");
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hued.service");
    fs::write(&path, unit.replace("/usr/bin/hued", &assert_cmd::cargo::cargo_bin("hued").display().to_string())).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    // Its sandbox, as systemd scores it: was 5.8 MEDIUM before capabilities, system calls,
    // /proc, clock, kernel logs and SUID were locked down.
    let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for hued.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
}

#[test]
fn a_hints_sidecar_is_used_and_a_mended_one_brings_the_scan_back() {
    let st = Station::new();
    let d = Daemon::start(&st.config("", ""));
    let scan = st.scans().join("dress.jpg");
    fs::write(st.scans().join("dress.jpg.hints.toml"), "[[hint]]\nx = 5\ny = 5\ncolor = \"red\"\n").unwrap();
    st.put(&scan, &photo_bytes(160, 120));
    wait_for("the sidecar error", &d, 30, || d.log().contains("dress.jpg.hints.toml"));
    assert!(d.log().contains("#RRGGBB"), "{}", d.log());
    assert!(!colorized(&scan).exists(), "no output while the hints are unreadable");
    // Mending the sidecar (an event on the sidecar alone) colorizes the scan with its hints.
    fs::write(st.scans().join("dress.jpg.hints.toml"), "[[hint]]\nx = 5\ny = 5\ncolor = \"#dc143c\"\n").unwrap();
    wait_for("the colorized copy", &d, 30, || colorized(&scan).exists());
    // Editing it again makes the copy out of date: it is redone.
    let first = fs::metadata(colorized(&scan)).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(st.scans().join("dress.jpg.hints.toml"), "[[hint]]\nx = 50\ny = 50\ncolor = \"#1e90ff\"\n").unwrap();
    wait_for("the redone copy", &d, 30, || fs::metadata(colorized(&scan)).unwrap().modified().unwrap() > first);
    assert_eq!(count_outputs(&st.scans()), 1);
    st.check_originals();
    no_temp_files(&st.scans());
}

#[test]
fn a_sidecar_beside_a_scan_whose_model_takes_no_hints_is_ignored_with_a_warning() {
    // The same rule as `hued colorize`: the scan is colorized, the sidecar (even a malformed
    // one) is not read, and the log says so naming it.
    let st = Station::new();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qdq-nohints.toml");
    let d = Daemon::start(&st.config(&format!("model = {:?}", model.display().to_string()), ""));
    let scan = st.scans().join("coat.jpg");
    fs::write(st.scans().join("coat.jpg.hints.toml"), "not toml at all [[[").unwrap();
    st.put(&scan, &photo_bytes(160, 120));
    wait_for("the colorized copy", &d, 30, || colorized(&scan).exists());
    assert!(d.log().contains("coat.jpg.hints.toml ignored: model tiny-qdq-nohints takes no color hints"), "{}", d.log());
    st.check_originals();
}

#[test]
fn temp_files_of_a_killed_hued_are_swept_at_start() {
    let st = Station::new();
    let out = st.dir.path().join("out");
    fs::create_dir(&out).unwrap();
    // A hued that was killed mid-write (SIGKILL, power cut) left temporaries behind; its
    // process id is free now.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let in_scans = st.scans().join(format!(".hued-tmp-{dead}-0-a.colorized.jpg"));
    let in_out = out.join(format!(".hued-tmp-{dead}-1-b.colorized.jpg"));
    for p in [&in_scans, &in_out] {
        fs::write(p, vec![0u8; 4096]).unwrap();
        // Left an hour ago.
        fs::File::options().write(true).open(p).unwrap().set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)).unwrap();
    }
    let d = Daemon::start(&st.config(&format!("output = {:?}", out.display().to_string()), ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    assert!(!in_scans.exists() && !in_out.exists(), "log:\n{}", d.log());
    assert!(d.log().contains("a temporary file left by a hued process that no longer runs"), "{}", d.log());
    assert_eq!(d.stop(), 0);
}

#[test]
fn an_output_name_too_long_for_the_file_system_fails_once_and_is_not_retried() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // 249 bytes fit as a name; with ".colorized" added the output's name does not (255 max).
    let p = st.scans().join(format!("{}.jpg", "n".repeat(245)));
    st.put(&p, &photo_bytes(80, 60));
    wait_for("permanent failure", &d, 30, || d.log().contains("not retried until the file changes"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(!d.log().contains("retrying in"), "{}", d.log());
    assert_eq!(d.log().matches("started ").count(), 1, "colorized once: {}", d.log());
    assert!(d.alive());
    assert_eq!(d.stop(), 0);
    st.check_originals();
    no_temp_files(&st.scans());
}

#[test]
fn a_fifo_named_like_a_photo_blocks_nothing_and_links_are_skipped() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // A FIFO: opening it for reading would wait for a writer forever.
    let fifo = st.scans().join("a.jpg");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // A link to an image outside the folder: following it would copy that image out.
    let secret = st.dir.path().join("secret.jpg");
    fs::write(&secret, photo_bytes(80, 60)).unwrap();
    let link = st.scans().join("link.jpg");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let good = st.scans().join("good.jpg");
    st.put(&good, &photo_bytes(80, 60));
    wait_for("the good photo", &d, 30, || colorized(&good).exists());
    wait_for("the link skipped", &d, 10, || d.log().contains("is a symbolic link; skipped"));
    assert!(!colorized(&link).exists() && !colorized(&fifo).exists());
    assert!(d.alive());
    let started = Instant::now();
    assert_eq!(d.stop(), 0);
    assert!(started.elapsed() < Duration::from_secs(10), "SIGTERM is obeyed at once");
    st.check_originals();
}

#[test]
fn a_photo_over_the_memory_budget_fails_with_the_numbers_and_the_daemon_goes_on() {
    let st = Station::new();
    let mut d = Daemon::start(&st.config("", "memory_budget_mb = 100"));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // 6 MP: about 16 bytes a pixel + 64 MB = 160 MB, over the whole 100 MB budget.
    let big = st.scans().join("big.png");
    gray_photo(3000, 2000).save(&big).unwrap();
    st.originals.borrow_mut().push((big.clone(), hash(&big)));
    wait_for("refused", &d, 30, || d.log().contains("over the memory budget of 100 MB"));
    assert!(d.log().contains("not retried until the file changes"), "{}", d.log());
    let small = st.scans().join("small.jpg");
    st.put(&small, &photo_bytes(80, 60));
    wait_for("the small one", &d, 30, || colorized(&small).exists());
    assert!(d.alive() && !colorized(&big).exists());
    assert_eq!(d.stop(), 0);
    st.check_originals();
}

/// Signing a TIFF copy holds a whole copy of the file in memory (C2PA's TIFF writer): that comes
/// out of the memory budget too. A TIFF that fills the budget by itself is not signed past it
/// (it could never fit: it fails once, with the numbers, and is not retried); a JPEG of the same
/// size, which needs no such copy, is done.
#[cfg(feature = "c2pa")]
#[test]
fn signing_a_tiff_stays_within_the_memory_budget() {
    let st = Station::new();
    let provenance = format!(
        "memory_budget_mb = 80\n[provenance]\nc2pa_cert = {:?}\nc2pa_key = {:?}",
        c2pa_fixture("chain.pem").display().to_string(),
        c2pa_fixture("signer.key").display().to_string()
    );
    let mut d = Daemon::start(&st.config("", &provenance));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // 1 MP: 16 MB + 64 MB of the 80 MB budget, less than 1 MB left for the signing copy.
    let tiff = st.scans().join("plate.tif");
    gray_photo(1000, 1000).save(&tiff).unwrap();
    st.originals.borrow_mut().push((tiff.clone(), hash(&tiff)));
    wait_for("refused", &d, 60, || d.log().contains("more than the whole memory budget of 80 MB"));
    assert!(d.log().contains("not retried until the file changes"), "{}", d.log());
    assert!(!colorized(&tiff).exists());
    let jpeg = st.scans().join("plate.jpg");
    st.put(&jpeg, &photo_bytes(1000, 1000));
    wait_for("the JPEG", &d, 60, || colorized(&jpeg).exists());
    assert!(d.alive());
    assert_eq!(d.stop(), 0);
    no_temp_files(&st.scans());
    st.check_originals();
}

#[test]
fn a_burst_of_bad_files_writes_the_state_a_few_times_and_gone_files_are_forgotten() {
    let st = Station::new();
    let d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    for i in 0..60 {
        fs::write(st.scans().join(format!("bad{i}.jpg")), b"not a photo").unwrap();
    }
    wait_for("all failed", &d, 60, || d.log().matches("not retried until the file changes").count() == 60);
    let state_file = st.dir.path().join("state/state.json");
    wait_for("the state written", &d, 10, || fs::read_to_string(&state_file).is_ok_and(|s| s.matches("bad").count() >= 60));
    let writes = d.log().matches("state: saved").count();
    assert!(writes <= 10, "{writes} state writes for 60 failures");
    assert_eq!(d.stop(), 0);
    // Files that are gone are dropped from the state at the next start.
    for i in 0..60 {
        fs::remove_file(st.scans().join(format!("bad{i}.jpg"))).unwrap();
    }
    let d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let good = st.scans().join("good.jpg");
    st.put(&good, &photo_bytes(80, 60));
    wait_for("good file", &d, 30, || colorized(&good).exists());
    assert_eq!(d.stop(), 0);
    let state = fs::read_to_string(&state_file).unwrap();
    assert!(!state.contains("bad"), "{state}");
}

#[test]
fn an_original_replaced_by_content_with_an_older_date_is_colorized_again() {
    let st = Station::new();
    let p = st.scans().join("p.jpg");
    fs::write(&p, photo_bytes(80, 60)).unwrap();
    let d = Daemon::start(&st.config("", ""));
    wait_for("first copy", &d, 30, || colorized(&p).exists());
    assert_eq!(d.stop(), 0);
    let first = hash(&colorized(&p));
    // New content with an old modification time, as `rsync -t` or `cp -p` leave it.
    let newer = st.dir.path().join("new.jpg");
    fs::write(&newer, photo_bytes(120, 90)).unwrap();
    assert!(Command::new("touch").args(["-d", "2001-01-01"]).arg(&newer).status().unwrap().success());
    fs::rename(&newer, &p).unwrap();
    let d = Daemon::start(&st.config("", ""));
    wait_for("the copy redone", &d, 30, || colorized(&p).exists() && hash(&colorized(&p)) != first);
    assert_eq!(d.stop(), 0);
}

#[test]
fn a_renamed_or_closed_drop_starts_without_the_stability_delay_and_an_open_writer_still_waits() {
    let st = Station::new();
    let config = st.config("", "");
    let text = fs::read_to_string(&config).unwrap().replace("stability_delay = 0.6", "stability_delay = 6");
    fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    // Temp-then-rename (scanimage --batch, rsync, most scanner software): complete when it appears.
    let part = st.scans().join("scan-0001.jpg.part");
    fs::write(&part, photo_bytes(160, 120)).unwrap();
    let renamed = st.scans().join("scan-0001.jpg");
    let t = Instant::now();
    fs::rename(&part, &renamed).unwrap();
    wait_for("renamed drop", &d, 20, || colorized(&renamed).exists());
    let renamed_after = t.elapsed();
    // Written and closed (a plain copy): after a short confirmation.
    let copied = st.scans().join("copied.jpg");
    let t = Instant::now();
    st.put(&copied, &photo_bytes(160, 120));
    wait_for("copied drop", &d, 20, || colorized(&copied).exists());
    let copied_after = t.elapsed();
    eprintln!("renamed drop colorized after {renamed_after:?}, closed drop after {copied_after:?} (stability delay 6 s)");
    assert!(renamed_after < Duration::from_secs(3), "a renamed drop waited {renamed_after:?}");
    assert!(copied_after < Duration::from_secs(3), "a closed drop waited {copied_after:?}");
    // A writer that keeps its file open between chunks never closed it: the full delay holds.
    let slow = st.scans().join("slow.jpg");
    let bytes = photo_bytes(200, 150);
    let mut f = fs::File::create(&slow).unwrap();
    for chunk in bytes.chunks(bytes.len() / 4 + 1) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert!(!colorized(&slow).exists(), "processed before the writer finished");
    }
    drop(f);
    wait_for("slow writer's file", &d, 20, || colorized(&slow).exists());
    assert!(!d.log().contains("failed"), "{}", d.log());
    st.check_originals();
}

#[test]
fn metrics_textfile_counts_by_watch_and_is_written_atomically() {
    let st = Station::new();
    let prom_dir = st.dir.path().join("node-exporter");
    fs::create_dir(&prom_dir).unwrap();
    let prom = prom_dir.join("hued.prom");
    let d = Daemon::start(&st.config("", &format!("[metrics]\ntextfile = {:?}\ninterval = 1", prom.display().to_string())));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    wait_for("first metrics", &d, 10, || prom.exists());
    let first = fs::read_to_string(&prom).unwrap();
    assert!(first.contains("hued_model_info{model=\"tiny-qdq\""), "{first}");
    assert!(first.contains("hued_last_success_timestamp_seconds 0.000"), "{first}");
    let good = st.scans().join("good.jpg");
    st.put(&good, &photo_bytes(64, 48));
    st.put(&st.scans().join("bad.jpg"), b"not a photo at all");
    let done = format!("hued_files_total{{source=\"watch:{}\",outcome=\"done\"}} 1", st.scans().display());
    let failed = format!("hued_files_total{{source=\"watch:{}\",outcome=\"failed\"}} 1", st.scans().display());
    wait_for("counts in the textfile", &d, 20, || fs::read_to_string(&prom).is_ok_and(|t| t.contains(&done) && t.contains(&failed)));
    assert!(fs::read_to_string(&prom).unwrap().contains("hued_queue_length 0"));
    let names: Vec<_> = fs::read_dir(&prom_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["hued.prom"], "no temp file left beside it");
    assert_eq!(d.stop(), 0);
}

/// Restores a sysctl when dropped (also when the test fails).
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = fs::write(self.path, &self.old);
    }
}

#[test]
fn an_inotify_queue_overflow_is_followed_by_a_rescan_and_nothing_is_missed() {
    // A real overflow: the kernel's per-instance queue is sized when the instance is made, so
    // the daemon starts with max_queued_events = 16, then the limit goes back for everyone else.
    const LIMIT: &str = "/proc/sys/fs/inotify/max_queued_events";
    let Ok(old) = fs::read_to_string(LIMIT) else {
        eprintln!("SKIPPED: {LIMIT} not readable");
        return;
    };
    if !running_as_root() || fs::write(LIMIT, "16").is_err() {
        eprintln!("SKIPPED: changing {LIMIT} needs root");
        return;
    }
    let guard = Sysctl { path: LIMIT, old };
    let st = Station::new();
    let d = Daemon::start(&st.config("", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    drop(guard);
    let bytes = photo_bytes(48, 32);
    for i in 0..300 {
        fs::write(st.scans().join(format!("burst{i:03}.jpg")), &bytes).unwrap();
    }
    wait_for("every file of the burst", &d, 120, || count_outputs(&st.scans()) == 300);
    assert!(d.log().contains("events were lost"), "the overflow should have been seen and answered with a rescan:\n{}", d.log());
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(count_outputs(&st.scans()), 300, "each colorized once");
    assert_eq!(d.stop(), 0);
    no_temp_files(&st.scans());
}

#[test]
fn a_panic_in_the_pipeline_fails_that_photo_alone_and_the_workers_go_on() {
    // The debug build panics on purpose for photos 77 pixels wide (HUED_FAULT_PANIC_WIDTH).
    let st = Station::new();
    let d = Daemon::start_with_env(&st.config("", "workers = 1"), &[("HUED_FAULT_PANIC_WIDTH", "77")]);
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let bad = st.scans().join("bug.jpg");
    st.put(&bad, &photo_bytes(77, 50));
    wait_for("the panic to be reported", &d, 20, || d.log().contains("internal error (please report)"));
    assert!(d.log().contains("fault injected"), "{}", d.log());
    // The only worker survived, and the photo's memory share came back: more photos go through.
    for i in 0..3 {
        let good = st.scans().join(format!("good{i}.jpg"));
        st.put(&good, &photo_bytes(80, 60));
        wait_for("a photo after the panic", &d, 20, || colorized(&good).exists());
    }
    assert!(!colorized(&bad).exists());
    assert!(d.log().contains("not retried until the file changes"), "failed for good, not retried in a loop");
    assert_eq!(d.stop(), 0);
    no_temp_files(&st.scans());
}

#[test]
fn rescan_interval_finds_photos_inotify_cannot_see_on_a_disk_mounted_inside_the_folder() {
    // A file system mounted inside a watched folder after the daemon started (a share, a USB
    // disk): inotify watches the folder underneath and hears nothing of the files on it.
    let st = Station::new();
    let mnt = st.scans().join("share");
    fs::create_dir(&mnt).unwrap();
    let d = Daemon::start(&st.config("recursive = true\nrescan_interval = 1", ""));
    wait_for("start", &d, 20, || d.log().contains("watching 1 folder"));
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "hued-test"]).arg(&mnt).status().is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let photo = mnt.join("from-the-share.jpg");
    fs::write(&photo, photo_bytes(64, 48)).unwrap();
    wait_for("the rescan to find the photo", &d, 20, || colorized(&photo).exists());
    assert!(d.log().contains("rescan of"), "{}", d.log());
    // Found once: later rescans see its copy is up to date.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.log().matches("done ").count(), 1, "{}", d.log());
    assert_eq!(d.stop(), 0);
}

/// Issue 42: a scan's sidecar may name a reference photo inside the watched folder (its colors
/// come through); one outside the folder is refused, naming it, and nothing is written.
#[test]
fn a_sidecar_reference_inside_the_watch_colors_the_scan_and_one_outside_is_refused() {
    let st = Station::new();
    let mut card = scene(230, 170, (0.0, 0.0), 0.7);
    card.pixels_mut().for_each(|p| p.0 = p.0.map(|c| (c as f32 * 1.1 + 10.0).min(255.0) as u8));
    fs::create_dir(st.scans().join("postcards")).unwrap();
    card.save(st.scans().join("postcards/square.png")).unwrap();
    card.save(st.dir.path().join("outside.png")).unwrap();
    let d = Daemon::start(&st.config("", ""));
    let gray = || {
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(scene(320, 240, (12.0, -8.0), 1.0))
            .to_luma8()
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        bytes
    };
    fs::write(st.scans().join("inside.png.hints.toml"), "reference = \"postcards/square.png\"\n").unwrap();
    fs::write(st.scans().join("outside.png.hints.toml"), "reference = \"../outside.png\"\n").unwrap();
    st.put(&st.scans().join("inside.png"), &gray());
    st.put(&st.scans().join("outside.png"), &gray());
    let copy = colorized(&st.scans().join("inside.png"));
    wait_for("the copy with the reference's colors", &d, 60, || copy.exists());
    wait_for("the refusal", &d, 30, || d.log().contains("is not a file inside the watched folder"));
    let img = image::open(&copy).unwrap().to_rgb8();
    let disc = mean_rgb(&img, 104, 74, 16, 16);
    assert!(disc[0] > disc[1] + 50.0, "the disc takes the postcard's red: {disc:?}");
    assert!(!colorized(&st.scans().join("outside.png")).exists(), "no copy from a reference outside the folder");
    st.check_originals();
    no_temp_files(&st.scans());
}
