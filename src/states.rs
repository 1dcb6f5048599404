//! `invoices states run`: runs an ASL definition on the embedded engine and prints the
//! execution's output (exit 0) or `{"status": "FAILED", "error", "cause"}` (exit 1);
//! exit 2 when the definition, the input or the mock config cannot be used.
//! `--mock-config`/`--test-case` mock Task states with Step Functions Local's format;
//! `--history` prints `{"status", "output" | "error", "cause", "events"}` instead, the
//! events in GetExecutionHistory's shape. Stdout holds one JSON document and nothing
//! else; stderr holds only diagnostics.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use engine::{Engine, ExecutionRequest, ExecutionStatus, MockConfig, StateMachine};
use serde_json::{json, Value};

#[derive(Args)]
pub struct StatesArgs {
    #[command(subcommand)]
    command: StatesCommand,
}

#[derive(Subcommand)]
enum StatesCommand {
    /// Run one execution of a definition and print its output.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The state machine definition (Amazon States Language, JSON).
    definition: PathBuf,
    /// The execution input: JSON text, or @FILE to read it from a file (default: {}).
    #[arg(long, default_value = "{}")]
    input: String,
    /// A Step Functions Local mock config file (MockedResponses per Task state).
    #[arg(long, requires = "test_case")]
    mock_config: Option<PathBuf>,
    /// The test case of the mock config to use.
    #[arg(long, requires = "mock_config")]
    test_case: Option<String>,
    /// The state machine in the mock config (default: the only one, else the definition's file stem).
    #[arg(long, requires = "mock_config")]
    state_machine: Option<String>,
    /// Print {"status", "output" or "error" and "cause", "events"} instead of the output
    /// alone, "events" being the execution history (GetExecutionHistory's events).
    #[arg(long)]
    history: bool,
    /// The execution name (`$$.Execution.Name`; default: a random one).
    #[arg(long)]
    name: Option<String>,
}

/// Runs the subcommand; returns the process exit status.
pub fn run(args: StatesArgs) -> u8 {
    match args.command {
        StatesCommand::Run(a) => match run_one(a) {
            Ok(code) => code,
            Err(msg) => {
                diagnostic(&msg);
                2
            }
        },
    }
}

/// A line on stderr; a closed stderr is not worth a panic.
fn diagnostic(msg: &str) {
    let _ = writeln!(io::stderr().lock(), "invoices states run: {msg}");
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

fn run_one(a: RunArgs) -> Result<u8, String> {
    let text = read(&a.definition, "definition")?;
    let stem = a.definition.file_stem().and_then(|s| s.to_str()).unwrap_or("StateMachine").to_owned();
    let sm_name = a.state_machine.clone().unwrap_or_else(|| stem.clone());
    let machine =
        StateMachine::from_json_named(&sm_name, &text).map_err(|e| format!("{}: {e}", a.definition.display()))?;
    let input_text = match a.input.strip_prefix('@') {
        Some(file) => read(Path::new(file), "input file")?,
        None => a.input.clone(),
    };
    let input: Value = serde_json::from_str(&input_text).map_err(|e| format!("the input is not valid JSON: {e}"))?;
    let mut req = ExecutionRequest::new(a.name.clone().unwrap_or_else(random_name), input);
    if a.history {
        req = req.with_history();
    }
    let engine = Engine::builder().build();
    if let (Some(cfg), Some(case)) = (&a.mock_config, &a.test_case) {
        let cfg = MockConfig::from_json(&read(cfg, "mock config")?).map_err(|e| e.to_string())?;
        let case = cfg.case(a.state_machine.as_deref(), &stem, case).map_err(|e| e.to_string())?;
        let names = machine.state_names();
        if let Some(unknown) = case.states().find(|s| !names.contains(*s)) {
            return Err(format!("the mock config mocks the state '{unknown}', which the definition does not have"));
        }
        req = req.with_mocks(Arc::new(case));
    }
    let mocked: Vec<String> = req.mocks.as_ref().map(|c| c.states().map(str::to_owned).collect()).unwrap_or_default();
    let unserved: Vec<String> = engine
        .missing_handlers(&machine)
        .into_iter()
        .filter(|(state, _)| !mocked.contains(state))
        .map(|(state, what)| format!("{state} ({what})"))
        .collect();
    if !unserved.is_empty() {
        diagnostic(&format!("warning: no mock for these Task states, which fail if reached: {}", unserved.join(", ")));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let outcome = runtime.block_on(engine.run(&machine, req));
    let code = if outcome.succeeded() { 0 } else { 1 };
    let doc = match (outcome.status, outcome.history) {
        (ExecutionStatus::Succeeded, None) => outcome.output.unwrap_or(Value::Null),
        (status, None) => json!({ "status": status, "error": outcome.error, "cause": outcome.cause }),
        (ExecutionStatus::Succeeded, Some(events)) => {
            json!({ "status": ExecutionStatus::Succeeded, "output": outcome.output, "events": events })
        }
        (status, Some(events)) => {
            json!({ "status": status, "error": outcome.error, "cause": outcome.cause, "events": events })
        }
    };
    let text = serde_json::to_string_pretty(&doc).map_err(|e| format!("cannot render the result: {e}"))?;
    match writeln!(io::stdout().lock(), "{text}") {
        Ok(()) => Ok(code),
        // Whoever reads stdout has gone (`| head`): nothing is left to tell them.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(format!("cannot write the result to stdout: {e}")),
    }
}

fn random_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("local-{:x}-{}", nanos, std::process::id())
}
