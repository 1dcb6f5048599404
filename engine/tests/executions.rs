//! Executions end to end: the context object, many executions at once (a Wait holds no
//! thread), the history's shape, mocked task responses and variable scopes.

use std::sync::Arc;
use std::time::Duration;

use engine::{
    handler_fn, Engine, ExecutionRequest, ExecutionStatus, ManualClock, MockConfig, StateMachine, TaskFailure,
};
use serde_json::{json, Value};

fn machine(name: &str, def: Value) -> StateMachine {
    StateMachine::from_json_named(name, &def.to_string()).unwrap()
}

#[tokio::test]
async fn the_context_object_has_what_aws_provides() {
    let clock = ManualClock::new("2030-01-02T03:04:05.678Z".parse().unwrap());
    let engine = Engine::builder().clock(Arc::new(clock)).region("eu-west-1").account("111122223333").build();
    let def = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Parameters": {
            "name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id", "input.$": "$$.Execution.Input.invoice",
            "start.$": "$$.Execution.StartTime", "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount", "smId.$": "$$.StateMachine.Id", "smName.$": "$$.StateMachine.Name"},
            "ResultPath": "$.ctx", "Next": "Items"},
        "Items": {"Type": "Map", "ItemsPath": "$.invoice.items", "ResultPath": "$.items",
            "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "Next": "Token"},
        "Token": {"Type": "Pass", "Parameters": {"t.$": "$$.Task.Token"}, "End": true}}});
    let m = machine("Invoices", def);
    let out = engine.execute(&m, "inv-42", json!({"invoice": {"items": ["a", "b"]}})).await;
    assert_eq!(out.status, ExecutionStatus::Failed, "$$.Task.Token is absent");
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    assert!(out.cause.as_deref().unwrap().contains("The JSONPath '$$.Task.Token' specified for the field 't.$'"));

    let def = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Parameters": {
            "name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id", "input.$": "$$.Execution.Input.invoice",
            "start.$": "$$.Execution.StartTime", "state.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount", "smId.$": "$$.StateMachine.Id", "smName.$": "$$.StateMachine.Name"},
            "ResultPath": "$.ctx", "Next": "Items"},
        "Items": {"Type": "Map", "ItemsPath": "$.invoice.items", "ResultPath": "$.items",
            "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}, "End": true}}});
    let out = engine.execute(&machine("Invoices", def), "inv-42", json!({"invoice": {"items": ["a", "b"]}})).await;
    assert!(out.succeeded(), "{:?}", out.cause);
    let o = out.output.unwrap();
    assert_eq!(
        o["ctx"],
        json!({"name": "inv-42", "id": "arn:aws:states:eu-west-1:111122223333:execution:Invoices:inv-42",
               "input": {"items": ["a", "b"]}, "start": "2030-01-02T03:04:05.678Z", "state": "First",
               "entered": "2030-01-02T03:04:05.678Z", "retries": 0,
               "smId": "arn:aws:states:eu-west-1:111122223333:stateMachine:Invoices", "smName": "Invoices"})
    );
    assert_eq!(o["items"], json!([{"index": 0, "value": "a"}, {"index": 1, "value": "b"}]));
    assert_eq!(out.execution_arn, "arn:aws:states:eu-west-1:111122223333:execution:Invoices:inv-42");
}

#[tokio::test(flavor = "current_thread")]
async fn thousands_of_waiting_executions_share_one_thread() {
    let clock = ManualClock::new(chrono::Utc::now());
    let engine = Engine::builder().clock(Arc::new(clock.clone())).build();
    let m = machine(
        "W",
        json!({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "SecondsPath": "$.s", "Next": "Done"},
                                              "Done": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": true}}}),
    );
    let n = 2000;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (engine, m) = (engine.clone(), m.clone());
            tokio::spawn(async move { engine.execute(&m, &format!("e{i}"), json!({"s": 60, "n": i})).await })
        })
        .collect();
    while clock.waiting() < n {
        tokio::task::yield_now().await;
    }
    assert!(handles.iter().all(|h| !h.is_finished()), "every execution is parked in its Wait");
    clock.advance(Duration::from_secs(60));
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.await.unwrap();
        assert_eq!(out.output, Some(json!({"n": i})));
    }
}

#[tokio::test]
async fn history_follows_get_execution_history() {
    let engine =
        Engine::builder().handler("f", handler_fn(|input, _| async move { Ok(json!({"echo": input})) })).build();
    let m = machine(
        "H",
        json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Parameters": {"FunctionName": "f", "Payload.$": "$"}, "OutputPath": "$.Payload", "Next": "Done"},
            "Done": {"Type": "Succeed"}}}),
    );
    let out = engine.run(&m, ExecutionRequest::new("h1", json!({"a": 1})).with_history()).await;
    assert!(out.succeeded());
    let h = out.history.unwrap();
    let types: Vec<&str> = h.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<(u64, u64)> = h.iter().map(|e| (e.id, e.previous_event_id)).collect();
    assert_eq!(ids, [(1, 0), (2, 0), (3, 2), (4, 3), (5, 4), (6, 5), (7, 6), (8, 7), (9, 8)]);
    let doc = serde_json::to_value(&h[2]).unwrap();
    assert_eq!(doc["type"], "TaskScheduled");
    let det = &doc["taskScheduledEventDetails"];
    assert_eq!(det["resourceType"], "lambda");
    assert_eq!(det["resource"], "invoke");
    assert_eq!(det["region"], "us-east-1");
    assert_eq!(
        serde_json::from_str::<Value>(det["parameters"].as_str().unwrap()).unwrap(),
        json!({"FunctionName": "f", "Payload": {"a": 1}})
    );
    let entered = serde_json::to_value(&h[1]).unwrap();
    assert_eq!(entered["stateEnteredEventDetails"]["name"], "Call");
    assert_eq!(entered["stateEnteredEventDetails"]["input"], "{\"a\":1}");
    let last = serde_json::to_value(h.last().unwrap()).unwrap();
    assert_eq!(last["executionSucceededEventDetails"]["output"], "{\"echo\":{\"a\":1}}");

    // Without recording, only the outcome is kept.
    let out = engine.execute(&m, "h2", json!({})).await;
    assert!(out.history.is_none());
}

#[tokio::test]
async fn mocked_responses_replace_handlers_invocation_by_invocation() {
    let clock = ManualClock::new(chrono::Utc::now());
    let engine = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handler("process", handler_fn(|_, _| async { Err(TaskFailure::new("NotMocked", "the real handler ran")) }))
        .build();
    let m = machine(
        "Invoices",
        json!({"StartAt": "Process", "States": {
            "Process": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "process", "Payload.$": "$"},
                        "Retry": [{"ErrorEquals": ["StoreUnavailable"], "MaxAttempts": 3}],
                        "ResultSelector": {"status.$": "$.Payload.status"}, "End": true}}}),
    );
    let cfg = MockConfig::from_json(
        &json!({
            "StateMachines": {"Invoices": {"TestCases": {"Flaky": {"Process": "TwoFailuresThenOk"}}}},
            "MockedResponses": {"TwoFailuresThenOk": {
                "0-1": {"Throw": {"Error": "StoreUnavailable", "Cause": "db down"}},
                "2": {"Return": {"StatusCode": 200, "Payload": {"status": "PROCESSED"}}}}}})
        .to_string(),
    )
    .unwrap();
    let case = Arc::new(cfg.case(None, "ignored", "Flaky").unwrap());
    let (e, mm, c) = (engine.clone(), m.clone(), case.clone());
    let h = tokio::spawn(async move { e.run(&mm, ExecutionRequest::new("m1", json!({})).with_mocks(c)).await });
    while !h.is_finished() {
        tokio::task::yield_now().await;
        clock.advance_to_next();
    }
    let out = h.await.unwrap();
    assert!(out.succeeded(), "{:?} {:?}", out.error, out.cause);
    assert_eq!(out.output.unwrap(), json!({"status": "PROCESSED"}));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1), Duration::from_secs(2)]);
}

#[tokio::test]
async fn variables_of_an_iteration_stay_in_it() {
    let m = machine(
        "V",
        json!({"StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "In", "States": {
                "In": {"Type": "Pass", "Assign": {"inner.$": "$"}, "Parameters": {"seen.$": "$outer"}, "End": true}}},
                "Next": "After"},
            "After": {"Type": "Pass", "Parameters": {"x.$": "$inner"}, "End": true}}}),
    );
    let out = Engine::default().execute(&m, "v", json!({"items": [1, 2]})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"), "an iteration's variable is gone after the Map");
    let m = machine(
        "V",
        json!({"StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "In", "States": {
                "In": {"Type": "Pass", "Parameters": {"seen.$": "$outer"}, "End": true}}}, "End": true}}}),
    );
    let out = Engine::default().execute(&m, "v", json!({"items": [1, 2]})).await;
    assert_eq!(out.output.unwrap(), json!([{"seen": "o"}, {"seen": "o"}]), "iterations read the outer scope");
}

#[tokio::test]
async fn a_choice_without_match_or_default_fails_with_no_choice_matched() {
    let m = machine(
        "C",
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice",
            "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "D"}]}, "D": {"Type": "Succeed"}}}),
    );
    let out = Engine::default().execute(&m, "c", json!({"a": 2})).await;
    assert_eq!(out.error.as_deref(), Some("States.NoChoiceMatched"));
    let out = Engine::default().execute(&m, "c", json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"), "a missing Variable is a runtime error");
}

#[tokio::test]
async fn math_add_outside_java_ints_is_a_runtime_error_not_an_overflow() {
    let m = machine(
        "M",
        json!({"StartAt": "Add", "States": {"Add": {"Type": "Pass",
            "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": true}}}),
    );
    let engine = Engine::default();
    let out = engine.execute(&m, "ok", json!({"a": 2147483647, "b": 2147483647})).await;
    assert_eq!(out.output, Some(json!({"sum": 4294967294i64})));
    let out = engine.execute(&m, "big", json!({"a": 9223372036854775807i64, "b": 9223372036854775807i64})).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
    assert_eq!(
        out.cause.as_deref(),
        Some(
            "An error occurred while executing the state 'Add' (entered at the event id #2). The function \
             'States.MathAdd($.a, $.b)' expects an integer between -2147483648 and 2147483647 as argument 1"
        )
    );
}
