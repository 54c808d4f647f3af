//! The `hued` command line.

use crate::base::{Exit, OutputTarget, PhotoOutcome};
use crate::config::{load_config, ColorizeOverrides, Config, LevelsMode};
use crate::hints::Hint;
use crate::job::{Job, Loaded, Profile, ResolveError};
use crate::model::{resolve_manifest, Model};
use crate::pipeline::{self, Outcome, Written};
use crate::source::args;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// println! and eprintln! that do not panic when the reader is gone (`hued colorize 2>&1 |
/// head -3`): a batch goes on without its messages (its --report file keeps the record);
/// with the std macros the first message after the pipe closed panicked and stopped the batch.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(name = "hued", version, about = "Offline photo colorizer for scanning stations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Colorize photos; each copy is written beside its original as <name>.colorized.<ext>.
    Colorize(ColorizeArgs),
    /// Parse and validate a config file and print the settings in effect.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Document cameras: list them, or take one snapshot.
    #[command(subcommand)]
    Camera(CameraCommand),
    /// Watch the folders of a config file and colorize new photos (the service).
    Run {
        /// The config file.
        #[arg(long, short, default_value = "/etc/hued/hued.toml")]
        config: PathBuf,
    },
    /// Time each pipeline stage on generated 1 MP / 12 MP JPEGs and a 50 MP 16-bit TIFF.
    Bench(crate::bench::BenchArgs),
    /// Reports written by `hued colorize --report`.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Merge report files (e.g. one per shard): each input counted once, by its last line.
    /// Prints the totals as JSON; exits 1 when any input's last outcome is a failure.
    Merge {
        /// The .jsonl files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CameraCommand {
    /// List the V4L2 devices with their formats and frame sizes.
    List,
    /// Capture one frame from DEVICE into the file OUT (JPEG or PNG by its extension).
    Snapshot {
        /// e.g. /dev/video0
        device: PathBuf,
        /// The image file to write.
        out: PathBuf,
        /// Preferred pixel formats, comma-separated (default: MJPEG,YUYV,GREY).
        #[arg(long, default_value = "MJPEG,YUYV,GREY")]
        formats: String,
        /// Requested frame width (default: 1920).
        #[arg(long, default_value_t = 1920)]
        width: u32,
        /// Requested frame height (default: 1080).
        #[arg(long, default_value_t = 1080)]
        height: u32,
    },
}

#[derive(Args)]
struct ColorizeArgs {
    /// Photos, or folders of photos.
    #[arg(required_unless_present = "files_from")]
    paths: Vec<PathBuf>,
    /// Also the photos listed in FILE, one path per line ("-": standard input).
    #[arg(long, value_name = "FILE")]
    files_from: Option<PathBuf>,
    /// With --files-from: the paths are separated by NUL bytes (find -print0), not lines.
    #[arg(short = '0', long = "null", requires = "files_from")]
    null: bool,
    /// Only this slice of the inputs: K/N (K from 0 to N-1), by a hash of each path relative
    /// to its folder argument, so that N machines split the work without talking; or "auto",
    /// from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (default: all inputs).
    #[arg(long, value_name = "K/N|auto")]
    shard: Option<String>,
    /// With --shard auto: how many tasks share the work (default: SLURM_ARRAY_TASK_COUNT).
    #[arg(long, value_name = "N")]
    shards: Option<u64>,
    /// Append one JSON line per input to FILE (path, outcome, reason, output, sha256, model,
    /// ms), flushed as it goes; `hued report merge` totals several.
    #[arg(long, value_name = "FILE.jsonl")]
    report: Option<PathBuf>,
    /// Write the colorized copies into this folder instead of beside the originals.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Config file whose [colorize] section applies (default: built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model manifest (.toml) or its .onnx (default: the shipped model).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Color strength: 0 gray, 1 the model's colors, up to 4 (default: config, else 1.0).
    #[arg(long, value_name = "X")]
    vividness: Option<f64>,
    /// Levels correction before colorizing: auto, on or off (default: config, else auto).
    #[arg(long, value_name = "auto|on|off", value_parser = config_word::<LevelsMode>)]
    levels: Option<LevelsMode>,
    /// Threads for the model and the per-pixel stages, 0 = one per core (default: config, else 0).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How the model's arithmetic runs: auto, f32, f16 or qdq (default: config, else auto).
    #[arg(long, value_name = "auto|f32|f16|qdq", value_parser = config_word::<crate::model::Precision>)]
    precision: Option<crate::model::Precision>,
    /// Colorize photos that are already in color too, and redo copies that are up to date
    /// (default: skip both).
    #[arg(long)]
    force: bool,
    /// Also write <name>.<ext>.compare.jpg: original and colorized side by side.
    #[arg(long)]
    compare: bool,
    /// Recurse into subfolders.
    #[arg(short, long)]
    recursive: bool,
    /// A color photo of the same scene (a postcard of the same church, a color print of the same
    /// street): where it matches a photo, its colors guide the copy's; where it does not, it
    /// changes nothing. Applies to every photo given; a scan's sidecar may name its own
    /// (default: config, else none).
    #[arg(long, value_name = "FILE")]
    reference: Option<PathBuf>,
    /// A color hint, X,Y,#RRGGBB: "the photo was this color at pixel X,Y" (from the top-left
    /// corner of the photo as shown); its color spreads over the region the point lies in.
    /// Repeatable; applies to every photo given. Without --hint or --stroke, a sidecar
    /// <photo>.hints.toml beside a photo gives its hints (default: none).
    #[arg(long = "hint", value_name = "X,Y,#RRGGBB", value_parser = parse_hint)]
    hints: Vec<Hint>,
    /// A color stroke, "X1,Y1 X2,Y2 ...,#RRGGBB": a line drawn over a region (its points, in
    /// pixels from the top-left corner, then the color). Like --hint, the color spreads over
    /// the region the line lies in. Repeatable; applies to every photo given, like --hint.
    #[arg(long = "stroke", value_name = "X1,Y1 X2,Y2 ...,#RRGGBB", value_parser = Hint::parse_stroke)]
    strokes: Vec<Hint>,
}

fn parse_hint(s: &str) -> Result<Hint, String> {
    s.parse()
}

/// A flag whose value is one of a config setting's words (`--levels off` as `levels = "off"`):
/// read by the setting's own serde names, so the flag and the file never disagree.
pub(crate) fn config_word<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    T::deserialize(s.into_deserializer()).map_err(|e: serde::de::value::Error| e.to_string())
}

/// Runs the command line; returns the process exit code.
pub fn main() -> Exit {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Success };
        }
    };
    match cli.command {
        Command::Colorize(a) => colorize(a),
        Command::CheckConfig { file } => check_config(&file),
        Command::Bench(a) => crate::bench::run(a),
        Command::Run { config } => crate::daemon::run(&config),
        Command::Camera(c) => camera(c),
        Command::Report(ReportCommand::Merge { files }) => report_merge(&files),
    }
}

/// env_logger on stderr, `RUST_LOG` to filter (default: info); without timestamps when
/// journald is the sink (it adds its own).
pub fn init_logging() {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,c2pa=warn"));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        b.format_timestamp(None);
    }
    let _ = b.try_init();
}

fn camera(c: CameraCommand) -> Exit {
    use crate::source::camera::{frame::PixelFormat, v4l2, FrameSource};
    match c {
        CameraCommand::List => {
            let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev")
                .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().starts_with("/dev/video")).collect())
                .unwrap_or_default();
            nodes.sort();
            if nodes.is_empty() {
                say!("no V4L2 cameras (/dev/video*) found");
            }
            for node in nodes {
                match v4l2::describe(&node) {
                    Ok(text) => print!("{text}"),
                    Err(e) => say!("{e}"),
                }
            }
            Exit::Success
        }
        CameraCommand::Snapshot { device, out, formats, width, height } => {
            let formats: Vec<PixelFormat> = formats.split(',').filter_map(|f| PixelFormat::parse(f.trim())).collect();
            if formats.is_empty() {
                say_err!("error: --formats: expected some of MJPEG, YUYV, GREY");
                return Exit::Usage;
            }
            let result = v4l2::V4lCamera::open(&device, &formats, width, height).map_err(anyhow::Error::from).and_then(|mut cam| {
                // The first frames of a UVC camera are often dark while exposure settles.
                for _ in 0..5 {
                    cam.next_frame()?;
                }
                let frame = cam.next_frame()?;
                let img = crate::source::camera::frame::decode_frame(&frame)?;
                let mut file = crate::sink::AtomicFile::create(&out)?;
                let format = image::ImageFormat::from_path(&out).unwrap_or(image::ImageFormat::Jpeg);
                img.to_rgb8().write_to(&mut file, format)?;
                file.commit()?;
                Ok(())
            });
            match result {
                Ok(()) => {
                    say!("{}", out.display());
                    Exit::Success
                }
                Err(e) => {
                    say_err!("error: {e:#}");
                    Exit::Failed
                }
            }
        }
    }
}

fn check_config(file: &Path) -> Exit {
    match load_config(file) {
        Ok(config) => {
            say!("{}: OK", file.display());
            print_effective(&config);
            let mut loaded = Loaded::default();
            match Profile::resolve(&config, None, &ColorizeOverrides::default(), &mut loaded) {
                Ok(profile) => {
                    say!("# model: {} loads (sha256 {})", profile.model.manifest.name, profile.model.sha256);
                    match &profile.settings.credentials {
                        Some(c) => say!("# provenance: JPEG, PNG, TIFF and WebP copies carry Content Credentials signed with {c:?} (BMP copies and comparison sheets carry none)"),
                        None => say!("# provenance: XMP only (no [provenance] c2pa_cert and c2pa_key: no Content Credentials)"),
                    }
                    for w in &config.watch {
                        if let Err(e) = Profile::resolve(&config, Some(w), &ColorizeOverrides::default(), &mut loaded) {
                            say_err!("error: watch {}: {e}", w.path.display());
                            return Exit::Usage;
                        }
                    }
                    Exit::Success
                }
                Err(e) => {
                    say_err!("error: {e}");
                    Exit::Usage
                }
            }
        }
        Err(e) => {
            say_err!("error: {e}");
            Exit::Usage
        }
    }
}

/// The settings in effect, as TOML (the config's own serialization: a new setting shows up
/// here by itself): every section with its defaults filled in, the model's path resolved, and
/// for each watch its `[colorize]` settings after its overrides.
fn print_effective(config: &Config) {
    let mut effective = config.clone();
    effective.colorize.model = resolve_manifest(config.colorize.model.as_deref()).ok();
    match toml::to_string(&effective) {
        Ok(text) => say!("{}", text.trim_end()),
        Err(e) => say_err!("warning: the settings could not be printed: {e}"),
    }
    say!("# precision {} runs as {} on this CPU", config.colorize.precision, config.colorize.precision.resolve());
    for (i, w) in config.watch.iter().enumerate() {
        let mut c = w.colorize_settings(&config.colorize);
        c.model = resolve_manifest(c.model.as_deref()).ok();
        let text = toml::to_string(&c).unwrap_or_default();
        say!("\n# watch #{} ({}): [colorize] in effect for its photos", i + 1, w.path.display());
        for line in text.lines() {
            say!("#   {line}");
        }
    }
    let w = &config.web;
    if w.enabled {
        say!("# web: http://{}/ (kiosk view /kiosk); token {}", w.listen, if w.token.is_some() { "required" } else { "none" });
    }
}

fn colorize(a: ColorizeArgs) -> Exit {
    remove_temps_on_signal();
    let config = match &a.config {
        Some(path) => match load_config(path) {
            Ok(c) => c,
            Err(e) => {
                say_err!("error: {e}");
                return Exit::Usage;
            }
        },
        None => Config::default(),
    };
    let Plan { profile, target, hints, shard, listed, mut report } = match plan(&a, &config) {
        Ok(p) => p,
        Err((exit, message)) => {
            say_err!("error: {message}");
            return exit;
        }
    };
    let run = Run { target: &target, profile, given_reference: a.reference.is_some(), hints: &hints, shard, run_id: crate::report::new_run_id() };
    let list_error = std::cell::RefCell::new(None);
    let listed = listed.map_while(|r| r.map_err(|e| *list_error.borrow_mut() = Some(e)).ok());
    let summary = run.all(args::stream(&a.paths, listed, a.recursive), report.as_mut());
    // With the report on standard output, the summary goes to standard error: the report stays
    // JSON lines only.
    summary.print(a.report.as_deref().is_some_and(|r| r.as_os_str() == "-"));
    let mut exit = if summary.failed.is_empty() { Exit::Success } else { Exit::Failed };
    if let Some(e) = list_error.into_inner() {
        let list = a.files_from.as_deref().unwrap_or(Path::new("-"));
        say_err!(
            "error: --files-from {}: {e}; the list was read only up to there",
            if list.as_os_str() == "-" { "(standard input)".into() } else { list.display().to_string() }
        );
        exit = Exit::Failed;
    }
    if let Some((e, lost)) = &summary.report_error {
        // The run's record is gone: whatever the photos did, the run did not do all it must.
        say_err!("error: {e} ({lost} line(s) lost); the run fails so that its missing record is noticed");
        exit = Exit::Failed;
    }
    exit
}

/// What a `hued colorize` run is, worked out once from its flags and its config (ripgrep's
/// way: raw flags and config become resolved settings in exactly one place): the model, where
/// copies go, the per-photo settings, the hints, the shard, the list to read and the report to
/// write. An error is what to print and the exit code it means.
struct Plan {
    profile: Arc<Profile>,
    target: OutputTarget,
    hints: Vec<Hint>,
    shard: Option<args::Shard>,
    listed: Box<dyn Iterator<Item = std::io::Result<PathBuf>>>,
    report: Option<crate::report::ReportWriter>,
}

fn plan(a: &ColorizeArgs, config: &Config) -> Result<Plan, (Exit, String)> {
    // The flags override the config's [colorize] through the same resolver and rules as a
    // [[watch]] entry's fields and a kiosk upload's options.
    let flags = ColorizeOverrides {
        model: a.model.clone().map(Some),
        vividness: a.vividness,
        levels: a.levels,
        precision: a.precision,
        threads: a.threads,
        reference: a.reference.clone().map(Some),
        ..Default::default()
    };
    let profile = match Profile::resolve(config, None, &flags, &mut Loaded::default()) {
        Ok(p) => p,
        Err(ResolveError::Bad(bad)) => return Err((Exit::Usage, format!("--{} {}: expected {}", bad.key.replace('_', "-"), bad.value, bad.expected))),
        Err(ResolveError::Load(e)) => return Err((Exit::Usage, format!("{e:#}"))),
    };
    let model: &Model = &profile.model;
    crate::model::set_threads(profile.colorize.threads);
    if let Some(out) = &a.out {
        if let Err(e) = std::fs::create_dir_all(out) {
            return Err((Exit::Failed, format!("cannot create output folder {}: {e}", out.display())));
        }
    }
    // Points first, then strokes, as in a sidecar.
    let hints: Vec<Hint> = a.hints.iter().chain(&a.strokes).cloned().collect();
    if !hints.is_empty() && !model.has_hints() {
        return Err((Exit::Usage, format!("{}: model {} takes no color hints", if a.hints.is_empty() { "--stroke" } else { "--hint" }, model.manifest.name)));
    }
    let target = a.out.clone().map_or(OutputTarget::Beside, OutputTarget::Folder);
    let settings = crate::job::Settings { compare: a.compare, force: a.force, ..profile.settings.clone() };
    let profile = Arc::new(profile.with_settings(settings));
    let shard = match (a.shard.as_deref(), a.shards) {
        (None, None) => None,
        (None, Some(_)) => return Err((Exit::Usage, "--shards goes with --shard auto".into())),
        (Some("auto"), count) => match args::Shard::from_env(count, |k| std::env::var(k).ok()) {
            Ok((shard, source)) => {
                say_err!("shard {}/{} (from {source})", shard.index, shard.count);
                Some(shard)
            }
            Err(e) => return Err((Exit::Usage, e.to_string())),
        },
        (Some(spec), None) => Some(args::Shard::parse(spec).map_err(|e| (Exit::Usage, e.to_string()))?),
        (Some(_), Some(_)) => return Err((Exit::Usage, "--shards goes with --shard auto; give --shard K/N alone".into())),
    };
    let listed: Box<dyn Iterator<Item = std::io::Result<PathBuf>>> = match &a.files_from {
        None => Box::new(std::iter::empty()),
        Some(p) if p.as_os_str() == "-" => Box::new(args::list_file(std::io::stdin().lock(), a.null)),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(args::list_file(std::io::BufReader::new(f), a.null)),
            Err(e) => return Err((Exit::Usage, format!("--files-from {}: {e}", p.display()))),
        },
    };
    let report = a
        .report
        .as_deref()
        .map(crate::report::ReportWriter::open)
        .transpose()
        .map_err(|e| (Exit::Usage, format!("--report {}: {e}", a.report.as_deref().unwrap_or(Path::new("")).display())))?;
    Ok(Plan { profile, target, hints, shard, listed, report })
}

/// What a `hued colorize` run applies to each input.
struct Run<'a> {
    target: &'a OutputTarget,
    /// The settings and the model, for every photo of the run.
    profile: Arc<Profile>,
    /// --reference was given: it wins over a sidecar's, as --hint does.
    given_reference: bool,
    /// --hint (else each photo's sidecar).
    hints: &'a [Hint],
    shard: Option<args::Shard>,
    /// This run's id in its report lines.
    run_id: String,
}

impl Run<'_> {
    /// Colorizes the inputs as they stream in; reports each to `report`.
    fn all(&self, inputs: impl Iterator<Item = args::Input>, mut report: Option<&mut crate::report::ReportWriter>) -> Summary {
        let mut summary = Summary::default();
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {pos} {wide_msg}").expect("valid template"));
        // Two photos whose copies would land on the same name (a/IMG_0001.png and b/IMG_0001.png
        // with one --out): the first is colorized, the second refused, naming both.
        let mut claimed: std::collections::HashMap<PathBuf, PathBuf> = std::collections::HashMap::new();
        // Output folders already swept of the temporaries of dead runs (a SIGKILL, a node that
        // went down): each once, before this run first writes there.
        let mut swept: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        // The files taken so far, by device and inode.
        let mut seen: std::collections::HashMap<(u64, u64), PathBuf> = std::collections::HashMap::new();
        for input in inputs {
            let (path, key, subfolder) = match input {
                args::Input::Rejected(r) => {
                    if r.key.as_deref().is_some_and(|k| self.shard.is_some_and(|s| !s.takes(k))) {
                        continue;
                    }
                    if r.is_error {
                        bar.suspend(|| say_err!("error: {}: {}", r.path.display(), r.reason));
                    } else if r.key.is_some() {
                        bar.suspend(|| log::warn!("{}: {}", r.path.display(), r.reason));
                    }
                    if !r.is_input {
                        continue;
                    }
                    self.record(
                        &mut report,
                        &mut summary,
                        &r.path,
                        if r.is_error { PhotoOutcome::Failed } else { PhotoOutcome::Skipped },
                        Some(&r.reason),
                        None,
                        0,
                    );
                    if r.is_error { &mut summary.failed } else { &mut summary.skipped }.push((r.path, r.reason));
                    continue;
                }
                args::Input::Photo { path, key, subfolder } => (path, key, subfolder),
            };
            if self.shard.is_some_and(|s| !s.takes(&key)) {
                continue;
            }
            if args::is_hued_output(&path, &self.profile.colorize.suffix) {
                // hued's own copy: passed over in a folder, a skip when named.
                if subfolder.is_none() {
                    let reason = "is a colorized copy made by hued".to_string();
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Skipped, Some(&reason), None, 0);
                    summary.skipped.push((path, reason));
                }
                continue;
            }
            // One photo reached twice (listed twice, spelled two ways, or through a link to
            // a folder): one input, colorized once.
            if let Some(first) = identity(&path).and_then(|id| match seen.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => Some(e.get().clone()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(path.clone());
                    None
                }
            }) {
                summary.skipped.push((path, format!("listed more than once (as {})", first.display())));
                continue;
            }
            bar.set_message(path.display().to_string());
            let started = std::time::Instant::now();
            let ms = || started.elapsed().as_millis() as u64;
            // With --out, a photo found in a folder keeps its subfolder there: box1/IMG.jpg and
            // box2/IMG.jpg get a copy each, whichever shards or runs make them.
            let target = match (self.target, subfolder.as_deref()) {
                (OutputTarget::Folder(out), Some(sub)) if !sub.as_os_str().is_empty() => OutputTarget::Folder(out.join(sub)),
                (target, _) => target.clone(),
            };
            if let OutputTarget::Folder(folder) = &target {
                if let Err(e) = std::fs::create_dir_all(folder) {
                    let reason = format!("cannot create output folder {}: {e}", folder.display());
                    bar.suspend(|| say_err!("error: {}: {reason}", path.display()));
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Failed, Some(&reason), None, 0);
                    summary.failed.push((path, reason));
                    continue;
                }
            }
            let job = Job::new(path.clone(), &target, self.profile.clone());
            let folder = job.output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
            if !swept.contains(&folder) {
                for temp in crate::sink::sweep_stale_temps(&folder, false) {
                    bar.suspend(|| log::info!("removed {}, left by a run that was stopped", temp.display()));
                }
                swept.insert(folder);
            }
            if let Some(first) = claimed.get(&job.output) {
                let reason =
                    format!("its copy {} would overwrite the copy of {}: colorize them into different --out folders", job.output.display(), first.display());
                bar.suspend(|| say_err!("error: {}: {reason}", path.display()));
                self.record(&mut report, &mut summary, &path, PhotoOutcome::Failed, Some(&reason), None, 0);
                summary.failed.push((path, reason));
                continue;
            }
            claimed.insert(job.output.clone(), path.clone());
            let job = match crate::job::photo_extras(&path, &self.profile, self.hints, self.given_reference) {
                Ok(extras) => {
                    if let Some(w) = &extras.warning {
                        bar.suspend(|| log::warn!("{}: {w}", path.display()));
                    }
                    job.with_extras(extras)
                }
                Err(reason) => {
                    bar.suspend(|| say_err!("error: {}: {reason}", path.display()));
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Failed, Some(&reason), None, ms());
                    summary.failed.push((path, reason));
                    continue;
                }
            };
            match pipeline::colorize(&job) {
                Ok(Outcome::Done(Written { output, steps, warning, source_sha256 })) => {
                    if let Some(w) = &warning {
                        bar.suspend(|| log::warn!("{}: {w}", path.display()));
                    }
                    bar.suspend(|| log::info!("{} -> {} in {steps}", path.display(), output.display()));
                    if let Some(note) = pipeline::reference::note(&steps) {
                        bar.suspend(|| say_err!("{}: {note}", path.display()));
                    }
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Done, warning.as_deref(), Some((&output, &source_sha256)), ms());
                    summary.done += 1;
                }
                Ok(Outcome::Skipped(reason)) => {
                    bar.suspend(|| log::info!("{}: skipped: {reason} (use --force to colorize anyway)", path.display()));
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Skipped, Some(&reason.to_string()), None, ms());
                    summary.skipped.push((path, reason.to_string()));
                }
                Err(e) => {
                    bar.suspend(|| say_err!("error: {e}"));
                    self.record(&mut report, &mut summary, &path, PhotoOutcome::Failed, Some(&e.error.to_string()), None, ms());
                    summary.failed.push((e.path, e.error.to_string()));
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        summary
    }

    /// One line of the report, if one is kept. A report that cannot be written stops no
    /// photo (the photos are the work), but the run fails at its end, naming the report.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        report: &mut Option<&mut crate::report::ReportWriter>,
        summary: &mut Summary,
        path: &Path,
        outcome: PhotoOutcome,
        reason: Option<&str>,
        done: Option<(&Path, &str)>,
        ms: u64,
    ) {
        let Some(report) = report else { return };
        let record = crate::report::Record {
            path: path.to_path_buf(),
            outcome,
            reason: reason.map(str::to_string),
            output: done.map(|d| d.0.to_path_buf()),
            sha256: done.map(|d| d.1.to_string()),
            model: self.profile.model.manifest.name.clone(),
            ms,
            shard: self.shard.map(|s| format!("{}/{}", s.index, s.count)),
            at: crate::report::now_utc(),
            run: self.run_id.clone(),
        };
        if let Err(e) = report.write(&record) {
            match &mut summary.report_error {
                Some((_, lost)) => *lost += 1,
                None => {
                    log::error!("{e}");
                    summary.report_error = Some((e.to_string(), 1));
                }
            }
        }
    }
}

fn report_merge(files: &[PathBuf]) -> Exit {
    match crate::report::merge(files) {
        Ok(t) => {
            say!("{}", serde_json::to_string_pretty(&t).expect("totals serialize"));
            say_err!(
                "{} inputs: {} done, {} skipped, {} failed ({} reported more than once, {} unreadable lines)",
                t.inputs,
                t.done,
                t.skipped,
                t.failed,
                t.repeated,
                t.bad_lines
            );
            if t.failed > 0 {
                Exit::Failed
            } else {
                Exit::Success
            }
        }
        Err(e) => {
            say_err!("error: {e:#}");
            Exit::Usage
        }
    }
}

#[derive(Default)]
struct Summary {
    done: usize,
    skipped: Vec<(PathBuf, String)>,
    failed: Vec<(PathBuf, String)>,
    /// The first failed report write, and how many lines were lost.
    report_error: Option<(String, usize)>,
}

impl Summary {
    fn print(&self, to_stderr: bool) {
        let mut text = format!("{} done, {} skipped, {} failed\n", self.done, self.skipped.len(), self.failed.len());
        for (p, r) in &self.skipped {
            text += &format!("  skipped {}: {r}\n", p.display());
        }
        for (p, r) in &self.failed {
            text += &format!("  failed  {}: {r}\n", p.display());
        }
        if to_stderr {
            say_err!("{}", text.trim_end());
        } else {
            say!("{}", text.trim_end());
        }
    }
}

/// A file's device and inode: what tells one file reached by two paths.
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// SIGTERM (Slurm at a job's time limit, preemption, `kill`) or SIGINT (Ctrl-C) stops a
/// `hued colorize` run at once, without leaving the temporary file of the copy being written:
/// a thread removes it and ends the process with 128 + the signal's number, as the signal
/// itself would. What was written before stays; a rerun goes on from there.
fn remove_temps_on_signal() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) else {
        return; // the default action then: the temporary file stays, as before
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _held = crate::sink::remove_live_temps();
            say_err!("hued colorize: stopped by signal {signal}; the copy being written was removed");
            std::process::exit(128 + signal);
        }
    });
}
