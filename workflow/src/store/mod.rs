//! The port to the store of processed invoices, and the records it holds.
//!
//! [`InvoiceStore`] is narrow on purpose: one atomic write ([`InvoiceStore::insert`]:
//! store the invoice under the next number of its year, unless its invoiceId is
//! already stored) and the four queries the CLI and the README need. Deciding
//! what an existing record means (a retry of the same execution, or a duplicate)
//! is the handler's job ([`crate::process`]), so both adapters share it.
//!
//! Adapters: [`sqlite::SqliteStore`] (the local default, group commit) and
//! [`dynamodb::DynamoStore`] (AWS). Both give the same answers; one contract
//! test suite (`workflow/tests/store_contract.rs`) runs against both.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::invoice::{Invoice, Source};

pub mod dynamodb;
pub mod sqlite;

/// An invoice number `INV-YYYY-NNNNNN`: the sequence number within the year
/// of processing (UTC). The sequence is written with at least six digits
/// (`INV-2026-1000000` follows `INV-2026-999999`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceNumber {
    pub year: i32,
    /// From 1, without gaps, within the year.
    pub seq: u64,
}

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INV-{:04}-{:06}", self.year, self.seq)
    }
}

/// The text is not an invoice number of the form `INV-YYYY-NNNNNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an invoice number of the form INV-YYYY-NNNNNN")]
pub struct InvoiceNumberError(pub String);

impl FromStr for InvoiceNumber {
    type Err = InvoiceNumberError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || InvoiceNumberError(text.to_string());
        let rest = text.strip_prefix("INV-").ok_or_else(bad)?;
        let (year, seq) = rest.split_once('-').ok_or_else(bad)?;
        let digits = |s: &str, min: usize| s.len() >= min && s.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year, 4) || !digits(seq, 6) {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        if seq == 0 {
            return Err(bad());
        }
        Ok(InvoiceNumber { year, seq })
    }
}

impl Serialize for InvoiceNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InvoiceNumber {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// SHA-256 of an invoice's canonical JSON ([`crate::process::content_hash`]),
/// written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl FromStr for ContentHash {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(format!("a content hash has 64 hex digits, not {}", bytes.len()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| format!("{hex:?} is not a hex byte"))?;
        }
        Ok(ContentHash(out))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Timestamps as the documents carry them: RFC 3339, UTC, milliseconds
/// (`2026-11-24T13:05:01.123Z`). Fixed width, so their text sorts by time
/// (the stores' range queries rely on it).
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `2026-11-24T13:05:01.123Z`.
    pub fn format(at: &DateTime<Utc>) -> String {
        Millis(at).to_string()
    }

    /// Displays a timestamp as [`format()`] writes it (without chrono's
    /// format-string interpretation, and without allocating).
    pub struct Millis<'a>(pub &'a DateTime<Utc>);

    impl std::fmt::Display for Millis<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            use chrono::{Datelike, Timelike};
            let (date, time) = (self.0.date_naive(), self.0.time());
            if !(0..=9999).contains(&date.year()) {
                return f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true));
            }
            write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                date.year(),
                date.month(),
                date.day(),
                time.hour(),
                time.minute(),
                time.second(),
                (time.nanosecond() / 1_000_000).min(999)
            )
        }
    }

    /// Reads an RFC 3339 timestamp (any offset) as UTC.
    pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"))
    }

    /// `at` cut to whole milliseconds: what [`format()`] writes and [`parse()`] reads back.
    pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
    }

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What [`InvoiceStore::insert`] is asked to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInvoice {
    /// The normalized invoice (the output of validation).
    pub invoice: Invoice,
    /// The execution's name: a retry of the same execution carries the same key.
    pub idempotency_key: String,
    /// See [`crate::process::content_hash`].
    pub content_hash: ContentHash,
    pub source: Option<Source>,
    /// When it is processed (whole milliseconds); its UTC year picks the number sequence.
    pub processed_at: DateTime<Utc>,
}

impl NewInvoice {
    /// The year whose number sequence this invoice draws from.
    pub fn year(&self) -> i32 {
        self.processed_at.year()
    }
}

/// The facts about a stored invoice that decide a later submission's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub invoice_number: InvoiceNumber,
    #[serde(with = "timestamp")]
    pub processed_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub content_hash: ContentHash,
}

/// The outcome of [`InvoiceStore::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored now, under the next number of its year.
    New(Receipt),
    /// The invoiceId was already stored (by this or another submission):
    /// nothing was written, no number consumed. The receipt is the stored one.
    /// Nothing of this submission is kept (not its key, not its time), so the
    /// handler's `DUPLICATE` answer to it carries the time of each attempt.
    Existing(Receipt),
}

/// A stored invoice, as the queries return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredInvoice {
    pub invoice_number: InvoiceNumber,
    #[serde(with = "timestamp")]
    pub processed_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub content_hash: ContentHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub invoice: Invoice,
}

impl StoredInvoice {
    /// The receipt part of the record.
    pub fn receipt(&self) -> Receipt {
        Receipt {
            invoice_number: self.invoice_number,
            processed_at: self.processed_at,
            idempotency_key: self.idempotency_key.clone(),
            content_hash: self.content_hash,
        }
    }
}

/// An inclusive range of due dates; an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DueRange {
    /// Every due date.
    pub const ALL: DueRange = DueRange { from: None, to: None };

    /// From `from` to `to`, both included.
    pub fn between(from: NaiveDate, to: NaiveDate) -> DueRange {
        DueRange { from: Some(from), to: Some(to) }
    }
}

/// Why a store could not answer. The handler maps these to the task's named
/// errors ([`crate::tasks::TaskError`]): the first two are retried by the
/// state machine, the last one is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is locked (network, timeout, SQLITE_BUSY
    /// after the busy timeout, a 5xx answer). The write may or may not have
    /// happened: a retry with the same idempotency key finds out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refuses for load (DynamoDB throttling after the SDK's retries,
    /// numbering contention after the adapter's bounded retries).
    #[error("store throttled: {0}")]
    Throttled(String),
    /// A fault retrying will not fix: a missing table, a record that cannot be
    /// read back, an item the store refuses (too large), a broken schema.
    #[error("store error: {0}")]
    Permanent(String),
}

impl StoreError {
    /// True for the errors a retry may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Throttled(_))
    }
}

/// The store of processed invoices. Implementations are shared by many
/// concurrent tasks (`&self` everywhere, `Send + Sync`).
#[async_trait]
pub trait InvoiceStore: Send + Sync {
    /// Atomically: if `new.invoice.invoice_id` is stored, returns its receipt
    /// ([`Inserted::Existing`]) and writes nothing; otherwise stores the record
    /// under the next number of its year (`new.processed_at`'s UTC year) and
    /// returns [`Inserted::New`]. The number and the record are written in one
    /// atomic step and are durable when this returns: numbers are unique,
    /// never reused and without gaps.
    async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError>;

    /// The record of an invoiceId.
    async fn get(&self, invoice_id: &str) -> Result<Option<StoredInvoice>, StoreError>;

    /// The record holding an invoice number.
    ///
    /// This and the two queries below may lag behind [`insert`](Self::insert)
    /// where the store answers them from an eventually consistent index
    /// (DynamoDB's GSIs; see [`dynamodb`](dynamodb#reads)); [`get`](Self::get)
    /// never does. SQLite answers all of them from the committed state.
    async fn get_by_number(&self, number: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError>;

    /// A customer's invoices whose due date is in `due`, by due date (then number).
    async fn customer_invoices(&self, customer_id: &str, due: DueRange) -> Result<Vec<StoredInvoice>, StoreError>;

    /// Invoices processed in `[from, to)`, by processing time (then number).
    async fn processed_between(&self, from: DateTime<Utc>, to: DateTime<Utc>)
        -> Result<Vec<StoredInvoice>, StoreError>;
}

#[async_trait]
impl<S: InvoiceStore + ?Sized> InvoiceStore for Arc<S> {
    async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError> {
        (**self).insert(new).await
    }
    async fn get(&self, invoice_id: &str) -> Result<Option<StoredInvoice>, StoreError> {
        (**self).get(invoice_id).await
    }
    async fn get_by_number(&self, number: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError> {
        (**self).get_by_number(number).await
    }
    async fn customer_invoices(&self, customer_id: &str, due: DueRange) -> Result<Vec<StoredInvoice>, StoreError> {
        (**self).customer_invoices(customer_id, due).await
    }
    async fn processed_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        (**self).processed_between(from, to).await
    }
}

/// Orders query results the same way in every adapter.
pub(crate) fn sort_by_due_date(records: &mut [StoredInvoice]) {
    records.sort_by_key(|a| (a.invoice.due_date, a.invoice_number));
}

/// Orders query results the same way in every adapter.
pub(crate) fn sort_by_processed_at(records: &mut [StoredInvoice]) {
    records.sort_by_key(|a| (a.processed_at, a.invoice_number));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_numbers_read_and_write() {
        let n = InvoiceNumber { year: 2026, seq: 42 };
        assert_eq!(n.to_string(), "INV-2026-000042");
        assert_eq!("INV-2026-000042".parse::<InvoiceNumber>(), Ok(n));
        let big = InvoiceNumber { year: 2026, seq: 1_000_000 };
        assert_eq!(big.to_string(), "INV-2026-1000000");
        assert_eq!(big.to_string().parse::<InvoiceNumber>(), Ok(big));
        for bad in ["INV-2026-42", "INV-26-000042", "inv-2026-000042", "INV-2026-000000", "INV-2026-00004x", ""] {
            assert!(bad.parse::<InvoiceNumber>().is_err(), "{bad}");
        }
        assert!(InvoiceNumber { year: 2026, seq: 9 } < InvoiceNumber { year: 2026, seq: 10 });
    }

    #[test]
    fn content_hashes_are_hex() {
        let h = ContentHash([0xab; 32]);
        let text = h.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<ContentHash>(), Ok(h));
        assert!("ab".parse::<ContentHash>().is_err());
        assert!("zz".repeat(32).parse::<ContentHash>().is_err());
    }

    #[test]
    fn timestamps_have_milliseconds_and_sort_as_text() {
        let at = timestamp::parse("2026-11-24T13:05:01.123456Z").unwrap();
        let cut = timestamp::truncate_to_millis(at);
        assert_eq!(timestamp::format(&cut), "2026-11-24T13:05:01.123Z");
        assert_eq!(timestamp::parse(&timestamp::format(&cut)).unwrap(), cut);
        let whole = timestamp::parse("2026-11-24T13:05:01Z").unwrap();
        assert_eq!(timestamp::format(&whole), "2026-11-24T13:05:01.000Z");
        assert!(timestamp::format(&whole) < timestamp::format(&cut));
        assert_eq!(
            timestamp::format(&timestamp::parse("2026-11-24T14:05:01+01:00").unwrap()),
            "2026-11-24T13:05:01.000Z"
        );
    }
}
