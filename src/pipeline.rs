//! The local pipeline: the deployed state machine on the embedded engine, with
//! the Lambdas' own task code over local adapters.
//!
//! `workflow/state-machine.asl.json` is rendered with local function ARNs and
//! each ARN is served in process by the same functions the Lambda binaries
//! call: `workflow::tasks::validate`, `workflow::process::process_json` over the
//! SQLite store, and `notify::handle_json` over the outbox. Task errors reach
//! the engine under the Lambdas' `errorType` names, so the definition's Retry
//! and Catch behave as on AWS.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use engine::{Engine, ExecutionOutcome, StateMachine, TaskContext, TaskFailure, TaskHandler};
use notify::{console_line, Message, Notifier, NotifyError, NotifyInput, Outbox, Published};
use serde_json::Value;
use workflow::definition::{self, FunctionArns};
use workflow::store::sqlite::{SqliteOptions, SqliteStore};
use workflow::Rules;

use crate::data_dir::DataDir;

/// Region and account of the local function ARNs.
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";

/// How long a store write waits for a lock held by another program.
const STORE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The wired pipeline: engine, state machine, store and outbox.
pub struct Pipeline {
    engine: Engine,
    machine: StateMachine,
    outbox: Arc<ConsoleOutbox>,
}

/// What the pipeline needs besides the data directory.
pub struct Settings {
    pub rules: Rules,
    /// Processing date for due-date checks; `None`: today (UTC) at each execution.
    pub today: Option<NaiveDate>,
    /// How many new notifications to echo on the console (one line each).
    pub echo: u64,
}

impl Pipeline {
    pub fn open(data: &DataDir, settings: Settings) -> Result<Pipeline, String> {
        // A locked database fails a write after STORE_BUSY_TIMEOUT; the state
        // machine's Retry then decides, as for DynamoDB on AWS.
        let options = SqliteOptions { busy_timeout: STORE_BUSY_TIMEOUT, ..SqliteOptions::default() };
        let store = Arc::new(
            SqliteStore::open_with(data.store_path(), options)
                .map_err(|e| format!("cannot open the store {}: {e}", data.store_path().display()))?,
        );
        let outbox = Outbox::open(data.outbox_path()).map_err(|e| e.to_string())?;
        let outbox =
            Arc::new(ConsoleOutbox { outbox, echo: settings.echo, echoed: AtomicU64::new(0), new: AtomicU64::new(0) });
        let arns = FunctionArns::named(REGION, ACCOUNT, "invoices");
        let machine = StateMachine::from_json_named("invoices", &definition::render(&arns))
            .map_err(|e| format!("workflow/state-machine.asl.json: {e}"))?;

        let validate = Arc::new(ValidateTask { rules: settings.rules, today: settings.today });
        let process = Arc::new(ProcessTask { store: store.clone() });
        let notify = Arc::new(NotifyTask { outbox: outbox.clone() });
        let engine = Engine::builder()
            .region(REGION)
            .account(ACCOUNT)
            .handler(arns.validate, validate)
            .handler(arns.process, process)
            .handler(arns.notify, notify)
            .build();
        let missing = engine.missing_handlers(&machine);
        if !missing.is_empty() {
            return Err(format!("the state machine has tasks no local handler serves: {missing:?}"));
        }
        Ok(Pipeline { engine, machine, outbox })
    }

    /// Runs one execution to its end.
    pub async fn execute(&self, name: &str, input: Value) -> ExecutionOutcome {
        self.engine.execute(&self.machine, name, input).await
    }

    /// Sends a notification that no execution sends (a record or a file that
    /// cannot be read), through the same Notify code.
    pub async fn notify(&self, input: &NotifyInput) -> Result<(), NotifyError> {
        notify::handle(input, &*self.outbox).await.map(|_| ())
    }

    /// Holds the notifications earlier processes sent for this upload (lines
    /// whose source is this file and upload, and the file's own rejection),
    /// so that its resumed executions send none of them twice.
    pub fn recall_upload(&self, key: &str, upload_id: &str, file_event_id: &str) -> Result<usize, String> {
        self.outbox
            .outbox
            .recall(|line| {
                line.event_id == file_event_id
                    || line.default.source.as_ref().is_some_and(|s| s.key == key && s.upload_version() == upload_id)
            })
            .map_err(|e| e.to_string())
    }

    /// Notifications written to the outbox by this process (repeats not counted).
    pub fn new_notifications(&self) -> u64 {
        self.outbox.new.load(Ordering::Relaxed)
    }

    /// Flushes the outbox to disk.
    pub fn sync(&self) -> Result<(), String> {
        self.outbox.outbox.sync().map_err(|e| e.to_string())
    }
}

// The three tasks: the Lambdas' own functions, in process. Each is a handler
// of its own, so that a call borrows what it uses (no reference count is
// touched per call by executions running on several threads).

/// ValidateInvoice: [`workflow::tasks::validate`].
struct ValidateTask {
    rules: Rules,
    /// Processing date for due-date checks; `None`: today (UTC) at each call.
    today: Option<NaiveDate>,
}

#[async_trait]
impl TaskHandler for ValidateTask {
    async fn invoke(&self, input: Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.invoke_ref(&input, ctx).await
    }

    /// Validation only reads its input (lent by the engine, not copied).
    async fn invoke_ref(&self, input: &Value, _ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        let today = self.today.unwrap_or_else(|| Utc::now().date_naive());
        Ok(workflow::tasks::validate(input, &self.rules, today).into_json())
    }
}

/// ProcessInvoice: [`workflow::process::process_json`] over the SQLite store.
struct ProcessTask {
    store: Arc<SqliteStore>,
}

#[async_trait]
impl TaskHandler for ProcessTask {
    async fn invoke(&self, input: Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.invoke_ref(&input, ctx).await
    }

    /// Processing only reads its input (lent by the engine, not copied).
    async fn invoke_ref(&self, input: &Value, _ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        workflow::process::process_json(&*self.store, input, Utc::now())
            .await
            .map_err(|e| TaskFailure::lambda(e.error_type(), e.to_string()))
    }
}

/// Notify: [`notify::handle_json`] into the outbox.
struct NotifyTask {
    outbox: Arc<ConsoleOutbox>,
}

#[async_trait]
impl TaskHandler for NotifyTask {
    async fn invoke(&self, input: Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.invoke_ref(&input, ctx).await
    }

    /// Notifying only reads its input (lent by the engine, not copied).
    async fn invoke_ref(&self, input: &Value, _ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        notify::handle_json(input, &*self.outbox)
            .await
            .map(|out| serde_json::to_value(out).expect("a notify output always serializes"))
            .map_err(|e| TaskFailure::lambda(e.error_type(), e.to_string()))
    }
}

/// The outbox, echoing the first new notifications on the console.
struct ConsoleOutbox {
    outbox: Outbox,
    echo: u64,
    echoed: AtomicU64,
    new: AtomicU64,
}

#[async_trait]
impl Notifier for ConsoleOutbox {
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        let appended =
            self.outbox.append_async(message).await.map_err(|e| NotifyError::NotifierUnavailable(e.to_string()))?;
        if appended.new {
            self.new.fetch_add(1, Ordering::Relaxed);
            let n = self.echoed.fetch_add(1, Ordering::Relaxed);
            if n < self.echo {
                eprintln!("{}", console_line(message));
            } else if n == self.echo && self.echo > 0 {
                eprintln!("… more notifications in the outbox");
            }
        }
        Ok(Published { message_id: appended.message_id })
    }
}
