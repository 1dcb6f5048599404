//! Integration tests of the file formats, one module per topic.

mod formats;
mod malformed;
mod roundtrip;

use ingest::{Format, InvoiceReader, Limits, ReadError};

/// Reads everything and renders each outcome on one line:
/// `ok R@L ID` for a record, `record R@L: reason` for a record error,
/// `file: message` for a file error.
pub fn outcomes(data: &[u8], format: Format) -> Vec<String> {
    outcomes_with(data, format, Limits::default())
}

pub fn outcomes_with(data: &[u8], format: Format, limits: Limits) -> Vec<String> {
    let mut reader = InvoiceReader::new(data, format, limits);
    let mut out = Vec::new();
    while let Some(next) = reader.next_record() {
        out.push(match next {
            Ok(r) => format!("ok {}@{} {}", r.record, r.line, r.invoice.invoice_id_text().unwrap_or("-")),
            Err(ReadError::Record(e)) => format!("record {}@{}: {}", e.record, e.line, e.reason),
            Err(ReadError::File(e)) => format!("file: {e}"),
        });
    }
    out
}
