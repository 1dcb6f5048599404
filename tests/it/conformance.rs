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
