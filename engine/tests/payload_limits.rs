//! The 256 KiB payload quota (`States.DataLimitExceeded`) on every document AWS holds to
//! it: the execution input, a state's input after Parameters (and a Map iteration's
//! after ItemSelector), a task's result and what ResultSelector makes of it, and every
//! state's output — the one built by a ResultPath merge and the execution's output
//! included. Documents are bounded rather than measured, so the tests also check that a
//! bound over the quota does not fail a document that is under it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use engine::{handler_fn, Engine, ExecutionOutcome, ExecutionRequest, StateMachine, TaskFailure, MAX_PAYLOAD_BYTES};
use serde_json::{json, Value};

/// A string value whose JSON text takes `kib` KiB.
fn text(kib: usize) -> String {
    "x".repeat(kib * 1024 - 2)
}

async fn run(engine: &Engine, def: Value, input: Value) -> ExecutionOutcome {
    let m = StateMachine::from_json(&def.to_string()).unwrap();
    engine.run(&m, ExecutionRequest::new("e", input).with_history()).await
}

fn cause(state: &str) -> String {
    format!(
        "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."
    )
}

fn assert_over_quota(out: &ExecutionOutcome, state: &str) {
    assert_eq!(out.error.as_deref(), Some("States.DataLimitExceeded"), "{:?}", out.cause);
    assert_eq!(out.cause.as_deref(), Some(cause(state).as_str()));
    assert!(out.output.is_none());
}

fn event_types(out: &ExecutionOutcome) -> Vec<&str> {
    out.history.as_ref().unwrap().iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test]
async fn parameters_that_double_the_input_exceed_the_quota() {
    let def = json!({"StartAt": "Double", "States": {
        "Double": {"Type": "Pass", "Parameters": {"a.$": "$", "b.$": "$"}, "End": true}}});
    let out = run(&Engine::default(), def, json!({"big": text(150)})).await;
    assert_over_quota(&out, "Double");
    // As AWS records it for a Pass `Result` over the quota: no Exited event.
    assert_eq!(event_types(&out), ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]);

    // The same through an intrinsic function and through a variable.
    let def = json!({"StartAt": "Double", "States": {
        "Double": {"Type": "Pass", "Parameters": {"a.$": "States.Array($.big, $.big)"}, "End": true}}});
    assert_over_quota(&run(&Engine::default(), def, json!({"big": text(150)})).await, "Double");
    let def = json!({"StartAt": "Keep", "States": {
        "Keep": {"Type": "Pass", "Assign": {"kept.$": "$.big"}, "OutputPath": "$.small", "Next": "Double"},
        "Double": {"Type": "Pass", "Parameters": {"a.$": "$kept", "b.$": "$kept"}, "End": true}}});
    assert_over_quota(&run(&Engine::default(), def, json!({"big": text(150), "small": 1})).await, "Double");
}

#[tokio::test]
async fn a_task_whose_parameters_exceed_the_quota_is_not_called_and_states_all_does_not_catch_it() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let engine = Engine::builder()
        .handler(
            "f",
            handler_fn(move |_, _| {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok(json!({})) }
            }),
        )
        .build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "Parameters": {"first.$": "$.big", "again.$": "$.big"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Succeed"}}});
    let out = run(&engine, def, json!({"big": text(150)})).await;
    assert_over_quota(&out, "T");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_catch_naming_the_error_catches_parameters_over_the_quota_but_not_an_output() {
    let engine = Engine::builder().handler("f", handler_fn(|_, _| async { Ok(Value::String(text(150))) })).build();
    let catch = json!([{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": null, "Next": "Caught"}]);
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "Parameters": {"a.$": "$.big", "b.$": "$.big"}, "Catch": catch, "End": true},
        "Caught": {"Type": "Pass", "Result": "caught", "End": true}}});
    let out = run(&engine, def, json!({"big": text(150)})).await;
    assert_eq!(out.output, Some(json!("caught")), "{:?}", out.cause);
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "ResultPath": "$.result", "Catch": catch, "End": true},
        "Caught": {"Type": "Pass", "Result": "caught", "End": true}}});
    assert_over_quota(&run(&engine, def, json!({"big": text(150)})).await, "T");
}

#[tokio::test]
async fn a_result_path_merge_over_the_quota_fails_the_state() {
    let def = json!({"StartAt": "Copy", "States": {
        "Copy": {"Type": "Pass", "Parameters": {"copy.$": "$.big"}, "ResultPath": "$.copy", "Next": "Done"},
        "Done": {"Type": "Succeed"}}});
    let out = run(&Engine::default(), def, json!({"big": text(150)})).await;
    assert_over_quota(&out, "Copy");
    assert_eq!(event_types(&out), ["ExecutionStarted", "PassStateEntered", "ExecutionFailed"]);

    // A task's result under the quota, merged into an input under the quota.
    let engine = Engine::builder().handler("f", handler_fn(|_, _| async { Ok(Value::String(text(150))) })).build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "ResultPath": "$.result",
              "End": true}}});
    let out = run(&engine, def, json!({"big": text(150)})).await;
    assert_over_quota(&out, "T");
    let types = event_types(&out);
    assert_eq!(types[types.len() - 2..], ["LambdaFunctionSucceeded", "ExecutionFailed"]);
}

#[tokio::test]
async fn an_execution_output_over_the_quota_fails_the_execution() {
    // A Catch merges a long cause into the input; the Succeed state would pass it on as
    // the execution's output.
    let engine =
        Engine::builder().handler("f", handler_fn(|_, _| async { Err(TaskFailure::new("Boom", text(150))) })).build();
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
              "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Done"}], "End": true},
        "Done": {"Type": "Succeed"}}});
    let out = run(&engine, def.clone(), json!({"big": text(150)})).await;
    assert_over_quota(&out, "T");
    assert!(!event_types(&out).contains(&"SucceedStateEntered"));
    // With a smaller input the same execution succeeds.
    let out = run(&engine, def, json!({"big": text(50)})).await;
    assert!(out.succeeded(), "{:?}", out.cause);
}

#[tokio::test]
async fn a_map_iteration_input_over_the_quota_fails_the_map() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemSelector": {"a.$": "$.big", "b.$": "$.big", "i.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.i", "End": true}}},
        "End": true}}});
    let out = run(&Engine::default(), def, json!({"big": text(150), "items": [1, 2]})).await;
    assert_over_quota(&out, "M");
}

#[tokio::test]
async fn documents_whose_bound_exceeds_the_quota_but_not_their_size_pass() {
    // Five references to a small part of a 200 KiB input: bounded by five times the
    // input, measured, and under the quota. The output is then merged back in.
    let def = json!({"StartAt": "Pick", "States": {
        "Pick": {"Type": "Pass", "ResultPath": "$.picked",
                 "Parameters": {"a.$": "$.small", "b.$": "$.small", "c.$": "$.small", "d.$": "$.small",
                                "e.$": "States.JsonMerge($.obj, $.obj, false)"}, "Next": "Again"},
        "Again": {"Type": "Pass", "Parameters": {"p.$": "$.picked", "q.$": "$.picked", "big.$": "$.big"}, "End": true}}});
    let input = json!({"big": text(200), "small": "s", "obj": {"k": 1}});
    let out = run(&Engine::default(), def, input).await;
    assert!(out.succeeded(), "{:?}", out.cause);
    let output = out.output.unwrap();
    assert_eq!(output["p"]["e"], json!({"k": 1}));
    // An output of exactly the quota is fine; one byte more is not.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"key.$": "$.k"}, "End": true}}});
    let at_quota = "x".repeat(MAX_PAYLOAD_BYTES - r#"{"key":""}"#.len());
    let out = run(&Engine::default(), def.clone(), json!({"k": at_quota})).await;
    assert!(out.succeeded(), "{:?}", out.cause);
    let over = "x".repeat(MAX_PAYLOAD_BYTES - r#"{"key":""}"#.len() + 1);
    let out = run(&Engine::default(), def, json!({"k": over})).await;
    assert_over_quota(&out, "P");
}

/// The engine checks in debug builds (as tests run) that every size bound it works out is
/// at least the document's size; this runs the constructs whose bounds are computed.
#[tokio::test]
async fn size_bounds_hold_for_escaped_keys_merges_intrinsics_and_branches() {
    let def = json!({"StartAt": "Vars", "States": {
        "Vars": {"Type": "Pass", "Assign": {"v.$": "$.list", "lit": {"a": [1, 2]}}, "Next": "Shape"},
        "Shape": {"Type": "Pass", "ResultPath": "$.new.deeper.still",
                  "Parameters": {"k\"ey\\": "é\u{1}", "ключ.$": "$.text", "json.$": "States.StringToJson($.json)",
                                 "str.$": "States.JsonToString($.obj)", "parts.$": "States.ArrayPartition($.list, 1)",
                                 "uniq.$": "States.ArrayUnique($.list)", "item.$": "States.ArrayGetItem($.list, 0)",
                                 "merged.$": "States.JsonMerge($.obj, $$.Execution.Input.obj, false)",
                                 "arr.$": "States.Array($.obj, 1, 'two', $v, $lit)", "len.$": "States.ArrayLength($v)",
                                 "fmt.$": "States.Format('{} and {}', $.text, $.obj)", "all.$": "$.list[*]",
                                 "deep.$": "$..q", "hash.$": "States.Hash($.text, 'SHA-512')", "id.$": "States.UUID()"},
                  "Next": "Fan"},
        "Fan": {"Type": "Parallel", "ResultSelector": {"both.$": "$[*]", "first.$": "$[0]"}, "ResultPath": "$.fan",
                "Branches": [
                    {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "InputPath": "$.obj", "End": true}}},
                    {"StartAt": "B2", "States": {"B2": {"Type": "Map", "ItemsPath": "$.list", "End": true,
                        "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "t.$": "$.text"},
                        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}}}}],
                "Next": "Out"},
        "Out": {"Type": "Pass", "InputPath": "$v", "OutputPath": "$[0]", "End": true}}});
    let input = json!({"text": "a \"quoted\" \\ tab\t ünïcödé", "json": "{\"a\": \"\\u00e9\\n\", \"n\": 1.50e3}",
                       "obj": {"q": {"q": "\"\""}, "k\"": [null, true]}, "list": [3, 1, 3, {"q": 2}]});
    let out = run(&Engine::default(), def, input).await;
    assert!(out.succeeded(), "{:?}", out.cause);
    assert_eq!(out.output.unwrap(), json!(3));
    // ResultPath creating objects on its way, into an input that is not an object's end.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"r": "\""},
        "ResultPath": "$.a\"b.c.d", "End": true}}});
    let out = run(&Engine::default(), def, json!({})).await;
    assert_eq!(out.output.unwrap(), json!({"a\"b": {"c": {"d": {"r": "\""}}}}));
}
