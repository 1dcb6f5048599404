//! Shared fixtures of the store tests: invoices, and fresh stores on a temp
//! SQLite file or on a new table in the AWS emulator.

#![allow(dead_code)] // each test crate uses a part of this

pub mod stub;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use workflow::process::ProcessInput;
use workflow::store::dynamodb::{create_table, DynamoOptions, DynamoStore};
use workflow::store::sqlite::{SqliteOptions, SqliteStore};
use workflow::store::{timestamp, InvoiceStore};
use workflow::{Invoice, Source};

/// A valid, normalized invoice (built from text: amounts never pass through f64).
pub fn invoice(id: &str, customer: &str, amount: &str, due: &str) -> Invoice {
    serde_json::from_str(&format!(
        r#"{{"invoiceId": "{id}", "customerId": "{customer}", "customerEmail": "billing@example.com",
            "amount": {amount}, "currency": "USD", "dueDate": "{due}", "description": "Professional services",
            "items": [{{"description": "Consulting hours", "quantity": 1, "rate": {amount}}}]}}"#
    ))
    .expect("test invoice")
}

pub fn source(record: u64) -> Source {
    Source {
        bucket: "invoices-bucket".into(),
        key: "incoming/batch.csv".into(),
        etag: Some("etag-1".into()),
        version_id: None,
        record,
        line: record + 1,
    }
}

pub fn input(invoice: &Invoice, key: &str) -> ProcessInput {
    ProcessInput { invoice: invoice.clone(), idempotency_key: key.to_string(), source: Some(source(1)) }
}

pub fn at(text: &str) -> DateTime<Utc> {
    timestamp::parse(text).expect("test timestamp")
}

/// A fresh store, and what must live as long as it.
pub struct Fixture {
    pub store: Arc<dyn InvoiceStore>,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

/// A store on a temp file; every customer query reads the not-yet-indexed tail.
pub fn sqlite() -> Fixture {
    sqlite_with("sqlite", SqliteOptions::default())
}

/// A store on a temp file that moves invoices into the customer index after
/// every batch, so customer queries read the index.
pub fn sqlite_indexed() -> Fixture {
    sqlite_with("sqlite (indexed)", SqliteOptions { index_chunk: 1, ..SqliteOptions::default() })
}

fn sqlite_with(name: &'static str, options: SqliteOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open_with(dir.path().join("invoices.db"), options).expect("open");
    Fixture { store: Arc::new(store), name, _dir: Some(dir) }
}

/// A store on a new table in the emulator, or `None` (reported as SKIPPED).
pub async fn dynamodb() -> Option<Fixture> {
    let store = dynamo_store().await?;
    Some(Fixture { store: Arc::new(store), name: "dynamodb", _dir: None })
}

pub async fn dynamo_store() -> Option<DynamoStore> {
    let moto = testkit::moto()?;
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = testkit::unique_name("invoices");
    create_table(&client, &table).await.expect("create table");
    Some(DynamoStore::new(client, table, DynamoOptions::default()))
}
