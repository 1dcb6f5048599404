//! Static checks when a definition is loaded: each problem is reported with its code,
//! the state and the field, all problems at once; unsupported features are refused.

use engine::StateMachine;
use serde_json::{json, Value};

/// The diagnostics for a definition that must not load, as `CODE at LOCATION: message`.
fn problems(def: Value) -> Vec<String> {
    match StateMachine::from_json(&def.to_string()) {
        Ok(_) => panic!("the definition loaded: {def}"),
        Err(e) => e.diagnostics.iter().map(|d| format!("{} at {}: {}", d.code, d.location, d.message)).collect(),
    }
}

fn has(problems: &[String], code: &str, location: &str, text: &str) {
    assert!(
        problems.iter().any(|p| p.starts_with(&format!("{code} at {location}:")) && p.contains(text)),
        "expected {code} at {location} mentioning {text:?}, got {problems:#?}"
    );
}

fn one_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

#[test]
fn a_valid_definition_loads() {
    let def = json!({"Comment": "ok", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericGreaterThan": 1, "Next": "C"}], "Default": "D"},
        "C": {"Type": "Succeed"}, "D": {"Type": "Fail", "Error": "E"}}});
    let m = StateMachine::from_json(&def.to_string()).unwrap();
    assert_eq!(m.comment(), Some("ok"));
    assert_eq!(m.state_names().len(), 4);
}

#[test]
fn structure_problems_name_the_state_and_field() {
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "B": {"Type": "Pass", "End": true},
        "C": {"Type": "Pass"},
        "D": {"Type": "Teleport", "End": true},
        "E": {"Type": "Pass", "End": true, "Colour": "red"}}}));
    has(&p, "MISSING_TRANSITION_TARGET", "/States/A/Next", "Missing 'Next' target: Nowhere");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/C", "either 'Next' or 'End'");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/D/Type", "should have one of these values");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/E", "Field 'Colour' is not supported by a Pass state");
    assert!(p.len() >= 4, "every problem is reported: {p:#?}");
}

#[test]
fn unreachable_states_are_reported() {
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true}, "Orphan": {"Type": "Pass", "End": true}}}));
    has(&p, "UNREACHABLE_STATE", "/States/Orphan", "State 'Orphan' is not reachable");
    let p = problems(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {
        "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}, "Lost": {"Type": "Succeed"}}}}}}));
    has(&p, "UNREACHABLE_STATE", "/States/M/ItemProcessor/States/Lost", "not reachable");
}

#[test]
fn unreachable_states_are_reported_beside_other_problems() {
    // A state with an unknown field cannot be compiled; the orphan is still found, and
    // the states reached only through the broken state's transitions are not orphans.
    let p = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Colour": "red", "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "D"}], "Default": "E"},
        "D": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
        "E": {"Type": "Succeed"}, "F": {"Type": "Fail"},
        "Orphan": {"Type": "Pass", "End": true}}}));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/A", "Field 'Colour' is not supported by a Pass state");
    has(&p, "UNREACHABLE_STATE", "/States/Orphan", "State 'Orphan' is not reachable");
    assert_eq!(p.len(), 2, "{p:#?}");
    let p = problems(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {
        "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true, "Result": 1, "ResultPath": "x"},
                                   "Lost": {"Type": "Succeed"}}}}}}));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/M/ItemProcessor/States/I/ResultPath", "not a valid JSONPath");
    has(&p, "UNREACHABLE_STATE", "/States/M/ItemProcessor/States/Lost", "not reachable");
}

#[test]
fn missing_top_level_fields() {
    let p = problems(json!({}));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/", "These fields are required: [States, StartAt]");
    let p = problems(json!({"StartAt": "X", "States": {"A": {"Type": "Succeed"}}}));
    has(&p, "MISSING_TRANSITION_TARGET", "/StartAt", "Missing 'StartAt' target: X");
    assert!(StateMachine::from_json("not json").unwrap_err().diagnostics[0].code == "INVALID_JSON_DESCRIPTION");
}

#[test]
fn malformed_paths_and_intrinsics() {
    let p = problems(one_state(json!({"Type": "Pass", "End": true, "InputPath": "a.b", "ResultPath": "$.a[*]",
        "Parameters": {"x.$": "States.Nope($.a)", "y.$": "States.ArrayLength($.a, 2)", "z.$": "$.a[", "w.$": 5}})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/InputPath", "not a valid JSONPath");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/ResultPath", "valid reference path");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Parameters", "'x.$'");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Parameters", "States.ArrayLength takes 1 argument");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Parameters", "'z.$'");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Parameters", "'w.$'");
}

#[test]
fn retry_and_catch_shape() {
    let p = problems(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true,
              "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": []}, {"ErrorEquals": ["X"], "BackoffRate": 0.5,
                         "MaxAttempts": -1, "JitterStrategy": "SOME"}],
              "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "T"}, {"ErrorEquals": ["Y"]}]}}}));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Retry[0]/ErrorEquals", "must be the last one");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Retry[1]/ErrorEquals", "non-empty array");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Retry[2]/BackoffRate", "greater than or equal to 1.0");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Retry[2]/MaxAttempts", "non-negative integer");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Retry[2]/JitterStrategy", "FULL or NONE");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Catch[0]/ErrorEquals", "must appear alone");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/T/Catch[1]/Next", "'Next' must name a state");
}

#[test]
fn choice_rules_are_checked() {
    let p = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.a", "NumericEquals": "1", "Next": "E"},
            {"Variable": "$.a", "StringEquals": "x", "IsNull": true, "Next": "E"},
            {"Variable": "$.a", "StringEquals": "x"},
            {"And": [{"Variable": "$.a", "IsNull": true, "Next": "E"}], "Next": "E"}],
          "Default": "Missing"},
        "E": {"Type": "Succeed"}}}));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[0]/NumericEquals", "must be a number");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[1]", "exactly one comparison");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[2]", "required: [Next]");
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/C/Choices[3]/And[0]/Next", "must not have a 'Next'");
    has(&p, "MISSING_TRANSITION_TARGET", "/States/C/Default", "Missing 'Default' target: Missing");
}

#[test]
fn wait_fail_and_map_fields() {
    let p = problems(one_state(json!({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S", "exactly one of Seconds");
    let p = problems(one_state(json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Timestamp", "RFC3339");
    let p = problems(one_state(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S", "mutually exclusive");
    let p = problems(one_state(json!({"Type": "Map", "End": true, "MaxConcurrency": -2,
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/MaxConcurrency", "non-negative integer");
    let p = problems(one_state(json!({"Type": "Parallel", "End": true, "Branches": []})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Branches", "Value cannot be empty");
    let p = problems(one_state(json!({"Type": "Pass", "End": true, "Assign": {"not-a-name": 1}})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Assign", "'not-a-name' is not a valid variable name");
}

#[test]
fn unsupported_features_are_refused_at_load_time() {
    let p =
        problems(json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "End": true}}}));
    has(&p, "UNSUPPORTED_FEATURE", "/QueryLanguage", "JSONata");
    let p = problems(one_state(json!({"Type": "Pass", "End": true, "Output": "{% $states.input %}"})));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/Output", "JSONata");
    let p = problems(one_state(json!({"Type": "Task", "End": true,
        "Resource": "arn:aws:states:us-east-1:123456789012:activity:approve"})));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/Resource", "Activities");
    let p = problems(one_state(json!({"Type": "Task", "End": true,
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "f"}})));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/Resource", ".waitForTaskToken");
    let p = problems(one_state(
        json!({"Type": "Task", "End": true, "Resource": "arn:aws:states:::states:startExecution.sync"}),
    ));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/Resource", ".sync");
    let p = problems(one_state(json!({"Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}})));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/ItemProcessor/ProcessorConfig", "Distributed Map");
    let p = problems(one_state(json!({"Type": "Map", "End": true, "ItemReader": {},
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}})));
    has(&p, "UNSUPPORTED_FEATURE", "/States/S/ItemReader", "Distributed Map");
}

#[test]
fn lambda_invoke_needs_a_function_name() {
    let p = problems(one_state(json!({"Type": "Task", "End": true, "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"Payload.$": "$"}})));
    has(&p, "SCHEMA_VALIDATION_FAILED", "/States/S/Parameters", "'FunctionName' is required");
}

#[test]
fn the_error_message_reads_like_aws() {
    let err =
        StateMachine::from_json(&json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}).to_string())
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next'"
    );
}
