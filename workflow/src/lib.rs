//! The invoice workflow: the invoice model, its validation, and (with later
//! modules) processing and storage.
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

pub mod date;
pub mod definition;
pub mod invoice;
pub mod money;
pub mod naming;
pub mod raw;
pub mod validation;

pub use invoice::{ExecutionInput, Invoice, LineItem, Source};
pub use money::Currency;
pub use raw::{RawInvoice, RawItem, RawItems, RawValue};
pub use validation::{validate, ErrorCode, FieldError, Rules};
