//! Invoice files → raw invoices, one record at a time.
//!
//! Files dropped in the bucket (or given to `invoices validate` / `run`) are CSV,
//! JSON or NDJSON. [`InvoiceReader`] streams any reader: memory does not grow
//! with the file, and a record borrows its text from the reader's buffer. Each
//! record is a [`workflow::RawInvoice`] (stage one) with its record number and
//! line; [`workflow::validate`] does stage two.
//!
//! Errors come at two levels. A [`RecordError`] is one record that cannot be
//! read (its line and why); the records after it still come. A [`FileError`]
//! ends the file: it cannot be read at all (empty, binary, a bad CSV header), or
//! a size limit of [`Limits`] is passed.
//!
//! # Layout
//!
//! - [`csv`]: the CSV reader (header mapping, delimiter detection, grouping of item rows).
//! - [`json`]: the JSON and NDJSON readers (streamed arrays, the `invoices` wrapper).
//! - [`sample`]: a deterministic generator of sample files of any size.
//! - `window`: the sliding buffer both parse in place.

pub mod csv;
pub mod json;
pub mod sample;
mod window;

use std::fmt;
use std::io::Read;
use std::path::Path;

use workflow::RawInvoice;

pub use crate::csv::CsvReader;
pub use crate::json::JsonReader;

/// A file format, known from the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
}

impl Format {
    /// `.csv`, `.json`, `.jsonl` / `.ndjson` (any case); `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// The names accepted, for messages.
    pub const EXTENSIONS: &'static str = ".csv, .json, .jsonl, .ndjson";

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Size limits; passing one is a [`FileError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest record (a CSV row or group of item rows, a JSON record).
    pub max_record_bytes: usize,
    /// Largest file.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_record_bytes: 1 << 20, max_file_bytes: 64 << 30 }
    }
}

/// One invoice as read: stage one, borrowed from the reader.
#[derive(Debug)]
pub struct Record<'a> {
    /// The record's number in the file, from 1 (a record that cannot be read counts too).
    pub record: u64,
    /// The line the record starts on, from 1.
    pub line: u64,
    pub invoice: RawInvoice<'a>,
}

/// A record that cannot be read; the rest of the file still can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RecordError {
    pub record: u64,
    pub line: u64,
    pub reason: String,
}

/// A file that cannot be read (any further).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// Where, when it is about one place.
    pub line: Option<u64>,
    pub reason: String,
}

impl FileError {
    pub fn new(line: Option<u64>, reason: String) -> Self {
        FileError { line, reason }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// What can go wrong while reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    File(#[from] FileError),
}

enum Inner<R> {
    Csv(CsvReader<R>),
    Json(JsonReader<R>),
}

/// Reads invoices from any reader, in the given format.
///
/// ```
/// use ingest::{Format, InvoiceReader, Limits};
/// let data = "invoiceId,customerId,amount,dueDate\nINV-1,C-1,10.50,2030-01-31\n";
/// let mut reader = InvoiceReader::new(data.as_bytes(), Format::Csv, Limits::default());
/// let record = reader.next_record().unwrap().unwrap();
/// assert_eq!((record.record, record.line), (1, 2));
/// assert!(reader.next_record().is_none());
/// ```
pub struct InvoiceReader<R> {
    inner: Inner<R>,
    seen: u64,
    finished: bool,
}

impl<R: Read> InvoiceReader<R> {
    pub fn new(reader: R, format: Format, limits: Limits) -> Self {
        let inner = match format {
            Format::Csv => Inner::Csv(CsvReader::new(reader, limits)),
            Format::Json => Inner::Json(JsonReader::json(reader, limits)),
            Format::Ndjson => Inner::Json(JsonReader::ndjson(reader, limits)),
        };
        InvoiceReader { inner, seen: 0, finished: false }
    }

    /// The next invoice, a [`RecordError`] (more may follow), or a
    /// [`FileError`] (nothing follows); `None` at the end. A file without a
    /// single record is a [`FileError`]: nothing in it can be an invoice.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, ReadError>> {
        if self.finished {
            return None;
        }
        let next = match &mut self.inner {
            Inner::Csv(r) => r.next_record(),
            Inner::Json(r) => r.next_record(),
        };
        match next {
            None => {
                self.finished = true;
                (self.seen == 0).then(|| Err(FileError::new(None, "the file holds no invoices".into()).into()))
            }
            Some(Err(ReadError::File(e))) => {
                self.finished = true;
                Some(Err(ReadError::File(e)))
            }
            Some(item) => {
                self.seen += 1;
                Some(item)
            }
        }
    }
}
