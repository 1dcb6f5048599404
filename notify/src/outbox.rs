//! The local adapter of the [`Notifier`] port: an outbox file of JSON lines,
//! one per notification, holding what SNS would receive as plain JSON fields.
//!
//! Each line: `eventId`, `messageId`, `topic`, `subject`, `attributes` (an
//! object: strings, and `amount` as a JSON number with its exact digits),
//! `default` (the event document, as an object), `email`, `sms`.
//!
//! Responsibilities:
//! - **Each eventId once.** The ids already in the file are read when it is
//!   opened (a resumed run), and a retried step's repeat is not written again;
//!   its answer is the same `messageId`, derived from the eventId.
//! - **Nothing acknowledged is lost.** Every line is handed to the OS in one
//!   `write` on an `O_APPEND` file before [`Outbox::append`] returns, so a killed
//!   process loses nothing it acknowledged (no `fsync` per line; [`Outbox::sync`]
//!   flushes to disk, e.g. at the end of a run). A line torn by a crash
//!   mid-write was never acknowledged: it is cut off when the file is reopened.
//! - **Many concurrent callers.** Lines are encoded outside the lock; the lock
//!   covers the duplicate check and the one `write`.
//! - **One writer process.** The file is locked while open; a second `open`
//!   (in any process) gets [`OutboxError::Locked`].
//!
//! [`console_line`] renders a notification on one line for the terminal.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::NotifyError;
use crate::event::{EventType, Topic};
use crate::message::{serialize_attributes, Attribute, Document, Message};
use crate::notifier::{Notifier, Published};

/// Why the outbox cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("outbox {}, line {line}: {reason}", path.display())]
    Corrupt { path: PathBuf, line: u64, reason: String },
    #[error("outbox {} is open in another process (or another outbox of this one)", path.display())]
    Locked { path: PathBuf },
}

/// The result of [`Outbox::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The outbox's id for the event (the same for a repeat).
    pub message_id: String,
    /// False when the eventId was already in the outbox (nothing was written).
    pub new: bool,
}

/// The outbox file.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// Bytes of complete lines in the file.
    len: u64,
    /// Keys ([`key_of`]) of the eventIds in the file.
    seen: HashSet<u128, BuildHasherDefault<KeyHasher>>,
}

impl Outbox {
    /// Opens (or creates) the outbox at `path` and reads the eventIds already
    /// in it. The parent directory must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Outbox, OutboxError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| OutboxError::Io { path: path.clone(), source };
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OutboxError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let (seen, len) = read_ids(&file, &path)?;
        Ok(Outbox { path, state: Mutex::new(State { file, len, seen }) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of notifications in the outbox.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an event is already in the outbox.
    pub fn contains(&self, event_id: &str) -> bool {
        self.lock().seen.contains(&key_of(event_id))
    }

    /// Appends `message` unless its eventId is already in the outbox. The
    /// line is written to the OS before this returns.
    pub fn append(&self, message: &Message) -> Result<Appended, OutboxError> {
        let key = key_of(&message.event_id);
        let message_id = message_id_of(key);
        let mut line = serde_json::to_vec(&Line {
            event_id: &message.event_id,
            message_id: &message_id,
            topic: message.topic,
            event_type: message.event_type,
            subject: &message.subject,
            attributes: &message.attributes,
            default: &message.document,
            email: &message.email,
            sms: &message.sms,
        })
        .map_err(|e| OutboxError::Io { path: self.path.clone(), source: e.into() })?;
        line.push(b'\n');

        let mut state = self.lock();
        if state.seen.contains(&key) {
            return Ok(Appended { message_id, new: false });
        }
        if let Err(source) = (&state.file).write_all(&line) {
            // Leave no partial line behind for the next append to run into.
            let _ = state.file.set_len(state.len);
            return Err(OutboxError::Io { path: self.path.clone(), source });
        }
        state.len += line.len() as u64;
        state.seen.insert(key);
        Ok(Appended { message_id, new: true })
    }

    /// Flushes the file to disk (`fsync`), e.g. at the end of a run.
    pub fn sync(&self) -> Result<(), OutboxError> {
        self.lock().file.sync_data().map_err(|source| OutboxError::Io { path: self.path.clone(), source })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is only changed after a successful write, so it stays
        // consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Notifier for Outbox {
    /// Appends to the file. The write is a short blocking call (the page
    /// cache, no `fsync`), cheaper than handing it to another thread.
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        match self.append(message) {
            Ok(appended) => Ok(Published { message_id: appended.message_id }),
            Err(e) => Err(NotifyError::NotifierUnavailable(e.to_string())),
        }
    }
}

/// One outbox line, as written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    event_id: &'a str,
    message_id: &'a str,
    topic: Topic,
    event_type: EventType,
    subject: &'a str,
    #[serde(serialize_with = "serialize_attributes")]
    attributes: &'a [Attribute],
    default: &'a Document,
    email: &'a str,
    sms: &'a str,
}

/// What is read back of a line when the outbox is opened.
#[derive(Deserialize)]
struct LineId {
    #[serde(rename = "eventId")]
    event_id: String,
}

/// Reads the eventIds of the complete lines; cuts off a torn last line.
fn read_ids(file: &File, path: &Path) -> Result<(HashSet<u128, BuildHasherDefault<KeyHasher>>, u64), OutboxError> {
    let io = |source| OutboxError::Io { path: path.to_path_buf(), source };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut seen = HashSet::default();
    let mut buf = Vec::new();
    let mut len = 0u64;
    let mut number = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = buf.last() == Some(&b'\n');
        if buf.iter().all(u8::is_ascii_whitespace) {
            if complete {
                len += n as u64;
            }
            continue;
        }
        match serde_json::from_slice::<LineId>(&buf) {
            Ok(line) => {
                seen.insert(key_of(&line.event_id));
                len += n as u64;
                if !complete {
                    // A whole line without its newline (written by hand): end it.
                    (&*file).write_all(b"\n").map_err(io)?;
                    len += 1;
                }
            }
            // A crash mid-write: the line was never acknowledged.
            Err(_) if !complete => break,
            Err(e) => {
                return Err(OutboxError::Corrupt { path: path.to_path_buf(), line: number, reason: e.to_string() })
            }
        }
    }
    let size = file.metadata().map_err(io)?.len();
    if size != len {
        file.set_len(len).map_err(io)?;
    }
    Ok((seen, len))
}

/// 128 bits of SHA-256 of an eventId: the outbox's key for it.
fn key_of(event_id: &str) -> u128 {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// The outbox's message id for a key, shaped like SNS's (a UUID's groups).
fn message_id_of(key: u128) -> String {
    let hex = format!("{key:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The deterministic message id the outbox gives an event.
pub fn outbox_message_id(event_id: &str) -> String {
    message_id_of(key_of(event_id))
}

/// The keys are already hashes: use their low bits as is.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

/// One line for the console: `[topic] <the SMS text>`, e.g.
/// `[error] Invoice INV-2 (CUST-9) rejected: amount must be greater than 0, got -5.`
pub fn console_line(message: &Message) -> String {
    format!("[{}] {}", message.topic, message.sms)
}
