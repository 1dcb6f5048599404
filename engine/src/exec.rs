//! The interpreter: runs one execution of a loaded definition, state by state, with
//! AWS's order of input/output processing (InputPath → Parameters → task →
//! ResultSelector → ResultPath → OutputPath), Retry/Catch, Map/Parallel concurrency on
//! the caller's task (no thread per execution, no thread per Wait), variables and the
//! event numbering of GetExecutionHistory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::definition::{
    Catcher, Graph, IoPath, Kind, MapSpec, MaxConcurrency, Resource, ResultPath, Retrier, Seconds, State, TaskSpec,
    Text, Transition, WaitFor,
};
use crate::env::{Ctx, Env, ExecInfo, Vars};
use crate::history::{obj, payload, Recorder};
use crate::mock::{MockResponse, MockedCase};
use crate::path::{take_at, JsonPath, Root, Seg};
use crate::task::{function_name, TaskContext, TaskFailure, TaskRegistry};
use crate::template::field_error;
use crate::value::{compact, json_size, member, member_mut, random_uuid, size_bound, within_limit, MAX_PAYLOAD_BYTES};

/// Variables to assign when a state completes.
type Assigned = Option<Vec<(String, Value, usize)>>;
/// A successful attempt: the result, its size bound, its assignments and its last event.
type Attempt = (Value, usize, Assigned, u64);

/// What every execution of an engine shares.
pub(crate) struct Shared {
    pub registry: TaskRegistry,
    /// Tells this engine's registry from others' (for handlers cached by state).
    pub id: u64,
    pub clock: Arc<dyn Clock>,
    pub region: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Terminal {
    /// An ordinary error: Retry and Catch may match it.
    No,
    /// `States.Runtime`: never retried nor caught.
    Runtime,
    /// `States.DataLimitExceeded`: not matched by `States.ALL`.
    DataLimit,
}

/// A failed state or execution.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub error: Option<String>,
    pub cause: Option<String>,
    pub terminal: Terminal,
    /// The id of the last event of the failing thread.
    pub last: u64,
}

/// The outcome of one state.
struct Step {
    output: Value,
    /// An upper bound of the output's size.
    bound: usize,
    next: Transition,
    /// The event the state's Exited event follows.
    last: u64,
}

pub(crate) struct Exec<'e> {
    pub shared: &'e Shared,
    pub info: ExecInfo<'e>,
    pub rec: Recorder,
    pub mocks: Option<Arc<MockedCase>>,
    pub mock_counts: Mutex<HashMap<String, u32>>,
    /// The execution's own random source when the engine is seeded (else `fastrand`'s).
    pub rng: Option<Mutex<fastrand::Rng>>,
    /// Whether the definition may read `$$.State.EnteredTime`.
    pub reads_entered_time: bool,
}

fn event(kind: &Kind, exited: bool) -> &'static str {
    match (kind, exited) {
        (Kind::Pass { .. }, false) => "PassStateEntered",
        (Kind::Pass { .. }, true) => "PassStateExited",
        (Kind::Succeed, false) => "SucceedStateEntered",
        (Kind::Succeed, true) => "SucceedStateExited",
        (Kind::Fail { .. }, false) => "FailStateEntered",
        (Kind::Fail { .. }, true) => "FailStateExited",
        (Kind::Choice { .. }, false) => "ChoiceStateEntered",
        (Kind::Choice { .. }, true) => "ChoiceStateExited",
        (Kind::Wait(_), false) => "WaitStateEntered",
        (Kind::Wait(_), true) => "WaitStateExited",
        (Kind::Task(_), false) => "TaskStateEntered",
        (Kind::Task(_), true) => "TaskStateExited",
        (Kind::Parallel { .. }, false) => "ParallelStateEntered",
        (Kind::Parallel { .. }, true) => "ParallelStateExited",
        (Kind::Map(_), false) => "MapStateEntered",
        (Kind::Map(_), true) => "MapStateExited",
    }
}

/// Does `names` (a retrier's or catcher's ErrorEquals) match the failure?
fn error_matches(names: &[String], f: &Failure) -> bool {
    if f.terminal == Terminal::Runtime {
        return false;
    }
    let err = f.error.as_deref();
    names.iter().any(|n| match n.as_str() {
        "States.ALL" => f.terminal == Terminal::No,
        "States.TaskFailed" => {
            f.terminal == Terminal::No && err.is_some_and(|e| e == "States.TaskFailed" || !e.starts_with("States."))
        }
        n => err == Some(n),
    })
}

/// The wait before retry number `attempt` (0-based) of a retrier; `unit` draws a number
/// in [0, 1) for FULL jitter.
pub(crate) fn backoff(r: &Retrier, attempt: u64, unit: impl FnOnce() -> f64) -> Duration {
    let mut secs = r.interval_seconds as f64 * r.backoff_rate.powi(attempt.min(1000) as i32);
    if let Some(max) = r.max_delay_seconds {
        secs = secs.min(max as f64);
    }
    if r.jitter_full {
        secs *= unit();
    }
    Duration::from_secs_f64(secs.clamp(0.0, 31_622_400.0))
}

enum Decision<'s> {
    Retry(Duration),
    Catch(&'s Catcher),
    Fail,
}

fn decide<'s>(st: &'s State, f: &Failure, counts: &mut [u64], unit: impl FnOnce() -> f64) -> Decision<'s> {
    if let Some(i) = st.retry.iter().position(|r| error_matches(&r.errors, f)) {
        let r = &st.retry[i];
        if counts[i] < r.max_attempts {
            let d = backoff(r, counts[i], unit);
            counts[i] += 1;
            return Decision::Retry(d);
        }
    }
    match st.catch.iter().find(|c| error_matches(&c.errors, f)) {
        Some(c) => Decision::Catch(c),
        None => Decision::Fail,
    }
}

/// Checks that a ResultPath can be applied without changing anything.
fn result_path_fits(v: &Value, segs: &[Seg]) -> bool {
    let mut cur = Some(v);
    for seg in segs {
        match (seg, cur) {
            (Seg::Field(f), Some(Value::Object(m))) => cur = member(m, f),
            (Seg::Field(_), None) => {}
            (Seg::Index(i), Some(Value::Array(a))) => {
                let len = a.len() as i64;
                let k = if *i < 0 { len + i } else { *i };
                if !(0..len).contains(&k) {
                    return false;
                }
                cur = a.get(k as usize);
            }
            _ => return false,
        }
    }
    true
}

fn set_at(v: &mut Value, segs: &[Seg], result: Value) {
    let Some((last, init)) = segs.split_last() else {
        *v = result;
        return;
    };
    let mut cur = v;
    for seg in init {
        cur = match seg {
            Seg::Field(f) => match cur {
                Value::Object(m) => {
                    if member(m, f).is_none() {
                        m.insert(String::from(&**f), Value::Object(Map::new()));
                    }
                    member_mut(m, f).expect("inserted")
                }
                _ => return,
            },
            Seg::Index(i) => match cur {
                Value::Array(a) => {
                    let k = if *i < 0 { a.len() as i64 + i } else { *i } as usize;
                    &mut a[k]
                }
                _ => return,
            },
            _ => return,
        };
    }
    match (last, cur) {
        (Seg::Field(f), Value::Object(m)) => match member_mut(m, f) {
            Some(slot) => *slot = result,
            None => {
                m.insert(String::from(&**f), result);
            }
        },
        (Seg::Index(i), Value::Array(a)) => {
            let k = if *i < 0 { a.len() as i64 + i } else { *i } as usize;
            a[k] = result;
        }
        _ => {}
    }
}

/// The `{"Error": ..., "Cause": ...}` document a Catch passes on.
fn error_output(f: &Failure) -> Value {
    let mut m = Map::new();
    if let Some(e) = &f.error {
        m.insert("Error".into(), Value::String(e.clone()));
    }
    if let Some(c) = &f.cause {
        m.insert("Cause".into(), Value::String(c.clone()));
    }
    Value::Object(m)
}

fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => compact(other),
    }
}

impl<'e> Exec<'e> {
    /// A number in [0, 1) from the execution's random source.
    fn unit_random(&self) -> f64 {
        match &self.rng {
            Some(rng) => rng.lock().unwrap_or_else(|p| p.into_inner()).f64(),
            None => fastrand::f64(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    #[inline]
    fn emit(
        &self,
        ty: &'static str,
        prev: u64,
        details: impl FnOnce() -> Option<(&'static str, Map<String, Value>)>,
    ) -> u64 {
        self.rec.emit(ty, prev, || self.shared.clock.now(), details)
    }

    fn ctx<'x>(&'x self, st: &'x State, entered: DateTime<Utc>, retry: u32) -> Ctx<'x> {
        Ctx { exec: &self.info, state: &st.name, entered, retry, item: None }
    }

    fn runtime(&self, st: &State, entered_id: u64, msg: impl std::fmt::Display) -> Failure {
        Failure {
            error: Some("States.Runtime".into()),
            cause: Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{entered_id}). {msg}",
                st.name
            )),
            terminal: Terminal::Runtime,
            last: entered_id,
        }
    }

    fn data_limit(&self, st: &State, last: u64) -> Failure {
        Failure {
            error: Some("States.DataLimitExceeded".into()),
            cause: Some(format!(
                "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                st.name
            )),
            terminal: Terminal::DataLimit,
            last,
        }
    }

    fn invalid_path(&self, st: &State, id: u64, p: &JsonPath, data: &Value, env: &Env) -> Failure {
        let miss = env.resolve(p, data).err().unwrap_or(crate::path::Miss::NoResults);
        self.runtime(st, id, format!("Invalid path '{}' : {}", p.text, p.miss_message(&miss)))
    }

    /// The effective input (borrowed where possible) and its size bound, for an input
    /// bounded by `bound`.
    fn effective<'x>(
        &self,
        st: &State,
        id: u64,
        input: &'x Value,
        bound: usize,
        env: &'x Env,
    ) -> Result<(Cow<'x, Value>, usize), Failure> {
        match &st.input_path {
            IoPath::Whole => Ok((Cow::Borrowed(input), bound)),
            IoPath::Null => Ok((Cow::Owned(Value::Object(Map::new())), 2)),
            IoPath::Path(p) => env.resolve_sized(p, input, bound).map_err(|_| self.invalid_path(st, id, p, input, env)),
        }
    }

    /// Applies an InputPath or OutputPath to an owned value bounded by `bound`, moving the
    /// selected part out; gives the part and its size bound.
    #[inline(always)]
    fn select_owned(
        &self,
        st: &State,
        id: u64,
        path: &IoPath,
        v: Value,
        bound: usize,
        env: &Env,
    ) -> Result<(Value, usize), Failure> {
        match path {
            IoPath::Whole => Ok((v, bound)),
            _ => self.select_part(st, id, path, v, bound, env),
        }
    }

    fn select_part(
        &self,
        st: &State,
        id: u64,
        path: &IoPath,
        mut v: Value,
        bound: usize,
        env: &Env,
    ) -> Result<(Value, usize), Failure> {
        match path {
            IoPath::Whole => Ok((v, bound)),
            IoPath::Null => Ok((Value::Object(Map::new()), 2)),
            IoPath::Path(p) => {
                if p.root == Root::Data && p.definite && !matches!(p.segs.last(), Some(Seg::Length)) {
                    if let Some(x) = take_at(&mut v, &p.segs) {
                        return Ok((x, bound));
                    }
                    return Err(self.invalid_path(st, id, p, &v, env));
                }
                match env.resolve_sized(p, &v, bound) {
                    Ok((x, n)) => Ok((x.into_owned(), n)),
                    Err(_) => Err(self.invalid_path(st, id, p, &v, env)),
                }
            }
        }
    }

    /// Puts `result` (bounded by `result_bound`) into `input` (bounded by `bound`) as
    /// ResultPath says and gives the bound of the new document; on failure `input` is
    /// unchanged.
    fn apply_result_path(
        &self,
        rp: &ResultPath,
        input: &mut Value,
        bound: usize,
        result: Value,
        result_bound: usize,
        last: u64,
    ) -> Result<usize, Failure> {
        Ok(match rp {
            ResultPath::Replace => {
                *input = result;
                result_bound
            }
            ResultPath::Discard => bound,
            ResultPath::Path(p, overhead) => {
                if let ([Seg::Field(f)], Value::Object(m)) = (&p.segs[..], &mut *input) {
                    // `$.name` on an object (the usual ResultPath) always fits.
                    match member_mut(m, f) {
                        Some(slot) => *slot = result,
                        None => {
                            m.insert(String::from(&**f), result);
                        }
                    }
                    return Ok(bound.saturating_add(result_bound).saturating_add(*overhead));
                }
                if !result_path_fits(input, &p.segs) {
                    return Err(Failure {
                        error: Some("States.ResultPathMatchFailure".into()),
                        cause: Some(format!("Unable to apply ResultPath '{}' to input '{}'", p.text, compact(input))),
                        terminal: Terminal::No,
                        last,
                    });
                }
                set_at(input, &p.segs, result);
                bound.saturating_add(result_bound).saturating_add(*overhead)
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_assign(
        &self,
        st: &State,
        id: u64,
        t: Option<&crate::template::Tmpl>,
        data: &Value,
        bound: usize,
        env: &Env,
    ) -> Result<Assigned, Failure> {
        match t {
            None => Ok(None),
            Some(t) => t.eval_assign(data, bound, env).map(Some).map_err(|m| self.runtime(st, id, m)),
        }
    }

    /// Runs a graph (the machine, a branch or an iteration) from its StartAt, on an input
    /// whose size is at most `bound`; gives the output, its size bound and the last event.
    ///
    /// Every state's output is held to the payload quota: each state works out an upper
    /// bound of its output's size from its input's bound and the parts it adds, and the
    /// output is measured only when that bound exceeds the quota.
    pub(crate) async fn run_graph(
        &self,
        graph: &Graph,
        input: Value,
        bound: usize,
        vars: &mut Vars<'_>,
        prev: u64,
    ) -> Result<(Value, usize, u64), Failure> {
        {
            let mut idx = graph.start;
            let mut input = input;
            let mut bound = bound;
            let mut prev = prev;
            loop {
                let st = &graph.states[idx];
                // Only `$$.State.EnteredTime` and Wait states read the time a state is
                // entered: other states need not ask the clock.
                let entered_at = if self.reads_entered_time || matches!(st.kind, Kind::Wait(_)) {
                    self.now()
                } else {
                    DateTime::UNIX_EPOCH
                };
                let recording = self.rec.recording();
                // Event types are only looked up for recorded events.
                let ty = |exited| if recording { event(&st.kind, exited) } else { "" };
                let entered = self.emit(ty(false), prev, || {
                    let mut d = obj([("name", Value::String(st.name.to_string()))]);
                    if recording {
                        payload(&mut d, "input", &input);
                    }
                    Some(("stateEnteredEventDetails", d))
                });
                let step = match &st.kind {
                    Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                        self.retrying(st, input, bound, vars, entered, entered_at).await?
                    }
                    Kind::Wait(how) => self.wait(st, how, input, bound, vars, entered, entered_at).await?,
                    // The other states do not wait: no future of their own.
                    _ => self.step(st, input, bound, vars, entered, entered_at)?,
                };
                let Some(out_bound) = within_limit(&step.output, step.bound) else {
                    return Err(self.data_limit(st, step.last));
                };
                let exited = self.emit(ty(true), step.last, || {
                    let mut d = obj([("name", Value::String(st.name.to_string()))]);
                    payload(&mut d, "output", &step.output);
                    Some(("stateExitedEventDetails", d))
                });
                prev = exited;
                match step.next {
                    Transition::Next(n) => {
                        idx = n;
                        input = step.output;
                        bound = out_bound;
                    }
                    Transition::End => return Ok((step.output, out_bound, exited)),
                }
            }
        }
    }

    /// A Pass, Succeed, Fail or Choice state.
    fn step(
        &self,
        st: &State,
        input: Value,
        bound: usize,
        vars: &mut Vars<'_>,
        id: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<Step, Failure> {
        match &st.kind {
            Kind::Pass { result, result_size } => {
                self.pass(st, result.as_ref(), *result_size, input, bound, vars, id, entered_at)
            }
            Kind::Succeed => {
                let ctx = self.ctx(st, entered_at, 0);
                let env = Env { ctx: &ctx, vars };
                let (eff, bound) = self.select_owned(st, id, &st.input_path, input, bound, &env)?;
                let (output, bound) = self.select_owned(st, id, &st.output_path, eff, bound, &env)?;
                Ok(Step { output, bound, next: Transition::End, last: id })
            }
            Kind::Fail { error, cause } => {
                let ctx = self.ctx(st, entered_at, 0);
                let env = Env { ctx: &ctx, vars };
                let text = |t: &Option<Text>, field: &str| -> Result<Option<String>, Failure> {
                    match t {
                        None => Ok(None),
                        Some(Text::Lit(s)) => Ok(Some(s.clone())),
                        Some(Text::Expr(e)) => match e.eval(&input, &env) {
                            Ok(Value::String(s)) => Ok(Some(s)),
                            Ok(other) => Ok(Some(compact(&other))),
                            Err(err) => Err(self.runtime(st, id, field_error(field, &err, &input))),
                        },
                    }
                };
                let error = text(error, "ErrorPath")?;
                let cause = text(cause, "CausePath")?;
                Err(Failure { error, cause, terminal: Terminal::No, last: id })
            }
            Kind::Choice { rules, default } => {
                let ctx = self.ctx(st, entered_at, 0);
                let env = Env { ctx: &ctx, vars: &*vars };
                let (eff, bound) = self.select_owned(st, id, &st.input_path, input, bound, &env)?;
                let mut chosen = None;
                for rule in rules {
                    let hit = rule.cond.eval(&eff, &env).map_err(|p| {
                        self.runtime(
                            st,
                            id,
                            format!(
                                "Invalid path '{}': The choice state's condition path references an invalid value.",
                                p.0
                            ),
                        )
                    })?;
                    if hit {
                        chosen = Some((rule.next, rule.assign.as_ref()));
                        break;
                    }
                }
                let (next, assign) = match (chosen, default) {
                    (Some(c), _) => c,
                    (None, Some(d)) => (*d, st.assign.as_ref()),
                    (None, None) => {
                        return Err(Failure {
                            error: Some("States.NoChoiceMatched".into()),
                            cause: Some(format!(
                            "No Choice Rule matched and no Default is specified in the state '{}' for the input '{}'",
                            st.name,
                            compact(&eff)
                        )),
                            terminal: Terminal::No,
                            last: id,
                        })
                    }
                };
                let assigned = self.eval_assign(st, id, assign, &eff, bound, &env)?;
                let (output, bound) = self.select_owned(st, id, &st.output_path, eff, bound, &env)?;
                if let Some(a) = assigned {
                    vars.set_all(a);
                }
                Ok(Step { output, bound, next: Transition::Next(next), last: id })
            }
            Kind::Wait(_) | Kind::Task(_) | Kind::Parallel { .. } | Kind::Map(_) => {
                unreachable!("states that wait have their own futures")
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn wait(
        &self,
        st: &State,
        how: &WaitFor,
        input: Value,
        bound: usize,
        vars: &mut Vars<'_>,
        id: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<Step, Failure> {
        let (eff, bound, until) = {
            let ctx = self.ctx(st, entered_at, 0);
            let env = Env { ctx: &ctx, vars: &*vars };
            let (eff, bound) = self.select_owned(st, id, &st.input_path, input, bound, &env)?;
            let until = self.wait_until(st, id, how, &eff, &env, entered_at)?;
            (eff, bound, until)
        };
        let delay = (until - self.now()).to_std().unwrap_or_default();
        self.shared.clock.sleep(delay).await;
        let ctx = self.ctx(st, entered_at, 0);
        let env = Env { ctx: &ctx, vars: &*vars };
        let assigned = self.eval_assign(st, id, st.assign.as_ref(), &eff, bound, &env)?;
        let (output, bound) = self.select_owned(st, id, &st.output_path, eff, bound, &env)?;
        if let Some(a) = assigned {
            vars.set_all(a);
        }
        Ok(Step { output, bound, next: st.next, last: id })
    }

    #[allow(clippy::too_many_arguments)]
    fn pass(
        &self,
        st: &State,
        literal: Option<&Value>,
        literal_size: usize,
        mut input: Value,
        bound: usize,
        vars: &mut Vars<'_>,
        id: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<Step, Failure> {
        let ctx = self.ctx(st, entered_at, 0);
        let env = Env { ctx: &ctx, vars: &*vars };
        if let (Some(params), ResultPath::Replace, IoPath::Path(out), None) =
            (&st.parameters, &st.result_path, &st.output_path, &st.assign)
        {
            if let Some((field, overhead, takes)) = params.sole_field(out) {
                // `{"k.$": …}` and OutputPath `$.k`: the output is the field's value,
                // and the object around it is not built.
                let input = std::mem::take(&mut input);
                let (eff, eff_bound) = self.select_owned(st, id, &st.input_path, input, bound, &env)?;
                let (v, n) = field.consume(takes, eff, eff_bound, &env).map_err(|m| self.runtime(st, id, m))?;
                // The object is held to the quota (its size is the field's and `overhead`).
                let mut whole = overhead.saturating_add(n);
                if whole > MAX_PAYLOAD_BYTES {
                    whole = overhead + json_size(&v);
                    if whole > MAX_PAYLOAD_BYTES {
                        return Err(self.data_limit(st, id));
                    }
                }
                return Ok(Step { output: v, bound: whole, next: st.next, last: id });
            }
        }
        let (result, result_bound) = if let Some(params) = &st.parameters {
            let (v, n) = if matches!(st.result_path, ResultPath::Replace) {
                // The result replaces the input: Parameters may move the input's parts
                // into the result instead of copying them.
                let input = std::mem::take(&mut input);
                let (eff, eff_bound) = self.select_owned(st, id, &st.input_path, input, bound, &env)?;
                params.eval_consuming(eff, eff_bound, &env)
            } else {
                let (eff, eff_bound) = self.effective(st, id, &input, bound, &env)?;
                params.eval_sized(&eff, eff_bound, &env)
            }
            .map_err(|m| self.runtime(st, id, m))?;
            // The state's input after Parameters is held to the quota.
            let n = within_limit(&v, n).ok_or_else(|| self.data_limit(st, id))?;
            (v, n)
        } else if let Some(lit) = literal {
            if let IoPath::Path(_) = st.input_path {
                self.effective(st, id, &input, bound, &env)?;
            }
            if literal_size > MAX_PAYLOAD_BYTES {
                return Err(self.data_limit(st, id));
            }
            (lit.clone(), literal_size)
        } else if matches!(st.result_path, ResultPath::Replace) {
            // The effective input is the output: move it instead of copying it.
            let (eff, bound) = self.select_owned(st, id, &st.input_path, std::mem::take(&mut input), bound, &env)?;
            let assigned = self.eval_assign(st, id, st.assign.as_ref(), &eff, bound, &env)?;
            let (output, bound) = self.select_owned(st, id, &st.output_path, eff, bound, &env)?;
            if let Some(a) = assigned {
                vars.set_all(a);
            }
            return Ok(Step { output, bound, next: st.next, last: id });
        } else {
            let (eff, eff_bound) = self.effective(st, id, &input, bound, &env)?;
            (eff.into_owned(), eff_bound)
        };
        let assigned = self.eval_assign(st, id, st.assign.as_ref(), &result, result_bound, &env)?;
        let bound = self.apply_result_path(&st.result_path, &mut input, bound, result, result_bound, id)?;
        let (output, bound) = self.select_owned(st, id, &st.output_path, input, bound, &env)?;
        if let Some(a) = assigned {
            vars.set_all(a);
        }
        Ok(Step { output, bound, next: st.next, last: id })
    }

    fn wait_until(
        &self,
        st: &State,
        id: u64,
        how: &WaitFor,
        eff: &Value,
        env: &Env,
        entered_at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Failure> {
        let after = |secs: u64| entered_at + chrono::Duration::seconds(secs.min(i64::MAX as u64 / 1000) as i64);
        match how {
            WaitFor::Seconds(s) => Ok(after(*s)),
            WaitFor::Timestamp(t) => Ok(*t),
            WaitFor::SecondsPath(p) => {
                let Ok(v) = env.resolve(p, eff) else {
                    return Err(self.runtime(
                        st,
                        id,
                        format!("The SecondsPath parameter does not reference an input value: {}", p.text),
                    ));
                };
                match &*v {
                    Value::Number(n) if n.as_i64().is_some() => {
                        let s = n.as_i64().unwrap_or(0);
                        if s < 0 {
                            return Err(self.runtime(
                                st,
                                id,
                                format!("The SecondsPath parameter references a negative value: {} == {}", p.text, n),
                            ));
                        }
                        Ok(after(s as u64))
                    }
                    other => Err(self.runtime(
                        st,
                        id,
                        format!(
                            "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                            p.text,
                            quoted(other)
                        ),
                    )),
                }
            }
            WaitFor::TimestampPath(p) => {
                let Ok(v) = env.resolve(p, eff) else {
                    return Err(self.runtime(
                        st,
                        id,
                        format!("The TimestampPath parameter does not reference an input value: {}", p.text),
                    ));
                };
                match v.as_str().and_then(crate::timestamp::parse) {
                    Some(t) => Ok(t),
                    None => Err(self.runtime(
                        st,
                        id,
                        format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time \
                             format string: {} == {}",
                            p.text,
                            quoted(&v)
                        ),
                    )),
                }
            }
        }
    }

    /// Task, Map and Parallel: attempts with Retry, then Catch.
    async fn retrying(
        &self,
        st: &State,
        mut input: Value,
        bound: usize,
        vars: &mut Vars<'_>,
        id: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<Step, Failure> {
        // Attempts per retrier (on the stack for up to eight retriers).
        let mut few = [0u64; 8];
        let mut many = Vec::new();
        let counts: &mut [u64] = match few.get_mut(..st.retry.len()) {
            Some(c) => c,
            None => {
                many.resize(st.retry.len(), 0);
                &mut many
            }
        };
        let mut retry_count = 0u32;
        let mut cursor = id;
        loop {
            // One attempt: the result after ResultSelector, its size bound, the
            // variables to assign and the id of the last event.
            let raw = match &st.kind {
                Kind::Task(spec) => self
                    .task_attempt(st, spec, &mut input, bound, vars, id, cursor, entered_at, retry_count)
                    .await
                    .map_err(|f| (f, false)),
                Kind::Map(spec) => self.map_attempt(st, spec, &input, bound, vars, id, cursor, entered_at).await,
                Kind::Parallel { branches } => {
                    self.parallel_attempt(st, branches, &input, bound, vars, id, cursor, entered_at).await
                }
                _ => unreachable!("only Task, Map and Parallel retry"),
            };
            let attempt = raw.and_then(|(raw, raw_bound, last)| {
                self.finish_attempt(st, id, raw, raw_bound, last, entered_at, retry_count, vars).map_err(|f| (f, false))
            });
            let (failure, began) = match attempt {
                Ok((result, result_bound, assigned, last)) => {
                    match self.apply_result_path(&st.result_path, &mut input, bound, result, result_bound, last) {
                        Ok(bound) => {
                            let ctx = self.ctx(st, entered_at, retry_count);
                            let env = Env { ctx: &ctx, vars: &*vars };
                            let (output, bound) = self.select_owned(st, id, &st.output_path, input, bound, &env)?;
                            if let Some(a) = assigned {
                                vars.set_all(a);
                            }
                            return Ok(Step { output, bound, next: st.next, last });
                        }
                        Err(f) => (f, false),
                    }
                }
                Err(fb) => fb,
            };
            let decision = decide(st, &failure, counts, || self.unit_random());
            let mut failure = failure;
            if began && !matches!(decision, Decision::Retry(_)) {
                let failed_event = match st.kind {
                    Kind::Map(_) => Some("MapStateFailed"),
                    Kind::Parallel { .. } => Some("ParallelStateFailed"),
                    _ => None,
                };
                if let Some(ty) = failed_event {
                    failure.last = self.emit(ty, failure.last, || None);
                }
            }
            match decision {
                Decision::Retry(d) => {
                    self.shared.clock.sleep(d).await;
                    retry_count += 1;
                    cursor = failure.last;
                }
                Decision::Catch(c) => {
                    let err_doc = error_output(&failure);
                    let err_size = json_size(&err_doc);
                    let ctx = self.ctx(st, entered_at, retry_count);
                    let env = Env { ctx: &ctx, vars: &*vars };
                    let assigned = self.eval_assign(st, id, c.assign.as_ref(), &err_doc, err_size, &env)?;
                    let bound = match self.apply_result_path(
                        &c.result_path,
                        &mut input,
                        bound,
                        err_doc,
                        err_size,
                        failure.last,
                    ) {
                        Ok(bound) => bound,
                        Err(f) => return Err(self.runtime(st, id, f.cause.unwrap_or_default())),
                    };
                    if let Some(a) = assigned {
                        vars.set_all(a);
                    }
                    return Ok(Step { output: input, bound, next: Transition::Next(c.next), last: failure.last });
                }
                Decision::Fail => return Err(failure),
            }
        }
    }

    /// The payload size checks, the Assign values and ResultSelector of a successful
    /// attempt whose raw result is bounded by `raw_bound`.
    #[allow(clippy::too_many_arguments)]
    fn finish_attempt(
        &self,
        st: &State,
        id: u64,
        raw: Value,
        raw_bound: usize,
        last: u64,
        entered_at: DateTime<Utc>,
        retry: u32,
        vars: &Vars<'_>,
    ) -> Result<Attempt, Failure> {
        // The task's (or Map's, Parallel's) own result is held to the quota, and so is
        // what ResultSelector makes of it.
        let raw_bound = within_limit(&raw, raw_bound).ok_or_else(|| self.data_limit(st, last))?;
        let ctx = self.ctx(st, entered_at, retry);
        let env = Env { ctx: &ctx, vars };
        // Assign sees the raw result, before ResultSelector (as LocalStack's AWS-validated
        // interpreter does).
        let assigned = self.eval_assign(st, id, st.assign.as_ref(), &raw, raw_bound, &env)?;
        let (result, bound) = match &st.result_selector {
            Some(t) => {
                let (v, n) = t.eval_sized(&raw, raw_bound, &env).map_err(|m| self.runtime(st, id, m))?;
                let n = within_limit(&v, n).ok_or_else(|| self.data_limit(st, last))?;
                (v, n)
            }
            None => (raw, raw_bound),
        };
        Ok((result, bound, assigned, last))
    }

    #[allow(clippy::too_many_arguments)]
    async fn task_attempt(
        &self,
        st: &State,
        spec: &TaskSpec,
        input: &mut Value,
        bound: usize,
        vars: &Vars<'_>,
        id: u64,
        cursor: u64,
        entered_at: DateTime<Utc>,
        retry: u32,
    ) -> Result<(Value, usize, u64), Failure> {
        let invoke = matches!(spec.resource, Resource::LambdaInvoke { .. });
        let (params, timeout) = {
            let ctx = self.ctx(st, entered_at, retry);
            let env = Env { ctx: &ctx, vars };
            // Worked out on the whole input, but reported after Parameters' errors.
            let timeout = match &spec.timeout {
                None => Ok(None),
                Some(Seconds::Fixed(n)) => Ok(Some(*n)),
                Some(Seconds::Path(p)) => match env.resolve(p, input) {
                    Ok(v) => match v.as_u64() {
                        Some(n) if n > 0 => Ok(Some(n)),
                        _ => Err(self.runtime(
                            st,
                            id,
                            format!("The TimeoutSecondsPath field refers to value \"{}\" which is not a valid positive integer: {}", quoted(&v), p.text),
                        )),
                    },
                    Err(_) => Err(self.invalid_path(st, id, p, input, &env)),
                },
            };
            // Parameters that only select parts of the input lend them to the task
            // (`lambda:invoke` takes its Payload out of the parameters: they are its own).
            let (params, params_bound) = match &st.parameters {
                Some(t) if t.lends() && !invoke && matches!(st.input_path, IoPath::Whole) => {
                    let (value, n) = t.lend(input, bound, &env).map_err(|m| self.runtime(st, id, m))?;
                    (TaskInput::Lent { value, template: t, from: input }, n)
                }
                _ => {
                    let (eff, eff_bound) = self.effective(st, id, input, bound, &env)?;
                    let (value, n) = match &st.parameters {
                        Some(t) => t.eval_sized(&eff, eff_bound, &env).map_err(|m| self.runtime(st, id, m))?,
                        None => (eff.into_owned(), eff_bound),
                    };
                    (TaskInput::Owned(value), n)
                }
            };
            // The state's input after Parameters is held to the quota.
            if within_limit(params.value(), params_bound).is_none() {
                return Err(self.data_limit(st, id));
            }
            (params, timeout?)
        };
        let region = self.shared.region.as_str();
        let lambda_arn = matches!(spec.resource, Resource::Lambda { .. });
        let arn = spec.resource.arn();
        // Only recorded events name the service: worked out when one is recorded.
        let rtype = || service_parts(arn).0;
        let rname = || service_parts(arn).1;
        let started = if lambda_arn {
            let sched = self.emit("LambdaFunctionScheduled", cursor, || {
                let mut d = obj([("resource", Value::String(arn.to_string()))]);
                payload(&mut d, "input", params.value());
                if let Some(t) = timeout {
                    d.insert("timeoutInSeconds".into(), t.into());
                }
                Some(("lambdaFunctionScheduledEventDetails", d))
            });
            self.emit("LambdaFunctionStarted", sched, || None)
        } else {
            let sched = self.emit("TaskScheduled", cursor, || {
                let mut d = obj([
                    ("resourceType", rtype().into()),
                    ("resource", rname().into()),
                    ("region", region.into()),
                    ("parameters", compact(params.value()).into()),
                ]);
                if let Some(t) = timeout {
                    d.insert("timeoutInSeconds".into(), t.into());
                }
                Some(("taskScheduledEventDetails", d))
            });
            self.emit("TaskStarted", sched, || {
                Some(("taskStartedEventDetails", obj([("resourceType", rtype().into()), ("resource", rname().into())])))
            })
        };
        let outcome = match self.mocked(st, started, id)? {
            Some(MockResponse::Return(v)) => Some(Ok(v)),
            Some(MockResponse::Throw { error, cause }) => Some(Err(TaskFailure { error, cause })),
            None => {
                let registry = &self.shared.registry;
                let (handler, function, mut task_input) = if lambda_arn {
                    match spec.handler.get_or_find(self.shared.id, || registry.lambda(arn)) {
                        Some(h) => (h, spec.function.as_deref().map(Cow::Borrowed), params),
                        None => return Err(self.no_handler(st, id, arn, started)),
                    }
                } else if invoke {
                    let Some(fname) = params.value().get("FunctionName").and_then(Value::as_str).map(str::to_owned)
                    else {
                        let mut f = self.runtime(
                            st,
                            id,
                            format!(
                                "The Parameters '{}' could not be used to start the Task: [The field 'FunctionName' is required]",
                                compact(params.value())
                            ),
                        );
                        f.last = started;
                        return Err(f);
                    };
                    let mut params = params;
                    let payload_in = params.payload();
                    match registry.lambda(&fname) {
                        Some(h) => (h, Some(Cow::Owned(function_name(&fname).to_owned())), payload_in),
                        None => return Err(self.no_handler(st, id, &fname, started)),
                    }
                } else {
                    match spec.handler.get_or_find(self.shared.id, || registry.resource(arn)) {
                        Some(h) => (h, None, params),
                        None => return Err(self.no_handler(st, id, arn, started)),
                    }
                };
                let ctx = self.task_ctx(st, arn, function.as_deref(), retry);
                let call = match &mut task_input {
                    TaskInput::Owned(v) => handler.invoke(std::mem::take(v), &ctx),
                    TaskInput::Lent { value, .. } => handler.invoke_ref(value, &ctx),
                };
                let result = match timeout {
                    None => Some(call.await),
                    Some(secs) => self.within(call, secs).await,
                };
                match result {
                    Some(Ok(out)) if invoke => Some(Ok(invoke_response(out))),
                    other => other,
                }
            }
        };
        match outcome {
            Some(Ok(out)) => {
                // Nothing bounds what the task returned: a walk of its tree does (and
                // the result is measured if that bound exceeds the quota).
                let size = size_bound(&out);
                let done = if lambda_arn {
                    self.emit("LambdaFunctionSucceeded", started, || {
                        let mut d = Map::new();
                        payload(&mut d, "output", &out);
                        Some(("lambdaFunctionSucceededEventDetails", d))
                    })
                } else {
                    self.emit("TaskSucceeded", started, || {
                        let mut d = obj([("resourceType", rtype().into()), ("resource", rname().into())]);
                        payload(&mut d, "output", &out);
                        Some(("taskSucceededEventDetails", d))
                    })
                };
                Ok((out, size, done))
            }
            Some(Err(TaskFailure { error, cause })) => {
                let done = if lambda_arn {
                    self.emit("LambdaFunctionFailed", started, || {
                        Some((
                            "lambdaFunctionFailedEventDetails",
                            obj([("error", error.clone().into()), ("cause", cause.clone().into())]),
                        ))
                    })
                } else {
                    self.emit("TaskFailed", started, || {
                        Some((
                            "taskFailedEventDetails",
                            obj([
                                ("resourceType", rtype().into()),
                                ("resource", rname().into()),
                                ("error", error.clone().into()),
                                ("cause", cause.clone().into()),
                            ]),
                        ))
                    })
                };
                Err(Failure { error: Some(error), cause: Some(cause), terminal: Terminal::No, last: done })
            }
            None => {
                let done = if lambda_arn {
                    self.emit("LambdaFunctionTimedOut", started, || {
                        Some(("lambdaFunctionTimedOutEventDetails", obj([("error", "States.Timeout".into())])))
                    })
                } else {
                    self.emit("TaskTimedOut", started, || {
                        Some((
                            "taskTimedOutEventDetails",
                            obj([
                                ("resourceType", rtype().into()),
                                ("resource", rname().into()),
                                ("error", "States.Timeout".into()),
                            ]),
                        ))
                    })
                };
                Err(Failure { error: Some("States.Timeout".into()), cause: None, terminal: Terminal::No, last: done })
            }
        }
    }

    /// The mocked response for this invocation of a Task state, if the test case mocks it.
    fn mocked(&self, st: &State, started: u64, id: u64) -> Result<Option<MockResponse>, Failure> {
        let Some(mocks) = &self.mocks else { return Ok(None) };
        let n = {
            let mut counts = self.mock_counts.lock().unwrap_or_else(|p| p.into_inner());
            let c = counts.entry(st.name.to_string()).or_insert(0);
            let n = *c;
            *c += 1;
            n
        };
        match mocks.response(&st.name, n) {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r.clone())),
            Some(Err(m)) => {
                let mut f = self.runtime(st, id, m);
                f.last = started;
                Err(f)
            }
        }
    }

    fn no_handler(&self, st: &State, id: u64, what: &str, last: u64) -> Failure {
        let mut f = self.runtime(
            st,
            id,
            format!(
                "No task handler is registered for '{what}': the embedded engine runs Task states only through handlers \
                 registered by resource ARN or function name"
            ),
        );
        f.last = last;
        f
    }

    fn task_ctx<'x>(
        &'x self,
        st: &'x State,
        resource: &'x str,
        function: Option<&'x str>,
        retry: u32,
    ) -> TaskContext<'x> {
        TaskContext {
            execution_name: &self.info.name,
            execution_arn: &self.info.arn,
            state_machine_name: self.info.machine_name,
            state_name: &st.name,
            resource,
            function_name: function,
            retry_count: retry,
            clock: &self.shared.clock,
        }
    }

    /// Runs a handler call bounded by TimeoutSeconds; `None` when it timed out.
    async fn within<F>(&self, fut: F, secs: u64) -> Option<Result<Value, TaskFailure>>
    where
        F: Future<Output = Result<Value, TaskFailure>>,
    {
        let clock = self.shared.clock.clone();
        tokio::select! {
            r = fut => Some(r),
            _ = clock.sleep(Duration::from_secs(secs)) => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn map_attempt(
        &self,
        st: &State,
        spec: &MapSpec,
        input: &Value,
        bound: usize,
        vars: &Vars<'_>,
        id: u64,
        cursor: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<(Value, usize, u64), (Failure, bool)> {
        let ctx = self.ctx(st, entered_at, 0);
        let env = Env { ctx: &ctx, vars };
        let before = |f: Failure| (f, false);
        let (eff, eff_bound) = self.effective(st, id, input, bound, &env).map_err(before)?;
        let (items_val, items_bound) = match &spec.items_path {
            Some(p) => env
                .resolve_sized(p, &eff, eff_bound)
                .map_err(|_| self.invalid_path(st, id, p, &eff, &env))
                .map_err(before)?,
            None => (Cow::Borrowed(&*eff), eff_bound),
        };
        // Each item is a part of the items array.
        let bounds = (items_bound, eff_bound);
        let Some(items) = items_val.as_array() else {
            let path = spec.items_path.as_ref().map_or("$", |p| &p.text);
            return Err(before(self.runtime(
                st,
                id,
                format!(
                    "The ItemsPath field refers to value \"{}\" which is not a valid JSON array: {path}",
                    quoted(&items_val)
                ),
            )));
        };
        let limit = match &spec.max_concurrency {
            MaxConcurrency::Fixed(n) => *n as usize,
            MaxConcurrency::Path(p) => {
                let v = env.resolve(p, &eff).map_err(|_| self.invalid_path(st, id, p, &eff, &env)).map_err(before)?;
                match int_value(&v) {
                    Some(n) if n >= 0 => n as usize,
                    _ => {
                        return Err(before(self.runtime(
                            st,
                            id,
                            format!(
                                "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {}",
                                quoted(&v),
                                p.text
                            ),
                        )))
                    }
                }
            }
        };
        let n = items.len();
        let started =
            self.emit("MapStateStarted", cursor, || Some(("mapStateStartedEventDetails", obj([("length", n.into())]))));
        let limit = if limit == 0 { n.max(1) } else { limit };
        let mut results: Vec<Value> = Vec::with_capacity(n);
        // The result array: brackets, commas and the iterations' outputs.
        let mut result_bound = 1 + n.max(1);
        let mut last_done = started;
        if limit == 1 || n <= 1 {
            let mut prev = started;
            for (i, item) in items.iter().enumerate() {
                let (_, out, out_bound, last, done) = self
                    .iteration(st, spec, id, i, item, &eff, bounds, vars, prev, entered_at)
                    .await
                    .map_err(|(_, f)| (f, true))?;
                results.push(out);
                result_bound = result_bound.saturating_add(out_bound);
                prev = last;
                last_done = done;
            }
        } else {
            let mut slots: Vec<Option<Value>> = (0..n).map(|_| None).collect();
            let mut running = vec![false; n];
            let mut pending = FuturesUnordered::new();
            let mut next = 0;
            while next < n && pending.len() < limit {
                running[next] = true;
                pending.push(self.iteration(st, spec, id, next, &items[next], &eff, bounds, vars, started, entered_at));
                next += 1;
            }
            while let Some(r) = pending.next().await {
                match r {
                    Ok((index, out, out_bound, last, done)) => {
                        slots[index] = Some(out);
                        result_bound = result_bound.saturating_add(out_bound);
                        running[index] = false;
                        last_done = done;
                        if next < n {
                            running[next] = true;
                            pending.push(self.iteration(
                                st,
                                spec,
                                id,
                                next,
                                &items[next],
                                &eff,
                                bounds,
                                vars,
                                last,
                                entered_at,
                            ));
                            next += 1;
                        }
                    }
                    Err((index, f)) => {
                        running[index] = false;
                        drop(pending);
                        for (i, _) in running.iter().enumerate().filter(|(_, r)| **r) {
                            self.emit("MapIterationAborted", f.last, || {
                                Some((
                                    "mapIterationAbortedEventDetails",
                                    obj([("name", st.name.to_string().into()), ("index", i.into())]),
                                ))
                            });
                        }
                        return Err((f, true));
                    }
                }
            }
            results = slots.into_iter().map(Option::unwrap_or_default).collect();
        }
        self.emit("MapStateSucceeded", last_done, || None);
        Ok((Value::Array(results), result_bound, last_done))
    }

    /// One Map iteration: ItemSelector, then the item processor in its own variable scope.
    /// `bounds` are the size bounds of the item and of the Map's effective input `eff`.
    /// Returns the output, its size bound, the last inner event and the
    /// MapIterationSucceeded event.
    #[allow(clippy::too_many_arguments)]
    async fn iteration(
        &self,
        st: &State,
        spec: &MapSpec,
        id: u64,
        index: usize,
        item: &Value,
        eff: &Value,
        (item_bound, eff_bound): (usize, usize),
        vars: &Vars<'_>,
        prev: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<(usize, Value, usize, u64, u64), (usize, Failure)> {
        let (item_input, item_bound) = match &spec.item_selector {
            Some(t) => {
                let ctx = Ctx { item: Some((index, item)), ..self.ctx(st, entered_at, 0) };
                let env = Env { ctx: &ctx, vars };
                t.eval_sized(eff, eff_bound, &env).map_err(|m| (index, self.runtime(st, id, m)))?
            }
            None => (item.clone(), item_bound),
        };
        // The iteration's input (after ItemSelector) is held to the quota.
        let item_bound = within_limit(&item_input, item_bound).ok_or_else(|| (index, self.data_limit(st, id)))?;
        let details = || {
            Some((
                "mapIterationStartedEventDetails",
                obj([("name", st.name.to_string().into()), ("index", index.into())]),
            ))
        };
        let started = self.emit("MapIterationStarted", prev, details);
        let mut scope = Vars::child(vars);
        // A graph runs inside a graph: the inner one's future is boxed.
        match Box::pin(self.run_graph(&spec.processor, item_input, item_bound, &mut scope, started)).await {
            Ok((out, out_bound, last)) => {
                let done = self.emit("MapIterationSucceeded", last, || {
                    Some((
                        "mapIterationSucceededEventDetails",
                        obj([("name", st.name.to_string().into()), ("index", index.into())]),
                    ))
                });
                Ok((index, out, out_bound, last, done))
            }
            Err(f) => {
                self.emit("MapIterationFailed", f.last, || {
                    Some((
                        "mapIterationFailedEventDetails",
                        obj([("name", st.name.to_string().into()), ("index", index.into())]),
                    ))
                });
                Err((index, f))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn parallel_attempt(
        &self,
        st: &State,
        branches: &[Graph],
        input: &Value,
        bound: usize,
        vars: &Vars<'_>,
        id: u64,
        cursor: u64,
        entered_at: DateTime<Utc>,
    ) -> Result<(Value, usize, u64), (Failure, bool)> {
        let (branch_input, branch_bound) = {
            let ctx = self.ctx(st, entered_at, 0);
            let env = Env { ctx: &ctx, vars };
            let (eff, eff_bound) = self.effective(st, id, input, bound, &env).map_err(|f| (f, false))?;
            let (v, n) = match &st.parameters {
                Some(t) => t.eval_sized(&eff, eff_bound, &env).map_err(|m| (self.runtime(st, id, m), false))?,
                None => (eff.into_owned(), eff_bound),
            };
            // The state's input after Parameters is held to the quota.
            let n = within_limit(&v, n).ok_or_else(|| (self.data_limit(st, id), false))?;
            (v, n)
        };
        let started = self.emit("ParallelStateStarted", cursor, || None);
        let mut slots: Vec<Option<Value>> = (0..branches.len()).map(|_| None).collect();
        let mut pending: FuturesUnordered<_> = branches
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let input = branch_input.clone();
                async move {
                    let mut scope = Vars::child(vars);
                    Box::pin(self.run_graph(g, input, branch_bound, &mut scope, started)).await.map(|r| (i, r))
                }
            })
            .collect();
        let mut last = started;
        // The result array: brackets, commas and the branches' outputs.
        let mut result_bound = 1 + branches.len().max(1);
        while let Some(r) = pending.next().await {
            let (i, (out, out_bound, l)) = r.map_err(|f| (f, true))?;
            slots[i] = Some(out);
            result_bound = result_bound.saturating_add(out_bound);
            last = l;
        }
        self.emit("ParallelStateSucceeded", last, || None);
        Ok((Value::Array(slots.into_iter().map(Option::unwrap_or_default).collect()), result_bound, last))
    }
}

/// A Task's input after InputPath and Parameters: a value of its own, or parts
/// of the state's input that Parameters lent it for the call (see
/// [`crate::template::Tmpl::lend`]), put back when this is dropped, whatever the
/// call's outcome.
enum TaskInput<'a> {
    Owned(Value),
    Lent { value: Value, template: &'a crate::template::Tmpl, from: &'a mut Value },
}

impl TaskInput<'_> {
    fn value(&self) -> &Value {
        match self {
            TaskInput::Owned(v) | TaskInput::Lent { value: v, .. } => v,
        }
    }

    /// `lambda:invoke`'s `Payload` (null without one), taken out of the parameters.
    fn payload(&mut self) -> TaskInput<'static> {
        let payload = match self {
            TaskInput::Owned(v) => v.as_object_mut().and_then(|m| m.remove("Payload")),
            TaskInput::Lent { value, .. } => value.get("Payload").cloned(),
        };
        TaskInput::Owned(payload.unwrap_or(Value::Null))
    }
}

impl Drop for TaskInput<'_> {
    fn drop(&mut self) {
        if let TaskInput::Lent { value, template, from } = self {
            template.give_back(from, std::mem::take(value));
        }
    }
}

/// `arn:aws:states:::sns:publish` → (`sns`, `publish`); other ARNs → (service, rest).
fn service_parts(arn: &str) -> (&str, &str) {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() >= 7 && parts[2] == "states" {
        (parts[5], parts[6])
    } else if parts.len() >= 3 {
        (parts[2], arn)
    } else {
        ("task", arn)
    }
}

/// The result `arn:aws:states:::lambda:invoke` gives: Lambda's Invoke response.
fn invoke_response(payload_out: Value) -> Value {
    let request_id = random_uuid();
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), "application/json".into());
    headers.insert("X-Amz-Executed-Version".into(), "$LATEST".into());
    headers.insert("x-amzn-RequestId".into(), request_id.clone().into());
    let mut http = Map::new();
    http.insert("HttpHeaders".into(), Value::Object(headers));
    http.insert("HttpStatusCode".into(), 200.into());
    let mut resp = Map::new();
    resp.insert("ExecutedVersion".into(), "$LATEST".into());
    resp.insert("Payload".into(), payload_out);
    resp.insert("SdkHttpMetadata".into(), Value::Object(http));
    resp.insert("SdkResponseMetadata".into(), obj([("RequestId", request_id.into())]).into());
    resp.insert("StatusCode".into(), 200.into());
    Value::Object(resp)
}
