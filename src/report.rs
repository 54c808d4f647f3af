//! `--report FILE.jsonl`: one JSON line per input of `hued colorize`, written and flushed as it
//! goes, so that an interrupted shard's report stays valid and a cluster's reports can be merged
//! (`hued report merge`).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
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
        use std::io::{Read, Seek};
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path)?;
        // A run killed in the middle of its line left it without its newline: end that line,
        // or this run's first record would be glued onto it and lost with it.
        let mut last = [0u8; 1];
        if file.metadata()?.len() > 0 && file.seek(std::io::SeekFrom::End(-1)).is_ok() && file.read_exact(&mut last).is_ok() && last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
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

/// The longest report line read (a record is a few hundred bytes; a path at most 4 KB).
const MAX_LINE: usize = 1 << 20;

/// Merges report files: each input counts once, by its last line (files in the order given,
/// lines in file order), so a rerun's "skipped: up to date" or "done" supersedes an earlier
/// failure.
pub fn merge(files: &[PathBuf]) -> anyhow::Result<Totals> {
    let mut last: HashMap<PathBuf, Record> = HashMap::new();
    let mut t = Totals::default();
    for file in files {
        let mut reader = std::io::BufReader::new(std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot read report {}: {e}", file.display()))?);
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
            match serde_json::from_slice::<Record>(&line) {
                Ok(r) => {
                    t.ms = t.ms.saturating_add(r.ms);
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
