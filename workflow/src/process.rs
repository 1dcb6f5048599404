//! The ProcessInvoice task: a validated invoice gets its invoice number, or is
//! recognised as a retry or a duplicate.
//!
//! [`process`] stores the invoice through an [`InvoiceStore`] and decides:
//!
//! - stored now → `PROCESSED` with the new number;
//! - already stored under the **same idempotency key** (the execution's name):
//!   a retry whose first attempt committed (its response was lost, or the
//!   execution was redriven) → the original `PROCESSED` result, unchanged;
//! - already stored under **another key** → `DUPLICATE`, naming the first
//!   invoice number and whether the content is the same ([`content_hash`]).
//!
//! Neither a retry nor a duplicate consumes a number. The clock is injected
//! (`now`), so results never depend on when tests run.
//!
//! A `DUPLICATE` result is not replayed the way a `PROCESSED` one is: a
//! duplicate stores nothing (no record of the duplicate submission, no
//! number), so when the same duplicate execution is retried or redriven, its
//! key again differs from the stored one and it is answered `DUPLICATE`
//! again: the same `duplicateOf` (number, first `processedAt`,
//! `sameContent`), but `processedAt` is the time of this attempt. Making it
//! deterministic would mean storing every duplicate submission (its key and
//! time), which the stores deliberately do not. A subscriber that must not
//! count a duplicate twice uses the notification's `eventId` (execution name
//! and event type), which is the same for every attempt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::invoice::{Invoice, Source};
use crate::json;
use crate::store::{timestamp, ContentHash, Inserted, InvoiceNumber, InvoiceStore, NewInvoice};
use crate::tasks::TaskError;

/// Longest idempotency key accepted (execution names have at most 80 characters).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// The task's input: `{"invoice": <normalized invoice>, "idempotencyKey": "<execution name>", "source": {...}?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInput {
    pub invoice: Invoice,
    pub idempotency_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The task's output, `$.processing` in the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessOutput {
    /// `{"status": "PROCESSED", "invoiceNumber": "INV-2026-000042", "processedAt": "2026-11-24T13:05:01.123Z"}`
    #[serde(rename_all = "camelCase")]
    Processed {
        invoice_number: InvoiceNumber,
        #[serde(with = "timestamp")]
        processed_at: DateTime<Utc>,
    },
    /// `{"status": "DUPLICATE", "processedAt": <now>, "duplicateOf": {...}}`.
    /// `processedAt` is when this attempt ran: nothing is stored for a
    /// duplicate, so a retried or redriven duplicate execution gets the same
    /// `duplicateOf` with a new `processedAt` ([module docs](self)).
    #[serde(rename_all = "camelCase")]
    Duplicate {
        #[serde(with = "timestamp")]
        processed_at: DateTime<Utc>,
        duplicate_of: DuplicateOf,
    },
}

impl ProcessOutput {
    /// The output as the JSON document serde writes (`{"status": …, …}`),
    /// built directly: the local pipeline makes one per invoice.
    pub fn to_json(&self) -> Value {
        let mut doc = serde_json::Map::with_capacity(3);
        match self {
            ProcessOutput::Processed { invoice_number, processed_at } => {
                doc.insert("status".into(), "PROCESSED".into());
                doc.insert("invoiceNumber".into(), invoice_number.to_string().into());
                doc.insert("processedAt".into(), timestamp::format(processed_at).into());
            }
            ProcessOutput::Duplicate { processed_at, duplicate_of } => {
                let mut of = serde_json::Map::with_capacity(3);
                of.insert("invoiceNumber".into(), duplicate_of.invoice_number.to_string().into());
                of.insert("processedAt".into(), timestamp::format(&duplicate_of.processed_at).into());
                of.insert("sameContent".into(), duplicate_of.same_content.into());
                doc.insert("status".into(), "DUPLICATE".into());
                doc.insert("processedAt".into(), timestamp::format(processed_at).into());
                doc.insert("duplicateOf".into(), Value::Object(of));
            }
        }
        Value::Object(doc)
    }
}

/// The stored invoice a duplicate repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateOf {
    pub invoice_number: InvoiceNumber,
    #[serde(with = "timestamp")]
    pub processed_at: DateTime<Utc>,
    /// True when the stored invoice has the same content (same [`content_hash`]).
    pub same_content: bool,
}

/// SHA-256 of the invoice's canonical JSON: its camelCase JSON form (fields in
/// a fixed order, absent optional fields left out) with every decimal written
/// without trailing zeros, so `30`, `30.0` and `30.00` hash alike.
pub fn content_hash(invoice: &Invoice) -> ContentHash {
    let mut canonical = Vec::with_capacity(512);
    json::write_invoice(&mut canonical, invoice, json::Decimals::Normalized);
    ContentHash(Sha256::digest(&canonical).into())
}

/// Processes one invoice at `now` (cut to whole milliseconds).
pub async fn process<S: InvoiceStore + ?Sized>(
    store: &S,
    input: ProcessInput,
    now: DateTime<Utc>,
) -> Result<ProcessOutput, TaskError> {
    check_input(&input)?;
    let now = timestamp::truncate_to_millis(now);
    let ProcessInput { invoice, idempotency_key, source } = input;
    let hash = content_hash(&invoice);
    let new =
        NewInvoice { invoice, idempotency_key: idempotency_key.clone(), content_hash: hash, source, processed_at: now };
    Ok(match store.insert(new).await? {
        Inserted::New(receipt) => {
            ProcessOutput::Processed { invoice_number: receipt.invoice_number, processed_at: receipt.processed_at }
        }
        Inserted::Existing(receipt) if receipt.idempotency_key == idempotency_key => {
            ProcessOutput::Processed { invoice_number: receipt.invoice_number, processed_at: receipt.processed_at }
        }
        Inserted::Existing(receipt) => ProcessOutput::Duplicate {
            processed_at: now,
            duplicate_of: DuplicateOf {
                invoice_number: receipt.invoice_number,
                processed_at: receipt.processed_at,
                same_content: receipt.content_hash == hash,
            },
        },
    })
}

/// The task on JSON documents, as the Lambda and the local engine call it.
/// A document that is not a [`ProcessInput`] is [`TaskError::InvalidInput`].
pub async fn process_json<S: InvoiceStore + ?Sized>(
    store: &S,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<Value, TaskError> {
    let input = ProcessInput::deserialize(input).map_err(|e| {
        TaskError::InvalidInput(format!("ProcessInvoice input is not {{invoice, idempotencyKey}}: {e}"))
    })?;
    Ok(process(store, input, now).await?.to_json())
}

fn check_input(input: &ProcessInput) -> Result<(), TaskError> {
    let key = &input.idempotency_key;
    if key.trim().is_empty() {
        return Err(TaskError::InvalidInput("idempotencyKey is empty; pass the execution's name".into()));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(TaskError::InvalidInput(format!(
            "idempotencyKey has {} bytes; at most {MAX_IDEMPOTENCY_KEY_LEN} are allowed",
            key.len()
        )));
    }
    // The stores keep internal records under keys no valid invoiceId can take
    // (DynamoDB's `#counter#YEAR`); only validated ids get this far.
    let id = input.invoice.invoice_id.as_str();
    let valid = id.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(TaskError::InvalidInput(format!(
            "invoice.invoiceId {id:?} is not a validated invoiceId (letters, digits, '-', '_', '.')"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DueRange, Receipt, StoreError, StoredInvoice};
    use async_trait::async_trait;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// An in-memory fake for the decision logic only; the real stores are
    /// tested in workflow/tests/store_contract.rs.
    #[derive(Default)]
    struct Fake {
        records: Mutex<HashMap<String, Receipt>>,
        last: Mutex<u64>,
    }

    #[async_trait]
    impl InvoiceStore for Fake {
        async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError> {
            let mut records = self.records.lock().unwrap();
            if let Some(r) = records.get(new.invoice.invoice_id.as_str()) {
                return Ok(Inserted::Existing(r.clone()));
            }
            let mut last = self.last.lock().unwrap();
            *last += 1;
            let receipt = Receipt {
                invoice_number: InvoiceNumber { year: new.year(), seq: *last },
                processed_at: new.processed_at,
                idempotency_key: new.idempotency_key,
                content_hash: new.content_hash,
            };
            records.insert(new.invoice.invoice_id.to_string(), receipt.clone());
            Ok(Inserted::New(receipt))
        }
        async fn get(&self, _: &str) -> Result<Option<StoredInvoice>, StoreError> {
            unimplemented!()
        }
        async fn get_by_number(&self, _: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError> {
            unimplemented!()
        }
        async fn customer_invoices(&self, _: &str, _: DueRange) -> Result<Vec<StoredInvoice>, StoreError> {
            unimplemented!()
        }
        async fn processed_between(
            &self,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<Vec<StoredInvoice>, StoreError> {
            unimplemented!()
        }
    }

    fn input(id: &str, amount: &str, key: &str) -> Value {
        serde_json::from_str(&format!(
            r#"{{"invoice": {{"invoiceId": "{id}", "customerId": "C-1", "amount": {amount}, "currency": "USD",
                "dueDate": "2030-12-31", "items": [{{"quantity": 2, "rate": 50.00}}]}},
                "idempotencyKey": "{key}", "source": {{"bucket": "b", "key": "k.csv", "record": 1, "line": 2}}}}"#
        ))
        .unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        timestamp::parse(text).unwrap()
    }

    #[tokio::test]
    async fn retries_replay_and_other_keys_are_duplicates() {
        let store = Fake::default();
        let t1 = at("2026-11-24T13:05:01.123987Z");
        let first = process_json(&store, &input("INV-1", "100.00", "exec-a"), t1).await.unwrap();
        assert_eq!(
            first,
            json!({"status": "PROCESSED", "invoiceNumber": "INV-2026-000001", "processedAt": "2026-11-24T13:05:01.123Z"})
        );
        // The same execution again (its first response was lost): the same answer.
        let again = process_json(&store, &input("INV-1", "100.00", "exec-a"), at("2026-11-24T14:00:00Z")).await;
        assert_eq!(again.unwrap(), first);
        // Another execution with the same content: a duplicate of the first.
        let dup = process_json(&store, &input("INV-1", "100.0", "exec-b"), at("2026-11-24T15:00:00Z")).await.unwrap();
        assert_eq!(
            dup,
            json!({"status": "DUPLICATE", "processedAt": "2026-11-24T15:00:00.000Z",
                   "duplicateOf": {"invoiceNumber": "INV-2026-000001", "processedAt": "2026-11-24T13:05:01.123Z", "sameContent": true}})
        );
        // That duplicate execution redriven: DUPLICATE again, the same duplicateOf,
        // the processedAt of this attempt (nothing was stored for the duplicate).
        let redriven =
            process_json(&store, &input("INV-1", "100.0", "exec-b"), at("2026-11-24T16:00:00Z")).await.unwrap();
        assert_eq!(redriven["status"], json!("DUPLICATE"));
        assert_eq!(redriven["duplicateOf"], dup["duplicateOf"]);
        assert_eq!(redriven["processedAt"], json!("2026-11-24T16:00:00.000Z"));
        // Other content under the same invoiceId.
        let mut changed = input("INV-1", "100.00", "exec-c");
        changed["invoice"]["customerId"] = json!("C-2");
        let dup = process_json(&store, &changed, t1).await.unwrap();
        assert_eq!(dup["duplicateOf"]["sameContent"], json!(false));
        // Nothing consumed a number.
        let next = process_json(&store, &input("INV-2", "100.00", "exec-d"), t1).await.unwrap();
        assert_eq!(next["invoiceNumber"], json!("INV-2026-000002"));
    }

    #[test]
    fn content_hash_ignores_formatting_of_numbers_only() {
        let parse = |text: &str| -> Invoice { serde_json::from_str(text).unwrap() };
        let a = parse(
            r#"{"invoiceId":"A","customerId":"C","amount":100.00,"currency":"USD","dueDate":"2030-12-31","items":[{"quantity":2,"rate":50.00}]}"#,
        );
        let b = parse(
            r#"{"invoiceId":"A","customerId":"C","amount":100,"currency":"USD","dueDate":"2030-12-31","items":[{"quantity":2.0,"rate":50}]}"#,
        );
        let c = parse(
            r#"{"invoiceId":"A","customerId":"C","amount":100.01,"currency":"USD","dueDate":"2030-12-31","items":[{"quantity":2,"rate":50.00}]}"#,
        );
        let d = parse(
            r#"{"invoiceId":"A","customerId":"C","amount":100.00,"currency":"EUR","dueDate":"2030-12-31","items":[{"quantity":2,"rate":50.00}]}"#,
        );
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
        assert_ne!(content_hash(&a), content_hash(&d));
    }

    #[tokio::test]
    async fn bad_input_is_invalid_input() {
        let store = Fake::default();
        let now = at("2026-11-24T13:05:01Z");
        let cases = [
            (json!({"invoice": {"invoiceId": "A"}, "idempotencyKey": "k"}), "missing field"),
            (json!({"invoice": input("A", "1", "k")["invoice"]}), "idempotencyKey"),
            (input("A", "1", " "), "idempotencyKey is empty"),
            (input("#counter#2026", "1", "k"), "not a validated invoiceId"),
            (json!("text"), "ProcessInvoice input"),
        ];
        for (doc, needle) in cases {
            let err = process_json(&store, &doc, now).await.unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput", "{doc}");
            assert!(err.to_string().contains(needle), "{err} should mention {needle}");
        }
        assert!(store.records.lock().unwrap().is_empty());
    }

    #[test]
    fn outputs_read_back() {
        let out = ProcessOutput::Duplicate {
            processed_at: at("2026-11-24T15:00:00Z"),
            duplicate_of: DuplicateOf {
                invoice_number: InvoiceNumber { year: 2026, seq: 7 },
                processed_at: at("2026-11-24T13:05:01.123Z"),
                same_content: false,
            },
        };
        let value = serde_json::to_value(&out).unwrap();
        assert_eq!(serde_json::from_value::<ProcessOutput>(value).unwrap(), out);
    }

    #[test]
    fn the_json_document_is_serdes() {
        let at = timestamp::parse("2026-11-24T13:05:01.123Z").unwrap();
        let number: InvoiceNumber = "INV-2026-000042".parse().unwrap();
        let outputs = [
            ProcessOutput::Processed { invoice_number: number, processed_at: at },
            ProcessOutput::Duplicate {
                processed_at: at,
                duplicate_of: DuplicateOf { invoice_number: number, processed_at: at, same_content: true },
            },
        ];
        for output in outputs {
            let by_serde = serde_json::to_value(&output).unwrap();
            assert_eq!(serde_json::to_string(&output.to_json()).unwrap(), serde_json::to_string(&by_serde).unwrap());
        }
    }
}
