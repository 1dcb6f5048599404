//! The SQLite adapter across processes: what a process reported PROCESSED is
//! on disk when it ends or is killed during group commits; a lock held by
//! another process is a transient `StoreUnavailable` after the busy timeout;
//! faults a retry cannot cure are permanent and write nothing.
//!
//! The other processes are this test binary run again (`child_process`, an
//! ignored test that acts on `WORKFLOW_TEST_CHILD`).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{at, input, invoice};
use workflow::process::{process, ProcessOutput};
use workflow::store::sqlite::{SqliteOptions, SqliteStore, FILE_NAME};
use workflow::store::{InvoiceStore, StoreError};

const CHILD_ENV: &str = "WORKFLOW_TEST_CHILD";

/// Starts this test binary as a child running `child_process` with `role`.
fn spawn_child(role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Not a test: the other process of the tests below.
/// `write:<db>:<count>` processes `count` invoices from 64 concurrent tasks and
/// prints `PROCESSED <invoiceId> <invoiceNumber>` for each as soon as it is told;
/// `lock:<db>` holds an exclusive lock, prints `LOCKED`, and waits for stdin to close.
#[test]
#[ignore = "helper process of the other tests"]
fn child_process() {
    let Ok(role) = std::env::var(CHILD_ENV) else { return };
    let parts: Vec<&str> = role.splitn(3, ':').collect();
    match parts[..] {
        ["write", db, count] => {
            let count: usize = count.parse().unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let store = Arc::new(SqliteStore::open(db).unwrap());
                let now = at("2026-11-24T13:05:01.123Z");
                let tasks: Vec<_> = (0..64)
                    .map(|t| {
                        let store = Arc::clone(&store);
                        tokio::spawn(async move {
                            for i in (t..count).step_by(64) {
                                let id = format!("K-{i:07}");
                                let inv = invoice(&id, &format!("C-{}", i % 100), "10.00", "2030-12-31");
                                match process(&*store, input(&inv, &format!("exec-{i}")), now).await.unwrap() {
                                    ProcessOutput::Processed { invoice_number, .. } => {
                                        println!("PROCESSED {id} {invoice_number}")
                                    }
                                    other => panic!("{other:?}"),
                                }
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
        }
        ["lock", db] => {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            println!("LOCKED");
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        _ => panic!("unknown child role {role}"),
    }
}

/// Reads `PROCESSED id number` lines until `stop` says so or the output ends.
fn read_processed(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    mut stop: impl FnMut(usize) -> bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The test harness may print its own text before the child's on a line.
        if let Some(rest) = line.find("PROCESSED ").map(|at| &line[at + "PROCESSED ".len()..]) {
            let (id, number) = rest.split_once(' ').unwrap();
            out.push((id.to_string(), number.to_string()));
            if stop(out.len()) {
                break;
            }
        }
    }
    out
}

/// Every reported invoice is stored under its number; all numbers are 1..=N.
async fn check_store(db: &Path, reported: &[(String, String)]) -> usize {
    let store = SqliteStore::open(db).unwrap();
    for (id, number) in reported {
        let record = store.get(id).await.unwrap().unwrap_or_else(|| panic!("{id} was reported PROCESSED but is lost"));
        assert_eq!(record.invoice_number.to_string(), *number, "{id}");
    }
    let all = store.processed_between(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")).await.unwrap();
    let mut numbers: Vec<u64> = all.iter().map(|r| r.invoice_number.seq).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=all.len() as u64).collect::<Vec<_>>(), "numbers are gap-free");
    // Numbering goes on after the last stored number.
    let next = invoice("AFTER-RESTART", "C-1", "1.00", "2030-12-31");
    let out = process(&store, input(&next, "exec-after"), at("2026-11-24T14:00:00Z")).await.unwrap();
    assert!(
        matches!(out, ProcessOutput::Processed { invoice_number, .. } if invoice_number.seq == all.len() as u64 + 1),
        "{out:?}"
    );
    all.len()
}

#[tokio::test]
async fn a_reopened_store_has_everything_a_finished_process_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let mut child = spawn_child(&format!("write:{}:3000", db.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let reported = read_processed(&mut lines, |_| false);
    assert!(child.wait().unwrap().success());
    assert_eq!(reported.len(), 3000);
    assert_eq!(check_store(&db, &reported).await, 3000);
}

#[tokio::test]
async fn a_process_killed_during_group_commits_loses_nothing_it_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let mut child = spawn_child(&format!("write:{}:100000000", db.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Let it run well into its group commits, then SIGKILL it mid-stream.
    let mut reported = read_processed(&mut lines, |n| n >= 20_000);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines it printed before dying are still in the pipe.
    reported.extend(read_processed(&mut lines, |_| false));
    assert!(reported.len() >= 20_000);
    let stored = check_store(&db, &reported).await;
    assert!(stored >= reported.len(), "stored {stored} < reported {}", reported.len());
    eprintln!("killed after {} reported; {stored} stored", reported.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_is_store_unavailable_after_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let options = SqliteOptions { busy_timeout: Duration::from_millis(500), ..SqliteOptions::default() };
    let store = SqliteStore::open_with(&db, options).unwrap();
    let mut holder = spawn_child(&format!("lock:{}", db.display()));
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().ends_with("LOCKED")), "the lock holder did not start");

    let a = invoice("INV-1", "C-1", "10.00", "2030-12-31");
    let started = Instant::now();
    let err = process(&store, input(&a, "exec-1"), at("2026-11-24T13:00:00Z")).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.error_type(), "StoreUnavailable", "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(5), "waited {waited:?}");
    // Reads still work under a writer's lock (WAL).
    assert_eq!(store.get("INV-1").await.unwrap(), None);

    drop(holder.stdin.take()); // releases the lock
    holder.wait().unwrap();
    // The retry (same key) succeeds; the failed attempt consumed nothing.
    let out = process(&store, input(&a, "exec-1"), at("2026-11-24T13:00:05Z")).await.unwrap();
    assert!(matches!(out, ProcessOutput::Processed { invoice_number, .. } if invoice_number.seq == 1), "{out:?}");
}

#[tokio::test]
async fn a_broken_counter_is_a_permanent_error_that_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let store = SqliteStore::open(&db).unwrap();
    let now = at("2026-11-24T13:00:00Z");
    process(&store, input(&invoice("INV-1", "C", "1.00", "2030-12-31"), "k1"), now).await.unwrap();
    // Someone rewinds the counter: the next number would be a repeat.
    rusqlite::Connection::open(&db).unwrap().execute("UPDATE counters SET last_number = 0", []).unwrap();
    let err = process(&store, input(&invoice("INV-2", "C", "1.00", "2030-12-31"), "k2"), now).await.unwrap_err();
    assert_eq!(err.error_type(), "StoreError", "{err}");
    assert!(err.to_string().contains("invoice number INV-2026-000001 is already stored"), "{err}");
    assert!(err.to_string().contains(FILE_NAME), "names the database: {err}");
    assert_eq!(store.get("INV-2").await.unwrap(), None, "nothing half-written");
    assert_eq!(store.get("INV-1").await.unwrap().unwrap().invoice_number.seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_record_does_not_fail_the_others_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    let now = at("2026-11-24T13:00:00Z");
    let submit = |id: &str| {
        let store = Arc::clone(&store);
        let inv = invoice(id, "C", "1.00", "2030-12-31");
        tokio::spawn(async move { process(&*store, input(&inv, &format!("k-{}", inv.invoice_id)), now).await })
    };
    // Hold the write lock so that the writer blocks on a first invoice while
    // the next five queue up behind it: they are then written as one batch.
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = submit("FIRST");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids = ["A", "B", "BAD", "C", "D"];
    let handles: Vec<_> = ids.iter().map(|id| submit(id)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A trigger refuses one invoice, as a constraint of a damaged database might.
    blocker
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON invoices WHEN NEW.invoice_id = 'BAD'
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;
             COMMIT;",
        )
        .unwrap();
    assert!(
        matches!(first.await.unwrap(), Ok(ProcessOutput::Processed { invoice_number, .. }) if invoice_number.seq == 1)
    );
    let mut numbers = Vec::new();
    for (id, handle) in ids.iter().zip(handles) {
        match handle.await.unwrap() {
            Ok(ProcessOutput::Processed { invoice_number, .. }) => numbers.push(invoice_number.seq),
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert_eq!(*id, "BAD", "{e}");
                assert_eq!(e.error_type(), "StoreError");
                assert!(e.to_string().contains("refused by test"), "{e}");
            }
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, [2, 3, 4, 5], "the others are numbered without a gap");
    assert_eq!(store.get("BAD").await.unwrap(), None);
}

/// Customer queries see every invoice whether it is in the customer index or
/// still in the tail, across batches, years and a reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_queries_read_the_index_and_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    let options = SqliteOptions { index_chunk: 4, ..SqliteOptions::default() };
    let mut expected: Vec<(String, String)> = Vec::new(); // (due date, id) of CUST-A
    for round in 0..3 {
        let store = SqliteStore::open_with(&db, options.clone()).unwrap();
        for i in 0..7 {
            let n = round * 7 + i;
            let (id, customer) = (format!("INV-{n:02}"), if n % 3 == 0 { "CUST-B" } else { "CUST-A" });
            let due = format!("2031-{:02}-{:02}", 1 + n % 12, 1 + n % 27);
            let when = if n % 5 == 0 { "2027-01-02T00:00:00Z" } else { "2026-11-24T13:00:00Z" };
            process(&store, input(&invoice(&id, customer, "1.00", &due), &format!("k{n}")), at(when)).await.unwrap();
            if customer == "CUST-A" {
                expected.push((due, id));
            }
        }
        expected.sort();
        let found = store.customer_invoices("CUST-A", workflow::store::DueRange::ALL).await.unwrap();
        let found: Vec<(String, String)> =
            found.iter().map(|r| (r.invoice.due_date.to_string(), r.invoice.invoice_id.to_string())).collect();
        assert_eq!(found, expected, "round {round}");
        let range = workflow::store::DueRange::between("2031-03-01".parse().unwrap(), "2031-06-30".parse().unwrap());
        let in_range = store.customer_invoices("CUST-A", range).await.unwrap().len();
        assert_eq!(
            in_range,
            expected.iter().filter(|(d, _)| d.as_str() >= "2031-03-01" && d.as_str() <= "2031-06-30").count()
        );
    }
    // Both paths were taken: some invoices are indexed, some are not yet.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let indexed: i64 = conn.query_row("SELECT COUNT(*) FROM customer_due", [], |r| r.get(0)).unwrap();
    assert!(indexed > 0 && indexed < 21, "{indexed} of 21 indexed");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(FILE_NAME);
    rusqlite::Connection::open(&db).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let err = SqliteStore::open(&db).unwrap_err();
    assert!(matches!(&err, StoreError::Permanent(m) if m.contains("schema version 99")), "{err:?}");
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let err = SqliteStore::open("/nonexistent-dir/x/invoices.db").unwrap_err();
    assert!(err.to_string().contains("/nonexistent-dir/x/invoices.db"), "{err}");
}
