//! `invoices validate` and `invoices sample`, driven through the real binary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn invoices(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_invoices"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DEFAULT_CURRENCY")
        .output()
        .expect("run invoices");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(args: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = invoices(args);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (code, doc)
}

const TODAY: &str = "--today=2026-11-24";

#[test]
fn valid_samples_exit_zero() {
    let (code, stdout, _) =
        invoices(&["validate", TODAY, "samples/invoices.csv", "samples/invoices.json", "samples/invoices.ndjson"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("  valid       INV-101 (line 2)"), "{stdout}");
    assert!(stdout.ends_with("Summary: 10 valid, 0 invalid (0 unreadable) in 3 files\n"), "{stdout}");
}

#[test]
fn each_rejected_sample_breaks_exactly_its_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/rejected");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let code_name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (code, doc) = json(&["validate", TODAY, "--json", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{code_name}");
        let invoices = doc["files"][0]["invoices"].as_array().unwrap();
        assert_eq!(invoices.len(), 1, "{code_name}");
        let codes: Vec<&str> =
            invoices[0]["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [code_name.as_str()], "{}", path.display());
        seen += 1;
    }
    // Every error code of the rules has its sample.
    assert_eq!(seen, 18);
}

#[test]
fn json_report_has_the_documented_shape() {
    let (code, doc) =
        json(&["validate", TODAY, "--json", "samples/invoices.json", "samples/rejected/not_positive.json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["summary"]["valid"], 3);
    assert_eq!(doc["summary"]["invalid"], 1);
    let first = &doc["files"][0];
    assert_eq!(first["file"], "samples/invoices.json");
    assert_eq!(first["invoices"][0]["invoiceId"], "INV-001");
    assert_eq!(first["invoices"][0]["line"], 2);
    assert_eq!(first["invoices"][0]["valid"], true);
    assert_eq!(first["errors"], Value::Array(vec![]));
    let bad = &doc["files"][1]["invoices"][0];
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["errors"][0]["field"], "amount");
    assert_eq!(bad["errors"][0]["code"], "not_positive");
    assert_eq!(bad["errors"][0]["message"], "amount must be greater than 0, got -100.00");
}

#[test]
fn unreadable_records_count_as_invalid_and_the_rest_is_checked() {
    let malformed = "ingest/tests/malformed/wrong_column_count.csv";
    let (code, doc) = json(&["validate", TODAY, "--json", malformed]);
    assert_eq!(code, 1);
    let file = &doc["files"][0];
    assert_eq!(file["invoices"].as_array().unwrap().len(), 2);
    assert_eq!(file["errors"][0]["line"], 3);
    assert_eq!(file["errors"][0]["message"], "has 5 fields but the header has 4");
    assert_eq!(doc["summary"]["invalid"], 1);
    assert_eq!(doc["summary"]["unreadable"], 1);
}

#[test]
fn a_file_that_cannot_be_read_exits_two_and_others_are_still_checked() {
    let (code, stdout, stderr) = invoices(&[
        "validate",
        TODAY,
        "ingest/tests/malformed/binary.csv",
        "samples/invoices.ndjson",
        "no/such.csv",
        "Cargo.toml",
    ]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("  valid       INV-201 (line 1)"), "{stdout}");
    assert!(stderr.contains("ingest/tests/malformed/binary.csv: not a text file (NUL byte at offset 8)"), "{stderr}");
    assert!(stderr.contains("no/such.csv: no such file or directory"), "{stderr}");
    assert!(stderr.contains("Cargo.toml: unknown file type (expected .csv, .json, .jsonl, .ndjson)"), "{stderr}");
    assert!(stdout.ends_with("3 files could not be read\n"), "{stdout}");
}

#[test]
fn default_currency_and_processing_date_are_settings() {
    let (code, _, _) = invoices(&["validate", "--today=2031-01-01", "samples/invoices.ndjson"]);
    assert_eq!(code, 1, "due dates in 2030 are past on 2031-01-01");
    let (code, _, stderr) = invoices(&["validate", "--default-currency=XYZ", "samples/invoices.ndjson"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--default-currency \"XYZ\" is not an ISO 4217 code"), "{stderr}");
}

#[test]
fn sample_files_are_deterministic_and_valid() {
    for format in ["csv", "json", "ndjson"] {
        let args = ["sample", "--count", "300", "--format", format, "--seed", "9"];
        let (code, first, _) = invoices(&args);
        assert_eq!(code, 0);
        let (_, second, _) = invoices(&args);
        assert_eq!(first, second, "{format}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("sample.{format}"));
        std::fs::write(&path, &first).unwrap();
        let (code, doc) = json(&["validate", TODAY, "--json", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{format}");
        assert_eq!(doc["summary"]["valid"], 300);
    }
}

#[test]
fn sample_can_mix_in_invalid_invoices() {
    let (_, csv, _) = invoices(&["sample", "--count", "1000", "--invalid", "10"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.csv");
    std::fs::write(&path, &csv).unwrap();
    let (code, doc) = json(&["validate", TODAY, "--json", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    let invalid = doc["summary"]["invalid"].as_u64().unwrap();
    assert!((50..=150).contains(&invalid), "{invalid} invalid of 1000 at 10 %");
}
