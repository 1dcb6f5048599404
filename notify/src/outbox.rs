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
//! - **Nothing acknowledged is lost.** Every line is handed to the OS (a
//!   `write` on an `O_APPEND` file) before [`Outbox::append`] or
//!   [`Notifier::publish`] returns, so a killed process loses nothing it
//!   acknowledged (no `fsync` per line; [`Outbox::sync`] flushes to disk, e.g.
//!   at the end of a run). A line torn by a crash mid-write was never
//!   acknowledged: it is cut off when the file is reopened.
//! - **Many concurrent callers, few writes.** A caller encodes its line,
//!   checks for a repeat and queues the line under a short lock, and waits
//!   for it to be written. Whoever finds no write under way writes every
//!   queued line in one `write` and answers their callers; a task first lets
//!   the other ready tasks of its thread queue theirs (a yield), so one `write`
//!   carries many lines. One `write` per line would cost a system call and the
//!   file system's per-write work each time, with concurrent callers queued on
//!   a lock held across it.
//! - **One writer process.** The file is locked while open; a second `open`
//!   (in any process) gets [`OutboxError::Locked`].
//!
//! [`console_line`] renders a notification on one line for the terminal.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

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
    /// The file and what it holds; held while writing, so a failed write can
    /// be cut off without touching another.
    file: Mutex<FileState>,
    /// Which events are held and the lines queued; taken briefly by every caller.
    keys: Mutex<Keys>,
}

#[derive(Debug)]
struct FileState {
    file: File,
    /// Bytes of complete lines in the file.
    len: u64,
    /// Complete lines in the file.
    lines: u64,
}

#[derive(Debug)]
struct Keys {
    /// How many of this process's events `recent` keeps.
    window: usize,
    /// Keys of the events this process wrote, oldest first, at most `window`.
    recent: VecDeque<u128>,
    /// The keys in `recent`, and those [`Outbox::recall`] loaded.
    held: KeySet,
    /// The keys [`Outbox::recall`] loaded (never forgotten).
    recalled: KeySet,
    /// Keys whose line is queued, not yet written.
    queued: KeySet,
    /// The queued lines, end to end, and their callers.
    pending: Vec<u8>,
    waiting: Vec<Waiting>,
    /// A task has taken on writing the queued lines (it is letting its
    /// thread's other tasks queue theirs first).
    leader: bool,
}

/// A caller waiting for its line (`line: true`), or for the earlier queued
/// line of the same event (a repeat); answered `Ok(true)` when its line was
/// written, `Ok(false)` for a repeat of an event written.
#[derive(Debug)]
struct Waiting {
    key: u128,
    line: bool,
    reply: Reply,
}

type Answer = Result<bool, Arc<std::io::Error>>;

/// Where a caller waits: a task, or a blocked thread.
#[derive(Debug)]
enum Reply {
    Task(tokio::sync::oneshot::Sender<Answer>),
    Thread(mpsc::Sender<Answer>),
}

impl Reply {
    fn send(self, answer: Answer) {
        // A caller that went away still had its line written.
        let _ = match self {
            Reply::Task(tx) => tx.send(answer).map_err(|_| ()),
            Reply::Thread(tx) => tx.send(answer).map_err(|_| ()),
        };
    }
}

/// What a caller does after queueing its line.
enum Turn {
    /// The event is held: a repeat, nothing to write.
    Held,
    /// Another caller writes the queued lines (or, for a thread, it does).
    Wait,
    /// This task writes the queued lines, after letting others queue theirs.
    Lead,
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
        let keys = Keys {
            window: recent.max(1),
            recent: VecDeque::new(),
            held: KeySet::default(),
            recalled: KeySet::default(),
            queued: KeySet::default(),
            pending: Vec::new(),
            waiting: Vec::new(),
            leader: false,
        };
        Ok(Outbox { path, file: Mutex::new(FileState { file, len, lines }), keys: Mutex::new(keys) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of notifications in the outbox.
    pub fn len(&self) -> usize {
        self.file().lines as usize
    }

    /// Whether the outbox holds no notification.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an event is held: written by this process recently, or recalled.
    pub fn contains(&self, event_id: &str) -> bool {
        self.keys().held.contains(&key_of(event_id))
    }

    /// Reads the file and holds the events of the lines `choose` picks, so
    /// that appending one of them again writes nothing: call it before
    /// repeating work whose events may already be in the file (a resumed
    /// upload). Returns how many events it holds now. Every line is checked:
    /// one that is not an event names its line number.
    pub fn recall(&self, mut choose: impl FnMut(&LineHead) -> bool) -> Result<usize, OutboxError> {
        // Held throughout: no line is written while the file is read.
        let state = self.file();
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
        let mut keys = self.keys();
        for key in found {
            keys.held.insert(key);
            keys.recalled.insert(key);
        }
        Ok(keys.recalled.len())
    }

    /// Appends `message` unless its eventId is held (see [`Outbox::contains`]).
    /// The line is written to the OS before this returns (a task uses
    /// [`Outbox::append_async`], which does not hold its thread).
    pub fn append(&self, message: &Message) -> Result<Appended, OutboxError> {
        let (tx, rx) = mpsc::channel();
        // A thread writes at once (it has no other tasks to let queue first),
        // also when a task has taken the lead: that task finds less to write.
        let (message_id, turn) = self.queue(message, Reply::Thread(tx), false);
        let answer = match turn {
            Turn::Held => Ok(false),
            Turn::Lead | Turn::Wait => {
                self.write_queued(false);
                rx.recv().unwrap_or_else(|_| Err(not_answered()))
            }
        };
        answer.map(|new| Appended { message_id, new }).map_err(|e| self.io_error(&e))
    }

    /// [`Outbox::append`] for a task: it waits without holding its thread.
    pub async fn append_async(&self, message: &Message) -> Result<Appended, OutboxError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (message_id, turn) = self.queue(message, Reply::Task(tx), true);
        let answer = match turn {
            Turn::Held => Ok(false),
            Turn::Wait => rx.await.unwrap_or_else(|_| Err(not_answered())),
            Turn::Lead => {
                // Writes when dropped: after the yield, or if this task is
                // cancelled during it, so the queued lines are never stranded.
                let lead = Lead(self);
                // Let this thread's other ready tasks queue their lines first.
                tokio::task::yield_now().await;
                drop(lead);
                rx.await.unwrap_or_else(|_| Err(not_answered()))
            }
        };
        answer.map(|new| Appended { message_id, new }).map_err(|e| self.io_error(&e))
    }

    /// Queues the message's line (or, for a repeat of a queued event, a wait
    /// for that line), unless the event is held; says who writes (a caller
    /// that `may_lead` takes the lead when no one has).
    fn queue(&self, message: &Message, reply: Reply, may_lead: bool) -> (String, Turn) {
        let key = key_of(&message.event_id);
        let message_id = message_id_of(key);
        if self.keys().held.contains(&key) {
            return (message_id, Turn::Held);
        }
        let line = encode_line(message, &message_id);
        let mut keys = self.keys();
        if keys.held.contains(&key) {
            return (message_id, Turn::Held);
        }
        let first = keys.queued.insert(key);
        if first {
            keys.pending.extend_from_slice(&line);
        }
        keys.waiting.push(Waiting { key, line: first, reply });
        let turn = if keys.leader || !may_lead {
            Turn::Wait
        } else {
            keys.leader = true;
            Turn::Lead
        };
        (message_id, turn)
    }

    /// Writes the queued lines until none is left, answering their callers.
    /// `leader`: called by the task that took the lead (it gives it up once
    /// nothing is queued).
    fn write_queued(&self, leader: bool) {
        let mut buf = Vec::new();
        loop {
            // Held until the callers are answered: writers take turns, so a
            // repeat is answered after the write of the line it waits for.
            let mut file = self.file();
            let waiting = {
                let mut keys = self.keys();
                if keys.waiting.is_empty() {
                    if leader {
                        keys.leader = false;
                    }
                    // The next lines are queued in this buffer: it keeps the
                    // room the last ones took instead of growing again.
                    if keys.pending.is_empty() && keys.pending.capacity() < buf.capacity() {
                        std::mem::swap(&mut keys.pending, &mut buf);
                    }
                    return;
                }
                std::mem::swap(&mut buf, &mut keys.pending);
                std::mem::take(&mut keys.waiting)
            };
            let lines = waiting.iter().filter(|w| w.line).count() as u64;
            let written = write(&mut file, &buf, lines);
            buf.clear();
            let mut keys = self.keys();
            for w in waiting.iter().filter(|w| w.line) {
                keys.queued.remove(&w.key);
                if written.is_ok() {
                    keys.remember(w.key);
                }
            }
            let answers: Vec<Answer> = waiting
                .iter()
                .map(|w| match (&written, w.line) {
                    (Ok(()), true) => Ok(true),
                    (Err(e), true) => Err(e.clone()),
                    // A repeat: written if its event is held now.
                    (_, false) if keys.held.contains(&w.key) => Ok(false),
                    (Err(e), false) => Err(e.clone()),
                    (Ok(()), false) => Err(not_answered()),
                })
                .collect();
            drop(keys);
            drop(file);
            for (w, answer) in waiting.into_iter().zip(answers) {
                w.reply.send(answer);
            }
        }
    }

    fn io_error(&self, e: &std::io::Error) -> OutboxError {
        OutboxError::Io { path: self.path.clone(), source: std::io::Error::new(e.kind(), e.to_string()) }
    }

    /// Flushes the file to disk (`fsync`), e.g. at the end of a run: every
    /// line appended before is in it.
    pub fn sync(&self) -> Result<(), OutboxError> {
        self.file().file.sync_data().map_err(|source| OutboxError::Io { path: self.path.clone(), source })
    }

    fn file(&self) -> std::sync::MutexGuard<'_, FileState> {
        // Changed only after a successful write: consistent even if a holder panicked.
        self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Keys {
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

/// Appends `buf` (`lines` whole lines) in one `write`; on failure cuts off
/// what was written of it, so no partial line is left behind.
fn write(state: &mut FileState, buf: &[u8], lines: u64) -> Result<(), Arc<std::io::Error>> {
    if buf.is_empty() {
        return Ok(());
    }
    if let Err(e) = (&state.file).write_all(buf) {
        let _ = state.file.set_len(state.len);
        return Err(Arc::new(e));
    }
    state.len += buf.len() as u64;
    state.lines += lines;
    Ok(())
}

/// The lead of a task: writing the queued lines, when dropped.
struct Lead<'a>(&'a Outbox);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.write_queued(true);
    }
}

/// A caller's line was neither written nor failed (cannot happen: every
/// queued caller is answered by the write that takes its line).
fn not_answered() -> Arc<std::io::Error> {
    Arc::new(std::io::Error::other("the outbox did not answer"))
}

#[async_trait]
impl Notifier for Outbox {
    /// Appends to the file (see the module docs).
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        match self.append_async(message).await {
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
    // Made in place, one byte's digits at a time (one per invoice).
    let mut id = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in key.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        id[at..at + 2].copy_from_slice(&workflow::hex::digits(byte));
        at += 2;
    }
    std::str::from_utf8(&id).expect("hex digits and dashes are ASCII").to_string()
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
