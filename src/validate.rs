//! `invoices validate`: reads invoice files and reports each invoice's verdict.
//!
//! Every file is read with the ingest readers and every invoice checked with
//! the workflow's rules, exactly as the pipeline's ValidateInvoice step does,
//! but nothing is stored or sent. Exit status: 0 when every invoice is valid,
//! 1 when some are invalid or unreadable, 2 when a file cannot be read.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Args;
use ingest::{Format, InvoiceReader, Limits, ReadError};
use serde_json::json;
use workflow::{validate, FieldError, Rules};

use crate::config::RulesArgs;
use crate::files::{expand_inputs, Input};

#[derive(Args)]
pub struct ValidateArgs {
    /// Files, or directories to search for .csv, .json, .jsonl and .ndjson files.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    rules: RulesArgs,
}

#[derive(Default)]
struct Counts {
    valid: u64,
    invalid: u64,
    unreadable: u64,
}

/// Where the report goes: text for people, or one JSON document streamed out.
trait Report {
    fn file_start(&mut self, path: &Path) -> io::Result<()>;
    fn valid(&mut self, id: &str, record: u64, line: u64) -> io::Result<()>;
    fn invalid(&mut self, id: Option<&str>, record: u64, line: u64, errors: &[FieldError]) -> io::Result<()>;
    fn unreadable(&mut self, record: u64, line: u64, reason: &str) -> io::Result<()>;
    fn file_error(&mut self, path: &Path, line: Option<u64>, reason: &str) -> io::Result<()>;
    fn file_end(&mut self, path: &Path, counts: &Counts) -> io::Result<()>;
    fn finish(&mut self, total: &Counts, files: usize, failed: usize) -> io::Result<()>;
}

pub fn run(args: ValidateArgs) -> u8 {
    let rules = match args.rules.rules() {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("invoices validate: {e}");
            return 2;
        }
    };
    let today = args.rules.today();
    let stdout = io::stdout().lock();
    let out = BufWriter::with_capacity(1 << 16, stdout);
    let result = if args.json {
        check_all(
            &args.paths,
            &rules,
            today,
            &mut JsonReport { out, first_file: true, first_item: true, pending_errors: Vec::new() },
        )
    } else {
        check_all(&args.paths, &rules, today, &mut TextReport { out })
    };
    match result {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("invoices validate: cannot write the report: {e}");
            2
        }
    }
}

fn check_all(paths: &[PathBuf], rules: &Rules, today: NaiveDate, report: &mut dyn Report) -> io::Result<u8> {
    let mut total = Counts::default();
    let (mut files, mut failed) = (0usize, 0usize);
    for input in expand_inputs(paths) {
        files += 1;
        let ok = match input {
            Input::File(path, format) => {
                report.file_start(&path)?;
                let mut counts = Counts::default();
                let ok = check_file(&path, format, rules, today, report, &mut counts)?;
                report.file_end(&path, &counts)?;
                total.valid += counts.valid;
                total.invalid += counts.invalid;
                total.unreadable += counts.unreadable;
                ok
            }
            Input::Unusable(path, reason) => {
                report.file_start(&path)?;
                report.file_error(&path, None, &reason)?;
                report.file_end(&path, &Counts::default())?;
                false
            }
        };
        if !ok {
            failed += 1;
        }
    }
    report.finish(&total, files, failed)?;
    Ok(if failed > 0 {
        2
    } else if total.invalid + total.unreadable > 0 {
        1
    } else {
        0
    })
}

/// Checks one file; false when it could not be read to its end.
fn check_file(
    path: &Path,
    format: Format,
    rules: &Rules,
    today: NaiveDate,
    report: &mut dyn Report,
    counts: &mut Counts,
) -> io::Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            report.file_error(path, None, &format!("cannot open: {e}"))?;
            return Ok(false);
        }
    };
    let mut reader = InvoiceReader::new(file, format, Limits::default());
    while let Some(next) = reader.next_record() {
        match next {
            Ok(record) => match validate(&record.invoice, rules, today) {
                Ok(invoice) => {
                    counts.valid += 1;
                    report.valid(&invoice.invoice_id, record.record, record.line)?;
                }
                Err(errors) => {
                    counts.invalid += 1;
                    report.invalid(record.invoice.invoice_id_text(), record.record, record.line, &errors)?;
                }
            },
            Err(ReadError::Record(e)) => {
                counts.unreadable += 1;
                report.unreadable(e.record, e.line, &e.reason)?;
            }
            Err(ReadError::File(e)) => {
                report.file_error(path, e.line, &e.reason)?;
                return Ok(false);
            }
        }
    }
    Ok(true)
}

struct TextReport<W: Write> {
    out: W,
}

impl<W: Write> Report for TextReport<W> {
    fn file_start(&mut self, path: &Path) -> io::Result<()> {
        writeln!(self.out, "{}", path.display())
    }

    fn valid(&mut self, id: &str, _record: u64, line: u64) -> io::Result<()> {
        writeln!(self.out, "  valid       {id} (line {line})")
    }

    fn invalid(&mut self, id: Option<&str>, _record: u64, line: u64, errors: &[FieldError]) -> io::Result<()> {
        writeln!(self.out, "  invalid     {} (line {line})", id.filter(|i| !i.is_empty()).unwrap_or("(no invoiceId)"))?;
        for e in errors {
            writeln!(self.out, "                {}: {} [{}]", e.field, e.message, code_name(e))?;
        }
        Ok(())
    }

    fn unreadable(&mut self, _record: u64, line: u64, reason: &str) -> io::Result<()> {
        writeln!(self.out, "  unreadable  line {line}: {reason}")
    }

    fn file_error(&mut self, path: &Path, line: Option<u64>, reason: &str) -> io::Result<()> {
        let at = line.map(|l| format!(" line {l}:")).unwrap_or_default();
        writeln!(self.out, "  error      {at} {reason}")?;
        eprintln!("invoices validate: {}:{at} {reason}", path.display());
        Ok(())
    }

    fn file_end(&mut self, _path: &Path, c: &Counts) -> io::Result<()> {
        writeln!(self.out, "  {} valid, {} invalid, {} unreadable", c.valid, c.invalid, c.unreadable)
    }

    fn finish(&mut self, total: &Counts, files: usize, failed: usize) -> io::Result<()> {
        write!(
            self.out,
            "\nSummary: {} valid, {} invalid ({} unreadable) in {files} file{}",
            total.valid,
            total.invalid + total.unreadable,
            total.unreadable,
            if files == 1 { "" } else { "s" }
        )?;
        if failed > 0 {
            write!(self.out, "; {failed} file{} could not be read", if failed == 1 { "" } else { "s" })?;
        }
        writeln!(self.out)?;
        self.out.flush()
    }
}

fn code_name(e: &FieldError) -> String {
    serde_json::to_value(e.code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `{"files":[{"file","invoices":[{invoiceId,line,valid,errors}],"errors":[…]}],"summary":{…}}`,
/// written as it goes so that memory does not grow with the files.
struct JsonReport<W: Write> {
    out: W,
    first_file: bool,
    first_item: bool,
    pending_errors: Vec<serde_json::Value>,
}

impl<W: Write> JsonReport<W> {
    fn item(&mut self, value: serde_json::Value) -> io::Result<()> {
        if !self.first_item {
            self.out.write_all(b",")?;
        }
        self.first_item = false;
        serde_json::to_writer(&mut self.out, &value)?;
        Ok(())
    }
}

impl<W: Write> Report for JsonReport<W> {
    fn file_start(&mut self, path: &Path) -> io::Result<()> {
        self.out.write_all(if self.first_file { b"{\"files\":[" } else { b"," })?;
        self.first_file = false;
        self.first_item = true;
        write!(self.out, "{{\"file\":{},\"invoices\":[", serde_json::to_string(&path.display().to_string())?)
    }

    fn valid(&mut self, id: &str, record: u64, line: u64) -> io::Result<()> {
        self.item(json!({"invoiceId": id, "record": record, "line": line, "valid": true, "errors": []}))
    }

    fn invalid(&mut self, id: Option<&str>, record: u64, line: u64, errors: &[FieldError]) -> io::Result<()> {
        self.item(json!({"invoiceId": id, "record": record, "line": line, "valid": false, "errors": errors}))
    }

    fn unreadable(&mut self, record: u64, line: u64, reason: &str) -> io::Result<()> {
        self.pending_errors.push(json!({"kind": "record", "record": record, "line": line, "message": reason}));
        Ok(())
    }

    fn file_error(&mut self, _path: &Path, line: Option<u64>, reason: &str) -> io::Result<()> {
        self.pending_errors.push(json!({"kind": "file", "line": line, "message": reason}));
        Ok(())
    }

    fn file_end(&mut self, _path: &Path, c: &Counts) -> io::Result<()> {
        let errors = std::mem::take(&mut self.pending_errors);
        write!(
            self.out,
            "],\"errors\":{},\"valid\":{},\"invalid\":{},\"unreadable\":{}}}",
            serde_json::to_string(&errors)?,
            c.valid,
            c.invalid,
            c.unreadable
        )
    }

    fn finish(&mut self, total: &Counts, files: usize, failed: usize) -> io::Result<()> {
        if self.first_file {
            self.out.write_all(b"{\"files\":[")?;
        }
        let summary = json!({
            "valid": total.valid,
            "invalid": total.invalid + total.unreadable,
            "unreadable": total.unreadable,
            "files": files,
            "filesFailed": failed,
        });
        writeln!(self.out, "],\"summary\":{summary}}}")?;
        self.out.flush()
    }
}
