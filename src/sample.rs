//! `invoices sample`: writes a generated invoice file to standard output.

use std::io::{self, BufWriter, Write};

use clap::{Args, ValueEnum};
use ingest::{sample, Format};

#[derive(Args)]
pub struct SampleArgs {
    /// Number of invoices.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// File format.
    #[arg(long, value_enum, default_value_t = SampleFormat::Csv)]
    format: SampleFormat,
    /// Seed: the same seed always gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Percentage of invoices that break one validation rule.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    invalid: u8,
    /// Percentage of invoices that repeat an earlier invoiceId.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    duplicates: u8,
    /// Give invoices line items (CSV: one row per item).
    #[arg(long)]
    items: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SampleFormat {
    Csv,
    Json,
    Ndjson,
}

pub fn run(args: SampleArgs) -> u8 {
    let format = match args.format {
        SampleFormat::Csv => Format::Csv,
        SampleFormat::Json => Format::Json,
        SampleFormat::Ndjson => Format::Ndjson,
    };
    let spec = sample::Spec {
        count: args.count,
        format,
        seed: args.seed,
        invalid_percent: args.invalid,
        duplicate_percent: args.duplicates,
        items: args.items,
    };
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    match sample::write(&spec, &mut out).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("invoices sample: {e}");
            2
        }
    }
}
