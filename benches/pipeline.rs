//! End-to-end throughput of `invoices run` (the release binary) on generated
//! CSV files, with the peak RSS of the process.
//!
//! `cargo bench --bench pipeline` generates 1,000,000 and 2,000,000-invoice CSV
//! files (cached under target/), runs each through the whole local pipeline
//! (engine, SQLite with durable group commits, outbox) in a fresh data
//! directory, and prints invoices/s and peak RSS (VmHWM, sampled while it runs),
//! so that flat memory is visible. Options: `--count N` (the first size; the
//! second is twice it), `--no-large`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 =
        args.iter().position(|a| a == "--count").map_or(1_000_000, |i| args[i + 1].parse().expect("--count N"));
    let sizes: Vec<u64> = if args.iter().any(|a| a == "--no-large") { vec![count] } else { vec![count, count * 2] };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pipeline-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let exe = env!("CARGO_BIN_EXE_invoices");
    println!("invoices run, whole local pipeline (engine + SQLite durable group commits + outbox)");
    println!("{:>11} {:>10} {:>13} {:>12}", "invoices", "seconds", "invoices/s", "peak RSS");
    for n in sizes {
        let file = dir.join(format!("sample-v{}-{n}.csv", ingest::sample::VERSION));
        if !file.exists() {
            let spec = ingest::sample::Spec { seed: 7, ..ingest::sample::Spec::new(n, ingest::Format::Csv) };
            let mut out = BufWriter::with_capacity(1 << 20, File::create(&file).expect("create sample"));
            ingest::sample::write(&spec, &mut out).expect("write sample");
            out.flush().expect("flush");
        }
        let data = dir.join(format!("data-{n}"));
        let _ = std::fs::remove_dir_all(&data);
        let (secs, rss_kb, stdout) = measure(exe, &file, &data);
        assert!(stdout.contains("Total"), "unexpected output: {stdout}");
        println!("{n:>11} {secs:>10.2} {:>13.0} {:>9.1} MB", n as f64 / secs, rss_kb as f64 / 1024.0);
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// Runs `invoices run FILE --data-dir DATA`; returns seconds, peak RSS in KiB and stdout.
fn measure(exe: &str, file: &Path, data: &Path) -> (f64, u64, String) {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(["run", "--show", "0", "--data-dir"])
        .arg(data)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start invoices run");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if child.try_wait().expect("poll").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = start.elapsed().as_secs_f64();
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "invoices run failed: {:?}", out.status);
    (secs, peak, String::from_utf8_lossy(&out.stdout).into_owned())
}
