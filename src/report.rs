//! `--report FILE.jsonl`: one JSON line per input of `hued colorize`, written and flushed as it
//! goes, so that an interrupted shard's report stays valid and a cluster's reports can be merged
//! (`hued report merge`).

use crate::base::PhotoOutcome;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// One input's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Line", into = "Line")]
pub struct Record {
    /// The original, as given or found.
    pub path: PathBuf,
    /// What became of it (`"done"`, `"skipped"` or `"failed"` in the line).
    pub outcome: crate::base::PhotoOutcome,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The colorized copy (done).
    pub output: Option<PathBuf>,
    /// sha256 of the original (done).
    pub sha256: Option<String>,
    /// The model's name.
    pub model: String,
    /// Wall time spent on it, in milliseconds.
    pub ms: u64,
    /// The shard that handled it ("K/N"), when sharded.
    pub shard: Option<String>,
    /// When the line was written: UTC, RFC 3339 with milliseconds (empty in the reports of
    /// versions before 0.2, which count as older than any dated line).
    pub at: String,
    /// The id of the run that wrote it (empty in older reports).
    pub run: String,
}

/// A record as a JSON line: paths as text, and as their bytes too where they are not UTF-8
/// (`"path": "x\u{fffd}.jpg", "path_bytes": [120, 255, 46, 106, 112, 103]`), so that every
/// input gets its line and two such names never merge into one.
#[derive(Serialize, Deserialize)]
struct Line {
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Vec<u8>>,
    outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_bytes: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    model: String,
    ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    run: String,
}

fn path_as_text(p: &Path) -> (String, Option<Vec<u8>>) {
    use std::os::unix::ffi::OsStrExt;
    match p.to_str() {
        Some(s) => (s.to_string(), None),
        None => (p.to_string_lossy().into_owned(), Some(p.as_os_str().as_bytes().to_vec())),
    }
}

fn path_from(text: String, bytes: Option<Vec<u8>>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    match bytes {
        Some(b) => PathBuf::from(std::ffi::OsString::from_vec(b)),
        None => PathBuf::from(text),
    }
}

impl From<Record> for Line {
    fn from(r: Record) -> Line {
        let (path, path_bytes) = path_as_text(&r.path);
        let (output, output_bytes) = match r.output.as_deref().map(path_as_text) {
            Some((text, bytes)) => (Some(text), bytes),
            None => (None, None),
        };
        Line {
            path,
            path_bytes,
            outcome: r.outcome.as_str().to_string(),
            reason: r.reason,
            output,
            output_bytes,
            sha256: r.sha256,
            model: r.model,
            ms: r.ms,
            shard: r.shard,
            at: r.at,
            run: r.run,
        }
    }
}

impl From<Line> for Record {
    fn from(l: Line) -> Record {
        let output = match (l.output, l.output_bytes) {
            (None, None) => None,
            (text, bytes) => Some(path_from(text.unwrap_or_default(), bytes)),
        };
        Record {
            path: path_from(l.path, l.path_bytes),
            outcome: crate::base::PhotoOutcome::from_word(&l.outcome),
            reason: l.reason,
            output,
            sha256: l.sha256,
            model: l.model,
            ms: l.ms,
            shard: l.shard,
            at: l.at,
            run: l.run,
        }
    }
}

/// Now, as a report line's `at`: UTC, RFC 3339 with milliseconds (these sort as text).
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run's id: 12 random hex digits.
pub fn new_run_id() -> String {
    crate::unique_hex::<6>()
}

/// Appends records to a report file (or standard output, `-`), one flushed line each.
pub struct ReportWriter {
    out: Box<dyn Write + Send>,
    name: String,
}

impl ReportWriter {
    /// Opens `path` for appending (a rerun adds to the lines of the interrupted run); `-` is
    /// standard output. Anything but a regular file is refused: a FIFO without a reader would
    /// lose lines and then hang the run, a device (/dev/full) would lose them all.
    pub fn open(path: &Path) -> std::io::Result<ReportWriter> {
        use std::io::Seek;
        use std::os::unix::fs::OpenOptionsExt;
        if path.as_os_str() == "-" {
            return Ok(ReportWriter { out: Box::new(std::io::stdout()), name: "standard output".into() });
        }
        let not_regular =
            || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file (a report is a file that keeps its lines, or - for standard output)");
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(not_regular());
        }
        // Non-blocking, so that a FIFO swapped in meanwhile cannot block the open.
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        if !file.metadata()?.is_file() {
            return Err(not_regular());
        }
        // A run killed in the middle of its line left it without its newline: end that line,
        // or this run's first record would be glued onto it and lost with it.
        let mut last = [0u8; 1];
        if file.metadata()?.len() > 0 && file.seek(std::io::SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
        Ok(ReportWriter { out: Box::new(file), name: path.display().to_string() })
    }

    /// Writes one line (a single write, so concurrent writers to one file do not interleave
    /// inside a line). The error names the report.
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line).and_then(|()| self.out.flush()).map_err(|e| std::io::Error::new(e.kind(), format!("cannot write report {}: {e}", self.name)))
    }
}

/// The totals of merged reports.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Distinct inputs.
    pub inputs: usize,
    /// Their last outcome: done.
    pub done: usize,
    /// Their last outcome: skipped.
    pub skipped: usize,
    /// Their last outcome: failed.
    pub failed: usize,
    /// Inputs reported more than once (a rerun, or two shards given the same file).
    pub repeated: usize,
    /// Milliseconds spent, all lines.
    pub ms: u64,
    /// Lines that were not records (a line cut off by a kill), by file.
    pub bad_lines: usize,
    /// Distinct runs that wrote the lines (older reports' lines, without a run id, not counted).
    pub runs: usize,
    /// The work of every run, not only each input's final state: all lines by outcome.
    pub work: Work,
    /// The failed inputs with their reasons.
    /// Each as [path, reason]; a path that is not UTF-8 shown with U+FFFD (its bytes are in
    /// the report's own line).
    pub failures: Vec<(String, String)>,
}

/// Lines by outcome, over every run.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Work {
    /// Colorizations made (a photo redone in a later run counts again).
    pub done: usize,
    /// Skips.
    pub skipped: usize,
    /// Failures, also those a later run made good.
    pub failed: usize,
}

/// The longest report line read (a record is a few hundred bytes; a path at most 4 KB).
const MAX_LINE: usize = 1 << 20;

/// Merges report files: each input counts once, by its newest line (by its `at` time, whatever
/// the order of the files; lines of equal time, or undated, by their order in the files given),
/// so a rerun's "skipped: up to date" or "done" supersedes an earlier failure.
pub fn merge(files: &[PathBuf]) -> anyhow::Result<Totals> {
    // Each input's newest line, with its time as a time (a string compare let `"at":"9999"` beat
    // every later line, and put `10:00+01:00` after `09:30Z`).
    let mut last: HashMap<PathBuf, (chrono::DateTime<chrono::Utc>, Record)> = HashMap::new();
    let mut runs: HashSet<String> = HashSet::new();
    let mut t = Totals::default();
    for file in files {
        // Regular files only: a device (/dev/zero) or a FIFO has no end to read to.
        let opened = crate::base::open_regular(file).map_err(|e| anyhow::anyhow!("cannot read report {}: {e}", file.display()))?;
        let mut reader = std::io::BufReader::new(opened);
        let read_error = |e: std::io::Error| anyhow::anyhow!("cannot read report {}: {e}", file.display());
        let mut line = Vec::new();
        loop {
            // Lines as bytes, at most MAX_LINE of each read: bytes that are not UTF-8 or a line
            // without end (a damaged file, /dev/zero) are a bad line, not a failed merge or all
            // memory.
            line.clear();
            if (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).map_err(read_error)? == 0 {
                break;
            }
            if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
                reader.skip_until(b'\n').map_err(read_error)?; // the rest of the over-long line
                t.bad_lines += 1;
                continue;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let parsed = serde_json::from_slice::<Record>(&line).ok().and_then(|r| Some((chrono::DateTime::parse_from_rfc3339(&r.at).ok()?.to_utc(), r)));
            match parsed {
                Some((at, r)) => {
                    t.ms = t.ms.saturating_add(r.ms);
                    match r.outcome {
                        PhotoOutcome::Done => t.work.done += 1,
                        PhotoOutcome::Skipped => t.work.skipped += 1,
                        PhotoOutcome::Failed => t.work.failed += 1,
                    }
                    if !r.run.is_empty() && !runs.contains(&r.run) {
                        runs.insert(r.run.clone());
                    }
                    match last.get_mut(&r.path) {
                        Some(kept) => {
                            t.repeated += 1;
                            if at >= kept.0 {
                                *kept = (at, r);
                            }
                        }
                        None => {
                            last.insert(r.path.clone(), (at, r));
                        }
                    }
                }
                // Not a record, or one whose time is not a time: refused, counted.
                None => t.bad_lines += 1,
            }
        }
    }
    t.inputs = last.len();
    t.runs = runs.len();
    let mut records: Vec<Record> = last.into_values().map(|(_, r)| r).collect();
    records.sort_by(|a, b| a.path.cmp(&b.path));
    for r in records {
        match r.outcome {
            PhotoOutcome::Done => t.done += 1,
            PhotoOutcome::Skipped => t.skipped += 1,
            PhotoOutcome::Failed => {
                t.failed += 1;
                t.failures.push((r.path.to_string_lossy().into_owned(), r.reason.unwrap_or_default()));
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, outcome: &str) -> Record {
        Record {
            path: path.into(),
            outcome: PhotoOutcome::from_word(outcome),
            reason: None,
            output: None,
            sha256: None,
            model: "m".into(),
            ms: 10,
            shard: None,
            at: "2026-12-08T00:00:00.000Z".into(),
            run: String::new(),
        }
    }

    /// Issue 37, row 13: `at` is compared as a time, and a line whose `at` is no time is
    /// refused (a string compare let `"9999"` beat every later line, and put 10:00+01:00 after
    /// 09:30Z).
    #[test]
    fn the_newest_line_is_chosen_by_time_and_a_line_without_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.jsonl");
        let mut w = ReportWriter::open(&report).unwrap();
        w.write(&Record { at: "2026-12-08T10:00:00+01:00".into(), ..record("x.jpg", "failed") }).unwrap();
        w.write(&Record { at: "2026-12-08T09:30:00Z".into(), ..record("x.jpg", "done") }).unwrap();
        w.write(&Record { at: "9999".into(), ..record("y.jpg", "failed") }).unwrap();
        w.write(&record("y.jpg", "done")).unwrap();
        let t = merge(&[report]).unwrap();
        assert_eq!((t.inputs, t.done, t.failed, t.bad_lines), (2, 2, 0, 1), "{t:?}");
    }

    #[test]
    fn merging_counts_each_input_once_by_its_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let mut w = ReportWriter::open(&a).unwrap();
        w.write(&record("x.jpg", "done")).unwrap();
        w.write(&Record { reason: Some("corrupt image".into()), ..record("y.jpg", "failed") }).unwrap();
        let mut w = ReportWriter::open(&b).unwrap();
        w.write(&record("z.jpg", "skipped")).unwrap();
        w.write(&record("y.jpg", "done")).unwrap();
        // A line cut off by a kill.
        std::fs::OpenOptions::new().append(true).open(&b).unwrap().write_all(b"{\"path\":\"w.jp").unwrap();
        let t = merge(&[a, b]).unwrap();
        assert_eq!((t.inputs, t.done, t.skipped, t.failed, t.repeated, t.bad_lines, t.ms), (3, 2, 1, 0, 1, 1, 40));
    }

    #[test]
    fn a_rerun_after_a_cut_line_starts_its_own_line_and_bad_bytes_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.jsonl");
        // A run killed in the middle of its line; the rerun's first record was glued onto it.
        std::fs::write(&report, b"{\"path\":\"w.jp").unwrap();
        ReportWriter::open(&report).unwrap().write(&record("x.jpg", "done")).unwrap();
        // Bytes that are not UTF-8 made the whole merge fail; an endless line was held whole.
        let mut f = std::fs::OpenOptions::new().append(true).open(&report).unwrap();
        f.write_all(b"garbage\xff\xfe\n").unwrap();
        f.write_all(&vec![b'x'; 3 << 20]).unwrap();
        f.write_all(b"\n").unwrap();
        ReportWriter::open(&report).unwrap().write(&Record { ms: u64::MAX, ..record("y.jpg", "done") }).unwrap();
        let t = merge(&[report]).unwrap();
        assert_eq!((t.inputs, t.done, t.bad_lines), (2, 2, 3));
        assert_eq!(t.ms, u64::MAX, "the total saturates instead of wrapping");
    }
}
