//! `--report FILE.jsonl`: one JSON line per input of `hued colorize`, written and flushed as it
//! goes, so that an interrupted shard's report stays valid and a cluster's reports can be merged
//! (`hued report merge`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// One input's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The original, as given or found.
    pub path: PathBuf,
    /// "done", "skipped" or "failed".
    pub outcome: String,
    /// Why it was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The colorized copy (done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// sha256 of the original (done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The model's name.
    pub model: String,
    /// Wall time spent on it, in milliseconds.
    pub ms: u64,
    /// The shard that handled it ("K/N"), when sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

/// Appends records to a report file, one flushed line each.
pub struct ReportWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl ReportWriter {
    /// Opens `path` for appending (a rerun adds to the lines of the interrupted run).
    pub fn open(path: &Path) -> std::io::Result<ReportWriter> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ReportWriter { file, path: path.to_path_buf() })
    }

    /// Writes one line (a single write, so concurrent writers to one file do not interleave
    /// inside a line).
    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| std::io::Error::new(e.kind(), format!("cannot write report {}: {e}", self.path.display())))
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
    /// The failed inputs with their reasons.
    pub failures: Vec<(PathBuf, String)>,
}

/// Merges report files: each input counts once, by its last line (files in the order given,
/// lines in file order), so a rerun's "skipped: up to date" or "done" supersedes an earlier
/// failure.
pub fn merge(files: &[PathBuf]) -> anyhow::Result<Totals> {
    let mut last: HashMap<PathBuf, Record> = HashMap::new();
    let mut t = Totals::default();
    for file in files {
        let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot read report {}: {e}", file.display()))?);
        for line in reader.lines() {
            let line = line.map_err(|e| anyhow::anyhow!("cannot read report {}: {e}", file.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(r) => {
                    t.ms += r.ms;
                    if last.insert(r.path.clone(), r).is_some() {
                        t.repeated += 1;
                    }
                }
                Err(_) => t.bad_lines += 1,
            }
        }
    }
    t.inputs = last.len();
    let mut records: Vec<Record> = last.into_values().collect();
    records.sort_by(|a, b| a.path.cmp(&b.path));
    for r in records {
        match r.outcome.as_str() {
            "done" => t.done += 1,
            "skipped" => t.skipped += 1,
            _ => {
                t.failed += 1;
                t.failures.push((r.path, r.reason.unwrap_or_default()));
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, outcome: &str) -> Record {
        Record { path: path.into(), outcome: outcome.into(), reason: None, output: None, sha256: None, model: "m".into(), ms: 10, shard: None }
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
}
