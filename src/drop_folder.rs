//! The drop folder of `invoices watch`: which files are ready to be processed.
//!
//! A file is picked up once: when its size and modification time have not
//! changed for the settle time (so a file still being copied in is never
//! read), it is handed out, and after it has been processed it is remembered
//! by path, size and modification time in a state file that survives restarts.
//! A file that changes after it was processed is a new upload. Hidden files
//! (`.name`), temporary names (`*.tmp`, `*.part`, `*.partial`, `*.crdownload`)
//! and files of other types are left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ingest::Format;
use serde::{Deserialize, Serialize};

use crate::data_dir::write_atomically;

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified: u128,
}

/// Files processed so far, persisted in the data directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    processed: BTreeMap<PathBuf, Fingerprint>,
}

/// Scans one folder for files that are ready.
pub struct DropFolder {
    dir: PathBuf,
    state_path: PathBuf,
    state: State,
    settle: Duration,
    /// Files seen but not yet ready: their last fingerprint and since when it held.
    pending: BTreeMap<PathBuf, (Fingerprint, SystemTime)>,
}

impl DropFolder {
    /// Opens the folder with the state kept at `state_path`.
    pub fn open(dir: &Path, state_path: &Path, settle: Duration) -> Result<DropFolder, String> {
        let state = match std::fs::read(state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!("{} is damaged ({e}); delete it to pick up every file again", state_path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", state_path.display())),
        };
        Ok(DropFolder {
            dir: dir.to_path_buf(),
            state_path: state_path.to_path_buf(),
            state,
            settle,
            pending: BTreeMap::new(),
        })
    }

    /// The files that are ready now, in name order.
    pub fn ready(&mut self, now: SystemTime) -> Result<Vec<(PathBuf, Format, Fingerprint)>, String> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
        let mut ready = Vec::new();
        let mut seen = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(format) = candidate(&path) else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            let print = Fingerprint {
                size: meta.len(),
                modified: modified.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
            };
            seen.push(path.clone());
            if self.state.processed.get(&path) == Some(&print) {
                continue;
            }
            let since = match self.pending.get(&path) {
                Some((last, since)) if *last == print => *since,
                // Seen changing: the clock starts now.
                Some(_) => {
                    self.pending.insert(path.clone(), (print, now));
                    now
                }
                // First seen: unchanged since its modification time, as far as we know.
                None => {
                    let since = modified.min(now);
                    self.pending.insert(path.clone(), (print, since));
                    since
                }
            };
            // Ready once unchanged for the settle time, both by our clock and by its mtime.
            let quiet_since = since.max(modified);
            if now.duration_since(quiet_since).unwrap_or_default() >= self.settle {
                ready.push((path, format, print));
            }
        }
        self.pending.retain(|path, _| seen.contains(path));
        ready.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ready)
    }

    /// Remembers that this version of the file was processed.
    pub fn mark_processed(&mut self, path: &Path, print: Fingerprint) -> Result<(), String> {
        self.pending.remove(path);
        self.state.processed.insert(path.to_path_buf(), print);
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| e.to_string())?;
        write_atomically(&self.state_path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.state_path.display()))
    }
}

/// The format of a file the folder should pick up, or `None`.
fn candidate(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if name.starts_with('.') || [".tmp", ".part", ".partial", ".crdownload", "~"].iter().any(|s| lower.ends_with(s)) {
        return None;
    }
    Format::from_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ready_once_it_stops_changing_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".state.json");
        let settle = Duration::from_secs(2);
        let mut folder = DropFolder::open(dir.path(), &state, settle).unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "invoiceId\n").unwrap();
        std::fs::write(dir.path().join("b.csv.part"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden.csv"), "x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let t0 = SystemTime::now() + Duration::from_millis(500);
        assert!(folder.ready(t0).unwrap().is_empty(), "just written: not settled");
        // It grows: the clock starts again.
        std::fs::write(&file, "invoiceId\nINV-1\n").unwrap();
        assert!(folder.ready(t0 + Duration::from_secs(1)).unwrap().is_empty());
        assert!(folder.ready(t0 + Duration::from_secs(2)).unwrap().is_empty());
        let ready = folder.ready(t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].0, file);
        folder.mark_processed(&ready[0].0, ready[0].2).unwrap();
        assert!(folder.ready(t0 + Duration::from_secs(9)).unwrap().is_empty());
        // A restart remembers it.
        let mut again = DropFolder::open(dir.path(), &state, settle).unwrap();
        assert!(again.ready(t0 + Duration::from_secs(20)).unwrap().is_empty());
        assert!(again.ready(t0 + Duration::from_secs(30)).unwrap().is_empty());
    }
}
