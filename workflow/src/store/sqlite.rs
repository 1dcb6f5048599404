//! The SQLite adapter of [`InvoiceStore`]: the embedded local default
//! (`<data-dir>/invoices.db`), with group commit.
//!
//! One writer thread owns the write connection. Callers hand it their invoice
//! (already serialized in the caller's task, so that work runs in parallel)
//! and wait; the writer takes every request that is queued, up to
//! [`SqliteOptions::max_batch`], and writes them in **one transaction**: for
//! each, `INSERT … ON CONFLICT(invoice_id) DO NOTHING` under the next number of
//! its year, or, when the invoiceId is stored, the stored receipt. The year's
//! counter row is updated in the same transaction. Only after `COMMIT` returns
//! (WAL, `synchronous=FULL`: the WAL is fsynced) does any caller of the batch
//! get its answer, so a PROCESSED answer is never ahead of the disk. While one
//! batch commits the next one queues up, so the fsync cost is shared; when
//! several but fewer than [`SqliteOptions::gather`] requests are queued, the
//! writer first lingers ([`SqliteOptions::linger`], 1 ms) for more, since every
//! commit rewrites the B-tree pages it touched and fsyncs the WAL whatever the
//! batch's size.
//!
//! If a batch fails for a reason a retry will not cure, it is rolled back and
//! its invoices are written one per transaction, so one bad record cannot fail
//! the others. A rolled-back batch consumes no number.
//!
//! Lock contention (another process holding the database's write lock) waits
//! for [`SqliteOptions::busy_timeout`], then fails the batch with
//! [`StoreError::Unavailable`] (transient): never a hang, never a permanent error.
//!
//! Queries use a separate read connection (WAL readers do not block the writer).
//!
//! # The customer index is written in chunks
//!
//! Rows are appended in number order, and the processing-time index grows at
//! its end too, but a customer index receives each batch at random places: a
//! batch of a few thousand invoices dirties most of its pages, and every
//! commit writes each dirty page whole to the WAL (measured: about 3x the
//! bytes of everything else). So `customer_due` is filled in chunks instead:
//! once [`SqliteOptions::index_chunk`] invoices are stored beyond each year's
//! `indexed_through` mark, one transaction copies them, sorted, into
//! `customer_due` and moves the marks. A customer query reads the index and
//! the not-yet-indexed tail of each year (a bounded rowid range scan) in one
//! statement, so it always sees every stored invoice.
//!
//! # Schema (version 1, `PRAGMA user_version`; 16 KiB pages)
//!
//! ```sql
//! CREATE TABLE invoices (
//!     number_key      INTEGER PRIMARY KEY,    -- year * 1000000000 + sequence (the rowid)
//!     invoice_id      TEXT NOT NULL UNIQUE,
//!     invoice_number  TEXT NOT NULL,          -- INV-YYYY-NNNNNN
//!     customer_id     TEXT NOT NULL,
//!     due_date        TEXT NOT NULL,          -- YYYY-MM-DD
//!     amount          TEXT NOT NULL,          -- exact decimal text
//!     currency        TEXT NOT NULL,
//!     processed_at    TEXT NOT NULL,          -- RFC 3339 UTC, milliseconds
//!     idempotency_key TEXT NOT NULL,
//!     content_hash    TEXT NOT NULL,          -- 64 hex digits
//!     invoice         TEXT NOT NULL,          -- the normalized invoice (JSON)
//!     source          TEXT                    -- JSON, or NULL
//! );
//! CREATE INDEX invoices_processed_at ON invoices (processed_at);
//! CREATE TABLE customer_due (customer_id TEXT NOT NULL, due_date TEXT NOT NULL, number_key INTEGER NOT NULL,
//!     PRIMARY KEY (customer_id, due_date, number_key)) WITHOUT ROWID;
//! CREATE TABLE counters (year INTEGER PRIMARY KEY, last_number INTEGER NOT NULL,
//!     indexed_through INTEGER NOT NULL DEFAULT 0);   -- numbers 1..=indexed_through are in customer_due
//! ```
//!
//! The invoice number is the table's rowid (`number_key`): rows are appended
//! in number order, a number can exist only once, and looking one up needs no
//! further index. A year holds at most 999,999,999 numbers.
//!
//! For example, with the `sqlite3` shell:
//! `SELECT invoice_number, invoice_id, amount, currency FROM invoices WHERE customer_id = 'CUST-123' ORDER BY due_date;`

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::json;

use super::{
    sort_by_due_date, sort_by_processed_at, timestamp, DueRange, Inserted, InvoiceNumber, InvoiceStore, NewInvoice,
    Receipt, StoreError, StoredInvoice,
};

/// The schema version this adapter writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The file name the local pipeline uses inside its data directory.
pub const FILE_NAME: &str = "invoices.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS invoices (
    number_key      INTEGER PRIMARY KEY,
    invoice_id      TEXT NOT NULL UNIQUE,
    invoice_number  TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    due_date        TEXT NOT NULL,
    amount          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    processed_at    TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    content_hash    TEXT NOT NULL,
    invoice         TEXT NOT NULL,
    source          TEXT
);
CREATE INDEX IF NOT EXISTS invoices_processed_at ON invoices (processed_at);
CREATE TABLE IF NOT EXISTS customer_due (
    customer_id TEXT NOT NULL,
    due_date    TEXT NOT NULL,
    number_key  INTEGER NOT NULL,
    PRIMARY KEY (customer_id, due_date, number_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    year            INTEGER PRIMARY KEY,
    last_number     INTEGER NOT NULL,
    indexed_through INTEGER NOT NULL DEFAULT 0
);
";

/// Rows of the years' tails not yet in `customer_due`, with the bounds of each tail.
const TAIL: &str = "counters c JOIN invoices ON invoices.number_key > c.year * 1000000000 + c.indexed_through
    AND invoices.number_key <= c.year * 1000000000 + c.last_number";

/// Copies every year's tail into `customer_due` (in key order) and moves the marks.
const INDEX_TAIL: &str = "
INSERT INTO customer_due (customer_id, due_date, number_key)
    SELECT invoices.customer_id, invoices.due_date, invoices.number_key FROM {TAIL} ORDER BY 1, 2, 3;
UPDATE counters SET indexed_through = last_number WHERE indexed_through <> last_number;
";

/// `number_key` of an invoice number: one integer that sorts like the numbers.
fn number_key(number: InvoiceNumber) -> i64 {
    i64::from(number.year) * 1_000_000_000 + number.seq as i64
}

const INSERT: &str = "INSERT INTO invoices (number_key, invoice_id, invoice_number, customer_id, due_date,
    amount, currency, processed_at, idempotency_key, content_hash, invoice, source)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
    ON CONFLICT (invoice_id) DO NOTHING";
const SELECT_RECEIPT: &str =
    "SELECT invoice_number, processed_at, idempotency_key, content_hash FROM invoices WHERE invoice_id = ?1";
const SELECT_COUNTER: &str = "SELECT last_number FROM counters WHERE year = ?1";
const UPSERT_COUNTER: &str = "INSERT INTO counters (year, last_number) VALUES (?1, ?2)
    ON CONFLICT (year) DO UPDATE SET last_number = excluded.last_number";
const RECORD_COLUMNS: &str = "invoice_number, processed_at, idempotency_key, content_hash, invoice, source";

/// Tuning of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a write (or opening the database) waits for a lock another
    /// connection holds before failing with [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
    /// Most invoices written in one transaction.
    pub max_batch: usize,
    /// How many new invoices wait before they are added to the customer
    /// index in one go (see the module docs).
    pub index_chunk: u64,
    /// When several but fewer than [`SqliteOptions::gather`] invoices are
    /// queued, how long the writer waits for more before it writes them
    /// (zero: at once).
    pub linger: Duration,
    /// The batch size from which the writer does not linger.
    pub gather: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            max_batch: 8192,
            index_chunk: 65_536,
            linger: Duration::from_millis(1),
            gather: 256,
        }
    }
}

/// The SQLite store. Cheap to share (`Arc<SqliteStore>`); dropping it lets the
/// writer finish what is queued, then closes the database.
pub struct SqliteStore {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

/// One invoice, ready to bind. Its text columns are written by the caller
/// into one buffer: one allocation crosses to the writer thread, not ten.
struct Row {
    text: String,
    /// Where each column of [`Column`] ends in `text`.
    ends: [u32; COLUMNS],
    has_source: bool,
    year: i32,
}

/// The text columns of a [`Row`], in buffer order.
#[derive(Clone, Copy)]
enum Column {
    InvoiceId,
    CustomerId,
    DueDate,
    Amount,
    Currency,
    ProcessedAt,
    IdempotencyKey,
    ContentHash,
    Invoice,
    Source,
}
const COLUMNS: usize = 10;

/// What the writer tells a caller; the caller completes the receipt of a new
/// record with what it already has (so nothing is allocated for it on the writer).
enum Written {
    New(InvoiceNumber),
    Existing(Receipt),
}

struct Job {
    row: Row,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

impl SqliteStore {
    /// Opens (creating when needed) the database at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating when needed) the database at `path`. Its directory must exist.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path, &options, false)?;
        migrate(&writer, &path)?;
        let reader = open_connection(&path, &options, true)?;
        let (jobs, queue) = mpsc::channel();
        let thread_path = path.clone();
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, queue, &options, &thread_path))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(SqliteStore { path, jobs: Some(jobs), writer: Some(handle), reader: Arc::new(Mutex::new(reader)) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read-only query on the read connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = Arc::clone(&self.reader);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            query(&conn, &path)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("SQLite query task failed: {e}")))?
    }

    async fn query_records(
        &self,
        sql: String,
        args: Vec<SqlValue>,
        sort: fn(&mut [StoredInvoice]),
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        self.read(move |conn, path| {
            let mut stmt = conn.prepare_cached(&sql).map_err(|e| map_err(e, path))?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), record_from_row)
                .map_err(|e| map_err(e, path))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(|e| map_err(e, path))?.map_err(|e| corrupt(path, e))?);
            }
            sort(&mut out);
            Ok(out)
        })
        .await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

fn open_connection(path: &Path, options: &SqliteOptions, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| map_err(e, path))?;
    conn.busy_timeout(options.busy_timeout).map_err(|e| map_err(e, path))?;
    if !read_only {
        // 16 KiB pages (for a new database): fewer, larger WAL frames per
        // commit; measured faster than 4 KiB on this workload.
        conn.pragma_update(None, "page_size", 16384).map_err(|e| map_err(e, path))?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(|e| map_err(e, path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Permanent(format!("{}: cannot switch to WAL mode (got {mode})", path.display())));
        }
        // FULL: the WAL is synced at every commit, so a commit survives power loss.
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| map_err(e, path))?;
        // Checkpoint (copy the WAL back into the database) every 64 MiB of WAL
        // rather than every 1,000 pages: pages changed by many commits are
        // written back once, and the writer pauses less often.
        conn.pragma_update(None, "wal_autocheckpoint", 4096).map_err(|e| map_err(e, path))?;
        conn.pragma_update(None, "journal_size_limit", 64i64 << 20).map_err(|e| map_err(e, path))?;
    }
    conn.pragma_update(None, "cache_size", -65536).map_err(|e| map_err(e, path))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| map_err(e, path))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Permanent(format!(
            "{}: schema version {version} is newer than this program's ({SCHEMA_VERSION})",
            path.display()
        )));
    }
    if version < SCHEMA_VERSION {
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                map_err(e, path)
            })?;
    }
    Ok(())
}

/// The writer thread: group commit until every sender is gone.
fn run_writer(mut conn: Connection, queue: mpsc::Receiver<Job>, options: &SqliteOptions, path: &Path) {
    let max_batch = options.max_batch.max(1);
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch.min(1 << 16));
    // Invoices stored but not yet in the customer index (a failed count only
    // delays indexing: queries read the tail anyway).
    let mut unindexed: u64 = conn
        .query_row("SELECT COALESCE(SUM(last_number - indexed_through), 0) FROM counters", [], |r| r.get(0))
        .unwrap_or(0);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        let take_queued = |batch: &mut Vec<Job>| {
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        };
        take_queued(&mut batch);
        // Only when callers are concurrent (one caller alone, writing in
        // turn, is not kept waiting). One sleep, not a wait per request:
        // callers keep queueing without waking the writer.
        if batch.len() > 1 && batch.len() < options.gather && !options.linger.is_zero() {
            std::thread::sleep(options.linger);
            take_queued(&mut batch);
        }
        let results = write_batch(&mut conn, &batch, path);
        let stored = results.iter().filter(|r| matches!(r, Ok(Written::New(_)))).count() as u64;
        unindexed += stored;
        for (job, result) in batch.drain(..).zip(results) {
            // A caller that gave up still had its invoice written: a retry with
            // its idempotency key finds it.
            let _ = job.reply.send(result);
        }
        // (Not after a failed batch: a lock held elsewhere would only be waited for twice.)
        if stored > 0 && unindexed >= options.index_chunk.max(1) && index_tail(&mut conn).is_ok() {
            unindexed = 0;
        }
    }
}

/// Adds the stored invoices not yet indexed to `customer_due`, in one transaction.
fn index_tail(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(&INDEX_TAIL.replace("{TAIL}", TAIL))?;
    tx.commit()
}

/// Writes a batch in one transaction; after a permanent failure, one by one.
fn write_batch(conn: &mut Connection, batch: &[Job], path: &Path) -> Vec<Result<Written, StoreError>> {
    match write_rows(conn, batch.iter().map(|j| &j.row), path) {
        Ok(results) => results.into_iter().map(Ok).collect(),
        Err(e) if e.is_transient() || batch.len() == 1 => batch.iter().map(|_| Err(e.clone())).collect(),
        Err(_) => {
            batch.iter().map(|job| write_rows(conn, std::iter::once(&job.row), path).map(|mut v| v.remove(0))).collect()
        }
    }
}

fn write_rows<'a>(
    conn: &mut Connection,
    rows: impl Iterator<Item = &'a Row>,
    path: &Path,
) -> Result<Vec<Written>, StoreError> {
    use std::fmt::Write;
    let err = |e| map_err(e, path);
    let mut number_text = String::with_capacity(24);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    let mut results = Vec::with_capacity(rows.size_hint().0);
    {
        let mut insert = tx.prepare_cached(INSERT).map_err(err)?;
        let mut select_receipt = tx.prepare_cached(SELECT_RECEIPT).map_err(err)?;
        let mut select_counter = tx.prepare_cached(SELECT_COUNTER).map_err(err)?;
        // (year, last number, changed): a batch rarely spans more than one year.
        let mut counters: Vec<(i32, u64, bool)> = Vec::with_capacity(1);
        for row in rows {
            let slot = match counters.iter().position(|c| c.0 == row.year) {
                Some(i) => i,
                None => {
                    let last: Option<i64> =
                        select_counter.query_row([row.year], |r| r.get(0)).optional().map_err(err)?;
                    counters.push((row.year, last.unwrap_or(0) as u64, false));
                    counters.len() - 1
                }
            };
            let number = InvoiceNumber { year: row.year, seq: counters[slot].1 + 1 };
            number_text.clear();
            let _ = write!(number_text, "{number}");
            let changed = insert
                .execute(params![
                    number_key(number),
                    row.get(Column::InvoiceId),
                    number_text,
                    row.get(Column::CustomerId),
                    row.get(Column::DueDate),
                    row.get(Column::Amount),
                    row.get(Column::Currency),
                    row.get(Column::ProcessedAt),
                    row.get(Column::IdempotencyKey),
                    row.get(Column::ContentHash),
                    row.get(Column::Invoice),
                    row.has_source.then(|| row.get(Column::Source)),
                ])
                .map_err(|e| match &e {
                    rusqlite::Error::SqliteFailure(f, Some(m))
                        if f.code == ErrorCode::ConstraintViolation && m.contains("number_key") =>
                    {
                        StoreError::Permanent(format!(
                            "{}: invoice number {number} is already stored: the counter of {} is behind the \
                             stored numbers (the database was damaged or edited)",
                            path.display(),
                            row.year
                        ))
                    }
                    _ => err(e),
                })?;
            if changed == 1 {
                counters[slot].1 = number.seq;
                counters[slot].2 = true;
                results.push(Written::New(number));
            } else {
                let receipt = select_receipt
                    .query_row([row.get(Column::InvoiceId)], receipt_from_row)
                    .map_err(err)?
                    .map_err(|e| corrupt(path, e))?;
                results.push(Written::Existing(receipt));
            }
        }
        let mut upsert = tx.prepare_cached(UPSERT_COUNTER).map_err(err)?;
        for (year, last, changed) in counters {
            if changed {
                upsert.execute(params![year, last as i64]).map_err(err)?;
            }
        }
    }
    tx.commit().map_err(err)?;
    Ok(results)
}

fn receipt_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Receipt, String>> {
    let number: String = row.get(0)?;
    let processed_at: String = row.get(1)?;
    let idempotency_key: String = row.get(2)?;
    let hash: String = row.get(3)?;
    Ok((|| {
        Ok(Receipt {
            invoice_number: number.parse().map_err(|e: super::InvoiceNumberError| e.to_string())?,
            processed_at: timestamp::parse(&processed_at)?,
            idempotency_key,
            content_hash: hash.parse()?,
        })
    })())
}

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredInvoice, String>> {
    let receipt = receipt_from_row(row)?;
    let invoice: String = row.get(4)?;
    let source: Option<String> = row.get(5)?;
    Ok((|| {
        let receipt = receipt?;
        Ok(StoredInvoice {
            invoice_number: receipt.invoice_number,
            processed_at: receipt.processed_at,
            idempotency_key: receipt.idempotency_key,
            content_hash: receipt.content_hash,
            source: source
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| format!("source is not readable: {e}"))?,
            invoice: serde_json::from_str(&invoice).map_err(|e| format!("invoice is not readable: {e}"))?,
        })
    })())
}

fn corrupt(path: &Path, what: String) -> StoreError {
    StoreError::Permanent(format!("{}: a stored record cannot be read: {what}", path.display()))
}

/// SQLite's answer, as a store error: lock contention and I/O trouble are
/// transient; the rest (schema, constraint, corrupt file) is permanent.
fn map_err(e: rusqlite::Error, path: &Path) -> StoreError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(format!(
            "{}: the database is locked by another connection (gave up after the busy timeout): {e}",
            path.display()
        )),
        Some(ErrorCode::SystemIoFailure | ErrorCode::DiskFull | ErrorCode::OutOfMemory) => {
            StoreError::Unavailable(format!("{}: {e}", path.display()))
        }
        _ => StoreError::Permanent(format!("{}: {e}", path.display())),
    }
}

impl Row {
    fn new(new: &NewInvoice) -> Row {
        use std::io::Write;
        let invoice = &new.invoice;
        let mut buf = Vec::with_capacity(768);
        let mut ends = [0u32; COLUMNS];
        let mut end = |buf: &Vec<u8>, column: Column| ends[column as usize] = buf.len() as u32;
        buf.extend_from_slice(invoice.invoice_id.as_bytes());
        end(&buf, Column::InvoiceId);
        buf.extend_from_slice(invoice.customer_id.as_bytes());
        end(&buf, Column::CustomerId);
        let due = invoice.due_date;
        let _ = write!(buf, "{:04}-{:02}-{:02}", due.year(), due.month(), due.day());
        end(&buf, Column::DueDate);
        let _ = write!(buf, "{}", invoice.amount);
        end(&buf, Column::Amount);
        buf.extend_from_slice(invoice.currency.code().as_bytes());
        end(&buf, Column::Currency);
        let _ = write!(buf, "{}", timestamp::Millis(&new.processed_at));
        end(&buf, Column::ProcessedAt);
        buf.extend_from_slice(new.idempotency_key.as_bytes());
        end(&buf, Column::IdempotencyKey);
        for byte in new.content_hash.0 {
            buf.extend_from_slice(&crate::hex::digits(byte));
        }
        end(&buf, Column::ContentHash);
        json::write_invoice(&mut buf, invoice, json::Decimals::Exact);
        end(&buf, Column::Invoice);
        if let Some(source) = &new.source {
            json::write_source(&mut buf, source);
        }
        end(&buf, Column::Source);
        Row {
            text: String::from_utf8(buf).expect("JSON and ids are UTF-8"),
            ends,
            has_source: new.source.is_some(),
            year: new.year(),
        }
    }

    fn get(&self, column: Column) -> &str {
        let i = column as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

#[async_trait]
impl InvoiceStore for SqliteStore {
    async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { row: Row::new(&new), reply };
        // Free the invoice on this thread, before the wait: the task may resume
        // on another worker thread, and cross-thread frees are slow in glibc.
        let NewInvoice { invoice, source, idempotency_key, content_hash, processed_at } = new;
        drop((invoice, source));
        let sent = self.jobs.as_ref().map(|jobs| jobs.send(job).is_ok()).unwrap_or(false);
        if !sent {
            return Err(StoreError::Unavailable(format!("{}: the SQLite writer has stopped", self.path.display())));
        }
        let written = answer.await.map_err(|_| {
            StoreError::Unavailable(format!("{}: the SQLite writer stopped before answering", self.path.display()))
        })??;
        Ok(match written {
            Written::New(invoice_number) => {
                Inserted::New(Receipt { invoice_number, processed_at, idempotency_key, content_hash })
            }
            Written::Existing(receipt) => Inserted::Existing(receipt),
        })
    }

    async fn get(&self, invoice_id: &str) -> Result<Option<StoredInvoice>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM invoices WHERE invoice_id = ?1");
        Ok(self.query_records(sql, vec![SqlValue::Text(invoice_id.to_string())], |_| {}).await?.pop())
    }

    async fn get_by_number(&self, number: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM invoices WHERE number_key = ?1");
        Ok(self.query_records(sql, vec![SqlValue::Integer(number_key(number))], |_| {}).await?.pop())
    }

    async fn customer_invoices(&self, customer_id: &str, due: DueRange) -> Result<Vec<StoredInvoice>, StoreError> {
        // The indexed invoices, and the tails not indexed yet (one snapshot).
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM invoices WHERE number_key IN (SELECT number_key FROM customer_due
                 WHERE customer_id = ?1 AND due_date >= ?2 AND due_date <= ?3)
             UNION ALL
             SELECT {RECORD_COLUMNS} FROM {TAIL}
                 WHERE invoices.customer_id = ?1 AND invoices.due_date >= ?2 AND invoices.due_date <= ?3"
        );
        let from = due.from.map_or_else(|| "0000-01-01".to_string(), |d| d.format("%Y-%m-%d").to_string());
        let to = due.to.map_or_else(|| "9999-12-31".to_string(), |d| d.format("%Y-%m-%d").to_string());
        self.query_records(sql, vec![customer_id.to_string().into(), from.into(), to.into()], sort_by_due_date).await
    }

    async fn processed_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM invoices WHERE processed_at >= ?1 AND processed_at < ?2");
        let args = vec![timestamp::format(&from).into(), timestamp::format(&to).into()];
        self.query_records(sql, args, sort_by_processed_at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PROCESSED answer is only durable if the writer's commits are: WAL,
    /// and the WAL synced at every commit (`synchronous = FULL`, 2; NORMAL, 1,
    /// would lose the last commits on power loss).
    #[test]
    fn the_writer_connection_is_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let writer = open_connection(&path, &SqliteOptions::default(), false).unwrap();
        let synchronous: i64 = writer.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 2, "PRAGMA synchronous of the writer (2 = FULL)");
        let mode: String = writer.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        // The mode is the database's: a connection opened later sees it too.
        migrate(&writer, &path).unwrap();
        let reader = open_connection(&path, &SqliteOptions::default(), true).unwrap();
        let mode: String = reader.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}
