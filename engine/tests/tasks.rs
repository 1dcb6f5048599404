//! Task states through registered handlers: both Lambda resource forms, failures as
//! error names, Retry backoff (with MaxDelaySeconds and jitter) on a virtual clock,
//! Catch, TimeoutSeconds, unknown resources and the context handlers see.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::{handler_fn, Clock, Engine, ExecutionRequest, ExecutionStatus, ManualClock, StateMachine, TaskFailure};
use serde_json::{json, Value};

fn machine(def: Value) -> StateMachine {
    StateMachine::from_json_named("Invoices", &def.to_string()).unwrap()
}

fn task(resource: &str, extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": resource, "End": true});
    t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "T", "States": {"T": t}})
}

/// Runs an execution whose sleeps are on `clock`, advancing it whenever everything waits.
async fn run_on_clock(
    engine: &Engine,
    m: &StateMachine,
    clock: &ManualClock,
    input: Value,
) -> engine::ExecutionOutcome {
    let (engine, m) = (engine.clone(), m.clone());
    let h = tokio::spawn(async move { engine.run(&m, ExecutionRequest::new("exec-1", input).with_history()).await });
    loop {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        if h.is_finished() {
            return h.await.unwrap();
        }
        clock.advance_to_next();
    }
}

#[tokio::test]
async fn lambda_function_arn_gets_the_handler_output_as_result() {
    let engine =
        Engine::builder().handler("validate", handler_fn(|input, _| async move { Ok(json!({"seen": input})) })).build();
    let m = machine(task(
        "arn:aws:lambda:us-east-1:123456789012:function:validate",
        json!({"Parameters": {"invoice.$": "$.invoice"}, "ResultPath": "$.validation"}),
    ));
    let out = engine.execute(&m, "e1", json!({"invoice": {"invoiceId": "INV-1"}})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(
        out.output.unwrap(),
        json!({"invoice": {"invoiceId": "INV-1"}, "validation": {"seen": {"invoice": {"invoiceId": "INV-1"}}}})
    );
}

#[tokio::test]
async fn lambda_invoke_passes_the_payload_and_wraps_the_result_like_aws() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let engine = Engine::builder()
        .handler(
            "arn:aws:lambda:us-east-1:123456789012:function:process",
            handler_fn(move |input, ctx| {
                *s.lock().unwrap() =
                    Some((input.clone(), ctx.function_name.map(str::to_owned), ctx.execution_name.to_owned()));
                async move { Ok(json!({"status": "PROCESSED"})) }
            }),
        )
        .build();
    let m = machine(task(
        "arn:aws:states:::lambda:invoke",
        json!({
            "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:process:$LATEST",
                           "Payload": {"invoice.$": "$.invoice", "key.$": "$$.Execution.Name"}},
            "ResultSelector": {"processing.$": "$.Payload", "code.$": "$.StatusCode", "version.$": "$.ExecutedVersion"}
        }),
    ));
    let out = engine.execute(&m, "exec-9", json!({"invoice": {"invoiceId": "INV-1"}})).await;
    assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
    assert_eq!(out.output.unwrap(), json!({"processing": {"status": "PROCESSED"}, "code": 200, "version": "$LATEST"}));
    let (input, function, name) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(input, json!({"invoice": {"invoiceId": "INV-1"}, "key": "exec-9"}));
    assert_eq!(function.as_deref(), Some("process:$LATEST"));
    assert_eq!(&*name, "exec-9");
}

#[tokio::test]
async fn a_failing_handler_fails_with_its_error_name_and_cause() {
    let engine = Engine::builder()
        .handler("notify", handler_fn(|_, _| async { Err(TaskFailure::lambda("TopicNotFound", "no such topic")) }))
        .build();
    for resource in ["arn:aws:lambda:us-east-1:123456789012:function:notify", "arn:aws:states:::lambda:invoke"] {
        let m = machine(task(resource, json!({"Parameters": {"FunctionName": "notify", "Payload": {}}})));
        let m = if resource.ends_with(":notify") { machine(task(resource, json!({}))) } else { m };
        let out = engine.execute(&m, "e", json!({})).await;
        assert_eq!(out.status, ExecutionStatus::Failed);
        assert_eq!(out.error.as_deref(), Some("TopicNotFound"));
        assert_eq!(out.cause.as_deref(), Some(r#"{"errorMessage":"no such topic","errorType":"TopicNotFound"}"#));
    }
}

#[tokio::test]
async fn retry_backs_off_exponentially_capped_by_max_delay_on_the_injected_clock() {
    let clock = ManualClock::new(chrono::Utc::now());
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let engine = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handler(
            "store",
            handler_fn(move |_, ctx| {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let retry_count = ctx.retry_count;
                async move {
                    assert_eq!(retry_count, n);
                    if n < 5 {
                        Err(TaskFailure::new("StoreUnavailable", format!("attempt {n}")))
                    } else {
                        Ok(json!({"attempts": n + 1}))
                    }
                }
            }),
        )
        .build();
    let m = machine(task(
        "arn:aws:lambda:us-east-1:123456789012:function:store",
        json!({"Retry": [
            {"ErrorEquals": ["Throttled"], "MaxAttempts": 1},
            {"ErrorEquals": ["StoreUnavailable"], "IntervalSeconds": 2, "BackoffRate": 3.0, "MaxAttempts": 5, "MaxDelaySeconds": 30}
        ]}),
    ));
    let start = clock.now();
    let out = run_on_clock(&engine, &m, &clock, json!({})).await;
    assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
    assert_eq!(out.output.unwrap(), json!({"attempts": 6}));
    let secs: Vec<u64> = clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![2, 6, 18, 30, 30], "2 × 3^n, capped at MaxDelaySeconds");
    assert_eq!((clock.now() - start).num_seconds(), 86);
    let history = out.history.unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "LambdaFunctionFailed").count(), 5);
    assert_eq!(types.iter().filter(|t| **t == "LambdaFunctionScheduled").count(), 6);
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_catch_takes_over_with_result_path() {
    let clock = ManualClock::new(chrono::Utc::now());
    let engine = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handler("p", handler_fn(|_, _| async { Err(TaskFailure::new("StoreUnavailable", "down")) }))
        .build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:p",
              "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}],
              "Catch": [{"ErrorEquals": ["Nope"], "Next": "Never"},
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled",
                         "Assign": {"failedWith.$": "$.Error"}}],
              "End": true},
        "Never": {"Type": "Fail", "Error": "Wrong"},
        "Handled": {"Type": "Pass", "Parameters": {"err.$": "$.error", "v.$": "$failedWith", "orig.$": "$.orig"}, "End": true}}});
    let out = run_on_clock(&engine, &machine(def), &clock, json!({"orig": 1})).await;
    assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
    assert_eq!(
        out.output.unwrap(),
        json!({"err": {"Error": "StoreUnavailable", "Cause": "down"}, "v": "StoreUnavailable", "orig": 1})
    );
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1), Duration::from_secs(2)], "AWS's defaults: 1 s, ×2");
}

/// The retry delays of an execution whose handler always throttles, on a virtual clock.
async fn throttled_sleeps(seed: Option<u64>, name: &str, jitter: &str) -> Vec<Duration> {
    let clock = ManualClock::new(chrono::Utc::now());
    let mut builder = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handler("p", handler_fn(|_, _| async { Err(TaskFailure::new("Throttled", "slow down")) }));
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    let engine = builder.build();
    let m = machine(task(
        "arn:aws:lambda:us-east-1:1:function:p",
        json!({"Retry": [{"ErrorEquals": ["Throttled"], "IntervalSeconds": 10, "MaxAttempts": 4, "JitterStrategy": jitter}]}),
    ));
    let (e, mm) = (engine.clone(), m.clone());
    let req = ExecutionRequest::new(name, json!({}));
    let h = tokio::spawn(async move { e.run(&mm, req).await });
    let out = loop {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        if h.is_finished() {
            break h.await.unwrap();
        }
        clock.advance_to_next();
    };
    assert_eq!(out.error.as_deref(), Some("Throttled"));
    clock.sleeps()
}

const BACKOFF: [Duration; 4] =
    [Duration::from_secs(10), Duration::from_secs(20), Duration::from_secs(40), Duration::from_secs(80)];

#[tokio::test]
async fn full_jitter_waits_a_random_part_of_the_backoff_reproducibly_with_a_seed() {
    let sleeps = throttled_sleeps(Some(7), "exec-1", "FULL").await;
    assert_eq!(sleeps.len(), 4);
    for (i, d) in sleeps.iter().enumerate() {
        assert!(*d < BACKOFF[i], "retry {i} waited {d:?}, not less than the backoff {:?}", BACKOFF[i]);
    }
    let total: Duration = sleeps.iter().sum();
    assert!(total < Duration::from_secs(150), "FULL jitter draws from [0, backoff): {sleeps:?}");
    // The same seed and execution name give the same delays; another seed or another
    // execution other ones.
    assert_eq!(throttled_sleeps(Some(7), "exec-1", "FULL").await, sleeps);
    assert_ne!(throttled_sleeps(Some(8), "exec-1", "FULL").await, sleeps);
    assert_ne!(throttled_sleeps(Some(7), "exec-2", "FULL").await, sleeps);
    // Unseeded, the delays are still below the backoff.
    for (i, d) in throttled_sleeps(None, "exec-1", "FULL").await.iter().enumerate() {
        assert!(*d < BACKOFF[i], "retry {i} waited {d:?}");
    }
}

#[tokio::test]
async fn jitter_strategy_none_waits_the_exact_backoff() {
    assert_eq!(throttled_sleeps(Some(7), "exec-1", "NONE").await, BACKOFF);
    assert_eq!(throttled_sleeps(None, "exec-1", "NONE").await, BACKOFF);
}

#[tokio::test(start_paused = true)]
async fn timeout_seconds_fails_a_slow_task_with_states_timeout() {
    let engine = Engine::builder()
        .handler(
            "slow",
            handler_fn(|_, ctx| {
                let clock = ctx.clock.clone();
                async move {
                    clock.sleep(Duration::from_secs(600)).await;
                    Ok(json!("late"))
                }
            }),
        )
        .build();
    let m = machine(task(
        "arn:aws:states:::lambda:invoke",
        json!({"Parameters": {"FunctionName": "slow", "Payload": {}}, "TimeoutSeconds": 5}),
    ));
    let started = tokio::time::Instant::now();
    let out = engine.run(&m, ExecutionRequest::new("t", json!({})).with_history()).await;
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(out.cause, None);
    assert_eq!(started.elapsed().as_secs(), 5);
    assert!(out.history.unwrap().iter().any(|e| e.event_type == "TaskTimedOut"));
}

#[tokio::test(start_paused = true)]
async fn execution_timeout_seconds_times_the_execution_out() {
    let def =
        json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}});
    let out = Engine::default().execute(&machine(def), "t", json!({})).await;
    assert_eq!(out.status, ExecutionStatus::TimedOut);
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
}

#[tokio::test]
async fn a_resource_without_a_handler_is_a_clear_runtime_error() {
    let engine = Engine::builder().build();
    let m = machine(task("arn:aws:states:::sns:publish", json!({"Parameters": {"Message": "hi"}})));
    assert_eq!(engine.missing_handlers(&m), vec![("T".to_owned(), "arn:aws:states:::sns:publish".to_owned())]);
    let out = engine.execute(&m, "e", json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    let cause = out.cause.unwrap();
    assert!(cause.contains("No task handler is registered for 'arn:aws:states:::sns:publish'"), "{cause}");
    assert!(
        cause.starts_with("An error occurred while executing the state 'T' (entered at the event id #2)."),
        "{cause}"
    );
}

#[tokio::test]
async fn other_service_resources_dispatch_by_exact_arn() {
    let engine = Engine::builder()
        .handler(
            "arn:aws:states:::sns:publish",
            handler_fn(|input, _| async move { Ok(json!({"MessageId": input["Message"]})) }),
        )
        .build();
    let m = machine(task("arn:aws:states:::sns:publish", json!({"Parameters": {"Message": "m-1"}})));
    assert!(engine.missing_handlers(&m).is_empty());
    let out = engine.execute(&m, "e", json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"MessageId": "m-1"}));
}

#[tokio::test]
async fn a_result_over_256_kib_exceeds_the_data_limit_and_states_all_does_not_catch_it() {
    let engine = Engine::builder()
        .handler("big", handler_fn(|_, _| async { Ok(Value::String("x".repeat(300 * 1024))) }))
        .build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:big",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Succeed"}}});
    let out = engine.execute(&machine(def), "e", json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.DataLimitExceeded"));
}

#[tokio::test]
async fn map_runs_tasks_concurrently_up_to_max_concurrency() {
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let engine = Engine::builder()
        .handler(
            "work",
            handler_fn(move |input, _| {
                let (f, p) = (f.clone(), p.clone());
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok(json!({"done": input}))
                }
            }),
        )
        .build();
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3,
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:1:function:work", "End": true}}}, "End": true}}});
    let items: Vec<u32> = (0..10).collect();
    let out = engine.execute(&machine(def), "e", json!({"items": items})).await;
    assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
    let want: Vec<Value> = (0..10).map(|i| json!({"done": i})).collect();
    assert_eq!(out.output.unwrap(), Value::Array(want), "results keep the items' order");
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failing_iteration_fails_the_map_and_aborts_the_others() {
    let engine = Engine::builder()
        .handler(
            "work",
            handler_fn(|input, ctx| {
                let clock = ctx.clock.clone();
                async move {
                    if input == json!(2) {
                        return Err(TaskFailure::new("BadItem", "item 2"));
                    }
                    clock.sleep(Duration::from_secs(30)).await;
                    Ok(input)
                }
            }),
        )
        .build();
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:1:function:work", "End": true}}}, "End": true}}});
    let out = engine.run(&machine(def), ExecutionRequest::new("e", json!({"items": [1, 2, 3]})).with_history()).await;
    assert_eq!(out.error.as_deref(), Some("BadItem"));
    let types: Vec<String> = out.history.unwrap().iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(types.iter().filter(|t| *t == "MapIterationAborted").count(), 2, "{types:?}");
    assert!(types.contains(&"MapStateFailed".to_owned()));
}

#[tokio::test]
async fn assign_sees_the_raw_result_and_result_selector_shapes_the_output() {
    let engine = Engine::builder().handler("f", handler_fn(|_, _| async { Ok(json!({"raw": 1, "extra": 2})) })).build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "ResultSelector": {"kept.$": "$.raw"}, "Assign": {"extra.$": "$.extra"}, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"out.$": "$", "extra.$": "$extra"}, "End": true}}});
    let out = engine.execute(&machine(def), "e", json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"out": {"kept": 1}, "extra": 2}));
}

/// A handler that only reads its input: it records what each attempt saw, and
/// whether the engine lent the input (`invoke_ref`) or gave it a copy (`invoke`).
struct Reader {
    seen: Mutex<Vec<(&'static str, Value)>>,
    fail_first: u32,
}

#[async_trait::async_trait]
impl engine::TaskHandler for Reader {
    async fn invoke(&self, input: Value, ctx: &engine::TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.answer("invoke", &input, ctx.retry_count)
    }

    async fn invoke_ref(&self, input: &Value, ctx: &engine::TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.answer("invoke_ref", input, ctx.retry_count)
    }
}

impl Reader {
    fn answer(&self, how: &'static str, input: &Value, retry: u32) -> Result<Value, TaskFailure> {
        self.seen.lock().unwrap().push((how, input.clone()));
        if retry < self.fail_first {
            return Err(TaskFailure::new("Throttled", "later"));
        }
        Ok(json!({"ok": true}))
    }
}

#[tokio::test]
async fn parameters_that_select_parts_lend_them_and_every_outcome_finds_the_input_whole() {
    let input =
        json!({"first": 1, "invoice": {"id": "INV-1", "lines": [1, 2]}, "meta": {"source": {"key": "k"}, "x": 2}});
    let params = json!({"invoice.$": "$.invoice", "lit": "L", "src.$": "$.meta.source", "name.$": "$$.Execution.Name"});
    let expected_params =
        json!({"invoice": {"id": "INV-1", "lines": [1, 2]}, "lit": "L", "src": {"key": "k"}, "name": "exec-1"});
    // Retried once, then succeeds; then a handler that always fails, caught.
    for (fail_first, catch) in [(1, false), (u32::MAX, true)] {
        let clock = ManualClock::new(chrono::Utc::now());
        let reader = Arc::new(Reader { seen: Mutex::default(), fail_first });
        let engine = Engine::builder().clock(Arc::new(clock.clone())).handler("r", reader.clone()).build();
        let def = json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:r", "Parameters": params,
                  "ResultPath": "$.result",
                  "Retry": [{"ErrorEquals": ["Throttled"], "MaxAttempts": 2}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}],
                  "End": true},
            "Caught": {"Type": "Pass", "End": true}}});
        let out = run_on_clock(&engine, &machine(def), &clock, input.clone()).await;
        assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
        let mut whole = input.clone();
        if catch {
            whole["failure"] = json!({"Error": "Throttled", "Cause": "later"});
        } else {
            whole["result"] = json!({"ok": true});
        }
        let output = out.output.unwrap();
        assert_eq!(output, whole);
        // Key order kept too: the lent parts went back where they were.
        assert_eq!(output.to_string(), whole.to_string());
        let seen = reader.seen.lock().unwrap();
        assert_eq!(seen.len(), if catch { 3 } else { 2 }, "every attempt ran");
        for (how, v) in seen.iter() {
            assert_eq!(*how, "invoke_ref", "the parts were lent, not copied");
            assert_eq!(v, &expected_params);
        }
    }
}

#[tokio::test]
async fn a_lent_path_that_is_missing_fails_as_a_copied_one_does_and_leaves_the_input_whole() {
    let reader = Arc::new(Reader { seen: Mutex::default(), fail_first: 0 });
    let engine = Engine::builder().handler("r", reader.clone()).build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:r",
              "Parameters": {"a.$": "$.a", "b.$": "$.b"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}],
              "End": true},
        "Caught": {"Type": "Pass", "End": true}}});
    let out = engine.execute(&machine(def), "e1", json!({"a": {"kept": true}})).await;
    // States.Runtime, which no Catch takes; the message quotes the input whole
    // ("a" was taken before "b" was found missing, and put back).
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    let cause = out.cause.unwrap();
    assert!(
        cause.ends_with(
            "The JSONPath '$.b' specified for the field 'b.$' could not be found in the input '{\"a\":{\"kept\":true}}'"
        ),
        "{cause}"
    );
    assert!(reader.seen.lock().unwrap().is_empty(), "the task did not run");
}

#[tokio::test]
async fn a_handler_without_invoke_ref_gets_a_copy_of_what_is_lent() {
    let engine =
        Engine::builder().handler("h", handler_fn(|input, _| async move { Ok(json!({"seen": input})) })).build();
    let m = machine(task(
        "arn:aws:lambda:us-east-1:1:function:h",
        json!({"Parameters": {"x.$": "$.a.b"}, "ResultPath": "$.a.seen"}),
    ));
    let out = engine.execute(&m, "e1", json!({"a": {"b": [1, {"c": "d"}]}})).await;
    assert_eq!(out.output.unwrap(), json!({"a": {"b": [1, {"c": "d"}], "seen": {"seen": {"x": [1, {"c": "d"}]}}}}));
}
