//! A Pass state whose result replaces its input builds the result from the input's parts
//! (moving them) rather than from copies, and `{"k.$": …}` with OutputPath `$.k` skips
//! the object around the field. Neither may show: every case here runs both ways — as
//! written, and with `"ResultPath": "$.r"` and an OutputPath under `$.r`, which keeps the
//! input and so copies — and the outputs, errors and causes must be the same.

use engine::{Engine, ExecutionOutcome, StateMachine};
use serde_json::{json, Value};

async fn run(def: Value, input: &Value) -> ExecutionOutcome {
    let m = StateMachine::from_json(&def.to_string()).unwrap_or_else(|e| panic!("{e}: {def}"));
    Engine::default().execute(&m, "e", input.clone()).await
}

/// `Parameters` run in a Pass state (on the input, after a state that assigns `$v`),
/// both ways.
async fn both_ways(params: &Value, output_path: Option<&str>, input: &Value) -> (ExecutionOutcome, ExecutionOutcome) {
    let state = |extra: Value| {
        let mut s = json!({"Type": "Pass", "InputPath": "$.in", "Parameters": params, "End": true});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        // The input goes under `in`, so that a ResultPath applies to any input.
        json!({"StartAt": "Vars", "States": {
            "Vars": {"Type": "Pass", "Assign": {"v": {"x": [1, 2]}}, "Parameters": {"in.$": "$"}, "Next": "P"},
            "P": s}})
    };
    let consuming = match output_path {
        Some(p) => state(json!({"OutputPath": p})),
        None => state(json!({})),
    };
    let copying = match output_path {
        Some(p) => state(json!({"ResultPath": "$.r", "OutputPath": format!("$.r{}", &p[1..])})),
        None => state(json!({"ResultPath": "$.r", "OutputPath": "$.r"})),
    };
    (run(consuming, input).await, run(copying, input).await)
}

fn same(a: &ExecutionOutcome, b: &ExecutionOutcome, what: &str) {
    assert_eq!(a.status, b.status, "{what}");
    assert_eq!(a.output, b.output, "{what}");
    assert_eq!(a.error, b.error, "{what}");
    assert_eq!(a.cause, b.cause, "{what}");
}

#[tokio::test]
async fn templates_that_move_the_input_give_what_copying_gives() {
    let inputs = [
        json!({"invoice": {"id": "I-1", "lines": [1, 2]}, "source": {"key": "k"}, "extra": true}),
        json!({"source": {"key": "k"}, "invoice": {"id": "I-2"}}),
        json!({"invoice": {"id": "I-3"}}),
        json!({"other": 1}),
        json!({}),
        json!([1, 2, 3]),
        json!("text"),
        json!({"a": {"b": {"c": 1}, "d": [true]}, "x": "y", "arr": [1, 2]}),
    ];
    let templates = [
        json!({"document.$": "States.JsonMerge(States.StringToJson('\\{\"invoice\": null, \"source\": null\\}'), $, false)"}),
        json!({"document.$": "States.JsonMerge($, States.StringToJson('\\{\"invoice\": null\\}'), false)"}),
        json!({"document.$": "States.JsonMerge($.a, $.invoice, false)"}),
        json!({"m.$": "States.JsonMerge($, $, false)"}),
        json!({"whole.$": "$", "x.$": "$.x"}),
        json!({"b.$": "$.a.b", "d.$": "$.a.d", "c.$": "$.a.b.c"}),
        json!({"b.$": "$.a.b", "d.$": "$.a.d", "lit": {"n": [1, "two"]}, "x.$": "$.x"}),
        json!({"id.$": "$.invoice.id", "key.$": "$.source.key", "outcome": "DONE"}),
        json!({"first.$": "$.arr[0]", "arr.$": "$.arr", "len.$": "$.arr.length()"}),
        json!({"nested": {"b.$": "$.a.b", "list": [{"d.$": "$.a.d"}, "$.x"]}, "x.$": "$.x"}),
        json!({"a.$": "States.Array($.x, $.a.b, 'lit')", "f.$": "States.Format('{} and {}', $.x, $.a.d)"}),
        json!({"x.$": "$.x", "item.$": "States.ArrayGetItem($.arr, 5)"}),
        json!({"x.$": "$.x", "missing.$": "$.nope.deeper"}),
        json!({"b.$": "$.a.b", "name.$": "$$.Execution.Name", "v.$": "$v.x", "in.$": "$$.Execution.Input.x"}),
        json!({"b.$": "$.a.b", "gone.$": "$$.Execution.Input.nope"}),
        json!({"b.$": "$.a.b", "gone.$": "$w"}),
        json!({"x.$": "$.x", "x": "literal under the same key"}),
        json!({"all": "literal"}),
    ];
    for params in &templates {
        for input in &inputs {
            let (a, b) = both_ways(params, None, input).await;
            same(&a, &b, &format!("{params} on {input}"));
        }
    }
}

#[tokio::test]
async fn a_sole_field_selected_by_output_path_gives_what_the_object_gives() {
    let inputs =
        [json!({"invoice": {"id": "I-1"}, "source": {"key": "k"}, "extra": [1]}), json!({"source": null}), json!([1])];
    let templates = [
        json!({"document.$": "States.JsonMerge(States.StringToJson('\\{\"invoice\": null, \"source\": null\\}'), $, false)"}),
        json!({"document.$": "$.invoice"}),
        json!({"document.$": "$"}),
        json!({"document.$": "States.Array($, $)"}),
        json!({"document": {"id.$": "$.invoice.id"}}),
    ];
    for params in &templates {
        for input in &inputs {
            let (a, b) = both_ways(params, Some("$.document"), input).await;
            same(&a, &b, &format!("{params} on {input}"));
        }
    }
}

#[tokio::test]
async fn the_normalize_pattern_gives_missing_members_as_null_and_keeps_the_input_order() {
    let params = json!({"document.$":
        "States.JsonMerge(States.StringToJson('\\{\"invoice\": null, \"source\": null\\}'), $, false)"});
    let (out, _) = both_ways(&params, Some("$.document"), &json!({"x": 1, "invoice": {"id": "I"}})).await;
    let output = out.output.unwrap();
    assert_eq!(output, json!({"invoice": {"id": "I"}, "source": null, "x": 1}));
    let keys: Vec<&String> = output.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["invoice", "source", "x"], "the literal's members come first");
    let (out, _) = both_ways(&params, Some("$.document"), &json!({"invoice": 1, "source": 2, "x": 3})).await;
    let keys: Vec<String> = out.output.unwrap().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["invoice", "source", "x"]);
}

#[tokio::test]
async fn the_object_around_a_sole_field_is_still_held_to_the_quota() {
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass",
        "Parameters": {"k.$": "$"}, "OutputPath": "$.k", "End": true}}});
    // The input is a string of `bytes` bytes of JSON; `{"k":…}` takes 6 more.
    let string_of = |bytes: usize| json!("x".repeat(bytes - 2));
    let fits = run(def.clone(), &string_of(engine::MAX_PAYLOAD_BYTES - 6)).await;
    assert!(fits.succeeded(), "{:?}", fits.cause);
    let over = run(def, &string_of(engine::MAX_PAYLOAD_BYTES - 5)).await;
    assert_eq!(over.error.as_deref(), Some("States.DataLimitExceeded"), "{:?}", over.cause);
    assert_eq!(
        over.cause.as_deref(),
        Some("The state/task 'P' returned a result with a size exceeding the maximum number of bytes service limit.")
    );
}
