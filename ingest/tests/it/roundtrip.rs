//! Property: any amount with a valid scale comes back exactly through CSV and JSON.

use chrono::NaiveDate;
use ingest::{Format, InvoiceReader, Limits};
use proptest::prelude::*;
use rust_decimal::Decimal;
use workflow::{validate, Currency, Rules};

/// The largest valid amount (`Rules::default().max_amount`), in whole units.
const MAX_AMOUNT: i64 = 1_000_000_000;

fn read_amount(data: &str, format: Format) -> Decimal {
    let mut reader = InvoiceReader::new(data.as_bytes(), format, Limits::default());
    let record = reader.next_record().expect("a record").expect("readable");
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    validate(&record.invoice, &Rules::default(), today).expect("valid").amount
}

/// A currency (minor units 0, 2, 3, 4) and a valid amount in it, as a count of
/// minor units from 1 to the maximum. The number of digits is drawn first, so
/// small and large amounts are all common whatever the currency's scale (no
/// amount is drawn only to be thrown away).
fn currency_and_minor_units() -> impl Strategy<Value = (&'static str, i64)> {
    prop::sample::select(vec!["USD", "JPY", "BHD", "EUR", "CLF", "KWD", "CLP"]).prop_flat_map(|code| {
        let scale = Currency::parse(code).unwrap().minor_units();
        let max = MAX_AMOUNT * 10i64.pow(scale);
        let max_digits = max.ilog10() + 1;
        (1..=max_digits).prop_flat_map(move |digits| {
            let low = 10i64.pow(digits - 1);
            let high = (10i64.pow(digits) - 1).min(max);
            (Just(code), low..=high)
        })
    })
}

#[test]
fn the_maximum_is_the_rules_maximum() {
    assert_eq!(Rules::default().max_amount, Decimal::from(MAX_AMOUNT));
}

proptest! {
    #[test]
    fn amounts_round_trip_exactly(
        (currency, minor_units) in currency_and_minor_units(),
        trailing_zeros in 0u32..3,
    ) {
        let scale = Currency::parse(currency).unwrap().minor_units();
        let amount = Decimal::new(minor_units, scale);
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
