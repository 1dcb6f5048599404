//! The public face: a loaded [`StateMachine`], the [`Engine`] that runs executions of
//! it (many at once, on the caller's tokio runtime) and the [`ExecutionOutcome`] each
//! execution ends with.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::{Clock, TokioClock};
use crate::definition::{self, Definition, DefinitionError, Graph, Kind, Resource};
use crate::env::{ExecInfo, Vars};
use crate::exec::{Exec, Shared};
use crate::history::{obj, payload, HistoryEvent, Recorder};
use crate::mock::MockedCase;
use crate::task::{TaskHandler, TaskRegistry};
use crate::value::{size_bound, within_limit};

/// A definition loaded and checked once, shared by every execution.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<MachineInner>,
}

struct MachineInner {
    name: Arc<str>,
    def: Definition,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

impl StateMachine {
    /// Loads a definition (named `StateMachine`), running AWS's static checks.
    pub fn from_json(text: &str) -> Result<StateMachine, DefinitionError> {
        Self::from_json_named("StateMachine", text)
    }

    /// Loads a definition under a state machine name (`$$.StateMachine.Name`).
    pub fn from_json_named(name: &str, text: &str) -> Result<StateMachine, DefinitionError> {
        let def = definition::load(text)?;
        Ok(StateMachine { inner: Arc::new(MachineInner { name: name.into(), def }) })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The definition's top-level `Comment`.
    pub fn comment(&self) -> Option<&str> {
        self.inner.def.comment.as_deref()
    }

    /// Every state name, nested ones included.
    pub fn state_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        visit(&self.inner.def.graph, &mut |st| {
            out.insert(st.name.to_string());
        });
        out
    }

    /// What the Task states call: `(state, resource, function)` where `function` is the
    /// Lambda function name or the literal `FunctionName` of `lambda:invoke`, if known.
    pub fn tasks(&self) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        visit(&self.inner.def.graph, &mut |st| {
            if let Kind::Task(t) = &st.kind {
                let function = match &t.resource {
                    Resource::Lambda { arn } => Some(crate::task::function_name(arn).to_owned()),
                    Resource::LambdaInvoke { .. } => literal_function_name(st),
                    Resource::Other { .. } => None,
                };
                out.push((st.name.to_string(), t.resource.arn().to_string(), function));
            }
        });
        out
    }
}

fn literal_function_name(st: &crate::definition::State) -> Option<String> {
    match &st.parameters {
        Some(crate::template::Tmpl::Lit(Value::Object(m), _)) => m.get("FunctionName")?.as_str().map(str::to_owned),
        Some(crate::template::Tmpl::Obj(o)) => o.fields.iter().find_map(|(k, t)| match (&**k, t) {
            ("FunctionName", crate::template::Tmpl::Lit(Value::String(s), _)) => Some(s.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn visit(g: &Graph, f: &mut dyn FnMut(&crate::definition::State)) {
    for st in &g.states {
        f(st);
        match &st.kind {
            Kind::Parallel { branches } => branches.iter().for_each(|b| visit(b, f)),
            Kind::Map(m) => visit(&m.processor, f),
            _ => {}
        }
    }
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
}

/// The end of one execution, as DescribeExecution reports it (plus the history when
/// it was recorded).
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionOutcome {
    pub name: String,
    #[serde(rename = "executionArn")]
    pub execution_arn: String,
    pub status: ExecutionStatus,
    /// The output document (SUCCEEDED only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(rename = "startDate")]
    pub start_date: DateTime<Utc>,
    #[serde(rename = "stopDate")]
    pub stop_date: DateTime<Utc>,
    /// GetExecutionHistory's events, when recording was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEvent>>,
}

impl ExecutionOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == ExecutionStatus::Succeeded
    }
}

/// One execution to start.
#[derive(Clone)]
pub struct ExecutionRequest {
    pub name: String,
    pub input: Value,
    /// Record the history even if the engine does not by default.
    pub history: bool,
    /// Mocked task responses (Step Functions Local's mock config).
    pub mocks: Option<Arc<MockedCase>>,
}

impl ExecutionRequest {
    pub fn new(name: impl Into<String>, input: Value) -> Self {
        ExecutionRequest { name: name.into(), input, history: false, mocks: None }
    }

    pub fn with_history(mut self) -> Self {
        self.history = true;
        self
    }

    pub fn with_mocks(mut self, mocks: Arc<MockedCase>) -> Self {
        self.mocks = Some(mocks);
        self
    }
}

/// Runs executions; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    record_history: bool,
    account: Arc<str>,
    role_arn: Arc<str>,
    seed: Option<u64>,
}

/// Ids of engines' registries (see [`Shared::id`]).
static NEXT_ENGINE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Configures an [`Engine`].
pub struct EngineBuilder {
    registry: TaskRegistry,
    clock: Option<Arc<dyn Clock>>,
    record_history: bool,
    region: String,
    account: String,
    seed: Option<u64>,
}

impl EngineBuilder {
    /// Registers a Task handler under a resource ARN, a Lambda function ARN or a
    /// function name (see [`TaskRegistry::register`]).
    pub fn handler(mut self, key: impl Into<String>, handler: Arc<dyn TaskHandler>) -> Self {
        self.registry.register(key, handler);
        self
    }

    /// Uses a prepared registry (replacing handlers registered so far).
    pub fn registry(mut self, registry: TaskRegistry) -> Self {
        self.registry = registry;
        self
    }

    /// The clock (default: [`TokioClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Records every execution's history (default: off; it costs time and memory).
    pub fn record_history(mut self, on: bool) -> Self {
        self.record_history = on;
        self
    }

    /// The region in ARNs (default `us-east-1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The account in ARNs (default `123456789012`).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = account.into();
        self
    }

    /// Seeds the random source of Retry's `JitterStrategy: FULL` (default: unseeded).
    /// Each execution draws from its own generator, seeded from `seed` and the
    /// execution name, so an execution's retry delays are reproducible.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub fn build(self) -> Engine {
        Engine {
            shared: Arc::new(Shared {
                registry: self.registry,
                id: NEXT_ENGINE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                clock: self.clock.unwrap_or_else(|| Arc::new(TokioClock::new())),
                region: self.region,
            }),
            record_history: self.record_history,
            role_arn: format!("arn:aws:iam::{}:role/StepFunctionsLocal", self.account).into(),
            account: self.account.into(),
            seed: self.seed,
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::builder().build()
    }
}

impl Engine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder {
            registry: TaskRegistry::new(),
            clock: None,
            record_history: false,
            region: "us-east-1".into(),
            account: "123456789012".into(),
            seed: None,
        }
    }

    /// `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`.
    pub fn state_machine_arn(&self, machine: &StateMachine) -> String {
        ["arn:aws:states", &self.shared.region, &self.account, "stateMachine", machine.name()].join(":")
    }

    /// The Task resources of `machine` that no registered handler serves (a mock config
    /// may still cover them): `(state, resource or function)`.
    pub fn missing_handlers(&self, machine: &StateMachine) -> Vec<(String, String)> {
        let reg = &self.shared.registry;
        machine
            .tasks()
            .into_iter()
            .filter_map(|(state, resource, function)| {
                let found = if resource.contains(":lambda:") && resource.contains(":function:") {
                    reg.lambda(&resource).is_some()
                } else if resource.ends_with(":lambda:invoke") {
                    match &function {
                        Some(f) => reg.lambda(f).is_some(),
                        None => true, // decided at run time from FunctionName.$
                    }
                } else {
                    reg.resource(&resource).is_some()
                };
                (!found).then(|| (state, function.unwrap_or(resource)))
            })
            .collect()
    }

    /// Runs one execution to its end.
    pub async fn execute(&self, machine: &StateMachine, name: &str, input: Value) -> ExecutionOutcome {
        self.run(machine, ExecutionRequest::new(name, input)).await
    }

    /// Runs one execution as described by `req`.
    pub async fn run(&self, machine: &StateMachine, req: ExecutionRequest) -> ExecutionOutcome {
        let clock = &self.shared.clock;
        let start = clock.now();
        let sm_arn = self.state_machine_arn(machine);
        let exec_arn =
            ["arn:aws:states", &self.shared.region, &self.account, "execution", machine.name(), &req.name].join(":");
        let ExecutionRequest { name, input, history, mocks } = req;
        // Every later document is bounded from the input's bound (the input is measured
        // only when its bound exceeds the quota).
        let input_bound = within_limit(&input, size_bound(&input));
        let exec = Exec {
            shared: &self.shared,
            info: ExecInfo {
                name: name.as_str().into(),
                arn: exec_arn.as_str().into(),
                // `$$.Execution.Input` needs a copy only if the definition can read it.
                input: if machine.inner.def.reads_execution_input { input.clone() } else { Value::Null },
                input_bound: input_bound.unwrap_or(usize::MAX),
                start_time: start,
                machine_arn: sm_arn.into(),
                machine_name: &machine.inner.name,
                role_arn: &self.role_arn,
            },
            rec: Recorder::new(self.record_history || history),
            mocks,
            mock_counts: Default::default(),
            rng: self.seed.map(|seed| std::sync::Mutex::new(fastrand::Rng::with_seed(seed ^ fnv1a(&name)))),
            reads_entered_time: machine.inner.def.reads_entered_time,
        };
        let role = exec.info.role_arn;
        exec.rec.emit(
            "ExecutionStarted",
            0,
            || start,
            || {
                let mut d = obj([("roleArn", Value::String(role.to_string()))]);
                payload(&mut d, "input", &input);
                Some(("executionStartedEventDetails", d))
            },
        );
        let finish = |status, output: Option<Value>, error: Option<String>, cause: Option<String>, exec: &Exec| {
            ExecutionOutcome {
                name: name.clone(),
                execution_arn: exec_arn.clone(),
                status,
                output,
                error,
                cause,
                start_date: start,
                stop_date: clock.now(),
                history: exec.rec.take(),
            }
        };
        let Some(input_bound) = input_bound else {
            let cause = "The execution input exceeds the maximum number of bytes service limit.".to_owned();
            fail_event(&exec, 0, Some("States.DataLimitExceeded"), Some(&cause));
            return finish(ExecutionStatus::Failed, None, Some("States.DataLimitExceeded".into()), Some(cause), &exec);
        };
        let graph = &machine.inner.def.graph;
        let mut vars = Vars::default();
        // The execution's output is the last state's, held to the quota like every
        // state's output.
        let run = exec.run_graph(graph, input, input_bound, &mut vars, 0);
        let result = match machine.inner.def.timeout_seconds {
            None => Some(run.await),
            Some(secs) => {
                let c = clock.clone();
                tokio::select! {
                    r = run => Some(r),
                    _ = c.sleep(std::time::Duration::from_secs(secs)) => None,
                }
            }
        };
        match result {
            Some(Ok((output, _, last))) => {
                exec.rec.emit(
                    "ExecutionSucceeded",
                    last,
                    || clock.now(),
                    || {
                        let mut d = Map::new();
                        payload(&mut d, "output", &output);
                        Some(("executionSucceededEventDetails", d))
                    },
                );
                finish(ExecutionStatus::Succeeded, Some(output), None, None, &exec)
            }
            Some(Err(f)) => {
                fail_event(&exec, f.last, f.error.as_deref(), f.cause.as_deref());
                finish(ExecutionStatus::Failed, None, f.error, f.cause, &exec)
            }
            None => {
                exec.rec.emit(
                    "ExecutionTimedOut",
                    0,
                    || clock.now(),
                    || Some(("executionTimedOutEventDetails", obj([("error", "States.Timeout".into())]))),
                );
                finish(ExecutionStatus::TimedOut, None, Some("States.Timeout".into()), None, &exec)
            }
        }
    }
}

fn fail_event(exec: &Exec, prev: u64, error: Option<&str>, cause: Option<&str>) {
    exec.rec.emit(
        "ExecutionFailed",
        prev,
        || exec.shared.clock.now(),
        || {
            let mut d = Map::new();
            if let Some(e) = error {
                d.insert("error".into(), e.into());
            }
            if let Some(c) = cause {
                d.insert("cause".into(), c.into());
            }
            Some(("executionFailedEventDetails", d))
        },
    );
}

/// FNV-1a, a hash that stays the same across Rust releases (unlike `DefaultHasher`).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
