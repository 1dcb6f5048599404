//! JSON text of an [`Invoice`] and a [`Source`] written straight into a byte
//! buffer, identical to their serde form, without the allocations of the
//! serde path (each `Decimal` goes through two strings there).
//!
//! Used on the hot path of processing: the content hash
//! ([`crate::process::content_hash`], decimals without trailing zeros) and
//! the SQLite rows (decimals as they are). Both structs are destructured
//! field by field without `..`, so a new field fails to compile here rather
//! than silently going missing; a test holds the output equal to serde's.

use std::io::Write;

use rust_decimal::Decimal;

use crate::invoice::{Invoice, LineItem, Source};

/// How decimals are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decimals {
    /// With their scale, as serde writes them (`30.00`).
    Exact,
    /// Without trailing zeros (`30`): the canonical form for hashing.
    Normalized,
}

/// Appends the invoice's JSON (compact, camelCase, serde's field order).
pub fn write_invoice(out: &mut Vec<u8>, invoice: &Invoice, decimals: Decimals) {
    let Invoice { invoice_id, customer_id, customer_email, amount, currency, due_date, description, items } = invoice;
    out.extend_from_slice(b"{\"invoiceId\":");
    string(out, invoice_id);
    out.extend_from_slice(b",\"customerId\":");
    string(out, customer_id);
    if let Some(email) = customer_email {
        out.extend_from_slice(b",\"customerEmail\":");
        string(out, email);
    }
    out.extend_from_slice(b",\"amount\":");
    decimal(out, amount, decimals);
    out.extend_from_slice(b",\"currency\":");
    string(out, currency.code());
    // chrono serializes a NaiveDate with its Debug form.
    let _ = write!(out, ",\"dueDate\":\"{due_date:?}\"");
    if let Some(description) = description {
        out.extend_from_slice(b",\"description\":");
        string(out, description);
    }
    if !items.is_empty() {
        out.extend_from_slice(b",\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let LineItem { description, quantity, rate } = item;
            out.push(b'{');
            if let Some(description) = description {
                out.extend_from_slice(b"\"description\":");
                string(out, description);
                out.push(b',');
            }
            out.extend_from_slice(b"\"quantity\":");
            decimal(out, quantity, decimals);
            out.extend_from_slice(b",\"rate\":");
            decimal(out, rate, decimals);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// Appends the source's JSON (compact, camelCase, serde's field order).
pub fn write_source(out: &mut Vec<u8>, source: &Source) {
    let Source { bucket, key, etag, version_id, record, line } = source;
    out.extend_from_slice(b"{\"bucket\":");
    string(out, bucket);
    out.extend_from_slice(b",\"key\":");
    string(out, key);
    if let Some(etag) = etag {
        out.extend_from_slice(b",\"etag\":");
        string(out, etag);
    }
    if let Some(version_id) = version_id {
        out.extend_from_slice(b",\"versionId\":");
        string(out, version_id);
    }
    let _ = write!(out, ",\"record\":{record},\"line\":{line}}}");
}

fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

fn decimal(out: &mut Vec<u8>, value: &Decimal, decimals: Decimals) {
    let _ = match decimals {
        Decimals::Exact => write!(out, "{value}"),
        Decimals::Normalized => write!(out, "{}", value.normalize()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(invoice: &Invoice) -> String {
        let mut out = Vec::new();
        write_invoice(&mut out, invoice, Decimals::Exact);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_same_text_as_serde() {
        for text in [
            r#"{"invoiceId":"INV-001","customerId":"CUST-123","customerEmail":"customer@example.com","amount":1500.10,"currency":"USD","dueDate":"2030-12-31","description":"Professional \"services\"\n","items":[{"description":"Consulting hours","quantity":50,"rate":30.002},{"quantity":1,"rate":0.00}]}"#,
            r#"{"invoiceId":"A","customerId":"B","amount":7,"currency":"JPY","dueDate":"2031-01-01"}"#,
            r#"{"invoiceId":"Ü","customerId":"é\u0001","amount":0.1,"currency":"BHD","dueDate":"2030-02-28","items":[]}"#,
        ] {
            let invoice: Invoice = serde_json::from_str(text).unwrap();
            assert_eq!(exact(&invoice), serde_json::to_string(&invoice).unwrap());
        }
        for source in [
            Source {
                bucket: "b".into(),
                key: "in/a \"b\".csv".into(),
                etag: Some("\"e\"".into()),
                version_id: Some("v".into()),
                record: 1,
                line: 2,
            },
            Source {
                bucket: "local".into(),
                key: "/tmp/x".into(),
                etag: None,
                version_id: None,
                record: u64::MAX,
                line: 0,
            },
        ] {
            let mut out = Vec::new();
            write_source(&mut out, &source);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&source).unwrap());
        }
    }

    #[test]
    fn normalized_decimals_drop_trailing_zeros() {
        let invoice: Invoice = serde_json::from_str(
            r#"{"invoiceId":"A","customerId":"B","amount":100.50,"currency":"USD","dueDate":"2030-12-31","items":[{"quantity":2.0,"rate":50.25}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        write_invoice(&mut out, &invoice, Decimals::Normalized);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"invoiceId":"A","customerId":"B","amount":100.5,"currency":"USD","dueDate":"2030-12-31","items":[{"quantity":2,"rate":50.25}]}"#
        );
    }

    proptest! {
        #[test]
        fn any_invoice_writes_as_serde_does(
            id in "[A-Za-z0-9][A-Za-z0-9._-]{0,30}",
            text in "\\PC{0,40}",
            email in proptest::option::of("[a-z]{1,8}@[a-z]{1,8}\\.com"),
            units in 0i64..10_000_000_000, scale in 0u32..6,
            items in proptest::collection::vec((proptest::option::of("\\PC{0,20}"), 1i64..100_000, 0u32..4), 0..4),
            year in 1i32..9999, day in 0u32..365,
        ) {
            let items = items
                .into_iter()
                .map(|(description, q, s)| LineItem {
                    description: description.map(Into::into),
                    quantity: Decimal::new(q, s),
                    rate: Decimal::new(q * 7, s),
                })
                .collect();
            let invoice = Invoice {
                invoice_id: id.as_str().into(),
                customer_id: text.as_str().into(),
                customer_email: email.map(Into::into),
                amount: Decimal::new(units, scale),
                currency: crate::Currency::USD,
                due_date: chrono::NaiveDate::from_yo_opt(year, 1 + day).unwrap(),
                description: Some(text.as_str().into()),
                items,
            };
            prop_assert_eq!(exact(&invoice), serde_json::to_string(&invoice).unwrap());
        }
    }
}
