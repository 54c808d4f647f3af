//! Counters for a fleet of stations, in Prometheus' text format: written atomically to a file
//! for node_exporter's textfile collector (`[metrics] textfile`) and served at `GET /metrics`
//! when the kiosk page is on.

use crate::base::PhotoOutcome;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct Inner {
    /// (source label, outcome) → count; a source is "watch:<folder>" or "camera:<device>".
    files: BTreeMap<(String, &'static str), u64>,
    queued: usize,
    last_success: Option<SystemTime>,
    cameras: BTreeMap<String, bool>,
    models: BTreeMap<String, String>,
}

/// The station's counters; clones share them.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Inner>>);

/// The process's counters: one station, one set, fed by the daemon, its cameras and read by
/// the page.
pub fn global() -> &'static Metrics {
    static GLOBAL: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Metrics::default)
}

impl Metrics {
    /// Counts one photo from `source`.
    pub fn count(&self, source: &str, outcome: PhotoOutcome) {
        let mut m = self.0.lock().unwrap();
        if outcome == PhotoOutcome::Done {
            m.last_success = Some(SystemTime::now());
        }
        *m.files.entry((source.to_string(), outcome.as_str())).or_default() += 1;
    }

    /// Photos waiting or being colorized.
    pub fn set_queued(&self, n: usize) {
        self.0.lock().unwrap().queued = n;
    }

    /// Whether a camera is streaming.
    pub fn set_camera(&self, device: &str, connected: bool) {
        self.0.lock().unwrap().cameras.insert(device.to_string(), connected);
    }

    /// A model in use (name → sha256).
    pub fn set_model(&self, name: &str, sha256: &str) {
        self.0.lock().unwrap().models.insert(name.to_string(), sha256.to_string());
    }

    /// The counters in Prometheus' text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP hued_build_info The running hued.\n# TYPE hued_build_info gauge\nhued_build_info{{version=\"{}\"}} 1",
            escape(crate::VERSION)
        );
        let _ = writeln!(out, "# HELP hued_model_info The colorization models in use.\n# TYPE hued_model_info gauge");
        for (name, sha) in &m.models {
            let _ = writeln!(out, "hued_model_info{{model=\"{}\",sha256=\"{}\"}} 1", escape(name), escape(sha));
        }
        let _ = writeln!(out, "# HELP hued_files_total Photos handled, by source and outcome.\n# TYPE hued_files_total counter");
        for ((source, outcome), n) in &m.files {
            let _ = writeln!(out, "hued_files_total{{source=\"{}\",outcome=\"{outcome}\"}} {n}", escape(source));
        }
        let _ = writeln!(out, "# HELP hued_queue_length Photos waiting or being colorized.\n# TYPE hued_queue_length gauge\nhued_queue_length {}", m.queued);
        let last = m.last_success.map_or(0.0, |t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP hued_last_success_timestamp_seconds When a photo was last colorized (0: not since start).\n# TYPE hued_last_success_timestamp_seconds gauge\nhued_last_success_timestamp_seconds {last:.3}"
        );
        let _ = writeln!(out, "# HELP hued_camera_connected Whether a document camera is streaming.\n# TYPE hued_camera_connected gauge");
        for (device, up) in &m.cameras {
            let _ = writeln!(out, "hued_camera_connected{{device=\"{}\"}} {}", escape(device), u8::from(*up));
        }
        out
    }

    /// Writes [`Self::render`] to `path` atomically (temp + fsync + rename), as the textfile
    /// collector requires: it must never read half a file.
    pub fn write_textfile(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut file = crate::sink::AtomicFile::create(path)?;
        file.write_all(self.render().as_bytes())?;
        file.commit().map(drop)
    }
}

/// A label value: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let m = Metrics::default();
        m.set_model("hued-color-v4-int8", "974e");
        m.count("watch:/srv/scans", PhotoOutcome::Done);
        m.count("watch:/srv/scans", PhotoOutcome::Done);
        m.count("watch:/srv/\"odd\"", PhotoOutcome::Failed);
        m.set_camera("/dev/video0", false);
        m.set_queued(3);
        let text = m.render();
        assert!(text.contains("hued_files_total{source=\"watch:/srv/scans\",outcome=\"done\"} 2"), "{text}");
        assert!(text.contains("hued_files_total{source=\"watch:/srv/\\\"odd\\\"\",outcome=\"failed\"} 1"), "{text}");
        assert!(text.contains("hued_camera_connected{device=\"/dev/video0\"} 0"));
        assert!(text.contains("hued_queue_length 3"));
        assert!(text.contains("hued_model_info{model=\"hued-color-v4-int8\",sha256=\"974e\"} 1"));
        assert!(!text.contains("hued_last_success_timestamp_seconds 0.000"));
    }
}
