//! Benchmark: executions per second of a 9-state Pass/Choice workflow over invoice-shaped
//! input (InputPath, Parameters, ResultPath, OutputPath, intrinsic functions, And/Or
//! choice rules; no Task), on every core of this machine, and the same definition and
//! inputs on moto's Step Functions interpreter measured in the same run.
//!
//! `cargo bench -p engine --bench throughput` (env: `BENCH_SECONDS`, default 5;
//! `MOTO_EXECUTIONS`, default 30). moto ≥ 5.2.5 is installed with pip into a virtualenv
//! under `target/`; when that cannot be done the moto figure is reported as
//! `SKIPPED: moto comparison: <reason>`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Engine, StateMachine};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/data")
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let definition = std::fs::read_to_string(data_dir().join("triage.asl.json")).expect("benchmark definition");
    let inputs: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("inputs.json")).expect("inputs")).expect("json");
    let machine = StateMachine::from_json_named("triage", &definition).expect("the benchmark definition loads");
    let engine = Engine::builder().build();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("runtime");

    // Every input must give the expected output before anything is timed.
    let expected: Vec<Value> = rt.block_on(async {
        let mut out = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let o = engine.execute(&machine, &format!("check-{i}"), input.clone()).await;
            assert!(o.succeeded(), "benchmark execution failed: {:?} {:?}", o.error, o.cause);
            out.push(o.output.expect("output"));
        }
        out
    });
    assert_eq!(expected[1]["outcome"], "large");
    assert_eq!(expected[2]["converted"], true);

    let run_for = |engine: &Engine, dur: Duration| -> (u64, f64) {
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for w in 0..threads * 8 {
                let (engine, machine, inputs) = (engine.clone(), machine.clone(), inputs.clone());
                let (done, failed) = (done.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    let mut i = w;
                    while start.elapsed() < dur {
                        for _ in 0..64 {
                            let input = inputs[i % inputs.len()].clone();
                            let o = engine.execute(&machine, &format!("bench-{w}-{i}"), input).await;
                            if !o.succeeded() {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            i += threads * 8;
                        }
                        done.fetch_add(64, Ordering::Relaxed);
                    }
                }));
            }
            for t in tasks {
                t.await.expect("benchmark task");
            }
        });
        assert_eq!(failed.load(Ordering::Relaxed), 0, "executions failed during the benchmark");
        (done.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
    };
    run_for(&engine, Duration::from_secs_f64((seconds / 5.0).min(1.0)));
    let (n, secs) = run_for(&engine, Duration::from_secs_f64(seconds));
    let ours = n as f64 / secs;
    println!("workflow: 9 states (Pass/Choice), 8 executed per run, {} inputs", inputs.len());
    println!("engine: {n} executions in {secs:.2} s on {threads} worker threads = {ours:.0} executions/s");
    println!("engine: {:.2} µs per execution per core", secs * threads as f64 * 1e6 / n as f64);
    if let Some(kib) = peak_rss_kib() {
        println!("engine: peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    let target = if ours >= 50_000.0 { "meets" } else { "MISSES" };
    println!("engine: {target} the target of 50000 executions/s");
    let recording = Engine::builder().record_history(true).build();
    let (hn, hsecs) = run_for(&recording, Duration::from_secs_f64((seconds / 2.0).max(0.5)));
    println!("engine with history recorded: {:.0} executions/s", hn as f64 / hsecs);

    match moto_figure(&inputs) {
        Ok((moto_rate, version, count)) => {
            println!("moto {version}: {count} executions at {moto_rate:.2} executions/s");
            println!("ratio: engine / moto = {:.0}x", ours / moto_rate);
        }
        Err(reason) => println!("SKIPPED: moto comparison: {reason}"),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Runs moto's interpreter on the same definition and inputs: (executions/s, version, count).
fn moto_figure(inputs: &[Value]) -> Result<(f64, String, u64), String> {
    let venv = target_dir().join("moto-bench-venv");
    let python = venv.join("bin/python");
    let has_moto = |py: &Path| {
        Command::new(py)
            .args(["-c", "import moto, boto3, moto.stepfunctions.parser.models; v = tuple(int(x) for x in moto.__version__.split('.')[:3]); assert v >= (5, 2, 5)"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_moto(&python) {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status();
        if !made.is_ok_and(|s| s.success()) {
            return Err(format!("cannot create a virtualenv at {}", venv.display()));
        }
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "moto[stepfunctions]>=5.2.5", "boto3"])
            .status()
            .map_err(|e| format!("cannot run pip: {e}"))?;
        if !pip.success() || !has_moto(&python) {
            return Err("pip could not install moto>=5.2.5 into the virtualenv".into());
        }
    }
    let count: u64 = std::env::var("MOTO_EXECUTIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/moto_bench.py"))
        .arg(data_dir().join("triage.asl.json"))
        .arg(data_dir().join("inputs.json"))
        .arg(count.to_string())
        .output()
        .map_err(|e| format!("cannot run the moto script: {e}"))?;
    if !out.status.success() {
        return Err(format!("the moto script failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let report: Value =
        serde_json::from_slice(out.stdout.rsplit(|b| *b == b'\n').find(|l| !l.is_empty()).unwrap_or_default())
            .map_err(|e| format!("unreadable moto report: {e}"))?;
    let first_expected = serde_json::json!({
        "outcome": "standard", "invoiceId": "INV-001", "key": "CUST-123#INV-001", "converted": false,
        "label": "INV-001 for CUST-123"
    });
    if report["first_output"] != first_expected {
        return Err(format!("moto's output differs from ours: {}", report["first_output"]));
    }
    let _ = inputs;
    Ok((report["per_second"].as_f64().unwrap_or(0.0), report["moto"].as_str().unwrap_or("?").to_owned(), count))
}
