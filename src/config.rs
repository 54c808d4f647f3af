//! hued.toml: parsed by the pure [`parse_config`], loaded from disk by [`load_config`].
//!
//! Every option's documentation ends with its default. `config/hued.toml` is the annotated
//! example of every option.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How photos are colorized; shared by `hued colorize` and the daemon. Default: see [`ColorizeConfig`].
    #[serde(default)]
    pub colorize: ColorizeConfig,
    /// How the daemon (`hued run`) works. Default: see [`DaemonConfig`].
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Folders the daemon watches (`[[watch]]`, any number). Default: none.
    #[serde(default)]
    pub watch: Vec<WatchConfig>,
    /// Document cameras the daemon reads (`[[camera]]`, any number). Default: none.
    #[serde(default)]
    pub camera: Vec<CameraConfig>,
    /// The kiosk web page served by the daemon. Default: see [`WebConfig`] (off).
    #[serde(default)]
    pub web: WebConfig,
    /// Counters for monitoring a fleet of stations. Default: see [`MetricsConfig`] (no file).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Signed Content Credentials on every copy. Default: see [`ProvenanceConfig`] (none).
    #[serde(default)]
    pub provenance: ProvenanceConfig,
}

/// The `[provenance]` section: a signed C2PA manifest (Content Credentials) in every copy, when
/// the institution gives hued a signing certificate and its key. Without them a copy carries
/// its XMP provenance and AI label only: a manifest signed with a key nobody vouches for would
/// prove nothing.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceConfig {
    /// PEM certificate chain: the signing certificate first, then the certificates that issued
    /// it (not the root). Default: none (no Content Credentials).
    pub c2pa_cert: Option<PathBuf>,
    /// PEM private key of the signing certificate (ECDSA P-256/P-384, RSA-PSS or Ed25519).
    /// Default: none.
    pub c2pa_key: Option<PathBuf>,
}

/// The `[metrics]` section: Prometheus counters for node_exporter's textfile collector.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Write the counters to this file, atomically, every `interval` seconds, e.g.
    /// "/var/lib/prometheus/node-exporter/hued.prom". Default: none (the kiosk page, when on,
    /// serves the same text at /metrics).
    pub textfile: Option<PathBuf>,
    /// Seconds between writes of the textfile. Default: 5.
    pub interval: f64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { textfile: None, interval: 5.0 }
    }
}

/// The `[web]` section: the kiosk page (upload, colorize, download; nothing kept).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serve the page at all. Default: false.
    pub enabled: bool,
    /// Address and port to listen on; a LAN address (or 0.0.0.0) lets phones on the network
    /// in. Default: "127.0.0.1:8080" (this machine only).
    pub listen: String,
    /// When set, every request to the page's API must carry it (`?token=` in the page's
    /// address, or an `Authorization: Bearer` header). Meant for LAN mode. Default: none.
    pub token: Option<String>,
    /// Largest upload, in megabytes. Default: 50.
    pub max_upload_mb: f64,
    /// Most uploads waiting or being colorized at once; more get "busy, retry later" (HTTP 503),
    /// as do uploads while 4 x this many results wait in memory to be downloaded. Default: 4.
    pub queue_capacity: usize,
    /// Photos colorized at the same time for the page (beside the daemon's own workers). Default: 1.
    pub workers: usize,
    /// Minutes a result waits to be downloaded before it is dropped. Default: 10.
    pub keep_minutes: f64,
    /// Host names the page answers to besides IP addresses, localhost and this machine's own
    /// name (and name.local): e.g. a DNS name the library gave the station. Requests for any
    /// other name are refused (a defence against DNS rebinding). Default: none.
    pub allowed_hosts: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: false,
            listen: "127.0.0.1:8080".into(),
            token: None,
            max_upload_mb: 50.0,
            queue_capacity: 4,
            workers: 1,
            keep_minutes: 10.0,
            allowed_hosts: Vec::new(),
        }
    }
}

/// When a camera captures.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A new photo was placed and stayed still for `settle` seconds.
    #[default]
    OnNewDocument,
    /// Every `interval` seconds.
    Interval,
    /// On SIGUSR1 or when `trigger_file` appears (a kiosk button).
    OnSignal,
}

/// How captures are saved.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SaveFormat {
    /// JPEG (an MJPEG camera's own bytes).
    #[default]
    Jpeg,
    /// PNG (lossless).
    Png,
}

/// One `[[camera]]` entry: a V4L2 document camera.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// `/dev/videoN`, or better a stable `/dev/v4l/by-id/...` path. Required.
    pub device: PathBuf,
    /// Pixel formats in order of preference. Default: ["MJPEG", "YUYV", "GREY"].
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Requested frame width; the camera picks its nearest. Default: 1920.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Requested frame height. Default: 1080.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Folder for the captures; each colorized copy is written beside its capture. Required.
    pub output: PathBuf,
    /// "on_new_document", "interval" or "on_signal". Default: "on_new_document".
    #[serde(default)]
    pub trigger: TriggerKind,
    /// Seconds a newly placed photo must lie still before it is captured. Default: 1.5.
    #[serde(default = "default_settle")]
    pub settle: f64,
    /// Seconds between captures for trigger = "interval". Default: 10.
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// For trigger = "on_signal": a capture is taken when this file appears (and it is
    /// removed), as well as on SIGUSR1. Default: none.
    #[serde(default)]
    pub trigger_file: Option<PathBuf>,
    /// "jpeg" or "png". Default: "jpeg".
    #[serde(default)]
    pub save_as: SaveFormat,
}

fn default_formats() -> Vec<String> {
    vec!["MJPEG".into(), "YUYV".into(), "GREY".into()]
}
fn default_width() -> u32 {
    1920
}
fn default_height() -> u32 {
    1080
}
fn default_settle() -> f64 {
    1.5
}
fn default_interval() -> f64 {
    10.0
}

/// The `[daemon]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the daemon keeps its record of failed files. Default: "/var/lib/hued".
    pub state_dir: PathBuf,
    /// Photos colorized at the same time (the model is the heavy part). Default: 1.
    pub workers: usize,
    /// Seconds a file's size and modification time must stay unchanged before it is taken
    /// as completely written. Default: 3.0.
    pub stability_delay: f64,
    /// Most photos waiting for a worker; further ones wait for the next scan. Default: 10000.
    pub queue_capacity: usize,
    /// Seconds to let the current photo finish on SIGTERM before abandoning it. Default: 20.0.
    pub shutdown_timeout: f64,
    /// Longest wait between retries of a transient failure, in seconds. Default: 300.
    pub max_retry_delay: f64,
    /// Memory all photos being colorized at once may use together (folder watches, camera and
    /// the kiosk page), in MB. A photo takes about 16 bytes a pixel plus 64 MB while it is
    /// colorized: 1536 MB fits one 90 MP scan, or two of 45 MP, inside the unit's MemoryMax=2G
    /// with room for the model and the page. A photo needing more than all of it fails with a
    /// message. Default: 1536.
    pub memory_budget_mb: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: PathBuf::from("/var/lib/hued"),
            workers: 1,
            stability_delay: 3.0,
            queue_capacity: 10_000,
            shutdown_timeout: 20.0,
            max_retry_delay: 300.0,
            memory_budget_mb: 1536,
        }
    }
}

/// One `[[watch]]` entry: a folder whose new photos are colorized.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WatchConfig {
    /// The folder. Required.
    pub path: PathBuf,
    /// Watch its subfolders too. Default: false.
    #[serde(default)]
    pub recursive: bool,
    /// File name globs to take. Default: the supported image extensions, any case.
    #[serde(default)]
    pub include: Vec<String>,
    /// File name globs to ignore, on top of the built-in ones (dotfiles, `*.tmp`, `*.part`,
    /// `*~` and hued's own outputs). Default: none.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Write the colorized copies into this folder, mirroring the watched tree, instead of
    /// beside the originals. Default: beside.
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// Poll the folder instead of relying on inotify (needed for SMB/NFS mounts). Default: false.
    #[serde(default)]
    pub poll: bool,
    /// Colorize files that are symbolic links too. Off, anyone who can drop a link into the
    /// folder could have hued read (and copy, colorized) any image it can read. Default: false.
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Seconds between polls. Default: 5.0.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: f64,
    /// With inotify (poll = false): also list the whole folder every this many seconds, for
    /// changes inotify cannot see: a share or disk mounted inside the folder after hued
    /// started, writes by other machines to a network file system. Each rescan lists every
    /// file (no file is read unless it needs colorizing). 0 = never. Default: 0.
    #[serde(default)]
    pub rescan_interval: f64,
    /// Any `[colorize]` key but `threads`, for this folder's photos (`vividness = 1.3`,
    /// `levels = "off"`, another `model` ...). Default: none, the section's values.
    #[serde(flatten)]
    pub colorize: ColorizeOverrides,
    /// Keys that are neither a watch's nor `[colorize]`'s: refused by [`parse_config`], naming
    /// their line (serde cannot deny unknown fields beside a flattened struct).
    #[serde(flatten, skip_serializing)]
    pub unknown: std::collections::BTreeMap<String, toml::Value>,
}

fn default_poll_interval() -> f64 {
    5.0
}

impl WatchConfig {
    /// The `[colorize]` settings with this folder's overrides applied.
    pub fn colorize_settings(&self, base: &ColorizeConfig) -> ColorizeConfig {
        base.apply(&self.colorize)
    }
}

/// Whether the black and white points are stretched before colorizing (`levels` in
/// hued.toml, `--levels` on the command line: one type for both).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LevelsMode {
    /// Stretch only a faded print: one whose black point is lifted and whose tonal range is
    /// compressed (see `prepare::is_faded`); well-exposed photos keep their tones.
    Auto,
    /// Always the percentile black/white-point stretch (unless the image is flat).
    On,
    /// Keep the tones as scanned.
    Off,
}

/// A `[colorize]` value out of range: which key, the value as written, and what is expected.
#[derive(Debug, Clone, PartialEq)]
pub struct BadValue {
    /// The key, as in the config file.
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// What would be accepted.
    pub expected: String,
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: expected {}", self.key, self.value, self.expected)
    }
}

impl ColorizeConfig {
    /// Every value in range: the one place for each rule, whether the value came from the
    /// file, a watch or a flag.
    pub fn validate(&self) -> Result<(), BadValue> {
        let bad = |key, value: String, expected: &str| Err(BadValue { key, value, expected: expected.into() });
        if !(0.0..=4.0).contains(&self.vividness) {
            return bad("vividness", self.vividness.to_string(), "a number from 0 to 4");
        }
        if !(0.0..50.0).contains(&self.levels_low_percent) {
            return bad("levels_low_percent", self.levels_low_percent.to_string(), "0 to under 50");
        }
        if !(50.0..=100.0).contains(&self.levels_high_percent) {
            return bad("levels_high_percent", self.levels_high_percent.to_string(), "50 to 100");
        }
        if !(self.max_megapixels > 0.0 && self.max_megapixels <= 2000.0) {
            return bad("max_megapixels", self.max_megapixels.to_string(), "above 0 and at most 2000");
        }
        if self.suffix.is_empty() || self.suffix.contains(['/', '\\']) {
            return bad("suffix", format!("{:?}", self.suffix), "a non-empty name part without '/'");
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return bad("jpeg_quality", self.jpeg_quality.to_string(), "1 to 100");
        }
        if self.model_long_side != 0 && !(64..=2048).contains(&self.model_long_side) {
            return bad("model_long_side", self.model_long_side.to_string(), "0 (the manifest's) or 64 to 2048");
        }
        if self.threads > 1024 {
            return bad("threads", self.threads.to_string(), "0 (one per core) to 1024");
        }
        Ok(())
    }
}

/// A camera frame's pixel format (`[[camera]] formats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed Y0 U Y1 V, 2 bytes per pixel (BT.601, limited range).
    Yuyv,
    /// Each frame a JPEG.
    Mjpeg,
    /// 8-bit gray.
    Grey,
}

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Grey => *b"GREY",
        }
    }

    /// From a config name or four-character code (case-insensitive): "MJPEG"/"MJPG", "YUYV", "GREY"/"GRAY".
    pub fn parse(name: &str) -> Option<PixelFormat> {
        match name.to_ascii_uppercase().as_str() {
            "MJPEG" | "MJPG" => Some(PixelFormat::Mjpeg),
            "YUYV" | "YUY2" => Some(PixelFormat::Yuyv),
            "GREY" | "GRAY" | "Y8" => Some(PixelFormat::Grey),
            _ => None,
        }
    }
}

/// How hard lossless outputs (PNG, TIFF) are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Deflate at its fastest: a 50 MP 16-bit TIFF in ~0.6 s (66 MB) on a 2-core x86.
    #[default]
    Fast,
    /// Deflate at level 6 (PNG: image's best): ~40 % smaller TIFFs, several times slower
    /// (the same TIFF in ~4.7 s, 41 MB).
    Small,
    /// Stored: the fastest writes, files as large as the pixels.
    None,
}

/// Declares the `[colorize]` settings once: from each line come the field of [`ColorizeConfig`]
/// with its default, and the field of [`ColorizeOverrides`] that a `[[watch]]` entry, a kiosk
/// upload or a command-line flag sets (None keeps the section's value), and [`ColorizeConfig::apply`].
/// A new setting is one line here (docs/design.md, "Adding a setting").
macro_rules! colorize_settings {
    ($( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $default:expr ; )*) => {
        /// The `[colorize]` section: how photos are colorized, for `hued colorize`, the folder
        /// watches, the cameras and the kiosk page alike.
        #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        pub struct ColorizeConfig {
            $( $(#[doc = $doc])* pub $name: $ty, )*
        }

        impl Default for ColorizeConfig {
            fn default() -> Self {
                ColorizeConfig { $( $name: $default, )* }
            }
        }

        /// What a `[[watch]]` entry, a kiosk upload or the command line changes of `[colorize]`
        /// for its photos: the same keys; None keeps the section's value.
        #[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
        pub struct ColorizeOverrides {
            $(
                #[doc = concat!("Overrides `[colorize] ", stringify!($name), "`.")]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<$ty>,
            )*
        }

        impl ColorizeConfig {
            /// This section with `o` applied: the one place where overrides meet the config.
            pub fn apply(&self, o: &ColorizeOverrides) -> ColorizeConfig {
                ColorizeConfig { $( $name: o.$name.clone().unwrap_or_else(|| self.$name.clone()), )* }
            }
        }

        impl ColorizeOverrides {
            /// These overrides with `over`'s on top.
            pub fn merged(&self, over: &ColorizeOverrides) -> ColorizeOverrides {
                ColorizeOverrides { $( $name: over.$name.clone().or_else(|| self.$name.clone()), )* }
            }

            /// The keys this sets, as in the config file.
            pub fn keys(&self) -> Vec<&'static str> {
                let mut keys = Vec::new();
                $( if self.$name.is_some() { keys.push(stringify!($name)); } )*
                keys
            }
        }
    };
}

colorize_settings! {
    /// The model's manifest (`<name>.toml` beside its `.onnx`). Relative paths are taken from
    /// the config file's folder. Default: the shipped `hued-color-v4-int8.toml`, looked up in
    /// `$HUED_MODEL_DIR`, beside the binary (`../share/hued/models`), `/usr/share/hued/models`.
    model: Option<PathBuf> = None;
    /// Chroma gain applied to the model's colors: 0 gives gray, above 1 more vivid. Default: 1.0.
    vividness: f64 = 1.0;
    /// Levels correction before colorizing: "auto" (faded prints only), "on" or "off". Default: "auto".
    levels: LevelsMode = LevelsMode::Auto;
    /// Auto-levels black point: this percentage of pixels may become pure black. Default: 0.5.
    levels_low_percent: f64 = 0.5;
    /// Auto-levels white point: pixels above this percentile become pure white. Default: 99.5.
    levels_high_percent: f64 = 99.5;
    /// Skip photos that are already in color (real chroma, not a uniform tint). Default: true.
    skip_color: bool = true;
    /// Refuse images above this many megapixels, before decoding them. 90 MP fits the default
    /// memory budget (daemon.memory_budget_mb); raise both (and the unit's MemoryMax) on a
    /// board with more memory. Default: 90.
    max_megapixels: f64 = 90.0;
    /// Inserted before the extension of a colorized copy: `scan.tif` → `scan.colorized.tif`. Default: ".colorized".
    suffix: String = ".colorized".into();
    /// JPEG quality of colorized JPEGs (1-100). Default: 92.
    jpeg_quality: u8 = 92;
    /// How hard PNG and TIFF copies are compressed (lossless either way): "fast", "small"
    /// (slowest, smallest files) or "none" (fastest, largest). Default: "fast".
    compression: Compression = Compression::Fast;
    /// Threads for the model and the per-pixel stages; 0 means one per CPU core. Process-wide:
    /// `[colorize]` and the command line only, not a `[[watch]]`. Default: 0.
    threads: usize = 0;
    /// The long side (in px) of the image the model sees; 0 uses the manifest's `long_side`. Default: 0.
    model_long_side: u32 = 0;
    /// How the int8 model's arithmetic runs: "f32" (weights dequantized once at load), "f16"
    /// (faster only on CPUs with half-precision arithmetic: Pi 5, Orin), "auto" (f16 where the
    /// CPU has it, else f32) or "qdq" (the file's graph as is: twice as slow, for comparisons).
    /// Default: "auto".
    precision: crate::model::Precision = crate::model::Precision::Auto;
    /// A color photo of the same scene (a postcard of the same church, a color print of the
    /// same street) whose colors guide the copies' where it matches (`hued colorize
    /// --reference`; in a `[[watch]]` for its folder; a scan's sidecar may name its own).
    /// Relative paths are taken from the config file's folder. Default: none.
    reference: Option<PathBuf> = None;
}

/// A configuration that could not be read or is invalid. Its message names the file and,
/// where known, the line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), position.map(|(line, col)| format!(":{line}:{col}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file the error is about.
    pub file: PathBuf,
    /// 1-based line and column, where the error has a place.
    pub position: Option<(usize, usize)>,
    /// What is wrong and what was expected.
    pub message: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A value out of range, checked by the section it belongs to.
fn check(ok: bool, key: &'static str, value: impl std::fmt::Display, expected: &str) -> Result<(), BadValue> {
    if ok {
        Ok(())
    } else {
        Err(BadValue { key, value: value.to_string(), expected: expected.to_string() })
    }
}

impl DaemonConfig {
    /// Every value in range. Every duration and size has an upper bound too: 1e300 seconds
    /// passes "> 0" and then panics where it becomes a Duration.
    pub fn validate(&self) -> Result<(), BadValue> {
        check((1..=64).contains(&self.workers), "workers", self.workers, "1 to 64")?;
        check((0.0..=3600.0).contains(&self.stability_delay), "stability_delay", self.stability_delay, "0 to 3600 seconds")?;
        check((1..=100_000).contains(&self.queue_capacity), "queue_capacity", self.queue_capacity, "1 to 100000")?;
        check((0.0..=3600.0).contains(&self.shutdown_timeout), "shutdown_timeout", self.shutdown_timeout, "0 to 3600 seconds")?;
        check((1.0..=86_400.0).contains(&self.max_retry_delay), "max_retry_delay", self.max_retry_delay, "1 to 86400 seconds")?;
        check((64..=1 << 20).contains(&self.memory_budget_mb), "memory_budget_mb", self.memory_budget_mb, "64 to 1048576")
    }
}

impl WatchConfig {
    /// Its own values in range; its `[colorize]` overrides are checked with the section they
    /// override ([`ColorizeConfig::validate`]), its unknown keys by [`parse_config`].
    pub fn validate(&self) -> Result<(), BadValue> {
        check(
            self.colorize.threads.is_none(),
            "threads",
            self.colorize.threads.unwrap_or(0),
            "no threads in a [[watch]]: it is process-wide, set it in [colorize]",
        )?;
        check((0.1..=86_400.0).contains(&self.poll_interval), "poll_interval", self.poll_interval, "0.1 to 86400 seconds")?;
        check(
            self.rescan_interval == 0.0 || (1.0..=86_400.0).contains(&self.rescan_interval),
            "rescan_interval",
            self.rescan_interval,
            "0 (never) or 1 to 86400 seconds",
        )?;
        for (key, globs) in [("include", &self.include), ("exclude", &self.exclude)] {
            for glob in globs {
                if let Err(e) = globset::Glob::new(glob) {
                    return Err(BadValue { key, value: format!("{glob:?}"), expected: format!("a file name glob (bad glob: {e})") });
                }
            }
        }
        Ok(())
    }
}

impl CameraConfig {
    /// Every value in range.
    pub fn validate(&self) -> Result<(), BadValue> {
        if let Some(bad) = self.formats.iter().find(|f| PixelFormat::parse(f).is_none()) {
            return Err(BadValue { key: "formats", value: format!("{bad:?}"), expected: "MJPEG, YUYV or GREY (unknown pixel format)".into() });
        }
        check(!self.formats.is_empty(), "formats", "[]", "some of MJPEG, YUYV, GREY")?;
        check((0.0..=3600.0).contains(&self.settle), "settle", self.settle, "0 to 3600 seconds")?;
        check((0.1..=86_400.0).contains(&self.interval), "interval", self.interval, "0.1 to 86400 seconds")?;
        check((1..=16384).contains(&self.width), "width", self.width, "1 to 16384")?;
        check((1..=16384).contains(&self.height), "height", self.height, "1 to 16384")
    }
}

impl MetricsConfig {
    /// Every value in range.
    pub fn validate(&self) -> Result<(), BadValue> {
        check((1.0..=3600.0).contains(&self.interval), "interval", self.interval, "1 to 3600 seconds")
    }
}

impl WebConfig {
    /// Every value in range.
    pub fn validate(&self) -> Result<(), BadValue> {
        check(self.listen.parse::<std::net::SocketAddr>().is_ok(), "listen", format!("{:?}", self.listen), "an address and port, e.g. \"127.0.0.1:8080\"")?;
        check(self.max_upload_mb > 0.0 && self.max_upload_mb <= 2000.0, "max_upload_mb", self.max_upload_mb, "above 0 and at most 2000")?;
        check((1..=256).contains(&self.queue_capacity), "queue_capacity", self.queue_capacity, "1 to 256")?;
        check((1..=16).contains(&self.workers), "workers", self.workers, "1 to 16")?;
        check(self.keep_minutes > 0.0 && self.keep_minutes <= 10_080.0, "keep_minutes", self.keep_minutes, "above 0 and at most 10080 (a week)")?;
        let token_ok = self.token.as_deref().is_none_or(|t| t.len() >= 8 && t.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c)));
        check(token_ok, "token", "(hidden)", "at least 8 characters of A-Z a-z 0-9 - _ . ~")
    }
}

impl ProvenanceConfig {
    /// The certificate and its key go together.
    pub fn validate(&self) -> Result<(), BadValue> {
        let expected = "c2pa_cert and c2pa_key go together (a certificate chain and its private key, both PEM)";
        check(self.c2pa_cert.is_some() || self.c2pa_key.is_none(), "c2pa_key", "(a file)", expected)?;
        check(self.c2pa_key.is_some() || self.c2pa_cert.is_none(), "c2pa_cert", "(a file)", expected)
    }
}

/// Where keys are set in a config file's text, from the TOML parser's own spans: a key is
/// looked up in its section (and its entry of an array of tables), so `[web] workers` and
/// `[daemon] workers` are told apart and a commented-out example never counts.
struct Places<'a> {
    text: &'a str,
    doc: Option<toml_edit::ImDocument<&'a str>>,
}

impl<'a> Places<'a> {
    fn new(text: &'a str) -> Places<'a> {
        Places { text, doc: toml_edit::ImDocument::parse(text).ok() }
    }

    /// The line and column of `key` in `section` (entry `index` of an array of tables); of
    /// the section itself where the key is not written there (a default); None where neither is.
    fn of(&self, section: &str, index: Option<usize>, key: &str) -> Option<(usize, usize)> {
        let doc = self.doc.as_ref()?;
        let (section_key, item) = doc.as_table().get_key_value(section)?;
        let table: Option<&dyn toml_edit::TableLike> = match index {
            None => item.as_table_like(),
            Some(i) => match item {
                toml_edit::Item::ArrayOfTables(a) => a.get(i).map(|t| t as &dyn toml_edit::TableLike),
                _ => item.as_array().and_then(|a| a.get(i)).and_then(|v| v.as_inline_table()).map(|t| t as &dyn toml_edit::TableLike),
            },
        };
        let span = table
            .and_then(|t| t.get_key_value(key))
            .and_then(|(k, _)| k.span())
            .or_else(|| table.and_then(|t| t.iter().next()).and_then(|(k, _)| table?.get_key_value(k)).and_then(|(k, _)| k.span()))
            .or_else(|| section_key.span())?;
        Some(line_col(self.text, span.start))
    }
}

/// The first key of a `[[watch]]` entry whose value is of the wrong type, with its place: serde
/// reads a watch's `[colorize]` keys through a flattened struct, whose errors come without a
/// place of their own (they would name the `[[watch]]` line), so each key is read alone.
fn watch_key_error(text: &str) -> Option<(Option<(usize, usize)>, String)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let watches = doc.as_table().get("watch")?;
    let entries: Vec<&dyn toml_edit::TableLike> = match watches {
        toml_edit::Item::ArrayOfTables(a) => a.iter().map(|t| t as &dyn toml_edit::TableLike).collect(),
        _ => watches.as_array()?.iter().filter_map(|v| v.as_inline_table()).map(|t| t as &dyn toml_edit::TableLike).collect(),
    };
    for (i, entry) in entries.into_iter().enumerate() {
        for (key, item) in entry.iter() {
            let Some(value) = item.as_value() else { continue };
            let line = format!("{} = {}", toml_edit::Key::new(key), value.to_string().trim());
            let probe = if key == "path" { line } else { format!("path = \"/\"\n{line}") };
            if let Err(e) = toml::from_str::<WatchConfig>(&probe) {
                let position = entry.get_key_value(key).and_then(|(k, _)| k.span()).map(|s| line_col(text, s.start));
                return Some((position, format!("watch #{}: {key}: {}", i + 1, e.message().trim())));
            }
        }
    }
    None
}

/// Parses and validates the text of a config file. `origin` names the file in errors and
/// anchors relative paths; nothing is read from disk. Each section checks its own values; an
/// error names the file, the line and the column of the key at fault.
pub fn parse_config(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let err = |position, message: String| ConfigError { file: origin.to_path_buf(), position, message };
    let mut config: Config = toml::from_str(text).map_err(|e| {
        if let Some((position, message)) = watch_key_error(text) {
            return err(position, message);
        }
        let position = e.span().map(|s| line_col(text, s.start));
        err(position, e.message().trim().to_string())
    })?;
    let places = Places::new(text);
    let section = |name: &str, result: Result<(), BadValue>| result.map_err(|bad| err(places.of(name, None, bad.key), format!("{name}.{bad}")));
    section("colorize", config.colorize.validate())?;
    section("daemon", config.daemon.validate())?;
    section("metrics", config.metrics.validate())?;
    section("web", config.web.validate())?;
    section("provenance", config.provenance.validate())?;
    for (i, w) in config.watch.iter().enumerate() {
        let name = format!("watch #{} ({})", i + 1, w.path.display());
        if let Some(key) = w.unknown.keys().next() {
            return Err(err(places.of("watch", Some(i), key), format!("{name}: unknown field `{key}`: expected a [[watch]] key or a [colorize] key")));
        }
        if let Err(bad) = w.validate() {
            return Err(err(places.of("watch", Some(i), bad.key), format!("{name}: {bad}")));
        }
        // Its overrides on top of [colorize], checked by the same rules: the place is the
        // watch's key where it sets it, else [colorize]'s.
        if let Err(bad) = w.colorize_settings(&config.colorize).validate() {
            let position = if w.colorize.keys().contains(&bad.key) { places.of("watch", Some(i), bad.key) } else { places.of("colorize", None, bad.key) };
            return Err(err(position, format!("{name}: {bad}")));
        }
    }
    // Two watches writing into one output folder would overwrite each other's copies of
    // photos with the same name (both mirror their trees from the output folder's root).
    for (i, w) in config.watch.iter().enumerate() {
        if let Some(out) = &w.output {
            if let Some(j) = config.watch[..i].iter().position(|v| v.output.as_ref() == Some(out)) {
                return Err(err(
                    places.of("watch", Some(i), "output"),
                    format!("watch #{} and watch #{} both write to {}: give each its own output folder", j + 1, i + 1, out.display()),
                ));
            }
        }
    }
    for (i, c) in config.camera.iter().enumerate() {
        if let Err(bad) = c.validate() {
            return Err(err(places.of("camera", Some(i), bad.key), format!("camera #{} ({}): {bad}", i + 1, c.device.display())));
        }
    }
    let base = origin.parent().unwrap_or(Path::new(".")).to_path_buf();
    let anchor = |p: &mut Option<PathBuf>| {
        if let Some(path) = p {
            if path.is_relative() {
                *p = Some(base.join(&*path));
            }
        }
    };
    anchor(&mut config.colorize.model);
    anchor(&mut config.colorize.reference);
    anchor(&mut config.provenance.c2pa_cert);
    anchor(&mut config.provenance.c2pa_key);
    for w in &mut config.watch {
        for path in [&mut w.colorize.model, &mut w.colorize.reference].into_iter().flatten() {
            anchor(path);
        }
    }
    Ok(config)
}

/// Reads and parses a config file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError { file: path.to_path_buf(), position: None, message: format!("cannot read: {e}") })?;
    parse_config(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_config(text, Path::new("/etc/hued/hued.toml"))
    }

    #[test]
    fn a_c2pa_certificate_needs_its_key_and_paths_are_anchored() {
        let e = parse("[provenance]\nc2pa_cert = \"cert.pem\"\n").unwrap_err();
        assert!(e.to_string().contains("c2pa_cert and c2pa_key go together"), "{e}");
        assert_eq!(e.position, Some((2, 1)));
        assert!(parse("[provenance]\nc2pa_key = \"key.pem\"\n").is_err());
        assert!(parse("[provenance]\nc2pa_certificate = \"cert.pem\"\n").is_err());
        let c = parse("[provenance]\nc2pa_cert = \"cert.pem\"\nc2pa_key = \"/keys/key.pem\"\n").unwrap();
        assert_eq!(c.provenance.c2pa_cert.as_deref(), Some(Path::new("/etc/hued/cert.pem")));
        assert_eq!(c.provenance.c2pa_key.as_deref(), Some(Path::new("/keys/key.pem")));
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../config/hued.toml");
        parse(text).unwrap();
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let e = parse("[colorize]\nvividness = 1.2\nvividnes = 2\n").unwrap_err();
        assert_eq!(e.position, Some((3, 1)), "{e}");
        assert!(e.to_string().starts_with("/etc/hued/hued.toml:3:1:"), "{e}");
        assert!(e.message.contains("unknown field `vividnes`"), "{e}");
    }

    #[test]
    fn two_watches_cannot_share_an_output_folder() {
        let e = parse("[[watch]]\npath = \"/a\"\noutput = \"/out\"\n[[watch]]\npath = \"/b\"\noutput = \"/out\"\n").unwrap_err();
        assert!(e.message.contains("watch #1 and watch #2 both write to /out"), "{e}");
        assert!(parse("[[watch]]\npath = \"/a\"\noutput = \"/o1\"\n[[watch]]\npath = \"/b\"\noutput = \"/o2\"\n").is_ok());
    }

    #[test]
    fn absurd_durations_and_sizes_are_refused_not_crashed_on() {
        for bad in [
            "[web]\nkeep_minutes = 1e300\n",
            "[web]\nmax_upload_mb = 1e30\n",
            "[daemon]\nshutdown_timeout = 1e300\n",
            "[daemon]\nmax_retry_delay = 1e300\n",
            "[colorize]\nmax_megapixels = 1e300\n",
            "[[watch]]\npath = \"/srv\"\npoll_interval = 1e30\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrong_type_says_what_was_expected() {
        let e = parse("[colorize]\nlevels = \"sometimes\"\n").unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(2), "{e}");
        assert!(e.message.contains("auto") && e.message.contains("off"), "{e}");
        let e = parse("[colorize]\nvividness = \"high\"\n").unwrap_err();
        assert!(e.message.contains("f64") || e.message.contains("float"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(parse("[colorize]\nvividness = 9\n").unwrap_err().message.contains("0 to 4"));
        assert!(parse("[colorize]\njpeg_quality = 0\n").unwrap_err().message.contains("1 to 100"));
        assert!(parse("[colorize]\nsuffix = \"\"\n").is_err());
        assert!(parse("[colorize]\nsuffix = \"a/b\"\n").is_err());
        assert!(parse("[colorize]\nmax_megapixels = 0\n").is_err());
    }

    #[test]
    fn watches_with_overrides() {
        let c = parse(
            "[daemon]\nworkers = 2\nstability_delay = 0.5\n[[watch]]\npath = \"/scans\"\nrecursive = true\nvividness = 1.4\n\
             [[watch]]\npath = \"/mnt/share\"\npoll = true\noutput = \"/colorized\"\n",
        )
        .unwrap();
        assert_eq!(c.daemon.workers, 2);
        assert_eq!(c.watch.len(), 2);
        assert_eq!(c.watch[0].colorize_settings(&c.colorize).vividness, 1.4);
        assert!(c.watch[1].poll && c.watch[1].output.is_some() && c.watch[1].poll_interval == 5.0);
    }

    #[test]
    fn cameras() {
        let c = parse("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/srv/captures\"\ntrigger = \"interval\"\ninterval = 30\n").unwrap();
        assert_eq!(c.camera[0].trigger, TriggerKind::Interval);
        assert_eq!(c.camera[0].formats, vec!["MJPEG", "YUYV", "GREY"]);
        let e = parse("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\nformats = [\"H264\"]\n").unwrap_err();
        assert!(e.message.contains("formats = \"H264\"") && e.message.contains("unknown pixel format"), "{e}");
        assert!(parse("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\ntrigger = \"sometimes\"\n").is_err());
    }

    #[test]
    fn watch_errors_are_clear() {
        assert!(parse("[[watch]]\nrecursive = true\n").unwrap_err().message.contains("missing field `path`"));
        assert!(parse("[[watch]]\npath = \"/s\"\nexclude = [\"[\"]\n").unwrap_err().message.contains("bad glob"));
        assert!(parse("[daemon]\nworkers = 0\n").unwrap_err().message.contains("1 to 64"));
    }

    #[test]
    fn relative_model_path_is_taken_from_the_config_folder() {
        let c = parse("[colorize]\nmodel = \"models/x.toml\"\n").unwrap();
        assert_eq!(c.colorize.model.unwrap(), PathBuf::from("/etc/hued/models/x.toml"));
    }

    #[test]
    fn web_section() {
        let c = parse("[web]\nenabled = true\nlisten = \"0.0.0.0:9000\"\ntoken = \"s3cret-token\"\n").unwrap();
        assert!(c.web.enabled && c.web.listen == "0.0.0.0:9000" && c.web.token.as_deref() == Some("s3cret-token"));
        assert_eq!((c.web.max_upload_mb, c.web.keep_minutes, c.web.queue_capacity), (50.0, 10.0, 4));
        assert!(!parse("").unwrap().web.enabled, "the page is off by default");
        assert_eq!(parse("").unwrap().web.listen, "127.0.0.1:8080", "and only for this machine");
        let e = parse("[web]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(e.message.contains("address and port") && e.position == Some((2, 1)), "{e}");
        assert!(parse("[web]\ntoken = \"short\"\n").unwrap_err().message.contains("at least 8"));
        assert!(parse("[web]\nqueue_capacity = 0\n").is_err());
        assert!(parse("[web]\nport = 80\n").unwrap_err().message.contains("unknown field `port`"));
    }

    #[test]
    fn a_key_that_exists_in_two_sections_is_named_in_its_own() {
        // [web] workers first, the bad one in [daemon]: the old line search named the web line.
        let e = parse("[web]\nworkers = 1\n\n[daemon]\nworkers = 0\n").unwrap_err();
        assert_eq!(e.position, Some((5, 1)), "{e}");
        assert!(e.message.starts_with("daemon.workers = 0: expected 1 to 64"), "{e}");
        let e = parse("[daemon]\nworkers = 2\n[web]\n  workers = 99\n").unwrap_err();
        assert_eq!(e.position, Some((4, 3)), "{e}");
        assert!(e.message.starts_with("web.workers = 99"), "{e}");
        // interval is a key of [metrics] and of [[camera]].
        let e = parse("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\ninterval = 5\n[metrics]\ninterval = 0\n").unwrap_err();
        assert_eq!(e.position, Some((6, 1)), "{e}");
        let e = parse("[metrics]\ninterval = 5\n[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\ninterval = 0\n").unwrap_err();
        assert_eq!(e.position, Some((6, 1)), "{e}");
        assert!(e.message.starts_with("camera #1 (/dev/video0): interval = 0"), "{e}");
    }

    #[test]
    fn a_range_error_in_every_section_names_its_line_and_column() {
        for (text, line, start) in [
            ("[colorize]\nvividness = 1\njpeg_quality = 0\n", 3, "colorize.jpeg_quality = 0"),
            ("[daemon]\nworkers = 1\nshutdown_timeout = 1e300\n", 3, "daemon.shutdown_timeout"),
            ("[daemon]\nqueue_capacity = 0\n", 2, "daemon.queue_capacity = 0"),
            ("[daemon]\nmax_retry_delay = 0.5\n", 2, "daemon.max_retry_delay = 0.5"),
            ("[web]\nenabled = true\nkeep_minutes = 0\n", 3, "web.keep_minutes = 0"),
            ("[web]\nmax_upload_mb = 1e30\n", 2, "web.max_upload_mb"),
            ("[web]\nqueue_capacity = 0\n", 2, "web.queue_capacity = 0"),
            ("[web]\ntoken = \"short\"\n", 2, "web.token"),
            ("[metrics]\ninterval = 0.5\n", 2, "metrics.interval = 0.5"),
            ("[provenance]\nc2pa_key = \"k.pem\"\n", 2, "provenance.c2pa_key"),
            ("[[watch]]\npath = \"/a\"\n[[watch]]\npath = \"/b\"\npoll_interval = 0\n", 5, "watch #2 (/b): poll_interval = 0"),
            ("[[watch]]\npath = \"/a\"\nrescan_interval = 0.5\n", 3, "watch #1 (/a): rescan_interval = 0.5"),
            ("[[watch]]\npath = \"/a\"\nvividness = 9\n", 3, "watch #1 (/a): vividness = 9"),
            ("[[watch]]\npath = \"/a\"\nthreads = 2\n", 3, "watch #1 (/a): threads = 2"),
            ("[[watch]]\npath = \"/a\"\nvividnes = 2\n", 3, "watch #1 (/a): unknown field `vividnes`"),
            ("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\nwidth = 0\n", 4, "camera #1 (/dev/video0): width = 0"),
            ("[[camera]]\ndevice = \"/dev/video0\"\noutput = \"/o\"\nsettle = -1\n", 4, "camera #1 (/dev/video0): settle = -1"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.position.map(|p| p.0), Some(line), "{text:?}: {e}");
            assert_eq!(e.position.map(|p| p.1), Some(1), "{text:?}: {e}");
            assert!(e.message.starts_with(start), "{text:?}: {e}");
            assert!(e.to_string().starts_with(&format!("/etc/hued/hued.toml:{line}:1: ")), "{e}");
        }
    }

    #[test]
    fn a_wrong_type_in_a_watch_names_its_key_and_line() {
        let e = parse("[[watch]]\npath = \"/a\"\n\n[[watch]]\npath = \"/b\"\nvividness = \"high\"\n").unwrap_err();
        assert_eq!(e.position, Some((6, 1)), "{e}");
        assert!(e.message.starts_with("watch #2: vividness: invalid type: string \"high\""), "{e}");
        let e = parse("[[watch]]\npath = \"/a\"\n  jpeg_quality = 300\n").unwrap_err();
        assert_eq!(e.position, Some((3, 3)), "{e}");
        assert!(e.message.contains("jpeg_quality"), "{e}");
    }

    #[test]
    fn a_watch_takes_any_colorize_key_and_a_bad_inherited_value_names_colorize() {
        let c = parse("[colorize]\njpeg_quality = 80\n[[watch]]\npath = \"/a\"\njpeg_quality = 70\nsuffix = \".color\"\nlevels = \"off\"\n").unwrap();
        let s = c.watch[0].colorize_settings(&c.colorize);
        assert_eq!((s.jpeg_quality, s.suffix.as_str(), s.levels), (70, ".color", LevelsMode::Off));
        assert_eq!(c.colorize.jpeg_quality, 80);
    }

    #[test]
    fn the_effective_settings_serialize_and_parse_back() {
        let c = parse("[colorize]\nvividness = 1.3\n[[watch]]\npath = \"/a\"\nlevels = \"on\"\n[web]\nenabled = true\n").unwrap();
        let text = toml::to_string(&c).unwrap();
        assert!(text.contains("vividness = 1.3\n"), "{text}");
        assert_eq!(parse(&text).unwrap(), c, "{text}");
    }

    #[test]
    fn an_error_points_at_the_line_that_sets_the_key_not_a_commented_example() {
        let text = "# formats = [\"MJPEG\"]  an example\n[colorize]\n# jpeg_quality = 90\n  jpeg_quality = 0\n";
        let e = parse_config(text, Path::new("h.toml")).unwrap_err().to_string();
        assert!(e.starts_with("h.toml:4:3:"), "{e}");
    }
}
