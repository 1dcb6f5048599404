//! `invoices run`: the whole pipeline on this machine.
//!
//! Each file is handled as if it had been uploaded to the bucket: the ingest
//! reader splits it, and every invoice becomes one execution of the deployed
//! state machine on the embedded engine (see [`crate::pipeline`]). Execution
//! names are deterministic per upload and record, as the ingest Lambda makes
//! them, and ProcessInvoice gets the name as its idempotency key.
//!
//! A reader thread streams records into a bounded channel and at most
//! `--concurrency` executions run at once, so memory stays flat however large
//! the file. Ctrl-C stops starting executions, lets the running ones finish,
//! and prints how to resume; `--resume` continues an upload with its own
//! upload id, so what was stored comes back as a replay and nothing is stored
//! or announced twice.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use engine::{ExecutionOutcome, ExecutionStatus};
use ingest::{Format, InvoiceReader, Limits, ReadError};
use notify::{EventType, FileInfo, NotifyInput};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use workflow::naming::UploadNames;
use workflow::{ErrorCode, ExecutionInput, FieldError, InvoiceJson, Source};

use crate::config::RulesArgs;
use crate::data_dir::{DataDir, Upload, UploadStatus};
use crate::files::{expand_inputs, Input};
use crate::pipeline::{Pipeline, Settings};
use crate::read_ahead::{read_ahead, Consumer, Producer};

/// Records read ahead of the executions (bounded: memory stays flat); a
/// reader that filled the queue resumes once it is down to [`RESUME_AT`].
const QUEUED: usize = 1024;
const RESUME_AT: usize = 512;

/// The bucket name of local uploads.
pub const LOCAL_BUCKET: &str = "local";

#[derive(Args)]
pub struct RunArgs {
    /// Files, or directories to search for .csv, .json, .jsonl and .ndjson files.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Continue the interrupted upload of each file given, instead of uploading it anew.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    common: PipelineArgs,
}

/// Options shared by `run` and `watch`.
#[derive(Args, Clone)]
pub struct PipelineArgs {
    /// Where the store, the outbox and the upload records are kept.
    #[arg(long, default_value = ".invoices", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Executions running at once. Most of them wait for the SQLite writer,
    /// whose commits (one fsync each) group the invoices that are waiting: with
    /// more running, commits are larger and fewer, but what the executions hold
    /// falls out of the CPU caches (measured: 512 and 1024 take the least CPU,
    /// 1024 keeps up best when the machine is busy, 2048 takes 15% more CPU).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// New notifications shown on the console (the rest are in the outbox).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub show: u64,
    #[command(flatten)]
    pub rules: RulesArgs,
}

impl PipelineArgs {
    pub fn open(&self) -> Result<(DataDir, Pipeline), String> {
        let rules = self.rules.rules()?;
        let data = DataDir::open(&self.data_dir)?;
        let echo = if self.json { 0 } else { self.show };
        let pipeline = Pipeline::open(&data, Settings { rules, today: self.rules.today, echo })?;
        Ok((data, pipeline))
    }
}

/// How one file's upload went.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSummary {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    pub records: u64,
    pub processed: u64,
    pub rejected: u64,
    pub duplicate: u64,
    pub failed: u64,
    pub unreadable: u64,
    /// Why the file (or the rest of it) could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_error: Option<String>,
    /// Stopped by Ctrl-C before every record was started.
    pub interrupted: bool,
    /// The first failed executions: name, error and cause.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Value>,
}

/// Ctrl-C, as a flag the reader and the scheduler look at.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn on_ctrl_c() -> Stop {
        let stop = Stop::default();
        let flag = stop.0.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
                eprintln!("\ninterrupted: no new executions are started; waiting for the running ones…");
            }
        });
        stop
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn run(args: RunArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("invoices run: cannot start the runtime: {e}");
            return 2;
        }
    };
    runtime.block_on(async move {
        let (data, pipeline) = match args.common.open() {
            Ok(opened) => opened,
            Err(e) => {
                eprintln!("invoices run: {e}");
                return 2;
            }
        };
        let pipeline = Arc::new(pipeline);
        let stop = Stop::on_ctrl_c();
        let started = Instant::now();
        let mut summaries = Vec::new();
        let mut not_started = Vec::new();
        for input in expand_inputs(&args.paths) {
            if stop.requested() {
                if let Input::File(path, _) = &input {
                    not_started.push(path.display().to_string());
                }
                continue;
            }
            summaries.push(match input {
                Input::File(path, format) => {
                    run_file(&pipeline, &data, &path, format, args.resume, &stop, &args.common).await
                }
                Input::Unusable(path, reason) => {
                    FileSummary { file: path.display().to_string(), file_error: Some(reason), ..FileSummary::default() }
                }
            });
        }
        if let Err(e) = pipeline.sync() {
            eprintln!("invoices run: {e}");
        }
        report(&summaries, &not_started, &data, &pipeline, started.elapsed(), args.common.json)
    })
}

/// Runs one upload of one file (a new one, or the resumed last one).
pub async fn run_file(
    pipeline: &Arc<Pipeline>,
    data: &DataDir,
    path: &Path,
    format: Format,
    resume: bool,
    stop: &Stop,
    args: &PipelineArgs,
) -> FileSummary {
    let mut summary = FileSummary { file: path.display().to_string(), ..FileSummary::default() };
    let key = match std::fs::canonicalize(path) {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            summary.file_error = Some(format!("cannot open: {e}"));
            return summary;
        }
    };
    let upload = match start_upload(data, &key, resume) {
        Ok(upload) => upload,
        Err(e) => {
            summary.file_error = Some(e);
            return summary;
        }
    };
    summary.upload_id = Some(upload.upload_id.clone());
    if resume {
        let file_event = notify::event_id(&file_execution_name(&key, &upload.upload_id), EventType::FileRejected);
        if let Err(e) = pipeline.recall_upload(&key, &upload.upload_id, &file_event) {
            summary.file_error = Some(format!("cannot resume: {e}"));
            return summary;
        }
    }

    let tally = Arc::new(Tally::default());
    let (tx, rx) = read_ahead::<Item>(QUEUED, RESUME_AT);
    let reader = {
        let (path, key, upload_id, stop) = (path.to_path_buf(), key.clone(), upload.upload_id.clone(), stop.clone());
        tokio::task::spawn_blocking(move || read_file(&path, format, &key, &upload_id, &stop, &tx))
    };
    let progress = Progress::new(&summary.file, args.json);
    let workers = Workers {
        rx,
        pipeline: pipeline.clone(),
        tally: tally.clone(),
        progress: progress.clone(),
        stop: stop.clone(),
    };
    let lanes_failed = workers.run(args.concurrency as usize).await;
    progress.finish();

    let read =
        reader.await.unwrap_or_else(|e| ReadEnd { file_error: Some(format!("reader failed: {e}")), stopped: false });
    summary.file_error = read.file_error.or(lanes_failed);
    summary.interrupted = read.stopped || stop.requested();
    tally.fill(&mut summary);
    let status = if summary.interrupted {
        UploadStatus::Interrupted
    } else if summary.failed > 0 {
        UploadStatus::Incomplete
    } else {
        UploadStatus::Complete
    };
    if let Err(e) = data.save_upload(&Upload { status, ..upload }) {
        eprintln!("invoices run: {e}");
    }
    summary
}

/// What the execution workers share.
#[derive(Clone)]
struct Workers {
    rx: Consumer<Item>,
    pipeline: Arc<Pipeline>,
    tally: Arc<Tally>,
    progress: Progress,
    stop: Stop,
}

impl Workers {
    /// Runs `count` workers until the queue is drained, each running one item
    /// at a time: at most `count` executions at once, with no task or permit
    /// per invoice. The workers are shared out among one single-threaded
    /// runtime per core, so an execution stays on the thread that started it
    /// and what it allocates is freed where it was allocated (a work-stealing
    /// runtime moves tasks between threads, measured at about 10% more CPU).
    /// These runtimes have timers but no I/O driver (the tasks do no async
    /// I/O): waking a task from another thread (the SQLite writer's answer)
    /// then costs no system call unless the runtime is asleep.
    /// Returns why a lane failed, if one did (the others take over its share).
    async fn run(self, count: usize) -> Option<String> {
        let lanes = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, count.max(1));
        let mut running = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            let share = count / lanes + usize::from(lane < count % lanes);
            let workers = self.clone();
            running.push(tokio::task::spawn_blocking(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(|e| format!("cannot start a worker runtime: {e}"))?;
                runtime.block_on(async move {
                    let mut set = JoinSet::new();
                    for _ in 0..share {
                        set.spawn(workers.clone().work());
                    }
                    while set.join_next().await.is_some() {}
                });
                Ok::<(), String>(())
            }));
        }
        drop(self);
        let mut failed = None;
        for lane in running {
            match lane.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(e),
                Err(e) => failed = Some(format!("a worker lane failed: {e}")),
            }
        }
        failed
    }

    async fn work(self) {
        while let Some(item) = self.rx.pop().await {
            if self.stop.requested() {
                // Read but not started: the interrupted upload's resume runs it.
                continue;
            }
            handle(item, &self.pipeline, &self.tally).await;
            self.progress.tick();
        }
    }
}

/// Runs one item: an execution, or the notice of what cannot be read.
async fn handle(item: Item, pipeline: &Pipeline, tally: &Tally) {
    match item {
        Item::Invoice { name, input } => {
            let outcome = pipeline.execute(&name, input).await;
            tally.count(&name, &outcome);
        }
        Item::Unreadable { name, source, reason } => {
            tally.unreadable.fetch_add(1, Ordering::Relaxed);
            let error = FieldError::new("record", ErrorCode::Unreadable, reason);
            let record = source.record;
            let notice = NotifyInput {
                event_type: EventType::InvoiceRejected,
                execution_name: name,
                invoice: None,
                source: Some(source),
                errors: Some(vec![error]),
                processing: None,
                failure: None,
                file: None,
            };
            if let Err(e) = pipeline.notify(&notice).await {
                tally.fail_note(json!({"record": record, "error": e.error_type(), "cause": e.to_string()}));
            }
        }
        Item::FileError { name, info } => {
            let notice = NotifyInput {
                event_type: EventType::FileRejected,
                execution_name: name,
                invoice: None,
                source: None,
                errors: None,
                processing: None,
                failure: None,
                file: Some(info),
            };
            if let Err(e) = pipeline.notify(&notice).await {
                tally.fail_note(json!({"error": e.error_type(), "cause": e.to_string()}));
            }
        }
    }
}

fn start_upload(data: &DataDir, key: &str, resume: bool) -> Result<Upload, String> {
    if !resume {
        return data.begin_upload(key);
    }
    match data.last_upload(key)? {
        Some(upload) if upload.status.resumable() => {
            let upload = Upload { status: UploadStatus::Running, ..upload };
            data.save_upload(&upload)?;
            Ok(upload)
        }
        Some(upload) => Err(format!(
            "nothing to resume: upload {} of this file completed; run it without --resume to upload it again",
            upload.upload_id
        )),
        None => Err("nothing to resume: this file was never run with this data directory".into()),
    }
}

/// The name under which a file that cannot be read is announced (record 0).
fn file_execution_name(key: &str, upload_id: &str) -> String {
    UploadNames::new(LOCAL_BUCKET, key, upload_id).name(None, 0)
}

/// What the reader hands to the scheduler.
enum Item {
    Invoice { name: String, input: Value },
    Unreadable { name: String, source: Source, reason: String },
    FileError { name: String, info: FileInfo },
}

struct ReadEnd {
    file_error: Option<String>,
    /// Stopped by Ctrl-C before the end of the file.
    stopped: bool,
}

/// Reads the file on a blocking thread, one execution input per invoice.
fn read_file(path: &Path, format: Format, key: &str, upload_id: &str, stop: &Stop, tx: &Producer<Item>) -> ReadEnd {
    let mut end = ReadEnd { file_error: None, stopped: false };
    let mut records = 0u64;
    let names = UploadNames::new(LOCAL_BUCKET, key, upload_id);
    let file_error_item = |reason: String, records: u64| Item::FileError {
        name: file_execution_name(key, upload_id),
        info: FileInfo { bucket: LOCAL_BUCKET.into(), key: key.into(), reason, records: Some(records) },
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            let reason = format!("cannot open: {e}");
            end.file_error = Some(reason.clone());
            let _ = tx.push(file_error_item(reason, 0));
            return end;
        }
    };
    let source = |record: u64, line: u64| Source {
        bucket: LOCAL_BUCKET.into(),
        key: key.into(),
        etag: None,
        version_id: Some(upload_id.into()),
        record,
        line,
    };
    let inputs = Inputs::new(&source(0, 0));
    let mut invoices = InvoiceJson::default();
    let mut reader = InvoiceReader::new(file, format, Limits::default());
    while let Some(next) = reader.next_record() {
        if stop.requested() {
            end.stopped = true;
            break;
        }
        let item = match next {
            Ok(record) => {
                records += 1;
                let name = names.name(record.invoice.invoice_id_text(), record.record);
                Item::Invoice {
                    name,
                    input: inputs.input(invoices.to_json(&record.invoice), record.record, record.line),
                }
            }
            Err(ReadError::Record(e)) => {
                records += 1;
                let name = names.name(None, e.record);
                Item::Unreadable { name, source: source(e.record, e.line), reason: e.to_string() }
            }
            Err(ReadError::File(e)) => {
                end.file_error = Some(e.to_string());
                file_error_item(e.to_string(), records)
            }
        };
        if tx.push(item).is_err() {
            break;
        }
    }
    end
}

/// The execution inputs of one file's records.
///
/// They differ only in the invoice and in the source's `record` and `line`,
/// so the document is serialized once per file and cloned per record:
/// cloning a map copies its hash table, where serializing builds the maps
/// anew, hashing every key, once per invoice.
struct Inputs {
    /// `{"invoice": null, "source": {…, "record": null, "line": null}}`
    /// (nulls, so that cloning them allocates nothing).
    template: Map<String, Value>,
}

impl Inputs {
    /// `source` is the file's, with any record and line.
    fn new(source: &Source) -> Inputs {
        let input = ExecutionInput { invoice: Value::Null, source: Some(source.clone()) };
        let Ok(Value::Object(mut template)) = serde_json::to_value(input) else {
            unreachable!("an execution input serializes to an object")
        };
        fill(&mut template, Value::Null, Value::Null, Value::Null);
        Inputs { template }
    }

    /// `{"invoice": …, "source": …}`, the documented execution input
    /// ([`ExecutionInput`]), built without serializing the invoice again.
    fn input(&self, invoice: Value, record: u64, line: u64) -> Value {
        let mut input = self.template.clone();
        fill(&mut input, invoice, record.into(), line.into());
        Value::Object(input)
    }
}

/// Sets the invoice, and the source's `record` and `line`, of a serialized
/// [`ExecutionInput`], where they are: no key is looked up by its hash.
fn fill(input: &mut Map<String, Value>, mut invoice: Value, mut record: Value, mut line: Value) {
    for (key, value) in input.iter_mut() {
        match (key.as_str(), value) {
            ("invoice", value) => *value = std::mem::take(&mut invoice),
            ("source", Value::Object(source)) => {
                for (key, value) in source.iter_mut() {
                    match key.as_str() {
                        "record" => *value = std::mem::take(&mut record),
                        "line" => *value = std::mem::take(&mut line),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Outcomes counted as executions finish.
#[derive(Default)]
struct Tally {
    processed: AtomicU64,
    rejected: AtomicU64,
    duplicate: AtomicU64,
    failed: AtomicU64,
    unreadable: AtomicU64,
    failures: Mutex<Vec<Value>>,
}

/// Failed executions listed in a summary (all are counted).
const LISTED_FAILURES: usize = 10;

impl Tally {
    fn count(&self, name: &str, outcome: &ExecutionOutcome) {
        let business = match outcome.status {
            ExecutionStatus::Succeeded => {
                outcome.output.as_ref().and_then(|o| o.get("outcome")).and_then(Value::as_str)
            }
            _ => None,
        };
        match business {
            Some("PROCESSED") => &self.processed,
            Some("REJECTED") => &self.rejected,
            Some("DUPLICATE") => &self.duplicate,
            _ => {
                self.fail_note(json!({"execution": name, "error": outcome.error, "cause": outcome.cause}));
                &self.failed
            }
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    fn fail_note(&self, note: Value) {
        let mut list = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() < LISTED_FAILURES {
            list.push(note);
        }
    }

    fn fill(&self, s: &mut FileSummary) {
        s.processed = self.processed.load(Ordering::Relaxed);
        s.rejected = self.rejected.load(Ordering::Relaxed);
        s.duplicate = self.duplicate.load(Ordering::Relaxed);
        s.failed = self.failed.load(Ordering::Relaxed);
        s.unreadable = self.unreadable.load(Ordering::Relaxed);
        s.records = s.processed + s.rejected + s.duplicate + s.failed + s.unreadable;
        s.failures = std::mem::take(&mut *self.failures.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// A counter on stderr while a file runs, when stderr is a terminal.
#[derive(Clone)]
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(file: &str, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {human_pos} invoices ({per_sec}, {elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(file.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    fn tick(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Prints the summary; returns the exit status: 0 when every record reached a
/// business outcome, 1 when executions failed, 2 when a file could not be
/// read, 130 when interrupted.
fn report(
    summaries: &[FileSummary],
    not_started: &[String],
    data: &DataDir,
    pipeline: &Pipeline,
    elapsed: Duration,
    as_json: bool,
) -> u8 {
    let mut total = FileSummary { file: "total".into(), ..FileSummary::default() };
    for s in summaries {
        total.records += s.records;
        total.processed += s.processed;
        total.rejected += s.rejected;
        total.duplicate += s.duplicate;
        total.failed += s.failed;
        total.unreadable += s.unreadable;
    }
    let interrupted = summaries.iter().any(|s| s.interrupted) || !not_started.is_empty();
    let file_errors = summaries.iter().filter(|s| s.file_error.is_some()).count();
    if as_json {
        let doc = json!({
            "files": summaries,
            "totals": {
                "records": total.records, "processed": total.processed, "rejected": total.rejected,
                "duplicate": total.duplicate, "failed": total.failed, "unreadable": total.unreadable,
                "files": summaries.len(), "fileErrors": file_errors,
            },
            "interrupted": interrupted,
            "notStarted": not_started,
            "seconds": elapsed.as_secs_f64(),
            "dataDir": data.root(),
            "newNotifications": pipeline.new_notifications(),
        });
        println!("{doc:#}");
    } else {
        let width = summaries.iter().map(|s| s.file.len()).max().unwrap_or(5).max(5);
        let digits = total.records.max(1).to_string().len();
        for s in summaries {
            println!("{}", line(s, width, digits));
            if let Some(e) = &s.file_error {
                println!("{:width$}  file error: {e}", "");
            }
            for f in &s.failures {
                println!("{:width$}  failed: {}", "", one_line(f));
            }
        }
        println!("{}", line(&FileSummary { file: "Total".into(), ..total }, width, digits));
        let rate = total.records as f64 / elapsed.as_secs_f64().max(1e-9);
        println!(
            "{} records in {} file{}, {:.2} s ({:.0} records/s). Store: {}; {} new notifications in {}.",
            total.records,
            summaries.len(),
            if summaries.len() == 1 { "" } else { "s" },
            elapsed.as_secs_f64(),
            rate,
            data.store_path().display(),
            pipeline.new_notifications(),
            data.outbox_path().display(),
        );
        if interrupted {
            let resumable: Vec<&str> = summaries.iter().filter(|s| s.interrupted).map(|s| s.file.as_str()).collect();
            println!("Interrupted.");
            if !resumable.is_empty() {
                println!("  Continue with: invoices run --resume {}", resumable.join(" "));
            }
            if !not_started.is_empty() {
                println!("  Not started: {}", not_started.join(" "));
            }
        } else if total.failed > 0 {
            let incomplete: Vec<&str> = summaries.iter().filter(|s| s.failed > 0).map(|s| s.file.as_str()).collect();
            println!("Some executions failed; once the cause is fixed: invoices run --resume {}", incomplete.join(" "));
        }
    }
    if interrupted {
        130
    } else if file_errors > 0 {
        2
    } else if total.failed > 0 {
        1
    } else {
        0
    }
}

fn line(s: &FileSummary, width: usize, n: usize) -> String {
    format!(
        "{:width$}  {:>n$} processed  {:>n$} rejected  {:>n$} duplicate  {:>n$} failed  {:>n$} unreadable",
        s.file, s.processed, s.rejected, s.duplicate, s.failed, s.unreadable
    )
}

fn one_line(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_the_documented_execution_input() {
        let source = |record, line| Source {
            bucket: LOCAL_BUCKET.into(),
            key: "/data/a.csv".into(),
            etag: None,
            version_id: Some("u-1".into()),
            record,
            line,
        };
        let inputs = Inputs::new(&source(0, 0));
        let invoice = serde_json::json!({"invoiceId": "INV-1", "amount": 1500});
        for (record, line) in [(1, 2), (7, 31), (u64::MAX, u64::MAX)] {
            let expected = ExecutionInput { invoice: invoice.clone(), source: Some(source(record, line)) };
            assert_eq!(
                serde_json::to_string(&inputs.input(invoice.clone(), record, line)).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }
}
