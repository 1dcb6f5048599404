//! Loading a definition: the compiled model of states, and the static checks AWS runs
//! when a state machine is created (field names and types, transitions, reachability,
//! paths, intrinsic calls, Retry/Catch shape). Every problem is reported with the state
//! and field it concerns; what the engine does not support is refused here, not later.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::choice::{self, Cond};
use crate::path::JsonPath;
use crate::task::TaskHandler;
use crate::template::{self, Expr, Tmpl};
use crate::value::{json_size, str_size};

/// One problem found in a definition, shaped like AWS's ValidateStateMachineDefinition
/// diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, `UNREACHABLE_STATE`,
    /// `INVALID_JSON_DESCRIPTION` or `UNSUPPORTED_FEATURE` (what this engine refuses).
    pub code: &'static str,
    /// Where: `/States/<state>/<field>` (nested states follow their parent's path).
    pub location: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at {}", self.code, self.message, self.location)
    }
}

/// A definition that cannot be loaded: every problem found, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Invalid State Machine Definition: ")?;
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "'{d}'")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The compiled model

#[derive(Debug)]
pub(crate) struct Graph {
    pub start: usize,
    pub states: Vec<State>,
}

#[derive(Debug)]
pub(crate) enum IoPath {
    /// Absent: `$`.
    Whole,
    /// `null`: an empty object.
    Null,
    Path(JsonPath),
}

#[derive(Debug)]
pub(crate) enum ResultPath {
    /// Absent or `$`: the result replaces the input.
    Replace,
    /// `null`: the result is discarded.
    Discard,
    /// A reference path, and the most bytes that putting a result there adds besides
    /// the result itself (keys, and the objects created on the way).
    Path(JsonPath, usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transition {
    Next(usize),
    End,
}

#[derive(Debug)]
pub(crate) struct State {
    pub name: Arc<str>,
    pub kind: Kind,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub result_path: ResultPath,
    pub parameters: Option<Tmpl>,
    pub result_selector: Option<Tmpl>,
    pub assign: Option<Tmpl>,
    pub next: Transition,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug)]
pub(crate) enum Text {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug)]
pub(crate) struct ChoiceRule {
    pub cond: Cond,
    pub next: usize,
    pub assign: Option<Tmpl>,
}

#[derive(Debug)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(JsonPath),
    Timestamp(DateTime<Utc>),
    TimestampPath(JsonPath),
}

#[derive(Debug)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(JsonPath),
}

/// What a Task calls.
#[derive(Debug, Clone)]
pub(crate) enum Resource {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
    Lambda { arn: Arc<str> },
    /// `arn:aws:states:::lambda:invoke` with `FunctionName` and `Payload`.
    LambdaInvoke { arn: Arc<str> },
    /// Any other resource, dispatched by its exact text.
    Other { arn: Arc<str> },
}

impl Resource {
    pub fn arn(&self) -> &Arc<str> {
        match self {
            Resource::Lambda { arn } | Resource::LambdaInvoke { arn } | Resource::Other { arn } => arn,
        }
    }
}

#[derive(Debug)]
pub(crate) struct TaskSpec {
    pub resource: Resource,
    pub timeout: Option<Seconds>,
    /// For a Lambda ARN, the function name in it (what [`crate::TaskContext`] gives).
    pub function: Option<Arc<str>>,
    /// The handler found for the resource by the first engine that ran the state, with
    /// that engine's registry id (a registry never changes once built).
    pub handler: HandlerCache,
}

/// A handler looked up once per state rather than once per attempt.
#[derive(Default)]
pub(crate) struct HandlerCache(OnceLock<(u64, Arc<dyn TaskHandler>)>);

impl HandlerCache {
    /// The handler cached for registry `id`, else `lookup`'s (cached if none is yet).
    pub fn get_or_find<'a>(
        &'a self,
        id: u64,
        lookup: impl FnOnce() -> Option<&'a Arc<dyn TaskHandler>>,
    ) -> Option<&'a Arc<dyn TaskHandler>> {
        if let Some((cached, h)) = self.0.get() {
            if *cached == id {
                return Some(h);
            }
            return lookup();
        }
        let h = lookup()?;
        let _ = self.0.set((id, h.clone()));
        Some(h)
    }
}

impl fmt::Debug for HandlerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandlerCache")
    }
}

#[derive(Debug)]
pub(crate) enum MaxConcurrency {
    Fixed(u64),
    Path(JsonPath),
}

#[derive(Debug)]
pub(crate) struct MapSpec {
    pub items_path: Option<JsonPath>,
    pub item_selector: Option<Tmpl>,
    pub processor: Graph,
    pub max_concurrency: MaxConcurrency,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// `Result` and its size.
    Pass {
        result: Option<Value>,
        result_size: usize,
    },
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Choice {
        rules: Vec<ChoiceRule>,
        default: Option<usize>,
    },
    Wait(WaitFor),
    Task(TaskSpec),
    Parallel {
        branches: Vec<Graph>,
    },
    Map(MapSpec),
}

#[derive(Debug)]
pub(crate) struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter_full: bool,
}

#[derive(Debug)]
pub(crate) struct Catcher {
    pub errors: Vec<String>,
    pub next: usize,
    pub result_path: ResultPath,
    pub assign: Option<Tmpl>,
}

/// A loaded definition: its top-level graph and limits.
#[derive(Debug)]
pub(crate) struct Definition {
    pub graph: Graph,
    pub timeout_seconds: Option<u64>,
    pub comment: Option<String>,
    /// Whether any path may read `$$.Execution.Input` (else executions need not keep a copy).
    pub reads_execution_input: bool,
    /// Whether any path may read `$$.State.EnteredTime` (else only Wait states need the
    /// time a state is entered).
    pub reads_entered_time: bool,
}

/// True when some string of the definition may read the execution input through the
/// context object: any `$$` other than `$$.Execution.{Name,Id,StartTime,RoleArn,
/// RedriveCount}`, `$$.State.…`, `$$.StateMachine.…`, `$$.Map.…` and `$$.Task.…`.
fn reads_execution_input(v: &Value) -> bool {
    reads_context(
        v,
        &[
            ".Execution.Name",
            ".Execution.Id",
            ".Execution.StartTime",
            ".Execution.RoleArn",
            ".Execution.RedriveCount",
            ".State.",
            ".StateMachine.",
            ".Map.",
            ".Task.",
        ],
    )
}

/// True when some string of the definition may read `$$.State.EnteredTime`: any `$$`
/// other than `$$.Execution.…`, `$$.StateMachine.…`, `$$.Map.…`, `$$.Task.…`,
/// `$$.State.Name` and `$$.State.RetryCount`.
fn reads_entered_time(v: &Value) -> bool {
    reads_context(v, &[".Execution.", ".StateMachine.", ".Map.", ".Task.", ".State.Name", ".State.RetryCount"])
}

/// True when some string of the definition has a `$$` not followed by one of `safe`.
fn reads_context(v: &Value, safe: &[&str]) -> bool {
    let text_reads = |s: &str| {
        s.match_indices("$$").any(|(i, _)| {
            let after = &s[i + 2..];
            !safe.iter().any(|p| after.starts_with(p))
        })
    };
    match v {
        Value::String(s) => text_reads(s),
        Value::Array(a) => a.iter().any(|x| reads_context(x, safe)),
        Value::Object(m) => m.iter().any(|(k, x)| text_reads(k) || reads_context(x, safe)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Loading

const TOP_FIELDS: &[&str] = &["StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"];
const JSONATA_FIELDS: &[&str] = &["Arguments", "Output", "Items", "Condition"];

fn allowed_fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "Pass" => &["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign"],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Assign",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default", "Assign"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "Assign",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
            "Assign",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemsPath",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Assign",
        ],
        _ => &[],
    }
}

const DISTRIBUTED_MAP_FIELDS: &[&str] = &[
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "Label",
];

struct Loader {
    diags: Vec<Diagnostic>,
}

impl Loader {
    fn err(&mut self, code: &'static str, location: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic { code, location: location.into(), message: message.into() });
    }

    fn schema(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.err("SCHEMA_VALIDATION_FAILED", location, message);
    }

    fn unsupported(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.err("UNSUPPORTED_FEATURE", location, message);
    }

    fn path(&mut self, v: &Value, loc: &str) -> Option<JsonPath> {
        let Some(text) = v.as_str() else {
            self.schema(loc, "Value must be a JSONPath string");
            return None;
        };
        match JsonPath::parse(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.schema(loc, format!("Value is not a valid JSONPath: '{text}' ({})", e.0));
                None
            }
        }
    }

    fn io_path(&mut self, state: &Map<String, Value>, key: &str, loc: &str) -> IoPath {
        match state.get(key) {
            None => IoPath::Whole,
            Some(Value::Null) => IoPath::Null,
            Some(v) => match self.path(v, &format!("{loc}/{key}")) {
                Some(p) if p.root == crate::path::Root::Data && p.segs.is_empty() => IoPath::Whole,
                Some(p) => IoPath::Path(p),
                None => IoPath::Whole,
            },
        }
    }

    fn result_path(&mut self, v: Option<&Value>, loc: &str) -> ResultPath {
        match v {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(v) => match self.path(v, loc) {
                Some(p) if p.is_root() => ResultPath::Replace,
                Some(p) if p.is_reference() => {
                    let overhead = p
                        .segs
                        .iter()
                        .map(|seg| match seg {
                            // `{"key":…}` created, or `,"key":…` added to an object.
                            crate::path::Seg::Field(f) => str_size(f) + 4,
                            _ => 1,
                        })
                        .sum();
                    ResultPath::Path(p, overhead)
                }
                Some(p) => {
                    self.schema(
                        loc,
                        format!("The value for the field 'ResultPath' must be a valid reference path: '{}'", p.text),
                    );
                    ResultPath::Replace
                }
                None => ResultPath::Replace,
            },
        }
    }

    fn template(&mut self, v: &Value, loc: &str) -> Tmpl {
        let mut errs = Vec::new();
        let t = template::compile(v, loc, &mut errs);
        for (l, m) in errs {
            self.schema(l, m);
        }
        t
    }

    fn assign(&mut self, v: Option<&Value>, loc: &str) -> Option<Tmpl> {
        let v = v?;
        let Some(map) = v.as_object() else {
            self.schema(loc, "'Assign' must be an object");
            return None;
        };
        for k in map.keys() {
            let name = k.strip_suffix(".$").unwrap_or(k);
            let valid = name.len() <= 80
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.schema(loc, format!("'{name}' is not a valid variable name"));
            }
        }
        Some(self.template(v, loc))
    }

    fn positive_int(&mut self, v: &Value, loc: &str, allow_zero: bool) -> Option<u64> {
        match v.as_u64() {
            Some(n) if n > 0 || allow_zero => Some(n),
            _ => {
                let want = if allow_zero { "a non-negative integer" } else { "a positive integer" };
                self.schema(loc, format!("Value must be {want}"));
                None
            }
        }
    }

    fn error_names(&mut self, v: Option<&Value>, loc: &str) -> Vec<String> {
        let Some(list) = v.and_then(Value::as_array).filter(|l| !l.is_empty()) else {
            self.schema(loc, "'ErrorEquals' must be a non-empty array of error names");
            return Vec::new();
        };
        let names: Vec<String> = list.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
        if names.len() != list.len() {
            self.schema(loc, "'ErrorEquals' must hold only strings");
        }
        if names.len() > 1 && names.iter().any(|n| n == "States.ALL") {
            self.schema(loc, "'States.ALL' must appear alone in 'ErrorEquals'");
        }
        names
    }

    fn retry(&mut self, v: Option<&Value>, loc: &str) -> Vec<Retrier> {
        let Some(v) = v else { return Vec::new() };
        let Some(list) = v.as_array() else {
            self.schema(loc, "'Retry' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let l = format!("{loc}[{i}]");
            let Some(r) = r.as_object() else {
                self.schema(&l, "A retrier must be an object");
                continue;
            };
            for k in r.keys() {
                if ![
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ]
                .contains(&k.as_str())
                {
                    self.schema(&l, format!("Field '{k}' is not supported in a retrier"));
                }
            }
            let errors = self.error_names(r.get("ErrorEquals"), &format!("{l}/ErrorEquals"));
            if errors.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.schema(format!("{l}/ErrorEquals"), "A retrier with 'States.ALL' must be the last one");
            }
            let interval_seconds = match r.get("IntervalSeconds") {
                Some(x) => self.positive_int(x, &format!("{l}/IntervalSeconds"), false).unwrap_or(1),
                None => 1,
            };
            let max_attempts = match r.get("MaxAttempts") {
                Some(x) => self.positive_int(x, &format!("{l}/MaxAttempts"), true).unwrap_or(3),
                None => 3,
            };
            let backoff_rate = match r.get("BackoffRate") {
                Some(x) => match x.as_f64() {
                    Some(b) if b >= 1.0 => b,
                    _ => {
                        self.schema(
                            format!("{l}/BackoffRate"),
                            "'BackoffRate' must be a number greater than or equal to 1.0",
                        );
                        2.0
                    }
                },
                None => 2.0,
            };
            let max_delay_seconds =
                r.get("MaxDelaySeconds").and_then(|x| self.positive_int(x, &format!("{l}/MaxDelaySeconds"), false));
            let jitter_full = match r.get("JitterStrategy").map(|x| x.as_str()) {
                None | Some(Some("NONE")) => false,
                Some(Some("FULL")) => true,
                _ => {
                    self.schema(format!("{l}/JitterStrategy"), "'JitterStrategy' must be FULL or NONE");
                    false
                }
            };
            out.push(Retrier { errors, interval_seconds, max_attempts, backoff_rate, max_delay_seconds, jitter_full });
        }
        out
    }

    fn catch(&mut self, v: Option<&Value>, loc: &str, names: &HashMap<&str, usize>) -> Vec<Catcher> {
        let Some(v) = v else { return Vec::new() };
        let Some(list) = v.as_array() else {
            self.schema(loc, "'Catch' must be an array");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let l = format!("{loc}[{i}]");
            let Some(c) = c.as_object() else {
                self.schema(&l, "A catcher must be an object");
                continue;
            };
            for k in c.keys() {
                if !["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"].contains(&k.as_str()) {
                    if k == "Output" {
                        self.unsupported(&l, "JSONata catchers ('Output') are not supported; use ResultPath");
                    } else {
                        self.schema(&l, format!("Field '{k}' is not supported in a catcher"));
                    }
                }
            }
            let errors = self.error_names(c.get("ErrorEquals"), &format!("{l}/ErrorEquals"));
            if errors.iter().any(|e| e == "States.ALL") && i + 1 != list.len() {
                self.schema(format!("{l}/ErrorEquals"), "A catcher with 'States.ALL' must be the last one");
            }
            let next = self.target(c.get("Next"), &format!("{l}/Next"), names);
            let result_path = self.result_path(c.get("ResultPath"), &format!("{l}/ResultPath"));
            let assign = self.assign(c.get("Assign"), &format!("{l}/Assign"));
            if let Some(next) = next {
                out.push(Catcher { errors, next, result_path, assign });
            }
        }
        out
    }

    fn target(&mut self, v: Option<&Value>, loc: &str, names: &HashMap<&str, usize>) -> Option<usize> {
        let Some(name) = v.and_then(Value::as_str) else {
            self.schema(loc, "'Next' must name a state");
            return None;
        };
        match names.get(name) {
            Some(i) => Some(*i),
            None => {
                let field = loc.rsplit('/').next().unwrap_or("Next");
                self.err("MISSING_TRANSITION_TARGET", loc, format!("Missing '{field}' target: {name}"));
                None
            }
        }
    }

    fn text(&mut self, state: &Map<String, Value>, lit: &str, path: &str, loc: &str) -> Option<Text> {
        match (state.get(lit), state.get(path)) {
            (Some(_), Some(_)) => {
                self.schema(loc, format!("'{lit}' and '{path}' are mutually exclusive"));
                None
            }
            (Some(Value::String(s)), None) => Some(Text::Lit(s.clone())),
            (Some(_), None) => {
                self.schema(format!("{loc}/{lit}"), format!("'{lit}' must be a string"));
                None
            }
            (None, Some(Value::String(s))) => match Expr::parse(s, path) {
                Ok(e) => Some(Text::Expr(e)),
                Err(m) => {
                    self.schema(format!("{loc}/{path}"), m);
                    None
                }
            },
            (None, Some(_)) => {
                self.schema(format!("{loc}/{path}"), format!("'{path}' must be a path or intrinsic function string"));
                None
            }
            (None, None) => None,
        }
    }

    /// Loads `{StartAt, States}` at `loc` ("" for the top level).
    fn graph(&mut self, g: &Map<String, Value>, loc: &str) -> Option<Graph> {
        let mut missing = Vec::new();
        if !g.contains_key("States") {
            missing.push("States");
        }
        if !g.contains_key("StartAt") {
            missing.push("StartAt");
        }
        if !missing.is_empty() {
            self.schema(
                if loc.is_empty() { "/" } else { loc },
                format!("These fields are required: [{}]", missing.join(", ")),
            );
            return None;
        }
        let Some(states) = g["States"].as_object().filter(|s| !s.is_empty()) else {
            self.schema(format!("{loc}/States"), "'States' must be a non-empty object");
            return None;
        };
        let names: HashMap<&str, usize> = states.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        let start = match g["StartAt"].as_str() {
            Some(s) => match names.get(s) {
                Some(i) => Some(*i),
                None => {
                    self.err(
                        "MISSING_TRANSITION_TARGET",
                        format!("{loc}/StartAt"),
                        format!("Missing 'StartAt' target: {s}"),
                    );
                    None
                }
            },
            None => {
                self.schema(format!("{loc}/StartAt"), "'StartAt' must be a string");
                None
            }
        };
        let mut compiled = Vec::with_capacity(states.len());
        for (name, s) in states {
            let sloc = format!("{loc}/States/{name}");
            if name.is_empty() || name.chars().count() > 80 {
                self.schema(&sloc, "A state name must have 1 to 80 characters");
            }
            match s.as_object() {
                Some(obj) => compiled.push(self.state(name, obj, &sloc, &names)),
                None => {
                    self.schema(&sloc, "A state must be an object");
                    compiled.push(None);
                }
            }
        }
        // Reachability from StartAt, over the transitions as written (so that it is
        // reported even when some state could not be compiled).
        if let Some(start) = start {
            let edges = |s: &Value| -> Vec<usize> {
                let mut out = Vec::new();
                let mut push = |v: Option<&Value>| {
                    if let Some(i) = v.and_then(Value::as_str).and_then(|n| names.get(n)) {
                        out.push(*i);
                    }
                };
                push(s.get("Next"));
                push(s.get("Default"));
                for list in ["Choices", "Catch"] {
                    for x in s.get(list).and_then(Value::as_array).into_iter().flatten() {
                        push(x.get("Next"));
                    }
                }
                out
            };
            let raw: Vec<&Value> = states.values().collect();
            let mut seen = vec![false; raw.len()];
            let mut todo = vec![start];
            while let Some(i) = todo.pop() {
                if !std::mem::replace(&mut seen[i], true) {
                    todo.extend(edges(raw[i]));
                }
            }
            for (name, _) in states.iter().zip(&seen).filter(|(_, seen)| !**seen).map(|(s, _)| s) {
                self.err(
                    "UNREACHABLE_STATE",
                    format!("{loc}/States/{name}"),
                    format!("State '{name}' is not reachable"),
                );
            }
        }
        let start = start?;
        let states: Vec<State> = compiled.into_iter().collect::<Option<Vec<_>>>()?;
        Some(Graph { start, states })
    }

    fn state(&mut self, name: &str, s: &Map<String, Value>, loc: &str, names: &HashMap<&str, usize>) -> Option<State> {
        let Some(ty) = s.get("Type").and_then(Value::as_str) else {
            self.schema(loc, "These fields are required: [Type]");
            return None;
        };
        let allowed = allowed_fields(ty);
        if allowed.is_empty() {
            self.schema(
                format!("{loc}/Type"),
                "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]",
            );
            return None;
        }
        let errors_before = self.diags.len();
        match s.get("QueryLanguage").map(|q| q.as_str()) {
            None | Some(Some("JSONPath")) => {}
            Some(Some("JSONata")) => self.unsupported(
                format!("{loc}/QueryLanguage"),
                "JSONata is not supported by the embedded engine; use the JSONPath query language",
            ),
            Some(_) => self.schema(format!("{loc}/QueryLanguage"), "'QueryLanguage' must be JSONPath or JSONata"),
        }
        for k in s.keys() {
            if k == "Type" || k == "Comment" || k == "QueryLanguage" || allowed.contains(&k.as_str()) {
                continue;
            }
            if JSONATA_FIELDS.contains(&k.as_str()) {
                self.unsupported(
                    format!("{loc}/{k}"),
                    format!("'{k}' belongs to JSONata, which the embedded engine does not support"),
                );
            } else if ty == "Map" && DISTRIBUTED_MAP_FIELDS.contains(&k.as_str()) {
                self.unsupported(
                    format!("{loc}/{k}"),
                    format!("'{k}' belongs to a Distributed Map, which the embedded engine does not support"),
                );
            } else if k == "Credentials" {
                self.unsupported(
                    format!("{loc}/{k}"),
                    "Task 'Credentials' (cross-account roles) are not supported by the embedded engine",
                );
            } else {
                self.schema(loc, format!("Field '{k}' is not supported by a {ty} state"));
            }
        }
        // Transitions.
        let terminal = matches!(ty, "Choice" | "Succeed" | "Fail");
        let next = if terminal {
            Transition::End
        } else {
            match (s.get("Next"), s.get("End")) {
                (Some(_), Some(Value::Bool(true))) => {
                    self.schema(loc, "'Next' and 'End' are mutually exclusive");
                    Transition::End
                }
                (Some(n), _) => {
                    self.target(Some(n), &format!("{loc}/Next"), names).map_or(Transition::End, Transition::Next)
                }
                (None, Some(Value::Bool(true))) => Transition::End,
                _ => {
                    self.schema(loc, "A state must have either 'Next' or 'End': true");
                    Transition::End
                }
            }
        };
        let input_path = self.io_path(s, "InputPath", loc);
        let output_path = self.io_path(s, "OutputPath", loc);
        let result_path = self.result_path(s.get("ResultPath"), &format!("{loc}/ResultPath"));
        let parameters = s.get("Parameters").map(|p| self.template(p, &format!("{loc}/Parameters")));
        let result_selector = s.get("ResultSelector").map(|p| self.template(p, &format!("{loc}/ResultSelector")));
        let assign = self.assign(s.get("Assign"), &format!("{loc}/Assign"));
        let retry = self.retry(s.get("Retry"), &format!("{loc}/Retry"));
        let catch = self.catch(s.get("Catch"), &format!("{loc}/Catch"), names);

        let kind = match ty {
            "Pass" => {
                let result = s.get("Result").cloned();
                let result_size = result.as_ref().map_or(0, json_size);
                Kind::Pass { result, result_size }
            }
            "Succeed" => Kind::Succeed,
            "Fail" => Kind::Fail {
                error: self.text(s, "Error", "ErrorPath", loc),
                cause: self.text(s, "Cause", "CausePath", loc),
            },
            "Choice" => self.choice(s, loc, names),
            "Wait" => self.wait(s, loc)?,
            "Task" => self.task(s, loc)?,
            "Parallel" => {
                let Some(list) = s.get("Branches").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
                    self.schema(format!("{loc}/Branches"), "Value cannot be empty");
                    return None;
                };
                let mut branches = Vec::new();
                for (i, b) in list.iter().enumerate() {
                    let bloc = format!("{loc}/Branches[{i}]");
                    match b.as_object() {
                        Some(b) => branches.extend(self.sub_graph(b, &bloc)),
                        None => self.schema(&bloc, "A branch must be an object"),
                    }
                }
                Kind::Parallel { branches }
            }
            "Map" => self.map(s, loc)?,
            _ => unreachable!("checked by allowed_fields"),
        };
        if self.diags.len() > errors_before {
            return None;
        }
        Some(State {
            name: name.into(),
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            assign,
            next,
            retry,
            catch,
        })
    }

    fn sub_graph(&mut self, g: &Map<String, Value>, loc: &str) -> Option<Graph> {
        for k in g.keys() {
            if !["StartAt", "States", "Comment", "ProcessorConfig", "QueryLanguage"].contains(&k.as_str()) {
                self.schema(loc, format!("Field '{k}' is not supported here"));
            }
        }
        if g.get("QueryLanguage").and_then(Value::as_str) == Some("JSONata") {
            self.unsupported(format!("{loc}/QueryLanguage"), "JSONata is not supported by the embedded engine");
        }
        self.graph(g, loc)
    }

    fn choice(&mut self, s: &Map<String, Value>, loc: &str, names: &HashMap<&str, usize>) -> Kind {
        let mut rules = Vec::new();
        match s.get("Choices").and_then(Value::as_array).filter(|l| !l.is_empty()) {
            None => self.schema(format!("{loc}/Choices"), "'Choices' must be a non-empty array of choice rules"),
            Some(list) => {
                for (i, r) in list.iter().enumerate() {
                    let rloc = format!("{loc}/Choices[{i}]");
                    let Some(r) = r.as_object() else {
                        self.schema(&rloc, "A choice rule must be an object");
                        continue;
                    };
                    let cond = match choice::compile(r, true) {
                        Ok(c) => Some(c),
                        Err((field, msg)) => {
                            self.schema(if field.is_empty() { rloc.clone() } else { format!("{rloc}/{field}") }, msg);
                            None
                        }
                    };
                    if !r.contains_key("Next") {
                        self.schema(&rloc, "These fields are required: [Next]");
                        continue;
                    }
                    let next = self.target(r.get("Next"), &format!("{rloc}/Next"), names);
                    let assign = self.assign(r.get("Assign"), &format!("{rloc}/Assign"));
                    if let (Some(cond), Some(next)) = (cond, next) {
                        rules.push(ChoiceRule { cond, next, assign });
                    }
                }
            }
        }
        let default = s.get("Default").and_then(|d| self.target(Some(d), &format!("{loc}/Default"), names));
        Kind::Choice { rules, default }
    }

    fn wait(&mut self, s: &Map<String, Value>, loc: &str) -> Option<Kind> {
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| s.contains_key(*k))
            .collect();
        if given.len() != 1 {
            self.schema(loc, "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath");
            return None;
        }
        let v = &s[given[0]];
        let l = format!("{loc}/{}", given[0]);
        Some(Kind::Wait(match given[0] {
            "Seconds" => WaitFor::Seconds(self.positive_int(v, &l, true)?),
            "SecondsPath" => WaitFor::SecondsPath(self.path(v, &l)?),
            "Timestamp" => match v.as_str().and_then(crate::timestamp::parse) {
                Some(t) => WaitFor::Timestamp(t),
                None => {
                    self.schema(&l, "String does not match RFC3339 timestamp");
                    return None;
                }
            },
            _ => WaitFor::TimestampPath(self.path(v, &l)?),
        }))
    }

    fn seconds(&mut self, s: &Map<String, Value>, key: &str, loc: &str) -> Option<Seconds> {
        let path_key = format!("{key}Path");
        match (s.get(key), s.get(&path_key)) {
            (Some(_), Some(_)) => {
                self.schema(loc, format!("'{key}' and '{path_key}' are mutually exclusive"));
                None
            }
            (Some(v), None) => self.positive_int(v, &format!("{loc}/{key}"), false).map(Seconds::Fixed),
            (None, Some(v)) => self.path(v, &format!("{loc}/{path_key}")).map(Seconds::Path),
            (None, None) => None,
        }
    }

    fn task(&mut self, s: &Map<String, Value>, loc: &str) -> Option<Kind> {
        let rloc = format!("{loc}/Resource");
        let Some(arn) = s.get("Resource").and_then(Value::as_str) else {
            self.schema(loc, "These fields are required: [Resource]");
            return None;
        };
        let parts: Vec<&str> = arn.split(':').collect();
        let resource = if parts.len() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" {
            Resource::Lambda { arn: arn.into() }
        } else if parts.len() >= 6 && parts[0] == "arn" && parts[2] == "states" {
            let service = parts[5..].join(":");
            if parts[5] == "activity" {
                self.unsupported(&rloc, "Activities are not supported by the embedded engine");
                return None;
            }
            if service.ends_with(".sync") || service.ends_with(".sync:2") || service.ends_with(".waitForTaskToken") {
                self.unsupported(
                    &rloc,
                    format!("The integration pattern of '{arn}' (.sync / .waitForTaskToken) is not supported by the embedded engine"),
                );
                return None;
            }
            if service == "lambda:invoke" {
                Resource::LambdaInvoke { arn: arn.into() }
            } else {
                Resource::Other { arn: arn.into() }
            }
        } else if arn.starts_with("arn:") {
            Resource::Other { arn: arn.into() }
        } else {
            self.schema(
                &rloc,
                format!("The resource provided {arn} is not recognized. The value is not a valid resource ARN"),
            );
            return None;
        };
        if let Resource::LambdaInvoke { .. } = resource {
            let has_fn = s
                .get("Parameters")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key("FunctionName") || p.contains_key("FunctionName.$"));
            if !has_fn {
                self.schema(
                    format!("{loc}/Parameters"),
                    "The field 'FunctionName' is required by arn:aws:states:::lambda:invoke",
                );
            }
        }
        let timeout = self.seconds(s, "TimeoutSeconds", loc);
        let _heartbeat = self.seconds(s, "HeartbeatSeconds", loc);
        let function = match &resource {
            Resource::Lambda { arn } => Some(crate::task::function_name(arn).into()),
            _ => None,
        };
        Some(Kind::Task(TaskSpec { resource, timeout, function, handler: HandlerCache::default() }))
    }

    fn map(&mut self, s: &Map<String, Value>, loc: &str) -> Option<Kind> {
        let processor = match (s.get("ItemProcessor"), s.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.schema(loc, "'ItemProcessor' and 'Iterator' are mutually exclusive");
                return None;
            }
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(p)) => ("Iterator", p),
            (None, None) => {
                self.schema(loc, "These fields are required: [ItemProcessor]");
                return None;
            }
        };
        let ploc = format!("{loc}/{}", processor.0);
        let Some(pobj) = processor.1.as_object() else {
            self.schema(&ploc, "The item processor must be an object");
            return None;
        };
        if let Some(cfg) = pobj.get("ProcessorConfig") {
            match cfg.get("Mode").and_then(Value::as_str) {
                None | Some("INLINE") => {}
                Some("DISTRIBUTED") => {
                    self.unsupported(
                        format!("{ploc}/ProcessorConfig"),
                        "A Distributed Map is not supported by the embedded engine",
                    );
                    return None;
                }
                Some(m) => {
                    self.schema(
                        format!("{ploc}/ProcessorConfig/Mode"),
                        format!("'{m}' is not a processor mode (INLINE)"),
                    );
                    return None;
                }
            }
        }
        let processor = self.sub_graph(pobj, &ploc)?;
        let items_path = s.get("ItemsPath").and_then(|v| self.path(v, &format!("{loc}/ItemsPath")));
        let item_selector = match (s.get("ItemSelector"), s.get("Parameters")) {
            (Some(_), Some(_)) => {
                self.schema(loc, "'ItemSelector' and 'Parameters' are mutually exclusive");
                None
            }
            (Some(t), None) => Some(self.template(t, &format!("{loc}/ItemSelector"))),
            (None, Some(t)) => Some(self.template(t, &format!("{loc}/Parameters"))),
            (None, None) => None,
        };
        let max_concurrency = match (s.get("MaxConcurrency"), s.get("MaxConcurrencyPath")) {
            (Some(_), Some(_)) => {
                self.schema(loc, "'MaxConcurrency' and 'MaxConcurrencyPath' are mutually exclusive");
                MaxConcurrency::Fixed(0)
            }
            (Some(v), None) => {
                MaxConcurrency::Fixed(self.positive_int(v, &format!("{loc}/MaxConcurrency"), true).unwrap_or(0))
            }
            (None, Some(v)) => match self.path(v, &format!("{loc}/MaxConcurrencyPath")) {
                Some(p) => MaxConcurrency::Path(p),
                None => MaxConcurrency::Fixed(0),
            },
            (None, None) => MaxConcurrency::Fixed(0),
        };
        Some(Kind::Map(MapSpec { items_path, item_selector, processor, max_concurrency }))
    }
}

/// Parses and checks a definition.
pub(crate) fn load(text: &str) -> Result<Definition, DefinitionError> {
    let mut l = Loader { diags: Vec::new() };
    let root: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            l.err(
                "INVALID_JSON_DESCRIPTION",
                format!("line {}, column {}", e.line(), e.column()),
                format!("The definition is not valid JSON: {e}"),
            );
            return Err(DefinitionError { diagnostics: l.diags });
        }
    };
    let Some(obj) = root.as_object() else {
        l.schema("/", "Definition must be a valid JSON object");
        return Err(DefinitionError { diagnostics: l.diags });
    };
    for k in obj.keys() {
        if !TOP_FIELDS.contains(&k.as_str()) {
            l.schema("/", format!("Field '{k}' is not supported at the top level of a definition"));
        }
    }
    match obj.get("QueryLanguage").map(|q| q.as_str()) {
        None | Some(Some("JSONPath")) => {}
        Some(Some("JSONata")) => l.unsupported(
            "/QueryLanguage",
            "JSONata is not supported by the embedded engine; use the JSONPath query language",
        ),
        Some(_) => l.schema("/QueryLanguage", "'QueryLanguage' must be JSONPath or JSONata"),
    }
    let timeout_seconds = obj.get("TimeoutSeconds").and_then(|v| l.positive_int(v, "/TimeoutSeconds", false));
    if let Some(v) = obj.get("Version") {
        if !v.is_string() {
            l.schema("/Version", "'Version' must be a string");
        }
    }
    let graph = l.graph(obj, "");
    match graph {
        Some(graph) if l.diags.is_empty() => Ok(Definition {
            graph,
            timeout_seconds,
            comment: obj.get("Comment").and_then(Value::as_str).map(str::to_owned),
            reads_execution_input: reads_execution_input(&root),
            reads_entered_time: reads_entered_time(&root),
        }),
        _ => Err(DefinitionError { diagnostics: l.diags }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_definitions_that_may_read_the_execution_input_keep_a_copy() {
        let safe = json!({"P": {"a.$": "$$.Execution.Name", "b.$": "States.Format('{}', $$.State.Name)", "c.$": "$$.Map.Item.Value"}});
        assert!(!reads_execution_input(&safe));
        for reads in ["$$.Execution.Input.x", "$$", "$$.Execution", "$$['Execution']", "States.JsonToString($$)"] {
            assert!(reads_execution_input(&json!({"P": {"x.$": reads}})), "{reads}");
        }
        assert!(reads_execution_input(&json!({"InputPath": "$$.Execution.Input"})));
    }

    #[test]
    fn only_definitions_that_may_read_the_entered_time_ask_the_clock_at_every_state() {
        let safe = json!({"P": {"a.$": "$$.Execution.Input", "b.$": "States.Format('{}', $$.State.Name)",
                                "c.$": "$$.Map.Item.Value", "d.$": "$$.State.RetryCount", "e.$": "$.x"}});
        assert!(!reads_entered_time(&safe));
        for reads in
            ["$$.State.EnteredTime", "$$", "$$.State", "$$['State']", "$$..EnteredTime", "States.JsonToString($$)"]
        {
            assert!(reads_entered_time(&json!({"P": {"x.$": reads}})), "{reads}");
        }
        assert!(reads_entered_time(&json!({"Choices": [{"Variable": "$$.State.EnteredTime"}]})));
    }
}
