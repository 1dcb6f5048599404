//! The deployed definition (`workflow/state-machine.asl.json`) on the embedded
//! engine, with scripted tasks: each business outcome ends in Succeed with
//! `{outcome, invoiceId, …}`; Lambda's service errors and the store's transient
//! errors are retried; a technical failure after the retries is announced
//! (INVOICE_FAILED, with the invoice still in the state) and fails the execution.

use std::sync::{Arc, Mutex};

use engine::{handler_fn, Engine, ExecutionStatus, StateMachine, TaskFailure};
use serde_json::{json, Value};
use workflow::definition::{self, FunctionArns};

/// How each task answers: `fail_first` failures with that error, then `ok`.
struct Script {
    validate: (u32, &'static str, Value),
    process: (u32, &'static str, Value),
}

/// Runs one execution; gives the outcome, the calls per task and the events notified.
async fn run(script: Script) -> (engine::ExecutionOutcome, [u32; 2], Vec<Value>) {
    let arns = FunctionArns::named("us-east-1", "123456789012", "invoices");
    let machine = StateMachine::from_json_named("invoices", &definition::render(&arns)).unwrap();
    let calls = Arc::new(Mutex::new([0u32; 2]));
    let notified = Arc::new(Mutex::new(Vec::new()));
    let scripted = |slot: usize, (fail_first, error, ok): (u32, &'static str, Value)| {
        let calls = calls.clone();
        handler_fn(move |_input, _ctx| {
            let call = {
                let mut calls = calls.lock().unwrap();
                calls[slot] += 1;
                calls[slot]
            };
            let answer = if call <= fail_first { Err(TaskFailure::lambda(error, "scripted")) } else { Ok(ok.clone()) };
            async move { answer }
        })
    };
    let notes = notified.clone();
    let engine = Engine::builder()
        .handler(arns.validate.clone(), scripted(0, script.validate))
        .handler(arns.process.clone(), scripted(1, script.process))
        .handler(
            arns.notify.clone(),
            handler_fn(move |input: Value, _ctx| {
                notes.lock().unwrap().push(input);
                async move { Ok(json!({"messageId": "m", "topic": "t", "eventId": "e"})) }
            }),
        )
        .build();
    let out = engine.execute(&machine, "INV-1-abc", json!({"invoice": invoice(), "source": null})).await;
    let calls = *calls.lock().unwrap();
    let notified = notified.lock().unwrap().clone();
    (out, calls, notified)
}

fn invoice() -> Value {
    json!({"invoiceId": "INV-1", "customerId": "C-1", "amount": 10, "currency": "USD", "dueDate": "2030-01-01"})
}

fn valid() -> Value {
    json!({"isValid": true, "errors": [], "invoice": invoice(), "invoiceId": "INV-1"})
}

fn processed() -> Value {
    json!({"status": "PROCESSED", "invoiceNumber": "INV-2026-000001", "processedAt": "2026-12-02T00:00:00.000Z"})
}

fn event_types(notified: &[Value]) -> Vec<&str> {
    notified.iter().map(|n| n["eventType"].as_str().unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn lambda_service_errors_are_retried_and_the_invoice_is_processed() {
    for error in ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"] {
        let (out, calls, notified) =
            run(Script { validate: (2, error, valid()), process: (1, "StoreUnavailable", processed()) }).await;
        assert_eq!(out.status, ExecutionStatus::Succeeded, "{error}: {:?} {:?}", out.error, out.cause);
        assert_eq!(
            out.output.unwrap(),
            json!({"outcome": "PROCESSED", "invoiceId": "INV-1", "invoiceNumber": "INV-2026-000001"})
        );
        assert_eq!(calls, [3, 2], "{error}: retried, then succeeded");
        assert_eq!(event_types(&notified), ["INVOICE_PROCESSED"]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_that_stays_down_is_announced_with_the_invoice_and_fails_the_execution() {
    let (out, calls, notified) =
        run(Script { validate: (0, "", valid()), process: (u32::MAX, "StoreUnavailable", Value::Null) }).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("StoreUnavailable"));
    assert_eq!(calls, [1, 4], "the first attempt and three retries");
    assert_eq!(event_types(&notified), ["INVOICE_FAILED"]);
    assert_eq!(notified[0]["invoice"], invoice(), "the invoice is not lost from the state");
    assert_eq!(notified[0]["failure"]["Error"], "StoreUnavailable");
}

#[tokio::test(start_paused = true)]
async fn rejected_and_duplicate_invoices_succeed_with_their_outcome() {
    let rejected = json!({"isValid": false, "errors": [{"field": "amount", "code": "not_positive", "message": "m"}],
                          "invoice": invoice(), "invoiceId": "INV-1"});
    let (out, calls, notified) = run(Script { validate: (0, "", rejected), process: (0, "", Value::Null) }).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(out.output.as_ref().unwrap()["outcome"], "REJECTED");
    assert_eq!(calls, [1, 0], "nothing is stored");
    assert_eq!(event_types(&notified), ["INVOICE_REJECTED"]);

    let duplicate = json!({"status": "DUPLICATE", "processedAt": "2026-12-02T00:00:00.000Z",
        "duplicateOf": {"invoiceNumber": "INV-2026-000007", "processedAt": "2026-12-01T00:00:00.000Z", "sameContent": true}});
    let (out, _, notified) = run(Script { validate: (0, "", valid()), process: (0, "", duplicate) }).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    assert_eq!(
        out.output.unwrap(),
        json!({"outcome": "DUPLICATE", "invoiceId": "INV-1", "duplicateOf": "INV-2026-000007"})
    );
    assert_eq!(event_types(&notified), ["INVOICE_DUPLICATE"]);
}
