//! Throughput of composing notifications and of the local outbox, and peak
//! memory. Prints figures; run with `cargo bench -p notify`.
//!
//! The local pipeline needs ~50,000 notifications/s: compose + append per
//! event, from many concurrent tasks.

use std::sync::Arc;
use std::time::Instant;

use notify::{compose, handle, NotifyInput, Outbox};

const PROCESSED: &str = r#"{
  "eventType": "INVOICE_PROCESSED", "executionName": "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6",
  "invoice": {"invoiceId": "INV-001", "customerId": "CUST-123", "customerEmail": "customer@example.com",
              "amount": 1500.10, "currency": "USD", "dueDate": "2030-12-31", "description": "Professional services",
              "items": [{"description": "Consulting hours", "quantity": 50, "rate": 30.002}]},
  "source": {"bucket": "local", "key": "/data/invoices/batch-17.csv", "etag": "run-1", "record": 1, "line": 2},
  "processing": {"status": "PROCESSED", "invoiceNumber": "INV-2026-000042", "processedAt": "2026-11-24T10:15:30Z"}
}"#;

const REJECTED: &str = r#"{
  "eventType": "INVOICE_REJECTED", "executionName": "INV-002-0aa1b2c3d4e5f60718293a4b5c6d7e8f",
  "invoice": {"invoiceId": "INV-002", "customerId": "CUST-9", "amount": -5, "currency": "EUR", "dueDate": "2020-01-01"},
  "source": {"bucket": "local", "key": "/data/invoices/batch-17.csv", "etag": "run-1", "record": 2, "line": 3},
  "errors": [
    {"field": "amount", "code": "not_positive", "message": "amount must be greater than 0, got -5"},
    {"field": "dueDate", "code": "not_in_future", "message": "dueDate 2020-01-01 must be after the processing date 2026-11-24"}
  ]
}"#;

fn input(text: &str) -> NotifyInput {
    NotifyInput::from_json(serde_json::from_str(text).unwrap()).unwrap()
}

/// Peak resident memory (VmHWM) in MiB, where /proc tells it.
fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resident memory now (VmRSS) in MiB.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The `i`th input: 80% processed, 20% rejected, each its own execution.
fn nth(templates: &[NotifyInput; 2], i: usize) -> NotifyInput {
    let base = &templates[usize::from(i % 5 == 4)];
    NotifyInput { execution_name: format!("INV-{i:07}-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6"), ..base.clone() }
}

fn main() {
    let n: usize = std::env::var("NOTIFY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let tasks: usize = 32;
    let templates = Arc::new([input(PROCESSED), input(REJECTED)]);
    println!("notify bench: {n} notifications (80% processed, 20% rejected), inputs built on the fly");

    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let m = compose(&nth(&templates, i));
        bytes += m.email.len() + m.sms.len() + m.subject.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "compose:                     {:>10.0} messages/s  ({:.2} µs each; {bytes} text bytes)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let outbox = Arc::new(Outbox::open(&path).unwrap());
    let run = |outbox: Arc<Outbox>, templates: Arc<[NotifyInput; 2]>| {
        runtime.block_on(async move {
            let start = Instant::now();
            let mut handles = Vec::new();
            for t in 0..tasks {
                let outbox = Arc::clone(&outbox);
                let templates = Arc::clone(&templates);
                handles.push(tokio::spawn(async move {
                    for i in (t..n).step_by(tasks) {
                        handle(&nth(&templates, i), &*outbox).await.unwrap();
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            start.elapsed().as_secs_f64()
        })
    };
    let secs = run(Arc::clone(&outbox), Arc::clone(&templates));
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "handle → outbox, {tasks} tasks:    {:>10.0} notifications/s  ({} lines, {:.0} bytes/line)",
        n as f64 / secs,
        outbox.len(),
        size as f64 / n as f64
    );
    let secs = run(Arc::clone(&outbox), Arc::clone(&templates));
    println!(
        "the same again (all repeats): {:>10.0} notifications/s  (file unchanged: {})",
        n as f64 / secs,
        std::fs::metadata(&path).unwrap().len() == size
    );
    drop(outbox);

    let before = rss_mib();
    let start = Instant::now();
    let reopened = Outbox::open(&path).unwrap();
    let open_secs = start.elapsed().as_secs_f64();
    println!("reopen ({} lines):       {:>10.3} s", reopened.len(), open_secs);
    let start = Instant::now();
    let held = reopened.recall(|_| true).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("recall every event ({held}): {:>10.0} lines/s  ({:.0} MB/s)", n as f64 / secs, size as f64 / secs / 1e6);
    if let (Some(before), Some(after)) = (before, rss_mib()) {
        println!(
            "memory held by the recalled outbox: {:.1} MiB ({:.0} bytes/event)",
            after - before,
            (after - before) * 1048576.0 / n as f64
        );
    }

    match peak_mib() {
        Some(mib) => println!("peak resident memory:        {mib:>10.1} MiB"),
        None => println!("peak resident memory:        (not available on this system)"),
    }
}
