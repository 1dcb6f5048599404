//! The AWS-recorded ASL conformance corpus, run through `invoices states run`.
//!
//! `engine/conformance/run-asl.py` runs every case of `engine/conformance/asl/` (714
//! executions recorded on AWS Step Functions) through the binary and compares outputs,
//! error names and causes with AWS's. Every case must pass; the failures are printed.

use std::path::Path;
use std::process::Command;

#[test]
fn every_aws_recorded_case_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runner = root.join("engine/conformance/run-asl.py");
    let out = Command::new("python3")
        .arg(&runner)
        .args(["-j", "2", "--"])
        .arg(env!("CARGO_BIN_EXE_invoices"))
        .args(["states", "run", "{definition}", "--input", "@{input}"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 {}: {e} (the conformance check needs Python 3)", runner.display())
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().last().unwrap_or_default();
    println!("ASL conformance: {summary}");
    assert!(
        out.status.success() && summary.ends_with(" 0 failed"),
        "ASL conformance failed ({summary}):\n{stdout}\n{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// The command's own contract: exit statuses, mock config, history.

fn states_run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_invoices"))
        .args(["states", "run"])
        .args(args)
        .output()
        .expect("run the invoices binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const TASK_DEF: &str = r#"{"StartAt": "Process", "States": {
  "Process": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:process",
              "Retry": [{"ErrorEquals": ["StoreUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 1}],
              "ResultPath": "$.processing", "Next": "Done"},
  "Done": {"Type": "Pass", "Parameters": {"outcome.$": "$.processing.status", "id.$": "$.invoice.invoiceId"}, "End": true}}}"#;

const MOCKS: &str = r#"{
  "StateMachines": {"invoices": {"TestCases": {
     "Happy": {"Process": "Processed"},
     "Down": {"Process": "AlwaysDown"}}}},
  "MockedResponses": {
     "Processed": {"0": {"Return": {"status": "PROCESSED"}}},
     "AlwaysDown": {"0-1": {"Throw": {"Error": "StoreUnavailable", "Cause": "the store is down"}}}}}"#;

#[test]
fn states_run_reports_bad_definitions_and_inputs_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#).unwrap();
    let (code, _, err) = states_run(&[bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("Missing 'Next' target: B at /States/A/Next"), "{err}");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#).unwrap();
    let (code, _, err) = states_run(&[good.to_str().unwrap(), "--input", "{not json"]);
    assert_eq!(code, 2);
    assert!(err.contains("the input is not valid JSON"), "{err}");
    let (code, out, _) = states_run(&[good.to_str().unwrap(), "--input", r#"{"a": 1.10}"#]);
    assert_eq!((code, out.trim()), (0, "{\n  \"a\": 1.10\n}"), "numbers keep their text");
}

/// A temporary directory holding TASK_DEF as `invoices.json` and MOCKS as `mocks.json`.
fn mocked_definition() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("invoices.json");
    std::fs::write(&def, TASK_DEF).unwrap();
    let mocks = dir.path().join("mocks.json");
    std::fs::write(&mocks, MOCKS).unwrap();
    (dir, def, mocks)
}

#[test]
fn states_run_with_a_mock_config_runs_tasks_offline() {
    let (_dir, def, mocks) = mocked_definition();
    let input = r#"{"invoice": {"invoiceId": "INV-1"}}"#;
    let base = [def.to_str().unwrap(), "--input", input, "--mock-config", mocks.to_str().unwrap()];

    let (code, out, err) = states_run(&[&base[..], &["--test-case", "Happy"]].concat());
    assert_eq!(code, 0, "{err}");
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out, serde_json::json!({"outcome": "PROCESSED", "id": "INV-1"}));

    let (code, out, _) = states_run(&[&base[..], &["--test-case", "Down"]].concat());
    assert_eq!(code, 1);
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out, serde_json::json!({"status": "FAILED", "error": "StoreUnavailable", "cause": "the store is down"}));

    let (code, _, err) = states_run(&[&base[..], &["--test-case", "Nope"]].concat());
    assert_eq!(code, 2);
    assert!(err.contains("no test case 'Nope'"), "{err}");
}

#[test]
fn states_run_history_is_one_json_document_on_stdout() {
    let (_dir, def, mocks) = mocked_definition();
    let input = r#"{"invoice": {"invoiceId": "INV-1"}}"#;
    let base = [def.to_str().unwrap(), "--input", input, "--mock-config", mocks.to_str().unwrap(), "--history"];

    let (code, out, err) = states_run(&[&base[..], &["--test-case", "Happy"]].concat());
    assert_eq!((code, err.as_str()), (0, ""), "stderr holds diagnostics only");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["status"], "SUCCEEDED");
    assert_eq!(doc["output"], serde_json::json!({"outcome": "PROCESSED", "id": "INV-1"}));
    let events = doc["events"].as_array().unwrap();
    assert_eq!(events.len(), 9);
    assert_eq!(events[2]["type"], "LambdaFunctionScheduled");
    assert_eq!(events[8]["type"], "ExecutionSucceeded");

    let (code, out, _) = states_run(&[&base[..], &["--test-case", "Down"]].concat());
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((doc["status"].as_str(), doc["error"].as_str()), (Some("FAILED"), Some("StoreUnavailable")));
    assert_eq!(doc["cause"], "the store is down");
    assert_eq!(doc["events"].as_array().unwrap().last().unwrap()["type"], "ExecutionFailed");

    // Without a mock the Task state is unserved: the warning goes to stderr, and stdout
    // is still one JSON document.
    let (code, out, err) = states_run(&[def.to_str().unwrap(), "--input", input, "--history"]);
    assert_eq!(code, 1);
    assert!(err.contains("warning: no mock for these Task states"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["error"], "States.Runtime");
    assert!(doc["events"].is_array());
}

#[test]
fn states_run_takes_the_mock_state_machine_named_after_the_definition_file() {
    // Two state machines in the mock config and no --state-machine: the one named like
    // the definition's file stem is used.
    let mocks_text = r#"{
      "StateMachines": {"invoices": {"TestCases": {"T": {"Process": "Processed"}}},
                        "other": {"TestCases": {"T": {"Process": "AlwaysDown"}}}},
      "MockedResponses": {
         "Processed": {"0": {"Return": {"status": "PROCESSED"}}},
         "AlwaysDown": {"0-1": {"Throw": {"Error": "StoreUnavailable", "Cause": "the store is down"}}}}}"#;
    let dir = tempfile::tempdir().unwrap();
    let mocks = dir.path().join("mocks.json");
    std::fs::write(&mocks, mocks_text).unwrap();
    let input = r#"{"invoice": {"invoiceId": "INV-1"}}"#;
    let run_as = |stem: &str| {
        let def = dir.path().join(format!("{stem}.json"));
        std::fs::write(&def, TASK_DEF).unwrap();
        states_run(&[
            def.to_str().unwrap(),
            "--input",
            input,
            "--mock-config",
            mocks.to_str().unwrap(),
            "--test-case",
            "T",
        ])
    };
    let (code, out, err) = run_as("invoices");
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["outcome"], "PROCESSED");
    let (code, out, _) = run_as("other");
    assert_eq!(code, 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["error"], "StoreUnavailable");
    let (code, _, err) = run_as("neither");
    assert_eq!(code, 2);
    assert!(err.contains("no state machine 'neither' in StateMachines (it has: invoices, other)"), "{err}");
}

#[test]
fn states_run_wants_a_mock_config_for_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("d.json");
    std::fs::write(&def, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#).unwrap();
    let (code, out, err) = states_run(&[def.to_str().unwrap(), "--state-machine", "d"]);
    assert_eq!(code, 2, "a usage error: {out}");
    assert!(err.contains("--mock-config"), "{err}");
}

#[test]
fn states_run_survives_a_closed_stdout() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("d.json");
    std::fs::write(&def, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#).unwrap();
    let input = format!(r#"{{"text": "{}"}}"#, "x".repeat(100_000));
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoices"))
        .args(["states", "run", def.to_str().unwrap(), "--input", &input])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the invoices binary");
    // Close the reading end before the command writes its result.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
