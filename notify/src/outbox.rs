//! The local adapter of the [`Notifier`] port: an outbox file of JSON lines,
//! one per notification, holding what SNS would receive as plain JSON fields.
//!
//! Each line: `eventId`, `messageId`, `topic`, `subject`, `attributes` (an
//! object: strings, and `amount` as a JSON number with its exact digits),
//! `default` (the event document, as an object), `email`, `sms`.
//!
//! Responsibilities:
//! - **Each eventId once, in bounded memory.** A retried step's repeat is not
//!   written again (its answer is the same `messageId`, derived from the
//!   eventId): the keys of this process's last [`RECENT`] events are kept. Events
//!   written by an earlier process are not read at [`Outbox::open`] (memory
//!   would grow with the file); a writer that may repeat some of them (a
//!   resumed upload) calls [`Outbox::recall`] for exactly those, and they are
//!   then held once too.
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

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use workflow::Source;

use crate::error::NotifyError;
use crate::json::Object;
use crate::message::{write_attributes, Message};
use crate::notifier::{Notifier, Published};

/// How many of this process's most recent events are remembered for dedupe.
pub const RECENT: usize = 1 << 18;

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

/// What [`Outbox::recall`] shows of each line to choose the events to hold.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineHead {
    pub event_id: String,
    #[serde(default)]
    pub default: DocumentHead,
}

/// The part of a line's event document that [`LineHead`] reads.
#[derive(Debug, Default, Deserialize)]
pub struct DocumentHead {
    /// Where the invoice came from (bucket, key, upload version, record).
    #[serde(default)]
    pub source: Option<Source>,
}

type KeySet = HashSet<u128, BuildHasherDefault<KeyHasher>>;

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
    /// Complete lines in the file.
    lines: u64,
    /// How many of this process's events `recent` keeps.
    window: usize,
    /// Keys of the events this process wrote, oldest first, at most `window`.
    recent: VecDeque<u128>,
    /// The keys in `recent`, and those [`Outbox::recall`] loaded.
    held: KeySet,
    /// The keys [`Outbox::recall`] loaded (never forgotten).
    recalled: KeySet,
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`: takes its lock and cuts off a
    /// line torn by a crash. The events already in it are not read (see
    /// [`Outbox::recall`]). The parent directory must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Outbox, OutboxError> {
        Outbox::open_with_window(path, RECENT)
    }

    /// [`Outbox::open`], remembering this process's last `recent` events
    /// instead of [`RECENT`].
    pub fn open_with_window(path: impl AsRef<Path>, recent: usize) -> Result<Outbox, OutboxError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| OutboxError::Io { path: path.clone(), source };
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OutboxError::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let len = repair_tail(&file, &path)?;
        let lines = count_lines(&file, len).map_err(io)?;
        let state = State {
            file,
            len,
            lines,
            window: recent.max(1),
            recent: VecDeque::new(),
            held: KeySet::default(),
            recalled: KeySet::default(),
        };
        Ok(Outbox { path, state: Mutex::new(state) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of notifications in the outbox.
    pub fn len(&self) -> usize {
        self.lock().lines as usize
    }

    /// Whether the outbox holds no notification.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an event is held: written by this process recently, or recalled.
    pub fn contains(&self, event_id: &str) -> bool {
        self.lock().held.contains(&key_of(event_id))
    }

    /// Reads the file and holds the events of the lines `choose` picks, so
    /// that appending one of them again writes nothing: call it before
    /// repeating work whose events may already be in the file (a resumed
    /// upload). Returns how many events it holds now. Every line is checked:
    /// one that is not an event names its line number.
    pub fn recall(&self, mut choose: impl FnMut(&LineHead) -> bool) -> Result<usize, OutboxError> {
        let mut state = self.lock();
        let io = |source| OutboxError::Io { path: self.path.clone(), source };
        let mut reader = BufReader::with_capacity(1 << 16, (&state.file).take(state.len));
        (&state.file).seek(SeekFrom::Start(0)).map_err(io)?;
        let mut buf = Vec::new();
        let mut number = 0u64;
        let mut found = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
                break;
            }
            number += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let head: LineHead = serde_json::from_slice(&buf).map_err(|e| OutboxError::Corrupt {
                path: self.path.clone(),
                line: number,
                reason: e.to_string(),
            })?;
            if choose(&head) {
                found.push(key_of(&head.event_id));
            }
        }
        drop(reader);
        for key in found {
            state.held.insert(key);
            state.recalled.insert(key);
        }
        Ok(state.recalled.len())
    }

    /// Appends `message` unless its eventId is held (see [`Outbox::contains`]).
    /// The line is written to the OS before this returns.
    pub fn append(&self, message: &Message) -> Result<Appended, OutboxError> {
        let key = key_of(&message.event_id);
        let message_id = message_id_of(key);
        let line = encode_line(message, &message_id);

        let mut state = self.lock();
        if state.held.contains(&key) {
            return Ok(Appended { message_id, new: false });
        }
        if let Err(source) = (&state.file).write_all(&line) {
            // Leave no partial line behind for the next append to run into.
            let _ = state.file.set_len(state.len);
            return Err(OutboxError::Io { path: self.path.clone(), source });
        }
        state.len += line.len() as u64;
        state.lines += 1;
        state.remember(key);
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

impl State {
    /// Holds a key this process wrote, forgetting the oldest beyond the window.
    fn remember(&mut self, key: u128) {
        self.held.insert(key);
        self.recent.push_back(key);
        if self.recent.len() > self.window {
            if let Some(old) = self.recent.pop_front() {
                if !self.recalled.contains(&old) {
                    self.held.remove(&old);
                }
            }
        }
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

/// One outbox line: the message as a JSON object, and a newline.
fn encode_line(message: &Message, message_id: &str) -> Vec<u8> {
    // Room for the texts escaped (a line break takes two bytes), the event id
    // (in the line, its attributes and its document, with the execution name)
    // and the rest.
    let texts = message.subject.len() + message.email.len() + message.sms.len();
    let mut line = Vec::with_capacity(texts + texts / 8 + 4 * message.event_id.len() + 1024);
    let mut object = Object::new(&mut line);
    object.str("eventId", &message.event_id);
    object.str("messageId", message_id);
    object.str("topic", message.topic.as_str());
    object.str("eventType", message.event_type.as_str());
    object.str("subject", &message.subject);
    object.with("attributes", |out| write_attributes(out, &message.attributes));
    object.with("default", |out| message.document.write_json(out));
    object.str("email", &message.email);
    object.str("sms", &message.sms);
    object.end();
    line.push(b'\n');
    line
}

/// Cuts off a line torn by a crash (the bytes after the last newline, unless
/// they are a whole event written without its newline, which is then ended).
/// Returns the length of the complete lines.
fn repair_tail(file: &File, path: &Path) -> Result<u64, OutboxError> {
    let io = |source| OutboxError::Io { path: path.to_path_buf(), source };
    let size = file.metadata().map_err(io)?.len();
    // Find the last newline, reading backwards a block at a time.
    let mut end_of_lines = 0u64;
    let mut pos = size;
    let mut block = vec![0u8; 1 << 16];
    while pos > 0 {
        let start = pos.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(pos - start) as usize];
        let mut reader = file;
        reader.seek(SeekFrom::Start(start)).map_err(io)?;
        reader.read_exact(chunk).map_err(io)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end_of_lines = start + i as u64 + 1;
            break;
        }
        pos = start;
    }
    if end_of_lines == size {
        return Ok(size);
    }
    let mut tail = Vec::with_capacity((size - end_of_lines) as usize);
    let mut reader = file;
    reader.seek(SeekFrom::Start(end_of_lines)).map_err(io)?;
    reader.take(size - end_of_lines).read_to_end(&mut tail).map_err(io)?;
    if tail.iter().all(u8::is_ascii_whitespace) {
        return Ok(size);
    }
    if serde_json::from_slice::<LineHead>(&tail).is_ok() {
        // A whole line without its newline (written by hand): end it.
        (&*file).write_all(b"\n").map_err(io)?;
        return Ok(size + 1);
    }
    // A crash mid-write: the line was never acknowledged.
    file.set_len(end_of_lines).map_err(io)?;
    Ok(end_of_lines)
}

/// Lines (newlines) in the first `len` bytes of the file.
fn count_lines(file: &File, len: u64) -> std::io::Result<u64> {
    let mut reader = file;
    reader.seek(SeekFrom::Start(0))?;
    let mut reader = reader.take(len);
    let mut block = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = reader.read(&mut block)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += block[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn key_of(event_id: &str) -> u128 {
    let digest = Sha256::digest(event_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

/// The outbox's message id for a key, shaped like SNS's: the key's 32 hex
/// digits in a UUID's groups (8-4-4-4-12).
fn message_id_of(key: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for (i, byte) in key.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 15)]));
    }
    id
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_the_key_in_uuid_groups() {
        assert_eq!(message_id_of(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210), "01234567-89ab-cdef-fedc-ba9876543210");
        assert_eq!(message_id_of(1), "00000000-0000-0000-0000-000000000001");
        assert_eq!(outbox_message_id("INV-1-abc:INVOICE_PROCESSED").len(), 36);
    }
}
