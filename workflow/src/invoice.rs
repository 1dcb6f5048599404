//! The validated invoice (stage two), where it came from, and the execution input.
//!
//! An [`Invoice`] only exists once every rule of [`crate::validation`] holds.
//! Its JSON form is the seed's camelCase shape; amounts are JSON numbers written
//! with their exact digits (`1500.10`), read back without `f64`.

use chrono::NaiveDate;
use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::Currency;

/// A validated, normalized invoice: ids trimmed, currency upper case (the
/// configured default when none was given), amount at the currency's scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub invoice_id: CompactString,
    pub customer_id: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<CompactString>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
    pub currency: Currency,
    pub due_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<LineItem>,
}

/// One line of an invoice: `quantity × rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<CompactString>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub rate: Decimal,
}

/// Where an invoice came from: the uploaded object and its place in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The S3 bucket (`local` when run by `invoices run`).
    pub bucket: String,
    /// The object key (locally, the file's path).
    pub key: String,
    /// The object's ETag (locally, the upload id of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's version id, when the bucket is versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The record's number in the file, from 1.
    pub record: u64,
    /// The line the record starts on, from 1.
    pub line: u64,
}

impl Source {
    /// What identifies this upload of the object: the version id when the
    /// bucket is versioned, else the ETag, else nothing.
    pub fn upload_version(&self) -> &str {
        self.version_id.as_deref().or(self.etag.as_deref()).unwrap_or("")
    }
}

/// The input of one workflow execution: `{ "invoice": {...}, "source": {...}? }`.
///
/// The invoice stays raw JSON: the ValidateInvoice step must be able to report
/// a field of the wrong type, which a typed invoice could not even hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub invoice: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoice_json_keeps_amount_digits() {
        let text = r#"{"invoiceId":"INV-001","customerId":"CUST-123","customerEmail":"customer@example.com","amount":1500.10,"currency":"USD","dueDate":"2030-12-31","description":"Professional services","items":[{"description":"Consulting hours","quantity":50,"rate":30.002}]}"#;
        let invoice: Invoice = serde_json::from_str(text).unwrap();
        assert_eq!(invoice.amount.to_string(), "1500.10");
        assert_eq!(invoice.items[0].rate.to_string(), "30.002");
        assert_eq!(serde_json::to_string(&invoice).unwrap(), text);
    }

    #[test]
    fn execution_input_round_trips() {
        let doc = json!({"invoice": {"invoiceId": "INV-1"}, "source": {"bucket": "b", "key": "k.csv", "etag": "e", "record": 3, "line": 4}});
        let input: ExecutionInput = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(input.source.as_ref().unwrap().upload_version(), "e");
        assert_eq!(serde_json::to_value(&input).unwrap(), doc);
        let seed: ExecutionInput = serde_json::from_value(json!({"invoice": {}})).unwrap();
        assert!(seed.source.is_none());
    }
}
