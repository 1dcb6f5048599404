//! Benchmark: ProcessInvoice into SQLite with durable group commits.
//!
//! The handler (`process_json`, as the engine and the Lambda call it) runs
//! from many concurrent tokio tasks over one `SqliteStore` on a file (WAL,
//! `synchronous=FULL`). Each task builds its invoice's JSON input, then awaits
//! the PROCESSED answer, which comes only after its batch is committed.
//!
//! Runs: 1,000,000 distinct invoices; then 1,000,000 submissions of which
//! 10 % repeat an earlier invoiceId from another execution (DUPLICATE).
//! Prints invoices/s against the target (at least 100,000 submissions/s for
//! each run of 1,000,000, on the 2-core machine), the cost of building the
//! inputs alone, and peak RSS.
//!
//! The database is in a temp dir (`TMPDIR`, else `/tmp`). It must be on a
//! disk: on tmpfs `fsync` does nothing, so the figures would not measure
//! durable commits; the bench says so loudly when it is.
//!
//! `cargo bench -p workflow --bench sqlite_process [-- COUNT [TASKS]]`; the bench
//! `sqlite_process_mimalloc` runs the same with mimalloc as the global allocator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Number, Value};
use workflow::process::process_json;
use workflow::store::sqlite::SqliteStore;

const DEFAULT_COUNT: usize = 1_000_000;
const DEFAULT_TASKS: usize = 4096;
/// The target: submissions per second, for each run of [`DEFAULT_COUNT`].
const TARGET_PER_SECOND: f64 = 100_000.0;

/// The execution input ProcessInvoice receives for submission `i` of invoice `id`.
pub fn input(id: usize, i: usize) -> Value {
    let number = |text: &str| Value::Number(text.parse::<Number>().expect("number"));
    let text = |t: String| Value::String(t);
    let amount = format!("{}.{:02}", 100 + id % 9000, id % 100);
    let mut item = Map::new();
    item.insert("description".into(), text("Consulting hours".into()));
    item.insert("quantity".into(), number("1"));
    item.insert("rate".into(), number(&amount));
    let mut invoice = Map::new();
    invoice.insert("invoiceId".into(), text(format!("INV-{id:08}")));
    invoice.insert("customerId".into(), text(format!("CUST-{}", id % 5000)));
    invoice.insert("customerEmail".into(), text("billing@example.com".into()));
    invoice.insert("amount".into(), number(&amount));
    invoice.insert("currency".into(), text("USD".into()));
    invoice.insert("dueDate".into(), text(format!("2030-{:02}-{:02}", 1 + id % 12, 1 + id % 28)));
    invoice.insert("description".into(), text("Professional services".into()));
    invoice.insert("items".into(), Value::Array(vec![Value::Object(item)]));
    let mut source = Map::new();
    source.insert("bucket".into(), text("local".into()));
    source.insert("key".into(), text("bench/invoices.csv".into()));
    source.insert("etag".into(), text("upload-1".into()));
    source.insert("record".into(), number(&(i + 1).to_string()));
    source.insert("line".into(), number(&(i + 2).to_string()));
    let mut doc = Map::new();
    doc.insert("invoice".into(), Value::Object(invoice));
    doc.insert("idempotencyKey".into(), text(format!("INV-{id:08}-exec-{i:08}")));
    doc.insert("source".into(), Value::Object(source));
    Value::Object(doc)
}

/// Submission `i`'s invoice id: every tenth (with `duplicates`) repeats an earlier one.
fn invoice_of(i: usize, duplicates: bool) -> usize {
    if duplicates && i % 10 == 9 {
        // An id of an earlier submission that is not itself a repeat.
        let j = (i * 7919) % (i - 8);
        if j % 10 == 9 {
            j - 1
        } else {
            j
        }
    } else {
        i
    }
}

struct Outcome {
    processed: usize,
    duplicates: usize,
    seconds: f64,
}

fn run(runtime: &tokio::runtime::Runtime, count: usize, tasks: usize, duplicates: bool) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteStore::open(dir.path().join("invoices.db")).expect("open"));
    let next = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let dups = Arc::new(AtomicUsize::new(0));
    let written_before = io_written();
    let started = Instant::now();
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (store, next, processed, dups) =
                    (Arc::clone(&store), Arc::clone(&next), Arc::clone(&processed), Arc::clone(&dups));
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let doc = input(invoice_of(i, duplicates), i);
                        let out = process_json(&*store, &doc, chrono::Utc::now()).await.expect("processed");
                        match out["status"].as_str() {
                            Some("PROCESSED") => processed.fetch_add(1, Ordering::Relaxed),
                            Some("DUPLICATE") => dups.fetch_add(1, Ordering::Relaxed),
                            other => panic!("unexpected status {other:?}"),
                        };
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let cpu: Vec<String> = thread_cpu()
        .into_iter()
        .filter(|(name, _)| name == "sqlite-writer" || name.starts_with("tokio-rt"))
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect();
    println!(
        "    CPU: {}; written to disk: {:.1} KiB per submission",
        cpu.join(", "),
        (io_written() - written_before) as f64 / 1024.0 / count as f64
    );
    // Check what was promised: every PROCESSED invoice stored, numbers 1..=N.
    let db = store.path().to_path_buf();
    drop(store);
    let conn = rusqlite::Connection::open(&db).expect("reopen");
    let (rows, last): (usize, usize) = conn
        .query_row("SELECT (SELECT COUNT(*) FROM invoices), (SELECT SUM(last_number) FROM counters)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("count");
    let processed = processed.load(Ordering::Relaxed);
    assert_eq!(rows, processed, "stored rows = PROCESSED answers");
    assert_eq!(last, processed, "numbers 1..=N without gaps");
    Outcome { processed, duplicates: dups.load(Ordering::Relaxed), seconds }
}

/// Bytes this process has handed to the kernel for writing (`wchar` of /proc/self/io).
fn io_written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// CPU seconds used so far by this process's threads, by thread name.
fn thread_cpu() -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of stat (11 and 12 after the name).
        let ticks: f64 = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += ticks / 100.0,
            None => out.push((name, ticks / 100.0)),
        }
    }
    out
}

/// The mount point and file system type of the mount holding `path`
/// (the longest mount point that is a prefix of it, from /proc/self/mountinfo).
fn file_system_of(path: &std::path::Path) -> Option<(String, String)> {
    let path = std::fs::canonicalize(path).ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let unescape = |s: &str| s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n");
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = unescape(left.split(' ').nth(4)?);
            let fs_type = right.split(' ').next()?.to_string();
            path.starts_with(&mount_point).then_some((mount_point, fs_type))
        })
        .max_by_key(|(mount_point, _)| mount_point.len())
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[allow(dead_code)] // unused when another bench includes this file as a module
fn main() {
    run_all("the system allocator (glibc malloc)");
}

/// Runs both workloads and prints the figures; `allocator` names the global allocator.
pub fn run_all(allocator: &str) {
    // `cargo bench` passes `--bench`; numbers after it are ours.
    let numbers: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let count = numbers.first().copied().unwrap_or(DEFAULT_COUNT);
    let tasks = numbers.get(1).copied().unwrap_or(DEFAULT_TASKS);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().unwrap();
    println!(
        "ProcessInvoice into SQLite (WAL, synchronous=FULL, group commit); {count} submissions, \
         {tasks} concurrent tasks, {cores} cores, {allocator}"
    );
    let temp = std::env::temp_dir();
    let on_memory = match file_system_of(&temp) {
        Some((mount_point, fs_type)) => {
            println!("  database in {} ({fs_type}, mounted on {mount_point})", temp.display());
            matches!(fs_type.as_str(), "tmpfs" | "ramfs")
        }
        None => {
            println!("  database in {} (file system unknown)", temp.display());
            false
        }
    };
    let warning = || {
        if on_memory {
            println!(
                "  !!! WARNING: {} is on tmpfs, where fsync does nothing: these figures do NOT measure \
                 durable commits. Run with TMPDIR set to a directory on a disk. !!!",
                temp.display()
            );
        }
    };
    warning();

    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..count {
        bytes += std::hint::black_box(input(i, i)).as_object().map_or(0, |m| m.len());
    }
    let build = started.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    println!(
        "  building the JSON inputs alone: {:>10.0} inputs/s (included in the figures below)",
        count as f64 / build
    );

    let mut verdicts = Vec::new();
    for (label, duplicates) in [("distinct invoices", false), ("10 % duplicates ", true)] {
        let outcome = run(&runtime, count, tasks, duplicates);
        let rate = count as f64 / outcome.seconds;
        println!(
            "  {label}: {rate:>10.0} submissions/s  ({} PROCESSED, {} DUPLICATE in {:.2} s; {:.0} PROCESSED/s)",
            outcome.processed,
            outcome.duplicates,
            outcome.seconds,
            outcome.processed as f64 / outcome.seconds,
        );
        verdicts.push((label.trim_end(), rate));
    }
    println!("  peak RSS: {:.0} MiB", peak_rss_mib());
    println!("target: at least {TARGET_PER_SECOND:.0} submissions/s for each run of {DEFAULT_COUNT} submissions");
    for (label, rate) in verdicts {
        let verdict = match (on_memory, rate >= TARGET_PER_SECOND) {
            (true, _) => "not judged: the database was on tmpfs",
            (false, true) => "target met",
            (false, false) => "target MISSED",
        };
        let caveat = if count == DEFAULT_COUNT {
            String::new()
        } else {
            format!(" (a short run of {count}: the target is for {DEFAULT_COUNT})")
        };
        println!("  {label}: {rate:.0}/s: {verdict}{caveat}");
    }
    warning();
}
