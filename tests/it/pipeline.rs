//! `invoices run`, `watch` and `query`: the whole pipeline on this machine,
//! driven through the real binary, checked through the store (`query --json`)
//! and the outbox file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TODAY: &str = "--today=2026-11-24";

/// One data directory and the commands run against it.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Local {
        Local { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_invoices"));
        cmd.args(args).arg("--data-dir").arg(self.data()).current_dir(env!("CARGO_MANIFEST_DIR"));
        cmd.env_remove("DEFAULT_CURRENCY");
        cmd
    }

    /// `invoices run --json ARGS`: the exit code and the summary document.
    fn run(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["run", "--json", TODAY];
        all.extend_from_slice(args);
        let out = self.command(&all).output().expect("run invoices");
        (out.status.code().unwrap_or(-1), json_of(&out))
    }

    /// Every stored invoice, by invoice number.
    fn stored(&self) -> Vec<Value> {
        let out = self.command(&["query", "--json"]).output().expect("query");
        match json_of(&out) {
            Value::Array(list) => list,
            other => panic!("query answered {other}"),
        }
    }

    /// The outbox lines.
    fn outbox(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.data().join("outbox.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("outbox line is JSON")).collect()
    }
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    })
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// (invoiceId → eventType) of the outbox's invoice events.
fn events_by_invoice(outbox: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in outbox {
        let id = line["default"]["invoiceId"].as_str().unwrap_or("-").to_string();
        map.entry(id).or_default().push(line["eventType"].as_str().unwrap().to_string());
    }
    map
}

fn numbers(stored: &[Value]) -> Vec<u64> {
    let mut seqs: Vec<u64> = stored
        .iter()
        .map(|r| r["invoiceNumber"].as_str().unwrap().rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    seqs
}

fn assert_gap_free(stored: &[Value]) {
    let seqs = numbers(stored);
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "invoice numbers are 1..N without gap or repeat");
}

#[test]
fn run_on_the_samples_then_again() {
    let local = Local::new();
    let (code, summary) = local.run(&["samples/"]);
    assert_eq!(code, 0, "{summary:#}");
    let totals = &summary["totals"];
    assert_eq!((count(totals, "processed"), count(totals, "rejected"), count(totals, "duplicate")), (9, 18, 1));
    assert_eq!((count(totals, "failed"), count(totals, "unreadable")), (0, 0));

    let stored = local.stored();
    let ids: BTreeSet<&str> = stored.iter().map(|r| r["invoice"]["invoiceId"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> =
        ["INV-001", "INV-002", "INV-003", "INV-101", "INV-102", "INV-103", "INV-104", "INV-201", "INV-202"].into();
    assert_eq!(ids, expected);
    assert_gap_free(&stored);
    let inv101 = stored.iter().find(|r| r["invoice"]["invoiceId"] == "INV-101").unwrap();
    assert_eq!(inv101["invoice"]["amount"].to_string(), "1233.55", "amounts keep their digits");
    assert_eq!(inv101["invoice"]["items"].as_array().unwrap().len(), 3);
    assert_eq!(inv101["source"]["bucket"], "local");
    assert_eq!(inv101["source"]["line"], 2);

    let outbox = local.outbox();
    let events = events_by_invoice(&outbox);
    for id in &expected {
        let want: &[&str] =
            if *id == "INV-001" { &["INVOICE_PROCESSED", "INVOICE_DUPLICATE"] } else { &["INVOICE_PROCESSED"] };
        let mut got = events[*id].clone();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{id}");
    }
    let rejected: Vec<&Value> = outbox.iter().filter(|l| l["eventType"] == "INVOICE_REJECTED").collect();
    assert_eq!(rejected.len(), 18);
    assert!(rejected.iter().all(|l| l["topic"] == "error"));
    let dup = outbox.iter().find(|l| l["eventType"] == "INVOICE_DUPLICATE").unwrap();
    assert_eq!(dup["topic"], "duplicate");
    let first = stored.iter().find(|r| r["invoice"]["invoiceId"] == "INV-001").unwrap();
    assert_eq!(dup["default"]["duplicateOf"]["invoiceNumber"], first["invoiceNumber"]);

    // The same files again are a new upload: nothing new is stored, all are duplicates.
    let (code, again) = local.run(&["samples/"]);
    assert_eq!(code, 0);
    let totals = &again["totals"];
    assert_eq!((count(totals, "processed"), count(totals, "rejected"), count(totals, "duplicate")), (0, 18, 10));
    assert_eq!(local.stored().len(), 9);
    let outbox = local.outbox();
    assert_eq!(outbox.iter().filter(|l| l["eventType"] == "INVOICE_DUPLICATE").count(), 11);
}

#[test]
fn a_malformed_file_reports_its_records_and_the_good_ones_are_processed() {
    let local = Local::new();
    let (code, summary) = local.run(&["ingest/tests/malformed/wrong_column_count.csv"]);
    assert_eq!(code, 0, "an unreadable record is reported, not an error of the run: {summary:#}");
    let file = &summary["files"][0];
    assert_eq!((count(file, "processed"), count(file, "unreadable"), count(file, "records")), (2, 1, 3));
    assert_eq!(local.stored().len(), 2);
    let outbox = local.outbox();
    let unreadable =
        outbox.iter().find(|l| l["eventType"] == "INVOICE_REJECTED").expect("the unreadable record is announced");
    assert_eq!(unreadable["topic"], "error");
    assert_eq!(unreadable["default"]["errors"][0]["code"], "unreadable");
    assert_eq!(unreadable["default"]["source"]["line"], 3);

    // A file whose structure breaks: the records before the break are processed.
    let local = Local::new();
    let (code, summary) = local.run(&["ingest/tests/malformed/truncated.json"]);
    assert_eq!(code, 2, "a file that cannot be read to its end: {summary:#}");
    let file = &summary["files"][0];
    assert_eq!(count(file, "processed"), 2);
    assert_eq!(file["fileError"], "line 4: the file ends inside the record starting on line 4");
    assert_eq!(local.stored().len(), 2);
    let outbox = local.outbox();
    let rejected = outbox.iter().find(|l| l["eventType"] == "FILE_REJECTED").expect("the broken file is announced");
    assert_eq!(rejected["topic"], "error");
}

/// Generates a sample file with `invoices sample`.
fn sample(local: &Local, name: &str, args: &[&str]) -> PathBuf {
    let path = local.path(name);
    let out = Command::new(env!("CARGO_BIN_EXE_invoices")).arg("sample").args(args).output().expect("sample");
    assert!(out.status.success());
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

#[test]
fn counts_reconcile_on_a_mixed_file() {
    let local = Local::new();
    let file =
        sample(&local, "mixed.csv", &["--count", "10000", "--invalid", "10", "--duplicates", "5", "--seed", "3"]);
    let (code, summary) = local.run(&[file.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary:#}");
    let t = &summary["totals"];
    let (processed, rejected, duplicate) = (count(t, "processed"), count(t, "rejected"), count(t, "duplicate"));
    assert_eq!(count(t, "records"), 10_000);
    assert_eq!(processed + rejected + duplicate + count(t, "failed") + count(t, "unreadable"), 10_000);
    assert!(rejected > 500 && duplicate > 200, "{t}");
    let stored = local.stored();
    assert_eq!(stored.len() as u64, processed);
    assert_gap_free(&stored);
    let outbox = local.outbox();
    let of = |kind: &str| outbox.iter().filter(|l| l["eventType"] == kind).count() as u64;
    assert_eq!(
        (of("INVOICE_PROCESSED"), of("INVOICE_REJECTED"), of("INVOICE_DUPLICATE")),
        (processed, rejected, duplicate)
    );
}

/// Holds SQLite's write lock on the store, as another program could, until dropped.
struct Locked(rusqlite::Connection);

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.execute_batch("ROLLBACK").expect("release the write lock");
    }
}

fn lock_store(data: &Path) -> Locked {
    let conn = rusqlite::Connection::open(data.join("invoices.db")).expect("open the store");
    conn.execute_batch("BEGIN EXCLUSIVE").expect("take the write lock");
    Locked(conn)
}

#[test]
fn a_store_that_keeps_failing_gives_failed_executions_then_resume_processes_them() {
    let local = Local::new();
    let (code, _) = local.run(&["samples/invoices.json"]);
    assert_eq!(code, 0);
    let file = sample(&local, "batch.ndjson", &["--count", "40", "--format", "ndjson", "--seed", "8"]);
    let lock = lock_store(&local.data());
    let (code, summary) = local.run(&[file.to_str().unwrap()]);
    assert_eq!(code, 1, "failed executions: {summary:#}");
    let f = &summary["files"][0];
    assert_eq!((count(f, "failed"), count(f, "processed")), (40, 0));
    assert_eq!(f["failures"][0]["error"], "StoreUnavailable");
    let failed: Vec<Value> = local.outbox().into_iter().filter(|l| l["eventType"] == "INVOICE_FAILED").collect();
    assert_eq!(failed.len(), 40, "every failure is announced");
    assert!(failed.iter().all(|l| l["topic"] == "error"));
    drop(lock);

    let (code, summary) = local.run(&["--resume", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary:#}");
    assert_eq!(count(&summary["files"][0], "processed"), 40);
    assert_eq!(summary["files"][0]["uploadId"], f["uploadId"], "the same upload continues");
    let stored = local.stored();
    assert_eq!(stored.len(), 43);
    assert_gap_free(&stored);
    // Nothing to resume once it completed.
    let (code, summary) = local.run(&["--resume", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(summary["files"][0]["fileError"].as_str().unwrap().starts_with("nothing to resume"), "{summary}");
}

/// Starts `invoices run` on `file` and kills it (SIGKILL) once the outbox has
/// at least `after` lines.
fn run_and_kill(local: &Local, file: &Path, resume: bool, after: usize) {
    let mut cmd = local.command(&["run", TODAY, "--show", "0"]);
    if resume {
        cmd.arg("--resume");
    }
    let mut child: Child = cmd.arg(file).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start run");
    let outbox = local.data().join("outbox.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let lines = std::fs::read(&outbox).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0);
        if lines >= after || Instant::now() > deadline {
            break;
        }
        if child.try_wait().expect("poll").is_some() {
            panic!("the run ended before it could be killed at {after} notifications");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn killed_runs_resume_to_every_invoice_stored_once() {
    let local = Local::new();
    let file = sample(&local, "big.csv", &["--count", "10000", "--seed", "5"]);
    run_and_kill(&local, &file, false, 1500);
    run_and_kill(&local, &file, true, 4000);
    run_and_kill(&local, &file, true, 7500);
    let (code, summary) = local.run(&["--resume", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{summary:#}");
    assert_eq!(count(&summary["totals"], "processed"), 10_000);
    assert_eq!(count(&summary["totals"], "duplicate"), 0);
    let stored = local.stored();
    assert_eq!(stored.len(), 10_000);
    let ids: BTreeSet<&str> = stored.iter().map(|r| r["invoice"]["invoiceId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 10_000, "each invoice once");
    assert_gap_free(&stored);
    let outbox = local.outbox();
    assert!(outbox.iter().all(|l| l["eventType"] == "INVOICE_PROCESSED"), "no duplicate notice");
    let event_ids: BTreeSet<&str> = outbox.iter().map(|l| l["eventId"].as_str().unwrap()).collect();
    assert_eq!(event_ids.len(), outbox.len(), "each event once");
    assert_eq!(outbox.len(), 10_000);
}

#[test]
fn ctrl_c_stops_starting_executions_and_resume_finishes_the_upload() {
    let local = Local::new();
    let file = sample(&local, "batch.csv", &["--count", "10000", "--seed", "11"]);
    let child = local
        .command(&["run", TODAY, "--json"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start run");
    let outbox = local.data().join("outbox.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read(&outbox).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0) < 1000 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = json_of(&out);
    assert_eq!(summary["interrupted"], true);
    let file_summary = &summary["files"][0];
    assert_eq!(file_summary["interrupted"], true);
    let done = count(file_summary, "processed");
    assert!((1000..10_000).contains(&done), "{done} processed before the interruption");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no new executions are started"));
    // Everything reported done is stored, and nothing more was started after Ctrl-C.
    assert_eq!(local.stored().len() as u64, done);

    let (code, resumed) = local.run(&["--resume", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{resumed:#}");
    assert_eq!(resumed["files"][0]["uploadId"], file_summary["uploadId"]);
    let stored = local.stored();
    assert_eq!(stored.len(), 10_000);
    assert_gap_free(&stored);
    let outbox = local.outbox();
    assert_eq!(outbox.len(), 10_000, "each invoice announced once");
    assert!(outbox.iter().all(|l| l["eventType"] == "INVOICE_PROCESSED"));
}

#[test]
fn watch_never_reads_a_file_that_is_still_being_written() {
    let local = Local::new();
    let drop = local.path("drop");
    std::fs::create_dir(&drop).unwrap();
    let csv = std::fs::read_to_string("samples/invoices.csv").unwrap();
    let (head, tail) = csv.split_at(csv.len() / 2);
    let growing = drop.join("growing.csv");
    std::fs::write(&growing, head).unwrap();
    let watch_once = || {
        let mut cmd = local.command(&["watch", TODAY, "--json", "--once", "--settle-ms", "1500"]);
        cmd.arg(&drop).output().expect("watch")
    };
    // Just written: not settled yet, so not read.
    let out = watch_once();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "read too early: {}", String::from_utf8_lossy(&out.stdout));
    // The writer goes on; once it has finished and the file has settled, it is read whole.
    std::thread::sleep(Duration::from_millis(500));
    std::fs::OpenOptions::new().append(true).open(&growing).unwrap().write_all(tail.as_bytes()).unwrap();
    let out = watch_once();
    assert!(out.stdout.is_empty(), "read while still changing");
    std::thread::sleep(Duration::from_millis(1700));
    let out = watch_once();
    let line: Value = serde_json::from_slice(&out.stdout).expect("one summary");
    assert_eq!(count(&line, "processed"), 4, "the whole file");
    assert_eq!(count(&line, "unreadable"), 0);
}

#[test]
fn watch_picks_up_a_dropped_file_once_and_query_finds_it() {
    let local = Local::new();
    let drop = local.path("drop");
    std::fs::create_dir(&drop).unwrap();
    std::fs::copy("samples/invoices.csv", drop.join("march.csv")).unwrap();
    std::fs::write(drop.join("notes.txt"), "not an invoice file").unwrap();
    let watch = |extra: &[&str]| {
        let mut args = vec!["watch", TODAY, "--json", "--once", "--settle-ms", "0"];
        args.extend_from_slice(extra);
        let mut cmd = local.command(&args);
        cmd.arg(&drop).output().expect("watch")
    };
    let out = watch(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(count(&lines[0], "processed"), 4);
    // A restart does not read it again.
    let out = watch(&[]);
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(local.stored().len(), 4);

    let query = |args: &[&str]| {
        let mut all = vec!["query", "--json"];
        all.extend_from_slice(args);
        let out = local.command(&all).output().unwrap();
        (out.status.code(), json_of(&out))
    };
    let (code, one) = query(&["--invoice-id", "INV-103"]);
    assert_eq!(code, Some(0));
    assert_eq!(one[0]["invoice"]["amount"].to_string(), "12.500");
    assert_eq!(one[0]["invoice"]["currency"], "BHD");
    let number = one[0]["invoiceNumber"].as_str().unwrap().to_string();
    let (_, by_number) = query(&["--number", &number]);
    assert_eq!(by_number[0]["invoice"]["invoiceId"], "INV-103");
    let (_, customer) = query(&["--customer", "CUST-123"]);
    let ids: Vec<&str> =
        customer.as_array().unwrap().iter().map(|r| r["invoice"]["invoiceId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["INV-101", "INV-104"], "by due date");
    let (_, ranged) = query(&["--customer", "CUST-123", "--due-from", "2030-07-01", "--due-to", "2030-12-31"]);
    assert_eq!(ranged.as_array().unwrap().len(), 1);
    let (code, none) = query(&["--invoice-id", "NOPE"]);
    assert_eq!((code, none), (Some(1), Value::Array(vec![])));
}
