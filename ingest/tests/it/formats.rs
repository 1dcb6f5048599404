//! The documented shapes of each format are read, with record numbers and lines.

use std::path::Path;

use ingest::{Format, InvoiceReader, Limits};
use workflow::{RawItems, RawValue};

use super::{assert_same_in_short_reads, outcomes, outcomes_with, ShortReads};

const HEADER: &str = "invoiceId,customerId,amount,dueDate\n";

#[test]
fn csv_header_names_are_matched_loosely() {
    let data = "Invoice ID;customer_id;AMOUNT;due-date;Unknown Column\nINV-1;C-1;10.50;2030-01-31;x\n";
    assert_same_in_short_reads(data.as_bytes(), Format::Csv, Limits::default());
    let mut reader = InvoiceReader::new(data.as_bytes(), Format::Csv, Limits::default());
    let record = reader.next_record().unwrap().unwrap();
    assert_eq!(record.invoice.invoice_id, RawValue::Text("INV-1".into()));
    assert_eq!(record.invoice.amount, RawValue::Text("10.50".into()));
    assert_eq!(record.invoice.due_date, RawValue::Text("2030-01-31".into()));
    assert_eq!(record.invoice.currency, RawValue::Missing);
}

#[test]
fn csv_bom_crlf_and_quotes() {
    let data = "\u{feff}invoiceId,customerId,amount,dueDate,description\r\n\
                INV-1,C-1,10.50,2030-01-31,\"Hours, \"\"senior\"\"\r\nconsultant\"\r\n\
                INV-2,C-2,5,2030-02-01,plain\r\n";
    assert_same_in_short_reads(data.as_bytes(), Format::Csv, Limits::default());
    let mut reader = InvoiceReader::new(data.as_bytes(), Format::Csv, Limits::default());
    let first = reader.next_record().unwrap().unwrap();
    assert_eq!((first.record, first.line), (1, 2));
    assert_eq!(first.invoice.invoice_id, RawValue::Text("INV-1".into()));
    assert_eq!(first.invoice.description, RawValue::Text("Hours, \"senior\"\r\nconsultant".into()));
    let second = reader.next_record().unwrap().unwrap();
    assert_eq!((second.record, second.line), (2, 4), "the quoted line break counts as a line");
    assert_eq!(second.invoice.description, RawValue::Text("plain".into()));
    assert!(reader.next_record().is_none());
}

#[test]
fn csv_last_row_without_newline_and_blank_rows() {
    let data = format!("{HEADER}\nINV-1,C-1,1,2030-01-01\n,,,\n\nINV-2,C-2,2,2030-01-01");
    assert_eq!(outcomes(data.as_bytes(), Format::Csv), ["ok 1@3 INV-1", "ok 2@6 INV-2"]);
}

#[test]
fn csv_semicolon_and_tab_delimiters() {
    let semi = "invoiceId;customerId;amount;dueDate\nINV-1;C-1;10,5;2030-01-01\n";
    assert_eq!(outcomes(semi.as_bytes(), Format::Csv), ["ok 1@2 INV-1"]);
    let tab = "invoiceId\tcustomerId\tamount\tdueDate\nINV-1\tC-1\t10\t2030-01-01\n";
    assert_eq!(outcomes(tab.as_bytes(), Format::Csv), ["ok 1@2 INV-1"]);
}

#[test]
fn csv_item_rows_with_one_invoice_id_are_one_invoice() {
    let data = "invoiceId,customerId,amount,dueDate,itemDescription,quantity,rate\n\
                INV-1,C-1,1550.00,2030-01-01,Consulting hours,50,30.00\n\
                INV-1,,,,Travel,1,50.00\n\
                INV-2,C-2,10,2030-01-01,,,\n\
                INV-1,C-1,5,2030-01-01,Late item,1,5\n";
    assert_same_in_short_reads(data.as_bytes(), Format::Csv, Limits::default());
    let mut reader = InvoiceReader::new(data.as_bytes(), Format::Csv, Limits::default());
    let first = reader.next_record().unwrap().unwrap();
    assert_eq!((first.record, first.line), (1, 2));
    let RawItems::List(items) = &first.invoice.items else { panic!("items expected") };
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].description, RawValue::Text("Travel".into()));
    assert_eq!(items[1].rate, RawValue::Text("50.00".into()));
    assert_eq!(first.invoice.customer_id, RawValue::Text("C-1".into()));
    let second = reader.next_record().unwrap().unwrap();
    assert_eq!((second.record, second.line), (2, 4));
    assert_eq!(second.invoice.items, RawItems::Missing, "blank item cells are no item");
    // Not consecutive: a new invoice with the same id (a duplicate for the workflow to find).
    let third = reader.next_record().unwrap().unwrap();
    assert_eq!((third.record, third.line), (3, 5));
    assert!(reader.next_record().is_none());
}

#[test]
fn csv_conflicting_rows_of_one_invoice_are_a_record_error() {
    let data = "invoiceId,customerId,amount,dueDate,quantity,rate\n\
                INV-1,C-1,10,2030-01-01,1,5\n\
                INV-1,C-1,12,2030-01-01,1,5\n\
                INV-2,C-2,10,2030-01-01,2,5\n";
    assert_eq!(
        outcomes(data.as_bytes(), Format::Csv),
        ["record 1@2: amount \"12\" on line 3 differs from \"10\" on line 2 for the same invoiceId", "ok 2@4 INV-2",]
    );
}

#[test]
fn json_single_wrapped_bare_array_and_invoices_wrapper() {
    let seed = r#"{"invoice": {"invoiceId": "INV-001", "customerId": "CUST-123", "amount": 1500.00, "dueDate": "2030-12-31"}}"#;
    assert_eq!(outcomes(seed.as_bytes(), Format::Json), ["ok 1@1 INV-001"]);
    let bare = r#"{"invoiceId": "INV-002"}"#;
    assert_eq!(outcomes(bare.as_bytes(), Format::Json), ["ok 1@1 INV-002"]);
    let array = "[\n  {\"invoiceId\": \"A\"},\n  {\"invoice\": {\"invoiceId\": \"B\"}}\n]\n";
    assert_eq!(outcomes(array.as_bytes(), Format::Json), ["ok 1@2 A", "ok 2@3 B"]);
    let wrapper = "{\"batch\": {\"x\": [1, {\"y\": \"]\"}]},\n \"invoices\": [\n{\"invoiceId\": \"A\"},\n{\"invoiceId\": \"B\"}\n], \"count\": 2}";
    assert_eq!(outcomes(wrapper.as_bytes(), Format::Json), ["ok 1@3 A", "ok 2@4 B"]);
}

#[test]
fn json_amounts_keep_their_digits() {
    let doc = r#"[{"invoiceId": "A", "amount": 1500.10}, {"invoiceId": "B", "amount": "0.30"}]"#;
    assert_same_in_short_reads(doc.as_bytes(), Format::Json, Limits::default());
    let mut reader = InvoiceReader::new(doc.as_bytes(), Format::Json, Limits::default());
    assert_eq!(reader.next_record().unwrap().unwrap().invoice.amount, RawValue::Number("1500.10".into()));
    assert_eq!(reader.next_record().unwrap().unwrap().invoice.amount, RawValue::Text("0.30".into()));
}

#[test]
fn json_concatenated_values_are_read_in_turn() {
    let doc = "{\"invoiceId\": \"A\"}\n{\"invoiceId\": \"B\"}\n[{\"invoiceId\": \"C\"}]";
    assert_eq!(outcomes(doc.as_bytes(), Format::Json), ["ok 1@1 A", "ok 2@2 B", "ok 3@3 C"]);
}

#[test]
fn ndjson_one_record_per_line() {
    let doc = "{\"invoiceId\": \"A\"}\r\n\n   \n{\"invoice\": {\"invoiceId\": \"B\"}}\n{\"invoiceId\": \"C\"}";
    assert_eq!(outcomes(doc.as_bytes(), Format::Ndjson), ["ok 1@1 A", "ok 2@4 B", "ok 3@5 C"]);
}

#[test]
fn records_much_larger_than_the_read_chunk_are_read_whole() {
    let long = "x".repeat(600_000);
    let csv = format!("{HEADER}INV-1,C-1,1,2030-01-01\n\"INV-2\",\"{long}\",2,2030-01-01\nINV-3,C-3,3,2030-01-01\n");
    assert_eq!(outcomes(csv.as_bytes(), Format::Csv), ["ok 1@2 INV-1", "ok 2@3 INV-2", "ok 3@4 INV-3"]);
    let json = format!(
        "[{{\"invoiceId\": \"A\"}}, {{\"invoiceId\": \"B\", \"description\": \"{long}\"}}, {{\"invoiceId\": \"C\"}}]"
    );
    assert_eq!(outcomes(json.as_bytes(), Format::Json), ["ok 1@1 A", "ok 2@1 B", "ok 3@1 C"]);
}

#[test]
fn a_bom_and_a_binary_file_are_found_however_short_the_reads() {
    // Pipes and S3 streams return a few bytes at a time: a BOM cut in two is
    // still a BOM, a NUL byte a few reads in still makes the file binary.
    let one_byte_at_a_time = |data: &str, format: Format| {
        let mut reader = InvoiceReader::new(ShortReads::new(data.as_bytes(), &[1], 0), format, Limits::default());
        let mut out = Vec::new();
        while let Some(next) = reader.next_record() {
            out.push(match next {
                Ok(r) => format!("ok {}@{} {}", r.record, r.line, r.invoice.invoice_id_text().unwrap_or("-")),
                Err(e) => format!("error: {e}"),
            });
        }
        out
    };
    let csv = format!("\u{feff}{HEADER}INV-1,C-1,1,2030-01-01\n");
    assert_eq!(one_byte_at_a_time(&csv, Format::Csv), ["ok 1@2 INV-1"]);
    let json = "\u{feff}[{\"invoiceId\": \"A\"},\n{\"invoiceId\": \"B\"}]";
    assert_eq!(one_byte_at_a_time(json, Format::Json), ["ok 1@1 A", "ok 2@2 B"]);
    let ndjson = "\u{feff}{\"invoiceId\": \"A\"}\n";
    assert_eq!(one_byte_at_a_time(ndjson, Format::Ndjson), ["ok 1@1 A"]);
    let binary = format!("{HEADER}{}\0", "x".repeat(5000));
    assert_eq!(one_byte_at_a_time(&binary, Format::Csv), ["error: not a text file (NUL byte at offset 5036)"]);
}

#[test]
fn every_fixture_reads_the_same_in_short_chunks() {
    // The malformed catalog and the samples, read in chunks of 1, 2, 3, 7, …
    // bytes (and one byte at a time), give exactly what one whole read gives.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for dir in ["tests/malformed", "../samples", "../samples/rejected"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let Some(format) = Format::from_path(&path) else { continue };
            let bytes = std::fs::read(&path).unwrap();
            assert_same_in_short_reads(&bytes, format, Limits::default());
            seen += 1;
        }
    }
    assert!(seen >= 50, "{seen} fixtures");
    // And the format tests' own documents, through `outcomes` (which checks
    // short reads every time); one more with a quoted field cut everywhere.
    let quoted = format!("{HEADER}\"INV-1\",\"C-\"\"1\"\"\",\"1,5\",2030-01-01\r\n");
    assert_eq!(outcomes_with(quoted.as_bytes(), Format::Csv, Limits::default()), ["ok 1@2 INV-1"]);
}

#[test]
fn formats_are_known_by_extension() {
    assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
    assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
    assert_eq!(Format::from_path(Path::new("b.jsonl")), Some(Format::Ndjson));
    assert_eq!(Format::from_path(Path::new("b.ndjson")), Some(Format::Ndjson));
    assert_eq!(Format::from_path(Path::new("b.txt")), None);
    assert_eq!(Format::from_path(Path::new("csv")), None);
}

#[test]
fn the_sample_generator_writes_what_the_readers_read() {
    for format in [Format::Csv, Format::Json, Format::Ndjson] {
        for items in [false, true] {
            let spec = ingest::sample::Spec { items, ..ingest::sample::Spec::new(500, format) };
            let mut bytes = Vec::new();
            ingest::sample::write(&spec, &mut bytes).unwrap();
            let all = outcomes(&bytes, format);
            assert_eq!(all.len(), 500, "{format:?} items={items}");
            assert!(
                all.iter().all(|o| o.starts_with("ok ")),
                "{format:?}: {:?}",
                all.iter().find(|o| !o.starts_with("ok"))
            );
        }
    }
}
