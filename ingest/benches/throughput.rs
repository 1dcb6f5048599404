//! Parse + validate throughput of the file formats, one thread, with peak memory.
//!
//! `cargo bench -p ingest --bench throughput` generates sample files
//! (1,000,000 invoices as CSV, NDJSON and JSON, and 10,000,000 as CSV to show
//! that memory does not grow with the file), then measures each in a fresh
//! child process so that its peak RSS (VmHWM) is its own. The file is read
//! once before timing, so it comes from the page cache. Figures are printed.
//!
//! Options: `--count N` (default 1000000), `--no-large` (skip the 10× CSV).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use ingest::{sample, Format, InvoiceReader, Limits};
use workflow::{validate, Rules};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        measure(&args[i + 1], Path::new(&args[i + 2]));
        return;
    }
    let count: u64 =
        args.iter().position(|a| a == "--count").map_or(1_000_000, |i| args[i + 1].parse().expect("--count N"));
    let large = !args.iter().any(|a| a == "--no-large");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ingest-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let mut cases = vec![(Format::Csv, count), (Format::Ndjson, count), (Format::Json, count)];
    if large {
        cases.push((Format::Csv, count * 10));
    }
    println!("parse + validate, one thread (file read from the page cache)");
    println!("{:<7} {:>11} {:>9} {:>13} {:>9} {:>12}", "format", "invoices", "MB", "invoices/s", "MB/s", "peak RSS");
    for (format, n) in cases {
        let path = dir.join(format!("sample-v{}-{n}.{}", sample::VERSION, format.name()));
        if !path.exists() {
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).expect("create sample"));
            sample::write(&sample::Spec { seed: 42, ..sample::Spec::new(n, format) }, &mut out).expect("write sample");
            out.flush().expect("flush sample");
        }
        let exe = std::env::current_exe().expect("own path");
        let out = Command::new(exe).args(["--case", format.name()]).arg(&path).output().expect("run case");
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.split_whitespace().collect();
        if !out.status.success() || f.len() != 4 {
            panic!("case {} failed: {}{}", path.display(), line, String::from_utf8_lossy(&out.stderr));
        }
        let (records, bytes, secs, rss_kb): (f64, f64, f64, f64) =
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap());
        println!(
            "{:<7} {:>11} {:>9.0} {:>13.0} {:>9.0} {:>9.1} MB",
            format.name(),
            records as u64,
            bytes / 1e6,
            records / secs,
            bytes / 1e6 / secs,
            rss_kb / 1024.0
        );
    }
}

/// Runs one case; prints `records bytes seconds peak_rss_kb`.
fn measure(format: &str, path: &Path) {
    let format = match format {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => Format::Ndjson,
    };
    // Warm the page cache.
    std::io::copy(&mut File::open(path).expect("open"), &mut std::io::sink()).expect("read");
    let bytes = std::fs::metadata(path).expect("stat").len();
    let rules = Rules::default();
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
    let start = Instant::now();
    let mut reader = InvoiceReader::new(File::open(path).expect("open"), format, Limits::default());
    let (mut valid, mut other) = (0u64, 0u64);
    while let Some(next) = reader.next_record() {
        match next {
            Ok(record) => match validate(&record.invoice, &rules, today) {
                Ok(invoice) => {
                    valid += 1;
                    std::hint::black_box(&invoice);
                }
                Err(_) => other += 1,
            },
            Err(_) => other += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(other, 0, "the generated file should be all valid");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!("{valid} {bytes} {secs} {rss_kb}");
}
