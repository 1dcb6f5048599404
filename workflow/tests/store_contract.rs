//! The contract of `InvoiceStore` and of the ProcessInvoice handler over it,
//! run against both adapters: SQLite on a temp file and DynamoDB on the AWS
//! emulator (moto_server, a new table per test).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use common::{at, input, invoice, source, Fixture};
use workflow::process::{content_hash, process, DuplicateOf, ProcessOutput};
use workflow::store::{DueRange, Inserted, InvoiceNumber, InvoiceStore, NewInvoice, StoreError, StoredInvoice};

/// Each case runs once per adapter: `sqlite::case` (customer queries read
/// the unindexed tail), `sqlite_indexed::case` (they read the index) and
/// `dynamodb::case`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::common::sqlite()).await;
                }
            )*
        }
        mod sqlite_indexed {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::common::sqlite_indexed()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(fixture) = super::common::dynamodb().await else { return };
                    super::$case(fixture).await;
                }
            )*
        }
    };
}

contract!(
    stores_the_record_and_numbers_from_one,
    a_stored_invoice_id_consumes_nothing,
    numbers_are_per_processing_year,
    queries_find_what_was_stored,
    retries_replay_and_other_keys_are_duplicates,
    concurrent_submissions_store_each_id_once_without_gaps,
    a_lost_response_is_retried_without_consuming_a_number,
);

fn new(invoice: &workflow::Invoice, key: &str, processed_at: DateTime<Utc>) -> NewInvoice {
    NewInvoice {
        invoice: invoice.clone(),
        idempotency_key: key.into(),
        content_hash: content_hash(invoice),
        source: Some(source(7)),
        processed_at,
    }
}

fn number(year: i32, seq: u64) -> InvoiceNumber {
    InvoiceNumber { year, seq }
}

fn new_number(inserted: &Inserted) -> InvoiceNumber {
    match inserted {
        Inserted::New(r) => r.invoice_number,
        Inserted::Existing(r) => panic!("expected a new record, got the existing {r:?}"),
    }
}

async fn stores_the_record_and_numbers_from_one(f: Fixture) {
    let store = &f.store;
    let t = at("2026-11-24T13:05:01.123Z");
    let a = invoice("INV-A", "CUST-1", "1500.10", "2030-12-31");
    let b = invoice("INV-B", "CUST-1", "0.30", "2030-06-30");
    let first = store.insert(new(&a, "exec-a", t)).await.unwrap();
    let Inserted::New(receipt) = &first else { panic!("{first:?}") };
    assert_eq!(receipt.invoice_number.to_string(), "INV-2026-000001", "{}", f.name);
    assert_eq!(receipt.processed_at, t);
    assert_eq!(receipt.idempotency_key, "exec-a");
    assert_eq!(new_number(&store.insert(new(&b, "exec-b", t)).await.unwrap()), number(2026, 2));

    let stored = store.get("INV-A").await.unwrap().expect("stored");
    assert_eq!(
        stored,
        StoredInvoice {
            invoice_number: number(2026, 1),
            processed_at: t,
            idempotency_key: "exec-a".into(),
            content_hash: content_hash(&a),
            source: Some(source(7)),
            invoice: a.clone(),
        },
        "{}",
        f.name
    );
    // Exact amounts: the digits of the currency's scale come back.
    assert_eq!(stored.invoice.amount.to_string(), "1500.10");
    assert_eq!(store.get("INV-B").await.unwrap().unwrap().invoice.amount.to_string(), "0.30");
    assert_eq!(store.get("INV-NONE").await.unwrap(), None);
    assert_eq!(store.get("#counter#2026").await.unwrap(), None, "internal items are not invoices");
}

async fn a_stored_invoice_id_consumes_nothing(f: Fixture) {
    let store = &f.store;
    let t1 = at("2026-11-24T13:05:01.000Z");
    let t2 = at("2026-11-24T14:00:00.000Z");
    let a = invoice("INV-A", "CUST-1", "100.00", "2030-12-31");
    let first = store.insert(new(&a, "exec-1", t1)).await.unwrap();
    let Inserted::New(original) = first else { panic!() };
    // Another submission (other key, other content): the stored receipt, unchanged.
    let changed = invoice("INV-A", "CUST-2", "999.00", "2031-01-31");
    let again = store.insert(new(&changed, "exec-2", t2)).await.unwrap();
    assert_eq!(again, Inserted::Existing(original.clone()), "{}", f.name);
    // The same key again: the same receipt.
    assert_eq!(store.insert(new(&a, "exec-1", t2)).await.unwrap(), Inserted::Existing(original));
    // Nothing was overwritten, no number consumed.
    assert_eq!(store.get("INV-A").await.unwrap().unwrap().invoice, a);
    let b = invoice("INV-B", "CUST-1", "1.00", "2030-12-31");
    assert_eq!(new_number(&store.insert(new(&b, "exec-3", t2)).await.unwrap()), number(2026, 2));
}

async fn numbers_are_per_processing_year(f: Fixture) {
    let store = &f.store;
    let inv = |id: &str| invoice(id, "CUST-1", "10.00", "2031-12-31");
    let late = at("2026-12-31T23:59:59.999Z");
    let early = at("2027-01-01T00:00:00.000Z");
    assert_eq!(new_number(&store.insert(new(&inv("A"), "k-a", late)).await.unwrap()), number(2026, 1));
    assert_eq!(new_number(&store.insert(new(&inv("B"), "k-b", early)).await.unwrap()), number(2027, 1));
    assert_eq!(new_number(&store.insert(new(&inv("C"), "k-c", late)).await.unwrap()), number(2026, 2));
    assert_eq!(new_number(&store.insert(new(&inv("D"), "k-d", early)).await.unwrap()), number(2027, 2));
    assert_eq!(store.get_by_number(number(2027, 2)).await.unwrap().unwrap().invoice.invoice_id, "D");
}

async fn queries_find_what_was_stored(f: Fixture) {
    let store = &f.store;
    let rows = [
        ("INV-1", "CUST-1", "2030-01-15", "2026-11-24T10:00:00.000Z"),
        ("INV-2", "CUST-1", "2030-03-01", "2026-11-24T11:00:00.000Z"),
        ("INV-3", "CUST-2", "2030-02-01", "2026-11-24T12:00:00.000Z"),
        ("INV-4", "CUST-1", "2030-02-01", "2026-11-25T00:00:00.000Z"),
        ("INV-5", "CUST-1", "2029-12-31", "2027-01-02T00:00:00.000Z"),
    ];
    for (id, customer, due, when) in rows {
        store.insert(new(&invoice(id, customer, "10.00", due), &format!("exec-{id}"), at(when))).await.unwrap();
    }
    let ids = |records: Vec<StoredInvoice>| -> Vec<String> {
        records.into_iter().map(|r| r.invoice.invoice_id.to_string()).collect()
    };
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();

    // By number.
    let found = store.get_by_number(number(2026, 3)).await.unwrap().expect("by number");
    assert_eq!(found.invoice.invoice_id, "INV-3", "{}", f.name);
    assert_eq!(found.invoice_number, number(2026, 3));
    assert_eq!(store.get_by_number(number(2027, 1)).await.unwrap().unwrap().invoice.invoice_id, "INV-5");
    assert_eq!(store.get_by_number(number(2026, 99)).await.unwrap(), None);

    // A customer's invoices by due date, bounds included.
    let all = store.customer_invoices("CUST-1", DueRange::ALL).await.unwrap();
    assert_eq!(ids(all), ["INV-5", "INV-1", "INV-4", "INV-2"], "{}", f.name);
    let range = DueRange::between(date("2030-01-15"), date("2030-02-01"));
    assert_eq!(ids(store.customer_invoices("CUST-1", range).await.unwrap()), ["INV-1", "INV-4"]);
    let from = DueRange { from: Some(date("2030-02-01")), to: None };
    assert_eq!(ids(store.customer_invoices("CUST-1", from).await.unwrap()), ["INV-4", "INV-2"]);
    let to = DueRange { from: None, to: Some(date("2030-01-14")) };
    assert_eq!(ids(store.customer_invoices("CUST-1", to).await.unwrap()), ["INV-5"]);
    assert!(store.customer_invoices("CUST-9", DueRange::ALL).await.unwrap().is_empty());

    // Processed in [from, to), across a year boundary.
    let day = store.processed_between(at("2026-11-24T00:00:00Z"), at("2026-11-25T00:00:00Z")).await.unwrap();
    assert_eq!(ids(day), ["INV-1", "INV-2", "INV-3"], "{}", f.name);
    let span = store.processed_between(at("2026-11-24T11:00:00Z"), at("2027-12-31T00:00:00Z")).await.unwrap();
    assert_eq!(ids(span), ["INV-2", "INV-3", "INV-4", "INV-5"]);
    let exact = store.processed_between(at("2026-11-25T00:00:00Z"), at("2026-11-25T00:00:00.001Z")).await.unwrap();
    assert_eq!(ids(exact), ["INV-4"]);
    assert!(store
        .processed_between(at("2026-11-24T12:00:00.001Z"), at("2026-11-25T00:00:00Z"))
        .await
        .unwrap()
        .is_empty());
}

async fn retries_replay_and_other_keys_are_duplicates(f: Fixture) {
    let store = &*f.store;
    let a = invoice("INV-001", "CUST-123", "1500.00", "2030-12-31");
    let t1 = at("2026-11-24T13:05:01.123456Z");
    let first = process(store, input(&a, "exec-1"), t1).await.unwrap();
    let processed =
        ProcessOutput::Processed { invoice_number: number(2026, 1), processed_at: at("2026-11-24T13:05:01.123Z") };
    assert_eq!(first, processed, "{}", f.name);
    // The same execution retried (or redriven) later: the original result.
    assert_eq!(process(store, input(&a, "exec-1"), at("2026-11-25T09:00:00Z")).await.unwrap(), processed);
    // Another execution, same content: a duplicate of INV-2026-000001.
    let t3 = at("2026-11-26T08:00:00Z");
    let dup = process(store, input(&a, "exec-2"), t3).await.unwrap();
    let expected = |same_content| ProcessOutput::Duplicate {
        processed_at: t3,
        duplicate_of: DuplicateOf {
            invoice_number: number(2026, 1),
            processed_at: at("2026-11-24T13:05:01.123Z"),
            same_content,
        },
    };
    assert_eq!(dup, expected(true));
    let other = invoice("INV-001", "CUST-123", "1499.99", "2030-12-31");
    assert_eq!(process(store, input(&other, "exec-3"), t3).await.unwrap(), expected(false));
    // Neither consumed a number.
    let b = invoice("INV-002", "CUST-123", "1.00", "2030-12-31");
    let next = process(store, input(&b, "exec-4"), t3).await.unwrap();
    assert!(matches!(next, ProcessOutput::Processed { invoice_number, .. } if invoice_number == number(2026, 2)));
}

/// 32 tasks submit 1,000 invoices with overlapping ids (700 distinct; the
/// other 300 are second submissions from other executions, half of them with
/// other content), and every tenth submission is also retried at once with
/// its own key. Each id is stored once, the duplicates are reported, the
/// numbers are 1..=700 without gap or repeat, and the next invoice gets 701.
/// (One store: in DynamoDB its numbering task batches the writes, so they
/// never race; separate writers racing for the counter are tested in
/// `tests/dynamodb.rs`.)
async fn concurrent_submissions_store_each_id_once_without_gaps(f: Fixture) {
    const SUBMISSIONS: usize = 1000;
    const DISTINCT: usize = 700;
    const TASKS: usize = 32;
    let now = at("2026-11-24T13:05:01.123Z");
    let submission = |i: usize| {
        let id = i % DISTINCT;
        // The second submission of an odd id has other content.
        let amount = if i >= DISTINCT && id % 2 == 1 { "200.00" } else { "100.00" };
        let mut input = input(
            &invoice(&format!("INV-{id:04}"), &format!("CUST-{}", id % 13), amount, "2030-12-31"),
            &format!("exec-{i}"),
        );
        input.source = Some(source(i as u64 + 1));
        input
    };
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&f.store);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..SUBMISSIONS).step_by(TASKS) {
                let result = if i % 10 == 0 {
                    // A retry racing its own first attempt: both get the same answer.
                    let (x, y) =
                        tokio::join!(process(&*store, submission(i), now), process(&*store, submission(i), now));
                    assert_eq!(x, y, "a retry with the same key got another answer");
                    x
                } else {
                    process(&*store, submission(i), now).await
                };
                out.push((i, result.unwrap_or_else(|e| panic!("submission {i}: {e}"))));
            }
            out
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    assert_eq!(outcomes.len(), SUBMISSIONS);

    let mut processed: HashMap<String, InvoiceNumber> = HashMap::new();
    let mut duplicates: Vec<(usize, DuplicateOf)> = Vec::new();
    for (i, outcome) in outcomes {
        let id = format!("INV-{:04}", i % DISTINCT);
        match outcome {
            ProcessOutput::Processed { invoice_number, .. } => {
                assert!(processed.insert(id.clone(), invoice_number).is_none(), "{id} processed twice ({})", f.name);
            }
            ProcessOutput::Duplicate { duplicate_of, .. } => duplicates.push((i, duplicate_of)),
        }
    }
    assert_eq!(processed.len(), DISTINCT, "{}", f.name);
    assert_eq!(duplicates.len(), SUBMISSIONS - DISTINCT);
    let numbers: HashSet<u64> = processed.values().map(|n| n.seq).collect();
    assert_eq!(numbers, (1..=DISTINCT as u64).collect::<HashSet<_>>(), "numbers 1..=N, no gap, no repeat");
    for (i, dup) in &duplicates {
        let id = i % DISTINCT;
        assert_eq!(dup.invoice_number, processed[&format!("INV-{id:04}")], "duplicate {i}");
        // Which submission won is up to the race; the content differs only for odd ids.
        assert_eq!(dup.same_content, id.is_multiple_of(2), "duplicate {i}");
    }
    // The store holds each id once, under the number its submitter was told.
    let stored = f.store.processed_between(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")).await.unwrap();
    assert_eq!(stored.len(), DISTINCT);
    let by_id: BTreeMap<String, InvoiceNumber> =
        stored.iter().map(|r| (r.invoice.invoice_id.to_string(), r.invoice_number)).collect();
    assert_eq!(by_id, processed.into_iter().collect::<BTreeMap<_, _>>());
    // Replays and duplicates consumed nothing: the next invoice gets N + 1.
    let next = invoice("INV-NEXT", "CUST-1", "1.00", "2030-12-31");
    let out = process(&*f.store, input(&next, "exec-next"), now).await.unwrap();
    assert_eq!(
        out,
        ProcessOutput::Processed { invoice_number: number(2026, DISTINCT as u64 + 1), processed_at: now },
        "{}",
        f.name
    );
}

/// Commits, then fails the first `insert` with a transient error, as when a
/// Lambda's response is lost after DynamoDB committed.
struct LoseFirstResponse {
    inner: Arc<dyn InvoiceStore>,
    calls: AtomicUsize,
}

#[async_trait]
impl InvoiceStore for LoseFirstResponse {
    async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError> {
        let result = self.inner.insert(new).await?;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(StoreError::Unavailable("connection reset after commit".into()));
        }
        Ok(result)
    }
    async fn get(&self, id: &str) -> Result<Option<StoredInvoice>, StoreError> {
        self.inner.get(id).await
    }
    async fn get_by_number(&self, n: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError> {
        self.inner.get_by_number(n).await
    }
    async fn customer_invoices(&self, c: &str, due: DueRange) -> Result<Vec<StoredInvoice>, StoreError> {
        self.inner.customer_invoices(c, due).await
    }
    async fn processed_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Result<Vec<StoredInvoice>, StoreError> {
        self.inner.processed_between(a, b).await
    }
}

async fn a_lost_response_is_retried_without_consuming_a_number(f: Fixture) {
    let store = LoseFirstResponse { inner: Arc::clone(&f.store), calls: AtomicUsize::new(0) };
    let a = invoice("INV-LOST", "CUST-1", "42.00", "2030-12-31");
    let t1 = at("2026-11-24T13:05:01.500Z");
    let err = process(&store, input(&a, "exec-lost"), t1).await.unwrap_err();
    assert_eq!(err.error_type(), "StoreUnavailable", "{}", f.name);
    assert!(err.is_transient());
    // The state machine retries the task with the same key, a little later.
    let retried = process(&store, input(&a, "exec-lost"), at("2026-11-24T13:05:03Z")).await.unwrap();
    assert_eq!(retried, ProcessOutput::Processed { invoice_number: number(2026, 1), processed_at: t1 }, "{}", f.name);
    // Nothing consumed: the next invoice gets number 2; one record stored.
    let b = invoice("INV-NEXT", "CUST-1", "1.00", "2030-12-31");
    let next = process(&store, input(&b, "exec-next"), t1).await.unwrap();
    assert!(matches!(next, ProcessOutput::Processed { invoice_number, .. } if invoice_number == number(2026, 2)));
    let all = f.store.customer_invoices("CUST-1", DueRange::ALL).await.unwrap();
    assert_eq!(all.iter().filter(|r| r.invoice.invoice_id == "INV-LOST").count(), 1);
    assert_eq!(all.len(), 2);
}
