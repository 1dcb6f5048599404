//! The catalog of malformed files (tests/malformed/): each gives its exact
//! error, and the valid records around the bad one still come through.

use std::path::Path;

use chrono::NaiveDate;
use ingest::{Format, InvoiceReader, Limits, ReadError};
use workflow::{validate, Rules};

use super::assert_same_in_short_reads;

/// Reads and validates a file; one line per outcome:
/// `valid R@L ID`, `invalid R@L ID: field code: message; …`, `record R@L: reason`,
/// `file: message`. Reading the file in short chunks must give the same.
fn verdicts(bytes: &[u8], format: Format, limits: Limits) -> Vec<String> {
    assert_same_in_short_reads(bytes, format, limits);
    verdicts_of_one_read(bytes, format, limits)
}

fn verdicts_of_one_read(bytes: &[u8], format: Format, limits: Limits) -> Vec<String> {
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let mut reader = InvoiceReader::new(bytes, format, limits);
    let mut out = Vec::new();
    while let Some(next) = reader.next_record() {
        out.push(match next {
            Ok(r) => {
                let id = r.invoice.invoice_id_text().unwrap_or("-").to_string();
                match validate(&r.invoice, &Rules::default(), today) {
                    Ok(_) => format!("valid {}@{} {id}", r.record, r.line),
                    Err(errors) => {
                        let list: Vec<String> = errors
                            .iter()
                            .map(|e| {
                                let code = serde_json::to_value(e.code).unwrap();
                                format!("{} {}: {}", e.field, code.as_str().unwrap(), e.message)
                            })
                            .collect();
                        format!("invalid {}@{} {id}: {}", r.record, r.line, list.join("; "))
                    }
                }
            }
            Err(ReadError::Record(e)) => format!("record {}@{}: {}", e.record, e.line, e.reason),
            Err(ReadError::File(e)) => format!("file: {e}"),
        });
    }
    out
}

fn catalog(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    verdicts(&bytes, Format::from_path(&path).expect("known extension"), Limits::default())
}

const A2: &str = "valid 1@2 INV-A";
const B4: &str = "valid 3@4 INV-B";

#[test]
fn empty_files() {
    assert_eq!(catalog("empty.csv"), ["file: file is empty"]);
    assert_eq!(catalog("empty.json"), ["file: file is empty"]);
    assert_eq!(catalog("header_only.csv"), ["file: the file holds no invoices"]);
    assert_eq!(catalog("blank.ndjson"), ["file: the file holds no invoices"]);
}

#[test]
fn binary_data_is_not_read_as_text() {
    assert_eq!(catalog("binary.csv"), ["file: not a text file (NUL byte at offset 8)"]);
}

#[test]
fn invalid_utf8_is_one_bad_record() {
    assert_eq!(catalog("invalid_utf8.csv"), [A2, "record 2@3: column \"customerId\" is not valid UTF-8", B4]);
}

#[test]
fn wrong_column_count() {
    assert_eq!(catalog("wrong_column_count.csv"), [A2, "record 2@3: has 5 fields but the header has 4", B4]);
}

#[test]
fn unterminated_quote_is_reported_where_it_opens_and_reading_resumes() {
    assert_eq!(
        catalog("unterminated_quote.csv"),
        [A2, "record 2@3: quoted field opened on line 3 is never closed", B4]
    );
}

#[test]
fn an_unclosed_quote_does_not_swallow_the_rows_up_to_the_next_quote() {
    // The quote opened on line 3 "closes" at the quote that opens INV-C's
    // description, which is followed by a letter: it was never closed, and
    // the rows in between are read as rows.
    assert_eq!(
        catalog("unterminated_quote_before_quoted_field.csv"),
        [A2, "record 2@3: quoted field opened on line 3 is never closed", B4, "valid 4@5 INV-C"]
    );
    // A row with a good multi-line field, then one never closed: the message
    // names the line of the quote, reading resumes on the line after it.
    let csv = "invoiceId,customerId,amount,dueDate,description,note\n\
               INV-A,C-1,10.00,2030-01-31,\"two\nlines\",\"\"\"quoted\"\"\"\n\
               INV-X,C-9,5.00,2030-01-31,\"two\nlines\",\"never closed\n\
               INV-B,C-2,20.00,2030-02-28,b,\"n\"\n";
    assert_eq!(
        verdicts(csv.as_bytes(), Format::Csv, Limits::default()),
        [A2, "record 2@4: quoted field opened on line 5 is never closed", "valid 3@6 INV-B"]
    );
}

#[test]
fn stray_character_after_a_closing_quote() {
    assert_eq!(catalog("stray_quote.csv"), [A2, "record 2@3: unexpected 'x' after a closing quote", B4]);
}

#[test]
fn bad_headers_reject_the_file() {
    assert_eq!(
        catalog("duplicate_header.csv"),
        ["file: line 1: header: columns 1 (\"invoiceId\") and 5 (\"invoice_id\") both name invoiceId"]
    );
    assert_eq!(
        catalog("missing_column.csv"),
        ["file: line 1: header: missing required column dueDate (columns found: invoiceId, customerId, amount)"]
    );
    assert_eq!(
        catalog("json_named_csv.csv"),
        ["file: line 1: header: missing required columns invoiceId, customerId, amount, dueDate (columns found: [{\"invoiceId\": \"INV-A\"}])"]
    );
}

#[test]
fn numbers_that_are_not_amounts() {
    assert_eq!(
        catalog("exponent_overflow.csv"),
        [A2, "invalid 2@3 INV-X: amount out_of_range: amount \"1e400\" is out of range", B4]
    );
    // serde_json hands over a JSON number's exponent as `e+400` whatever the
    // file wrote (`1E400` here): the value is what the message is about.
    assert_eq!(
        catalog("exponent_overflow.json"),
        [A2, "invalid 2@3 INV-X: amount out_of_range: amount \"1e+400\" is out of range", B4]
    );
    assert_eq!(
        catalog("nan_amount.csv"),
        [A2, "invalid 2@3 INV-X: amount invalid_number: amount \"NaN\" is not a decimal number", B4]
    );
    assert_eq!(
        catalog("negative_zero.csv"),
        [A2, "invalid 2@3 INV-X: amount not_positive: amount must be greater than 0, got 0", B4]
    );
    assert_eq!(
        catalog("thousands_separator.csv"),
        [A2, "invalid 2@3 INV-X: amount invalid_number: amount \"1,500.00\" is not a decimal number", B4]
    );
    assert_eq!(
        catalog("huge_amount_precision.ndjson"),
        [
            "valid 1@1 INV-A",
            "invalid 2@2 INV-X: amount out_of_range: amount \"1.00000000000000000000000000001\" is out of range",
            "valid 3@3 INV-B"
        ]
    );
}

#[test]
fn dates_that_are_not_dates() {
    assert_eq!(
        catalog("feb_30.csv"),
        [A2, "invalid 2@3 INV-X: dueDate not_a_real_date: dueDate \"2030-02-30\" is not a real calendar date", B4]
    );
    assert_eq!(
        catalog("two_digit_year.csv"),
        [A2, "invalid 2@3 INV-X: dueDate invalid_date: dueDate \"30-12-31\" is not a date in the form YYYY-MM-DD", B4]
    );
}

#[test]
fn item_rows_that_disagree_or_do_not_add_up() {
    assert_eq!(
        catalog("conflicting_item_rows.csv"),
        [
            A2,
            "record 2@3: customerId \"C-8\" on line 4 differs from \"C-9\" on line 3 for the same invoiceId",
            "valid 3@5 INV-B"
        ]
    );
    assert_eq!(
        catalog("items_total_mismatch.csv"),
        [A2, "invalid 2@3 INV-X: items total_mismatch: items add up to 99.99 USD but amount is 100.00 USD", B4]
    );
}

#[test]
fn json_syntax_errors_in_one_record() {
    assert_eq!(
        catalog("nan_literal.json"),
        [A2, "record 2@3: invalid JSON: expected value (column 55)", "valid 3@4 INV-B"]
    );
    assert_eq!(
        catalog("trailing_comma_in_record.json"),
        [A2, "record 2@3: invalid JSON: trailing comma (column 44)", "valid 3@4 INV-B"]
    );
    assert_eq!(
        catalog("bad_line.ndjson"),
        ["valid 1@1 INV-A", "record 2@2: invalid JSON: key must be a string (column 45)", "valid 3@3 INV-B"]
    );
}

#[test]
fn json_records_that_are_not_invoices() {
    assert_eq!(
        catalog("not_an_object.json"),
        [
            A2,
            "record 2@3: the record is a number, not an invoice object",
            "record 3@4: \"invoice\" is an array, not an invoice object",
            "valid 4@5 INV-B"
        ]
    );
    assert_eq!(
        catalog("wrong_types.json"),
        [
            A2,
            "invalid 2@3 7: invoiceId wrong_type: invoiceId must be a string, not a number; \
             amount wrong_type: amount must be a number or a numeric string, not a boolean; \
             dueDate wrong_type: dueDate must be a string, not a number; \
             items wrong_type: items must be an array, not an object",
            "valid 3@4 INV-B"
        ]
    );
}

#[test]
fn json_structure_errors_end_the_file_after_the_good_records() {
    assert_eq!(catalog("top_level_scalar.json"), ["file: line 1: expected a JSON array or object, found '\"'"]);
    assert_eq!(
        catalog("truncated.json"),
        [A2, "valid 2@3 INV-B", "file: line 4: the file ends inside the record starting on line 4"]
    );
    assert_eq!(catalog("mismatched_bracket.json"), [A2, "file: line 3: mismatched '}'"]);
    assert_eq!(
        catalog("trailing_comma_in_array.json"),
        [A2, "valid 2@3 INV-B", "file: line 4: a ',' is followed by ']'"]
    );
}

#[test]
fn a_record_over_the_size_limit_ends_the_file() {
    let limits = Limits { max_record_bytes: 64 * 1024, ..Limits::default() };
    let huge = "x".repeat(100 * 1024);
    let csv = format!("invoiceId,customerId,amount,dueDate\nINV-A,C-1,10.00,2030-01-31\nINV-X,{huge},5.00,2030-01-31\nINV-B,C-2,20.00,2030-02-28\n");
    assert_eq!(
        verdicts(csv.as_bytes(), Format::Csv, limits),
        [A2, "file: line 3: record starting on line 3 is longer than the 64 KiB limit"]
    );
    let ndjson = format!("{{\"invoiceId\": \"INV-A\", \"customerId\": \"C-1\", \"amount\": 10.00, \"dueDate\": \"2030-01-31\"}}\n{{\"invoiceId\": \"{huge}\"}}\n");
    assert_eq!(
        verdicts(ndjson.as_bytes(), Format::Ndjson, limits),
        ["valid 1@1 INV-A", "file: line 2: record starting on line 2 is longer than the 64 KiB limit"]
    );
}

/// The catalog's "huge field", at the default 1 MiB record limit: generated,
/// as a file that size is not worth keeping in the repository.
#[test]
fn a_huge_field_at_the_default_limit_ends_the_file_after_the_records_before_it() {
    let limits = Limits::default();
    assert_eq!(limits.max_record_bytes, 1 << 20);
    let a = "{\"invoiceId\": \"INV-A\", \"customerId\": \"C-1\", \"amount\": 10.00, \"dueDate\": \"2030-01-31\"}";
    let b = "{\"invoiceId\": \"INV-B\", \"customerId\": \"C-2\", \"amount\": 20.00, \"dueDate\": \"2030-02-28\"}";
    let csv_with = |field: &str| {
        format!(
            "invoiceId,customerId,amount,dueDate,description\n\
             INV-A,C-1,10.00,2030-01-31,a\n\
             INV-X,C-9,5.00,2030-01-31,\"{field}\"\n\
             INV-B,C-2,20.00,2030-02-28,b\n"
        )
    };
    let json_record = |field: &str| {
        format!(
            "{{\"invoiceId\": \"INV-X\", \"customerId\": \"C-9\", \"amount\": 5.00, \
             \"dueDate\": \"2030-01-31\", \"description\": \"{field}\"}}"
        )
    };

    let huge = "x".repeat(limits.max_record_bytes);
    assert_eq!(
        verdicts(csv_with(&huge).as_bytes(), Format::Csv, limits),
        [A2, "file: line 3: record starting on line 3 is longer than the 1 MiB limit"]
    );
    let ndjson = format!("{a}\n{}\n{b}\n", json_record(&huge));
    assert_eq!(
        verdicts(ndjson.as_bytes(), Format::Ndjson, limits),
        ["valid 1@1 INV-A", "file: line 2: record starting on line 2 is longer than the 1 MiB limit"]
    );
    let json = format!("[\n{a},\n{},\n{b}\n]\n", json_record(&huge));
    assert_eq!(
        verdicts(json.as_bytes(), Format::Json, limits),
        [A2, "file: line 3: record starting on line 3 is longer than the 1 MiB limit"]
    );

    // A little under the limit the record is read, and the rules judge the field.
    let large = "x".repeat(limits.max_record_bytes - 200);
    let too_long =
        "invalid 2@3 INV-X: description too_long: description has 1048376 characters; at most 1000 are allowed";
    assert_eq!(verdicts(csv_with(&large).as_bytes(), Format::Csv, limits), [A2, too_long, B4]);
    let json = format!("[\n{a},\n{},\n{b}\n]\n", json_record(&large));
    assert_eq!(verdicts(json.as_bytes(), Format::Json, limits), [A2, too_long, B4]);
}

#[test]
fn a_file_over_the_size_limit_ends_with_a_file_error() {
    let limits = Limits { max_file_bytes: 300 * 1024, ..Limits::default() };
    let mut bytes = Vec::new();
    ingest::sample::write(&ingest::sample::Spec::new(5000, Format::Ndjson), &mut bytes).unwrap();
    // One whole read only: how many records come before the error depends on
    // how much each read returns (the limit is on bytes read, ahead of parsing).
    let all = verdicts_of_one_read(&bytes, Format::Ndjson, limits);
    assert_eq!(all.last().unwrap(), "file: file is larger than the 300 KiB limit");
    assert!(all.len() > 1 && all[..all.len() - 1].iter().all(|v| v.starts_with("valid")));
}

#[test]
fn the_catalog_has_at_least_twenty_files_and_each_is_asserted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.len() >= 20, "{} files", names.len());
    let this = include_str!("malformed.rs");
    for name in names {
        assert!(this.contains(&format!("catalog(\"{name}\")")), "{name} has no assertion");
    }
}
