//! The local data directory (default `./.invoices`): what the local pipeline keeps.
//!
//! ```text
//! .invoices/
//!   invoices.db      the SQLite store (processed invoices, numbering)
//!   outbox.jsonl     every notification, one JSON line each
//!   uploads/         one small JSON file per input file: its latest upload
//!   watch.json       what `invoices watch` has picked up
//!   lock             held while a run or watch uses the directory
//! ```
//!
//! An upload is one run of one file, with its own upload id: execution names
//! derive from (bucket `local`, the file's absolute path, upload id, record),
//! exactly as the ingest Lambda derives them from the S3 object. An upload that
//! did not finish (interrupted, killed, or with failed executions) can be
//! resumed: the same upload id gives the same names, so what was already
//! stored comes back as a replay.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An open data directory, locked for this process.
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory when needed and takes its lock; fails at once
    /// when another `invoices run` or `watch` holds it.
    pub fn open(root: &Path) -> Result<DataDir, String> {
        fs::create_dir_all(root.join("uploads")).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "{} is in use by another `invoices run` or `invoices watch`; wait for it or use --data-dir",
                    root.display()
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", lock_path.display())),
        }
        Ok(DataDir { root: root.to_path_buf(), _lock: lock })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn store_path(&self) -> PathBuf {
        self.root.join("invoices.db")
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.root.join("outbox.jsonl")
    }

    pub fn watch_state_path(&self) -> PathBuf {
        self.root.join("watch.json")
    }

    fn upload_path(&self, key: &str) -> PathBuf {
        let digest = Sha256::digest(key.as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.root.join("uploads").join(format!("{name}.json"))
    }

    /// The latest upload of the file with this key, if any.
    pub fn last_upload(&self, key: &str) -> Result<Option<Upload>, String> {
        let path = self.upload_path(key);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{} is damaged ({e}); delete it to start afresh", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Starts a new upload of the file (a fresh upload id) and records it as running.
    pub fn begin_upload(&self, key: &str) -> Result<Upload, String> {
        let upload = Upload { key: key.to_string(), upload_id: new_upload_id(key), status: UploadStatus::Running };
        self.save_upload(&upload)?;
        Ok(upload)
    }

    /// Records how an upload ended (atomically: a crash leaves the old or the new state).
    pub fn save_upload(&self, upload: &Upload) -> Result<(), String> {
        let path = self.upload_path(&upload.key);
        write_atomically(&path, &serde_json::to_vec_pretty(upload).map_err(|e| e.to_string())?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// One run of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// The file's absolute path (the object key of the local "bucket").
    pub key: String,
    /// Distinguishes this run of the file from every other.
    pub upload_id: String,
    pub status: UploadStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Started and not finished: still running, or killed.
    Running,
    /// Stopped by Ctrl-C before every record was started.
    Interrupted,
    /// Every record ran, but some executions failed (e.g. the store was unavailable).
    Incomplete,
    /// Every record ran and no execution failed.
    Complete,
}

impl UploadStatus {
    /// Whether `invoices run --resume` has something to continue.
    pub fn resumable(self) -> bool {
        !matches!(self, UploadStatus::Complete)
    }

    /// Stopped before every record was started (Ctrl-C, or the process was killed).
    pub fn cut_short(self) -> bool {
        matches!(self, UploadStatus::Running | UploadStatus::Interrupted)
    }
}

/// A new upload id: the time, and a hash of the time, process and key.
fn new_upload_id(key: &str) -> String {
    let now = chrono::Utc::now();
    let mut hasher = Sha256::new();
    hasher.update(now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
    hasher.update(std::process::id().to_be_bytes());
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let suffix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::open(dir.path()).unwrap();
        let err = DataDir::open(dir.path()).err().unwrap();
        assert!(err.contains("is in use by another"), "{err}");
        drop(first);
        DataDir::open(dir.path()).unwrap();
    }

    #[test]
    fn uploads_are_remembered_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        assert_eq!(data.last_upload("/a.csv").unwrap(), None);
        let mut upload = data.begin_upload("/a.csv").unwrap();
        assert_eq!(data.last_upload("/a.csv").unwrap(), Some(upload.clone()));
        upload.status = UploadStatus::Interrupted;
        data.save_upload(&upload).unwrap();
        assert_eq!(data.last_upload("/a.csv").unwrap().unwrap().status, UploadStatus::Interrupted);
        let again = data.begin_upload("/a.csv").unwrap();
        assert_ne!(again.upload_id, upload.upload_id, "a new run is a new upload");
        assert_eq!(data.last_upload("/b.csv").unwrap(), None);
    }
}
