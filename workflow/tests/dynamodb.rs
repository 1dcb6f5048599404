//! The DynamoDB adapter against the AWS emulator, beyond the shared contract:
//! several writers on one table (as Lambda instances are), the conditions that
//! catch an invoice stored meanwhile, the numbering's bounded retries, error
//! mapping (with a local HTTP stub that answers as DynamoDB does when it
//! throttles or fails), and the README's `aws dynamodb` command lines.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use common::stub::{cancelled, error_body, throttling, DynamoStub, Reply};
use common::{at, invoice, source};
use serde_json::Value;
use workflow::process::{content_hash, process, ProcessInput, ProcessOutput};
use workflow::store::dynamodb::{
    create_table, DynamoOptions, DynamoStore, CUSTOMER_DUE_CONDITION, CUSTOMER_DUE_INDEX, NUMBER_CONDITION,
    NUMBER_INDEX, PROCESSED_CONDITION, PROCESSED_INDEX,
};
use workflow::store::{Inserted, InvoiceNumber, InvoiceStore, NewInvoice, StoreError};
use workflow::TaskError;

async fn client_and_table() -> Option<(Client, String, &'static testkit::Moto)> {
    let moto = testkit::moto()?;
    let client = Client::new(&moto.sdk_config().await);
    let table = testkit::unique_name("invoices");
    create_table(&client, &table).await.expect("create table");
    Some((client, table, moto))
}

fn new(id: &str, customer: &str, due: &str, key: &str, when: &str) -> NewInvoice {
    let invoice = invoice(id, customer, "1500.10", due);
    NewInvoice {
        content_hash: content_hash(&invoice),
        invoice,
        idempotency_key: key.into(),
        source: Some(source(1)),
        processed_at: at(when),
    }
}

fn number_of(inserted: Inserted) -> u64 {
    match inserted {
        Inserted::New(r) => r.invoice_number.seq,
        Inserted::Existing(r) => panic!("expected new, got existing {r:?}"),
    }
}

/// Two instances (two Lambda containers) on one table: the second one's
/// remembered counter is stale, its transaction is cancelled by the counter's
/// condition, and it retries with the counter read again. No gap, no repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_share_one_gap_free_sequence() {
    let Some((client, table, _)) = client_and_table().await else { return };
    // Trust a remembered counter long enough for the test to make it stale.
    let options = DynamoOptions { counter_ttl: Duration::from_secs(60), ..DynamoOptions::default() };
    let a = DynamoStore::new(client.clone(), table.clone(), options.clone());
    let b = DynamoStore::new(client.clone(), table.clone(), options);
    let t = "2026-11-24T13:00:00.000Z";
    assert_eq!(number_of(a.insert(new("INV-1", "C", "2030-12-31", "k1", t)).await.unwrap()), 1);
    assert_eq!(number_of(b.insert(new("INV-2", "C", "2030-12-31", "k2", t)).await.unwrap()), 2);
    // `a` still believes the last number is 1.
    assert_eq!(number_of(a.insert(new("INV-3", "C", "2030-12-31", "k3", t)).await.unwrap()), 3);
    assert_eq!(number_of(b.insert(new("INV-4", "C", "2030-12-31", "k4", t)).await.unwrap()), 4);
    // An invoice the other instance stored is found, not renumbered.
    let again = a.insert(new("INV-4", "C", "2030-12-31", "k9", t)).await.unwrap();
    assert!(matches!(again, Inserted::Existing(r) if r.invoice_number.seq == 4 && r.idempotency_key == "k4"));
    let counter = client
        .get_item()
        .table_name(&table)
        .key("invoiceId", AttributeValue::S("#counter#2026".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(counter.item().unwrap()["lastNumber"], AttributeValue::N("4".into()));
}

/// Without the read before the write, an invoiceId that is already stored is
/// caught by the Put's condition: the transaction is cancelled, the stored
/// item comes back with the cancellation (ALL_OLD), nothing is consumed, and
/// the other invoices of the same batch are still numbered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_put_condition_catches_an_invoice_stored_meanwhile() {
    let Some((client, table, _)) = client_and_table().await else { return };
    let options = DynamoOptions { read_before_write: false, ..DynamoOptions::default() };
    let store = std::sync::Arc::new(DynamoStore::new(client, table, options));
    let t = "2026-11-24T13:00:00.000Z";
    assert_eq!(number_of(store.insert(new("INV-1", "C", "2030-12-31", "k1", t)).await.unwrap()), 1);
    // A batch with a stored id among new ones.
    let mut tasks = Vec::new();
    for (id, key) in [("INV-2", "k2"), ("INV-1", "other"), ("INV-3", "k3")] {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move { store.insert(new(id, "C", "2030-12-31", key, t)).await }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Inserted::New(r) => numbers.push(r.invoice_number.seq),
            Inserted::Existing(r) => {
                assert_eq!(r.invoice_number.seq, 1);
                assert_eq!(r.idempotency_key, "k1");
            }
        }
    }
    numbers.sort();
    assert_eq!(numbers, [2, 3]);
    assert_eq!(number_of(store.insert(new("INV-4", "C", "2030-12-31", "k4", t)).await.unwrap()), 4);
}

/// The counter item's `lastNumber` (a consistent read).
async fn last_number(client: &Client, table: &str, year: i32) -> Option<u64> {
    let out = client
        .get_item()
        .table_name(table)
        .key("invoiceId", AttributeValue::S(format!("#counter#{year}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    match out.item()?.get("lastNumber") {
        Some(AttributeValue::N(n)) => Some(n.parse().unwrap()),
        other => panic!("lastNumber {other:?}"),
    }
}

/// Every item of a table (a paginated scan).
async fn scan(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan")
}

fn text_of<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(t)) => t,
        other => panic!("{name}: {other:?}"),
    }
}

/// Separate writers that really race for the counter, as concurrent Lambda
/// instances do: 4 stores (each its own client and numbering task, and so
/// its own view of the counter) on one table, batches of at most 8, a
/// counter value trusted for minutes (so a writer transacts on a stale one
/// until it is cancelled), half of them without the read before the write
/// (so a stored invoiceId is caught by the Put's condition). 1,000
/// submissions of 700 invoiceIds from 64 tasks: the second submission of an
/// id comes right after the first and goes through the next writer, half of
/// those with other content; every tenth submission is also retried at once
/// with the same key (a Lambda retry landing on another instance) through
/// the writer after that. The requests pass through a stub that serializes
/// them for the emulator (see `common::stub`) and sees the cancellations.
///
/// Each id is stored once, numbers are exactly 1..=700, the counter says 700,
/// every other submission is a DUPLICATE naming the stored number, retries
/// get their first answer, and the next invoice gets 701. (About a minute:
/// the emulator copies the whole table for every transaction, and hundreds
/// of them are cancelled.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_writers_racing_for_the_counter_keep_one_gap_free_sequence() {
    const WRITERS: usize = 4;
    const DISTINCT: usize = 700;
    const TASKS: usize = 64;
    let Some((client, table, moto)) = client_and_table().await else { return };
    let stub = DynamoStub::start(Some(&moto.endpoint), |_, _| Reply::Pass);
    let sdk = moto.sdk_config().await.to_builder().endpoint_url(&stub.endpoint).build();
    let stores: Vec<Arc<DynamoStore>> = (0..WRITERS)
        .map(|w| {
            let options = DynamoOptions {
                max_batch: 8,
                max_attempts: 1000,
                backoff_base: Duration::from_millis(10),
                backoff_cap: Duration::from_millis(200),
                counter_ttl: Duration::from_secs(600),
                read_before_write: w % 2 == 0,
            };
            Arc::new(DynamoStore::new(Client::new(&sdk), table.clone(), options))
        })
        .collect();

    // (invoice index, idempotency key, other content)
    let mut submissions: Vec<(usize, String, bool)> = Vec::new();
    for k in 0..DISTINCT {
        submissions.push((k, format!("exec-{k}-a"), false));
        if k % 7 < 3 {
            submissions.push((k, format!("exec-{k}-b"), k % 2 == 1));
        }
    }
    assert_eq!(submissions.len(), 1000);
    let submissions = Arc::new(submissions);
    let now = at("2026-11-24T13:05:01.123Z");
    // Small items: the emulator copies the whole table for every transaction.
    let make_input = |k: usize, key: &str, other: bool| -> ProcessInput {
        let amount = if other { "200.00" } else { "100.00" };
        let invoice = serde_json::from_value(serde_json::json!({"invoiceId": format!("INV-{k:04}"),
            "customerId": format!("CUST-{}", k % 13), "amount": amount, "currency": "USD", "dueDate": "2030-12-31"}))
        .unwrap();
        ProcessInput { invoice, idempotency_key: key.to_string(), source: None }
    };
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (stores, submissions, next) = (stores.clone(), Arc::clone(&submissions), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                let Some((k, key, other)) = submissions.get(p) else { break };
                let first = process(&*stores[p % WRITERS], make_input(*k, key, *other), now);
                let result = if p % 10 == 0 {
                    let retry = process(&*stores[(p + WRITERS / 2) % WRITERS], make_input(*k, key, *other), now);
                    let (x, y) = tokio::join!(first, retry);
                    assert_eq!(x, y, "submission {p}: a retry with the same key got another answer");
                    x
                } else {
                    first.await
                };
                out.push((p, result.unwrap_or_else(|e| panic!("submission {p}: {e}"))));
            }
            out
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(outcomes.len(), submissions.len());

    // Which submission of an id won is up to the race; there is exactly one.
    let mut winners: HashMap<usize, (usize, InvoiceNumber)> = HashMap::new();
    for (p, outcome) in &outcomes {
        if let ProcessOutput::Processed { invoice_number, .. } = outcome {
            let k = submissions[*p].0;
            let earlier = winners.insert(k, (*p, *invoice_number));
            assert!(earlier.is_none(), "INV-{k:04} processed twice: {earlier:?} and {:?}", (p, invoice_number));
        }
    }
    assert_eq!(winners.len(), DISTINCT, "every invoiceId processed once");
    let numbers: HashSet<u64> = winners.values().map(|(_, n)| n.seq).collect();
    assert_eq!(numbers, (1..=DISTINCT as u64).collect::<HashSet<_>>(), "numbers 1..=N, no gap, no repeat");
    let mut duplicates = 0;
    for (p, outcome) in &outcomes {
        let (k, _, other) = &submissions[*p];
        let (winner, number) = winners[k];
        if let ProcessOutput::Duplicate { duplicate_of, .. } = outcome {
            duplicates += 1;
            assert_eq!(duplicate_of.invoice_number, number, "submission {p}");
            assert_eq!(duplicate_of.same_content, *other == submissions[winner].2, "submission {p}");
        }
    }
    assert_eq!(duplicates, submissions.len() - DISTINCT, "every second submission reported DUPLICATE");
    assert_eq!(last_number(&client, &table, 2026).await, Some(DISTINCT as u64), "the counter");

    // The table: each id once, under the number and key its winner was told.
    let items = scan(&client, &table).await;
    let stored: BTreeMap<String, (String, String)> = items
        .iter()
        .filter(|item| !text_of(item, "invoiceId").starts_with('#'))
        .map(|item| {
            let id = text_of(item, "invoiceId").to_string();
            (id, (text_of(item, "invoiceNumber").to_string(), text_of(item, "idempotencyKey").to_string()))
        })
        .collect();
    assert_eq!(items.len(), DISTINCT + 1, "700 invoices and the counter");
    let expected: BTreeMap<String, (String, String)> = winners
        .iter()
        .map(|(k, (p, number))| (format!("INV-{k:04}"), (number.to_string(), submissions[*p].1.clone())))
        .collect();
    assert_eq!(stored, expected);

    // The writers did race: transactions were cancelled by the counter's condition.
    let exchanges = stub.exchanges();
    let transactions = exchanges.iter().filter(|e| e.operation == "TransactWriteItems").count();
    let counter_conflicts = exchanges
        .iter()
        .filter(|e| e.error.as_deref() == Some("TransactionCanceledException"))
        .filter(|e| e.reasons.first().map(String::as_str) == Some("ConditionalCheckFailed"))
        .count();
    let stored_meanwhile =
        exchanges.iter().filter(|e| e.reasons.iter().skip(1).any(|r| r == "ConditionalCheckFailed")).count();
    let committed: Vec<usize> = exchanges
        .iter()
        .filter(|e| e.operation == "TransactWriteItems" && e.status == 200)
        .map(|e| e.actions - 1)
        .collect();
    println!(
        "{} submissions through {WRITERS} writers in {seconds:.1} s: {transactions} transactions, \
         {counter_conflicts} cancelled by the counter, {stored_meanwhile} by an invoice stored meanwhile, \
         {} committed ({:.1} invoices each); {} GetItem, {} BatchGetItem",
        submissions.len(),
        committed.len(),
        committed.iter().sum::<usize>() as f64 / committed.len().max(1) as f64,
        stub.calls("GetItem"),
        stub.calls("BatchGetItem"),
    );
    assert!(counter_conflicts > 0, "the writers never conflicted: the test does not test the race");

    // Nothing was consumed by retries or duplicates: the next invoice gets N + 1.
    for (w, key) in [(1, "exec-next"), (2, "exec-next-other")] {
        // (Then the same invoice through another writer, from another execution: a duplicate.)
        let out = process(&*stores[w], make_input(DISTINCT, key, false), now).await.unwrap();
        match (w, out) {
            (1, ProcessOutput::Processed { invoice_number, .. }) => {
                assert_eq!(invoice_number.seq, DISTINCT as u64 + 1)
            }
            (2, ProcessOutput::Duplicate { duplicate_of, .. }) => {
                assert_eq!(duplicate_of.invoice_number.seq, DISTINCT as u64 + 1)
            }
            (_, other) => panic!("{other:?}"),
        }
    }
    assert_eq!(last_number(&client, &table, 2026).await, Some(DISTINCT as u64 + 1));
}

/// A writer whose numbering attempts are all cancelled gives up after
/// `max_attempts` with `Throttled` (which the state machine retries), having
/// stored and consumed nothing. Here the one attempt allowed is cancelled
/// deterministically: the writer's remembered counter is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_numbering_attempts_are_throttled_and_consume_nothing() {
    let Some((client, table, _)) = client_and_table().await else { return };
    let options = DynamoOptions { max_attempts: 1, counter_ttl: Duration::from_secs(600), ..DynamoOptions::default() };
    let a = DynamoStore::new(client.clone(), table.clone(), options.clone());
    let b = DynamoStore::new(client.clone(), table.clone(), options);
    let t = "2026-11-24T13:00:00.000Z";
    assert_eq!(number_of(a.insert(new("INV-1", "C", "2030-12-31", "k1", t)).await.unwrap()), 1);
    assert_eq!(number_of(b.insert(new("INV-2", "C", "2030-12-31", "k2", t)).await.unwrap()), 2);
    // `a` still believes the last number is 1: its only attempt is cancelled.
    let err = a.insert(new("INV-3", "C", "2030-12-31", "k3", t)).await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled(_)), "{err:?}");
    assert!(err.to_string().contains("counter ConditionalCheckFailed"), "{err}");
    assert_eq!(TaskError::from(err).error_type(), "Throttled");
    assert_eq!(a.get("INV-3").await.unwrap(), None, "nothing stored");
    assert_eq!(last_number(&client, &table, 2026).await, Some(2), "nothing consumed");
    // The state machine's retry (same key): the writer read the counter again.
    assert_eq!(number_of(a.insert(new("INV-3", "C", "2030-12-31", "k3", t)).await.unwrap()), 3);
}

/// An SDK configuration for a stub: dummy credentials, and a region of its
/// own, so that the SDK's retry quota (one token bucket per region, shared
/// by every client of the process) is this test's alone.
async fn stub_sdk_config(endpoint: &str, region: &'static str, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(retry)
        .load()
        .await
}

/// The Lambda's client ([`DynamoStore::from_sdk_config`]) when DynamoDB
/// answers errors: throttling and 5xx are retried by the SDK, 5 attempts in
/// all (the config asks for 2), then named `Throttled` or `StoreUnavailable`;
/// a client error is not retried and is permanent. Through `get` (a plain
/// request) and `insert` (the numbering task's reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_errors_are_retried_by_the_lambda_client_then_named() {
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(20));
    let cases = [
        (400, "ThrottlingException", 5, "Throttled"),
        (400, "ProvisionedThroughputExceededException", 5, "Throttled"),
        (400, "RequestLimitExceeded", 5, "Throttled"),
        (500, "InternalServerError", 5, "StoreUnavailable"),
        (503, "ServiceUnavailable", 5, "StoreUnavailable"),
        (400, "ValidationException", 1, "StoreError"),
    ];
    let regions =
        ["stub-errors-1", "stub-errors-2", "stub-errors-3", "stub-errors-4", "stub-errors-5", "stub-errors-6"];
    for ((status, error_type, attempts, named), region) in cases.into_iter().zip(regions) {
        let stub = DynamoStub::start(None, move |_, _| Reply::Answer(status, error_body(error_type, "injected")));
        let store = DynamoStore::from_sdk_config(&stub_sdk_config(&stub.endpoint, region, retry.clone()).await, "t");
        let err = store.get("INV-1").await.unwrap_err();
        assert!(err.to_string().contains(error_type), "{err}");
        assert_eq!(TaskError::from(err).error_type(), named, "GetItem answered {status} {error_type}");
        assert_eq!(stub.calls("GetItem"), attempts, "GetItem answered {status} {error_type}: attempts");
        let err = store.insert(new("INV-1", "C", "2030-12-31", "k", "2026-11-24T13:00:00Z")).await.unwrap_err();
        assert_eq!(TaskError::from(err).error_type(), named, "insert, {status} {error_type}");
        assert_eq!(stub.calls("BatchGetItem"), attempts, "BatchGetItem answered {status} {error_type}");
        assert_eq!(stub.calls("TransactWriteItems"), 0);
    }
}

/// Short throttling never reaches the caller: the Lambda's client retries
/// each throttled request (here the first two of every operation), and the
/// invoice is stored once under number 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_throttling_is_ridden_out_by_the_sdk() {
    let Some((client, table, moto)) = client_and_table().await else { return };
    let stub = DynamoStub::start(Some(&moto.endpoint), |_, n| if n < 2 { throttling() } else { Reply::Pass });
    let retry = RetryConfig::standard().with_initial_backoff(Duration::from_millis(1));
    let sdk = moto.sdk_config().await.to_builder().endpoint_url(&stub.endpoint).retry_config(retry).build();
    let store = DynamoStore::from_sdk_config(&sdk, table.clone());
    let t = "2026-11-24T13:00:00.000Z";
    assert_eq!(number_of(store.insert(new("INV-1", "C", "2030-12-31", "k1", t)).await.unwrap()), 1);
    assert_eq!(stub.calls("TransactWriteItems"), 3, "two throttled, then committed");
    assert_eq!(store.get("INV-1").await.unwrap().unwrap().invoice_number.seq, 1);
    assert_eq!(last_number(&client, &table, 2026).await, Some(1));
    assert_eq!(scan(&client, &table).await.len(), 2, "the invoice once, and the counter");
}

/// A transaction cancelled because DynamoDB throttles the counter item (its
/// reason `ThrottlingError`, the invoice's `None`) is not a stored invoice:
/// it is retried after a backoff, never at once, and after `max_attempts`
/// the caller gets `Throttled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_counter_is_retried_after_backoffs_then_throttled() {
    let stub = DynamoStub::start(None, |operation, _| match operation {
        "TransactWriteItems" => cancelled(&["ThrottlingError", "None"]),
        _ => Reply::Pass,
    });
    let sdk = stub_sdk_config(&stub.endpoint, "stub-counter-1", RetryConfig::disabled()).await;
    let options = DynamoOptions {
        max_attempts: 10,
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_millis(200),
        ..DynamoOptions::default()
    };
    let store = DynamoStore::new(Client::new(&sdk), "t", options);
    let started = Instant::now();
    let err = store.insert(new("INV-1", "C", "2030-12-31", "k", "2026-11-24T13:00:00Z")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Throttled(_)), "{err:?}");
    assert!(err.to_string().contains("counter ThrottlingError"), "{err}");
    assert_eq!(TaskError::from(err).error_type(), "Throttled");
    assert_eq!(stub.calls("TransactWriteItems"), 10, "max_attempts transactions");
    // Nine waits, each up to 200 ms (full jitter): they add up to less than
    // 200 ms with odds of 1 in 9! (about 3 in a million).
    assert!(elapsed >= Duration::from_millis(200), "retried without backing off: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_store_error() {
    let Some(moto) = testkit::moto() else { return };
    let client = Client::new(&moto.sdk_config().await);
    let store = DynamoStore::new(client, testkit::unique_name("no-such-table"), DynamoOptions::default());
    let err = store.insert(new("INV-1", "C", "2030-12-31", "k", "2026-11-24T13:00:00Z")).await.unwrap_err();
    assert!(matches!(err, StoreError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("ResourceNotFoundException"), "{err}");
    assert_eq!(workflow::TaskError::from(err).error_type(), "StoreError");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_store_unavailable() {
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .load()
        .await;
    let store = DynamoStore::new(Client::new(&sdk), "invoices", DynamoOptions::default());
    let err = store.insert(new("INV-1", "C", "2030-12-31", "k", "2026-11-24T13:00:00Z")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(workflow::TaskError::from(err).error_type(), "StoreUnavailable");
    let err = store.get("INV-1").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

// --- the README's command lines ------------------------------------------

/// The `aws dynamodb` examples of the README, exactly (table `invoices`).
const README_COMMANDS: [&str; 5] = [
    r#"aws dynamodb get-item --table-name invoices --key '{"invoiceId": {"S": "INV-001"}}'"#,
    r#"aws dynamodb query --table-name invoices --index-name customerId-dueDate-index \
  --key-condition-expression 'customerId = :customerId AND dueDate BETWEEN :from AND :to' \
  --expression-attribute-values '{":customerId": {"S": "CUST-123"}, ":from": {"S": "2030-01-01"}, ":to": {"S": "2030-12-31"}}'"#,
    r#"aws dynamodb query --table-name invoices --index-name invoiceNumber-index \
  --key-condition-expression 'invoiceNumber = :invoiceNumber' \
  --expression-attribute-values '{":invoiceNumber": {"S": "INV-2026-000001"}}'"#,
    r#"aws dynamodb query --table-name invoices --index-name processedYear-processedAt-index \
  --key-condition-expression 'processedYear = :year AND processedAt BETWEEN :from AND :to' \
  --expression-attribute-values '{":year": {"N": "2026"}, ":from": {"S": "2026-11-01T00:00:00.000Z"}, ":to": {"S": "2026-11-30T23:59:59.999Z"}}'"#,
    r##"aws dynamodb get-item --table-name invoices --key '{"invoiceId": {"S": "#counter#2026"}}'"##,
];

/// Splits a shell command line: whitespace, '…' and "…" quoting, `\` line continuations.
fn shell_words(line: &str) -> Vec<String> {
    let line = line.replace("\\\n", " ");
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line}");
    words.extend(word);
    words
}

fn option<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words.iter().position(|w| w == name).map(|i| words[i + 1].as_str())
}

/// The CLI's JSON form of attribute values (`{"S": "x"}`, `{"N": "1"}`).
fn attribute_values(json: &str) -> HashMap<String, AttributeValue> {
    let doc: serde_json::Map<String, Value> = serde_json::from_str(json).expect("attribute JSON");
    doc.into_iter()
        .map(|(name, v)| {
            let value = match (v.get("S"), v.get("N")) {
                (Some(Value::String(t)), _) => AttributeValue::S(t.clone()),
                (_, Some(Value::String(t))) => AttributeValue::N(t.clone()),
                _ => panic!("unsupported attribute value {v}"),
            };
            (name, value)
        })
        .collect()
}

/// Runs one README command through the SDK; returns the items' invoiceIds and the items.
async fn run_with_sdk(client: &Client, table: &str, words: &[String]) -> Vec<HashMap<String, AttributeValue>> {
    assert_eq!(option(words, "--table-name"), Some("invoices"), "README commands use the table `invoices`");
    match words[2].as_str() {
        "get-item" => {
            let key = attribute_values(option(words, "--key").expect("--key"));
            let out = client.get_item().table_name(table).set_key(Some(key)).send().await.expect("get-item");
            out.item().cloned().into_iter().collect()
        }
        "query" => {
            let out = client
                .query()
                .table_name(table)
                .index_name(option(words, "--index-name").expect("--index-name"))
                .key_condition_expression(option(words, "--key-condition-expression").expect("condition"))
                .set_expression_attribute_values(Some(attribute_values(
                    option(words, "--expression-attribute-values").expect("values"),
                )))
                .send()
                .await
                .expect("query");
            out.items().to_vec()
        }
        other => panic!("unexpected command {other}"),
    }
}

/// Runs one README command with the real AWS CLI against the emulator.
fn run_with_cli(endpoint: &str, table: &str, words: &[String]) -> Result<Value, String> {
    let mut args: Vec<String> = words[1..].to_vec();
    let i = args.iter().position(|w| w == "--table-name").unwrap();
    args[i + 1] = table.to_string();
    args.extend(["--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json"].map(String::from));
    let out = Command::new("aws")
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .map_err(|e| format!("cannot run the aws CLI: {e}"))?;
    assert!(out.status.success(), "aws {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).map_err(|e| format!("aws CLI output is not JSON: {e}"))
}

fn id_of(item: &HashMap<String, AttributeValue>) -> String {
    match &item["invoiceId"] {
        AttributeValue::S(s) => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// The README's `aws dynamodb` lines run against the emulator, through the SDK
/// and, when the AWS CLI is installed, with the CLI itself. The README may
/// only show lines tested here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_queries_answer_as_documented() {
    let Some((client, table, moto)) = client_and_table().await else { return };
    let store = DynamoStore::new(client.clone(), table.clone(), DynamoOptions::default());
    for (id, customer, due, when) in [
        ("INV-001", "CUST-123", "2030-12-31", "2026-11-24T13:05:01.123Z"),
        ("INV-002", "CUST-123", "2031-01-15", "2026-11-25T09:00:00.000Z"),
        ("INV-003", "CUST-456", "2030-06-30", "2026-12-01T08:00:00.000Z"),
    ] {
        store.insert(new(id, customer, due, &format!("exec-{id}"), when)).await.unwrap();
    }
    let expected: [&[&str]; 5] =
        [&["INV-001"], &["INV-001"], &["INV-001"], &["INV-001", "INV-002"], &["#counter#2026"]];
    let mut cli_missing = false;
    for (command, expected) in README_COMMANDS.iter().zip(expected) {
        let words = shell_words(command);
        // The README's expressions are the adapter's.
        match option(&words, "--index-name") {
            Some(CUSTOMER_DUE_INDEX) => {
                assert_eq!(option(&words, "--key-condition-expression"), Some(CUSTOMER_DUE_CONDITION))
            }
            Some(NUMBER_INDEX) => assert_eq!(option(&words, "--key-condition-expression"), Some(NUMBER_CONDITION)),
            Some(PROCESSED_INDEX) => {
                assert_eq!(option(&words, "--key-condition-expression"), Some(PROCESSED_CONDITION))
            }
            Some(other) => panic!("unknown index {other}"),
            None => {}
        }
        let items = run_with_sdk(&client, &table, &words).await;
        let mut ids: Vec<String> = items.iter().map(id_of).collect();
        ids.sort();
        assert_eq!(ids, expected, "{command}");
        if let Some(first) = items.iter().find(|i| id_of(i) == "INV-001") {
            assert!(matches!(first["amount"], AttributeValue::N(_)), "amount is a DynamoDB number");
            assert_eq!(first["invoiceNumber"], AttributeValue::S("INV-2026-000001".into()));
        }
        if expected == ["#counter#2026"] {
            assert_eq!(items[0]["lastNumber"], AttributeValue::N("3".into()));
        }

        if cli_missing || Command::new("aws").arg("--version").output().is_err() {
            cli_missing = true;
            continue;
        }
        let out = run_with_cli(&moto.endpoint, &table, &words).unwrap();
        let cli_items: Vec<&Value> = match (out.get("Item"), out.get("Items")) {
            (Some(item), _) => vec![item],
            (_, Some(Value::Array(items))) => items.iter().collect(),
            _ => vec![],
        };
        let mut cli_ids: Vec<String> =
            cli_items.iter().map(|i| i["invoiceId"]["S"].as_str().unwrap().to_string()).collect();
        cli_ids.sort();
        assert_eq!(cli_ids, expected, "aws CLI: {command}");
    }
    if cli_missing {
        testkit::skip("the aws CLI is not installed: README lines were run through the SDK only");
    }
}

/// The README shows exactly the tested `aws dynamodb` commands: every one it
/// shows is tested here, and every tested one is shown.
#[test]
fn the_readme_shows_exactly_the_tested_commands() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let normalize = |s: &str| shell_words(s).join(" ");
    let tested: Vec<String> = README_COMMANDS.iter().chain([&CREATE_TABLE_COMMAND]).map(|c| normalize(c)).collect();
    let lines: Vec<&str> = readme.lines().collect();
    let mut shown = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_start().trim_start_matches("$ ");
        if line.starts_with("aws dynamodb ") {
            let mut command = line.to_string();
            // A command goes on after a trailing backslash, and inside a quoted argument.
            let open_quote = |c: &str| c.matches('\'').count() % 2 == 1;
            while (command.ends_with('\\') || open_quote(&command)) && i + 1 < lines.len() {
                i += 1;
                command.push('\n');
                command.push_str(lines[i]);
            }
            assert!(
                tested.contains(&normalize(&command)),
                "README.md shows an untested command (add it to README_COMMANDS in workflow/tests/dynamodb.rs):\n{command}"
            );
            shown.push(normalize(&command));
        }
        i += 1;
    }
    for (command, normalized) in README_COMMANDS.iter().chain([&CREATE_TABLE_COMMAND]).zip(&tested) {
        assert!(
            shown.contains(normalized),
            "a tested command is missing from README.md (show it there, or drop it from the tests):\n{command}"
        );
    }
}

/// The table as the README / Terraform create it (the lead's exact command).
const CREATE_TABLE_COMMAND: &str = r#"aws dynamodb create-table --table-name invoices \
  --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=invoiceId,AttributeType=S AttributeName=customerId,AttributeType=S \
    AttributeName=dueDate,AttributeType=S AttributeName=invoiceNumber,AttributeType=S \
    AttributeName=processedYear,AttributeType=N AttributeName=processedAt,AttributeType=S \
  --key-schema AttributeName=invoiceId,KeyType=HASH \
  --global-secondary-indexes '[
    {"IndexName": "customerId-dueDate-index", "Projection": {"ProjectionType": "ALL"},
     "KeySchema": [{"AttributeName": "customerId", "KeyType": "HASH"}, {"AttributeName": "dueDate", "KeyType": "RANGE"}]},
    {"IndexName": "invoiceNumber-index", "Projection": {"ProjectionType": "ALL"},
     "KeySchema": [{"AttributeName": "invoiceNumber", "KeyType": "HASH"}]},
    {"IndexName": "processedYear-processedAt-index", "Projection": {"ProjectionType": "ALL"},
     "KeySchema": [{"AttributeName": "processedYear", "KeyType": "HASH"}, {"AttributeName": "processedAt", "KeyType": "RANGE"}]}]'"#;

/// A table's layout as text that ignores ordering: keys, attributes, indexes.
async fn layout(client: &Client, table: &str) -> Vec<String> {
    let out = client.describe_table().table_name(table).send().await.expect("describe-table");
    let t = out.table().expect("table");
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> String {
        schema.iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str())).collect::<Vec<_>>().join(",")
    };
    let mut lines = vec![format!("key {}", keys(t.key_schema()))];
    for a in t.attribute_definitions() {
        lines.push(format!("attribute {}:{}", a.attribute_name(), a.attribute_type().as_str()));
    }
    for g in t.global_secondary_indexes() {
        let projection = g.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_string());
        lines.push(format!("gsi {} {} {:?}", g.index_name().unwrap_or(""), keys(g.key_schema()), projection));
    }
    lines.push(format!("billing {:?}", t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str())));
    lines.sort();
    lines
}

/// The documented `create-table` command makes the same table as
/// `create_table`, and the adapter works on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_create_table_command_makes_the_adapters_table() {
    let Some((client, reference, moto)) = client_and_table().await else { return };
    if Command::new("aws").arg("--version").output().is_err() {
        testkit::skip("the aws CLI is not installed: the create-table command was not run");
        return;
    }
    let table = testkit::unique_name("cli-invoices");
    run_with_cli(&moto.endpoint, &table, &shell_words(CREATE_TABLE_COMMAND)).unwrap();
    let expected = layout(&client, &reference).await;
    assert_eq!(layout(&client, &table).await, expected);
    assert_eq!(expected.iter().filter(|l| l.starts_with("gsi ")).count(), 3, "{expected:?}");
    let store = DynamoStore::new(client, table, DynamoOptions::default());
    assert_eq!(number_of(store.insert(new("INV-1", "C", "2030-12-31", "k", "2026-11-24T13:00:00Z")).await.unwrap()), 1);
    let found = store.customer_invoices("C", workflow::store::DueRange::ALL).await.unwrap();
    assert_eq!(found.len(), 1);
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words("aws x \\\n  --k 'a b' --v '{\"S\": \"x\"}' \"q r\""),
        ["aws", "x", "--k", "a b", "--v", "{\"S\": \"x\"}", "q r"]
    );
}

#[test]
fn invoice_numbers_in_the_readme_are_well_formed() {
    for command in README_COMMANDS {
        for word in shell_words(command) {
            if let Some(start) = word.find("INV-2") {
                let text: String =
                    word[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                text.parse::<InvoiceNumber>().unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
