//! Sample Notify inputs, one per event type, shared by the tests. Built from
//! JSON text so amounts keep their digits (never through f64).
#![allow(dead_code)]

use notify::{EventType, NotifyInput};

pub const PROCESSED: &str = r#"{
  "eventType": "INVOICE_PROCESSED",
  "executionName": "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6",
  "invoice": {"invoiceId": "INV-001", "customerId": "CUST-123", "customerEmail": "customer@example.com",
              "amount": 1500.10, "currency": "USD", "dueDate": "2030-12-31", "description": "Professional services",
              "items": [{"description": "Consulting hours", "quantity": 50, "rate": 30.002}]},
  "source": {"bucket": "invoices-bucket", "key": "incoming/2026/batch-17.csv", "etag": "9b2cf535f27731c974343645a3985328",
             "record": 1, "line": 2},
  "processing": {"status": "PROCESSED", "invoiceNumber": "INV-2026-000042", "processedAt": "2026-11-24T10:15:30Z"}
}"#;

pub const REJECTED: &str = r#"{
  "eventType": "INVOICE_REJECTED",
  "executionName": "INV-002-0aa1b2c3d4e5f60718293a4b5c6d7e8f",
  "invoice": {"invoiceId": "INV-002", "customerId": "CUST-9", "customerEmail": "ap@acme.example",
              "amount": -5, "currency": "EUR", "dueDate": "2020-01-01"},
  "source": {"bucket": "invoices-bucket", "key": "incoming/2026/batch-17.csv", "etag": "9b2cf535f27731c974343645a3985328",
             "record": 2, "line": 3},
  "errors": [
    {"field": "amount", "code": "not_positive", "message": "amount must be greater than 0, got -5"},
    {"field": "dueDate", "code": "not_in_future", "message": "dueDate 2020-01-01 must be after the processing date 2026-11-24"}
  ]
}"#;

pub const DUPLICATE: &str = r#"{
  "eventType": "INVOICE_DUPLICATE",
  "executionName": "INV-001-77c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5",
  "invoice": {"invoiceId": "INV-001", "customerId": "CUST-123", "customerEmail": "customer@example.com",
              "amount": 1600.00, "currency": "USD", "dueDate": "2030-12-31"},
  "source": {"bucket": "invoices-bucket", "key": "incoming/2026/batch-18.json", "etag": "1c2d", "record": 1, "line": 1},
  "processing": {"status": "DUPLICATE", "processedAt": "2026-11-25T08:00:00Z",
                 "duplicateOf": {"invoiceNumber": "INV-2026-000042", "processedAt": "2026-11-24T10:15:30Z",
                                 "sameContent": false}}
}"#;

pub const FAILED: &str = r#"{
  "eventType": "INVOICE_FAILED",
  "executionName": "INV-003-5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
  "invoice": {"invoiceId": "INV-003", "customerId": "CUST-7", "amount": "250000", "currency": "jpy",
              "dueDate": "2031-03-01"},
  "source": {"bucket": "local", "key": "/home/ana/invoices/march.ndjson", "etag": "run-1", "record": 12, "line": 12},
  "failure": {"Error": "StoreUnavailable",
              "Cause": "{\"errorType\":\"StoreUnavailable\",\"errorMessage\":\"the invoice store did not answer within 5 s\"}"}
}"#;

pub const FILE_REJECTED: &str = r#"{
  "eventType": "FILE_REJECTED",
  "executionName": "upload-4b8e1f0c2d3a4b5c6d7e8f9a0b1c2d3e",
  "file": {"bucket": "invoices-bucket", "key": "incoming/2026/broken.csv",
           "reason": "line 1: the header names no invoiceId column", "records": 0}
}"#;

/// A rejected invoice with almost nothing usable in it.
pub const REJECTED_PARTIAL: &str = r#"{
  "eventType": "INVOICE_REJECTED",
  "executionName": "record-00112233445566778899aabbccddeeff",
  "invoice": {"invoiceId": {"nested": true}, "amount": "12,50", "currency": "ZZZ", "dueDate": 20301231},
  "errors": [
    {"field": "invoiceId", "code": "wrong_type", "message": "invoiceId must be a string, not an object"},
    {"field": "customerId", "code": "missing", "message": "customerId is required"},
    {"field": "currency", "code": "unknown_currency", "message": "currency \"ZZZ\" is not an ISO 4217 code"},
    {"field": "amount", "code": "invalid_number", "message": "amount \"12,50\" is not a decimal number"},
    {"field": "dueDate", "code": "wrong_type", "message": "dueDate must be a string, not a number"}
  ]
}"#;

/// A rejected invoice whose customerEmail is malformed: the validation's
/// message quotes the address (`customerEmail "…" is not an e-mail address`),
/// one that is not address-shaped enough for a pattern to catch it.
pub const REJECTED_INVALID_EMAIL: &str = r#"{
  "eventType": "INVOICE_REJECTED",
  "executionName": "INV-004-6d5c4b3a29180f7e6d5c4b3a29180f7e",
  "invoice": {"invoiceId": "INV-004", "customerId": "CUST-5", "customerEmail": "jane.doe@example",
              "amount": 80, "currency": "GBP", "dueDate": "2030-06-30"},
  "source": {"bucket": "invoices-bucket", "key": "incoming/2026/batch-19.csv", "etag": "77aa", "record": 4, "line": 5},
  "errors": [
    {"field": "customerEmail", "code": "invalid_email", "message": "customerEmail \"jane.doe@example\" is not an e-mail address"}
  ]
}"#;

/// The address in [`REJECTED_INVALID_EMAIL`].
pub const INVALID_ADDRESS: &str = "jane.doe@example";

/// A failed execution whose input had no invoice object and whose cause is plain text.
pub const FAILED_NO_INVOICE: &str = r#"{
  "eventType": "INVOICE_FAILED",
  "executionName": "record-ffeeddccbbaa99887766554433221100",
  "invoice": "not an object",
  "failure": {"error": "States.Timeout", "cause": "Task timed out after 30.00 seconds"}
}"#;

pub fn input(text: &str) -> NotifyInput {
    NotifyInput::from_json(serde_json::from_str(text).expect("fixture is JSON")).expect("fixture is an input")
}

/// One input per event type, named, in [`EventType::ALL`] order.
pub fn every_event() -> Vec<(&'static str, NotifyInput)> {
    let all = vec![
        ("processed", input(PROCESSED)),
        ("rejected", input(REJECTED)),
        ("duplicate", input(DUPLICATE)),
        ("failed", input(FAILED)),
        ("file_rejected", input(FILE_REJECTED)),
    ];
    assert_eq!(all.iter().map(|(_, i)| i.event_type).collect::<Vec<_>>(), EventType::ALL);
    all
}

/// Every sample, the odd ones included.
pub fn every_sample() -> Vec<(&'static str, NotifyInput)> {
    let mut all = every_event();
    all.push(("rejected_partial", input(REJECTED_PARTIAL)));
    all.push(("failed_no_invoice", input(FAILED_NO_INVOICE)));
    all.push(("rejected_invalid_email", input(REJECTED_INVALID_EMAIL)));
    all
}

/// One HTTP/1.1 request read off a test server's connection: its head (request
/// line and headers, as text) and its body (by Content-Length). `None` when the
/// client closed the connection before sending a request.
pub async fn read_request(stream: &mut tokio::net::TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    use tokio::io::AsyncReadExt;
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..header_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap_or(0));
    while request.len() < header_end + length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    Ok(Some((head, request.split_off(header_end))))
}
