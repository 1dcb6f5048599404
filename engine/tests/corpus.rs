//! The AWS-recorded corpus (`engine/conformance/asl/`), run in process: every case's
//! outcome must equal AWS's, and where AWS's event sequence was recorded (`trace.json`)
//! the history must have the same events, ids, previous ids, state names, Map indexes
//! and lengths. Time is paused, so Waits and Retry backoff take no real time.

use std::path::{Path, PathBuf};

use engine::{Engine, ExecutionRequest, ExecutionStatus, HistoryEvent, StateMachine};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/asl")
}

fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fields of an event that trace.json records.
fn trace_of(ev: &HistoryEvent) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), ev.id.into());
    m.insert("previousEventId".into(), ev.previous_event_id.into());
    m.insert("type".into(), ev.event_type.clone().into());
    if let Some(d) = ev.detail() {
        for k in ["name", "index", "length"] {
            if let Some(v) = d.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
    }
    Value::Object(m)
}

async fn check(engine: &Engine, dir: &Path) -> Result<(), String> {
    let definition = std::fs::read_to_string(dir.join("definition.json")).unwrap();
    let machine = StateMachine::from_json(&definition).map_err(|e| format!("does not load: {e}"))?;
    let input = read(&dir.join("input.json"));
    let expected = read(&dir.join("expected.json"));
    let outcome = engine.run(&machine, ExecutionRequest::new("corpus", input).with_history()).await;
    match expected["status"].as_str() {
        Some("SUCCEEDED") => {
            if outcome.status != ExecutionStatus::Succeeded {
                return Err(format!(
                    "expected SUCCEEDED, got {:?} {:?} {:?}",
                    outcome.status, outcome.error, outcome.cause
                ));
            }
            let out = outcome.output.clone().unwrap_or_default();
            if !json_equal(&out, &expected["output"]) {
                return Err(format!("output {out} differs from {}", expected["output"]));
            }
        }
        _ => {
            if outcome.status != ExecutionStatus::Failed {
                return Err(format!("expected FAILED, got {:?}", outcome.status));
            }
            if outcome.error.as_deref() != expected["error"].as_str() {
                return Err(format!("error {:?} differs from {}", outcome.error, expected["error"]));
            }
            if let Some(cause) = expected["cause"].as_str() {
                if outcome.cause.as_deref() != Some(cause) {
                    return Err(format!("cause {:?} differs from {cause:?}", outcome.cause));
                }
            }
        }
    }
    let trace_file = dir.join("trace.json");
    if trace_file.exists() {
        let want = read(&trace_file);
        let got: Vec<Value> = outcome.history.as_deref().unwrap_or_default().iter().map(trace_of).collect();
        let want = want.as_array().unwrap();
        if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g != w) {
            let first = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
            return Err(format!(
                "history differs at event {}: got {} events, AWS {}; got {:?}, AWS {:?}",
                first + 1,
                got.len(),
                want.len(),
                got.get(first),
                want.get(first)
            ));
        }
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn corpus_outcomes_and_histories_match_aws() {
    let engine = Engine::builder().build();
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    names.sort();
    assert_eq!(names.len(), 714, "the corpus has 714 cases");
    let mut failures = Vec::new();
    let mut traces = 0;
    for dir in &names {
        traces += usize::from(dir.join("trace.json").exists());
        if let Err(e) = check(&engine, dir).await {
            failures.push(format!("{}: {e}", dir.file_name().unwrap().to_string_lossy()));
        }
    }
    assert_eq!(traces, 237, "237 cases carry AWS's event sequence");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from AWS:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
