//! Property: any amount with a valid scale comes back exactly through CSV and JSON.

use chrono::NaiveDate;
use ingest::{Format, InvoiceReader, Limits};
use proptest::prelude::*;
use rust_decimal::Decimal;
use workflow::{validate, Currency, Rules};

fn read_amount(data: &str, format: Format) -> Decimal {
    let mut reader = InvoiceReader::new(data.as_bytes(), format, Limits::default());
    let record = reader.next_record().expect("a record").expect("readable");
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    validate(&record.invoice, &Rules::default(), today).expect("valid").amount
}

proptest! {
    #[test]
    fn amounts_round_trip_exactly(
        mantissa in 1i64..=99_999_999_999,
        currency in prop::sample::select(vec!["USD", "JPY", "BHD", "EUR", "CLF"]),
        trailing_zeros in 0u32..3,
    ) {
        let cur = Currency::parse(currency).unwrap();
        let scale = cur.minor_units();
        let amount = Decimal::new(mantissa, scale);
        prop_assume!(amount <= Decimal::from(1_000_000_000));
        // The same value, written with a few extra trailing zeros as people do.
        let mut written = amount;
        written.rescale(scale + trailing_zeros);
        let text = written.to_string();
        let csv = format!("invoiceId,customerId,amount,currency,dueDate\nINV-1,C-1,{text},{currency},2030-01-01\n");
        let json = format!(r#"{{"invoiceId":"INV-1","customerId":"C-1","amount":{text},"currency":"{currency}","dueDate":"2030-01-01"}}"#);
        let json_string = format!(r#"{{"invoiceId":"INV-1","customerId":"C-1","amount":"{text}","currency":"{currency}","dueDate":"2030-01-01"}}"#);
        for (data, format) in [(&csv, Format::Csv), (&json, Format::Json), (&json_string, Format::Ndjson)] {
            let got = read_amount(data, format);
            prop_assert_eq!(got, amount);
            // Normalized to the currency's scale: the same digits as the exact amount.
            prop_assert_eq!(got.to_string(), amount.to_string());
        }
    }
}
