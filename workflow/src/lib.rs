//! The invoice workflow: the invoice model, its validation, processing
//! (gap-free invoice numbers, duplicates) and the stores.
//!
//! Reading an invoice happens in two stages, as in ripgrep's parsers: a
//! [`RawInvoice`] is what a file or JSON document said, field by field; the
//! rules of [`validation`] turn it into an [`Invoice`] or a list of every
//! [`FieldError`]. Amounts are [`rust_decimal::Decimal`] from end to end.
//!
//! # Layout
//!
//! - [`money`]: ISO 4217 currencies, exact decimal parsing from bytes.
//! - [`date`]: `YYYY-MM-DD` calendar dates from bytes.
//! - [`raw`]: stage one, the raw record (missing, null, empty, wrong type kept apart).
//! - [`invoice`]: stage two, the validated invoice; its source; the execution input.
//! - [`validation`]: the rules, every failure reported as `{field, code, message}`.
//! - [`naming`]: deterministic execution names per upload and record.
//! - [`definition`]: the state machine definition (`state-machine.asl.json`) and its placeholders.
//! - [`tasks`]: the ValidateInvoice task, the named task errors (Lambda `errorType`), the Lambdas' config.
//! - [`hex`]: lower-case hex digits of bytes (names, hashes, message ids).
//! - [`json`]: allocation-free JSON of an invoice (the hot path's hash and SQLite rows).
//! - [`process`]: the ProcessInvoice task: invoice numbers, retries told apart from duplicates.
//! - [`store`]: the [`InvoiceStore`] port and its adapters, [`store::sqlite`] (local, group
//!   commit) and [`store::dynamodb`] (AWS).
//! - `src/bin/validate.rs`, `src/bin/process.rs`: the two Lambda functions.

pub mod date;
pub mod definition;
pub mod hex;
pub mod invoice;
pub mod json;
pub mod money;
pub mod naming;
pub mod process;
pub mod raw;
pub mod store;
pub mod tasks;
pub mod validation;

pub use invoice::{ExecutionInput, Invoice, LineItem, Source};
pub use money::Currency;
pub use process::{ProcessInput, ProcessOutput};
pub use raw::{InvoiceJson, RawInvoice, RawItem, RawItems, RawValue};
pub use store::{InvoiceNumber, InvoiceStore, StoreError, StoredInvoice};
pub use tasks::{TaskError, ValidationOutput};
pub use validation::{validate, ErrorCode, FieldError, Rules};
