//! Deterministic sample files of any size, for trying the pipeline and for benchmarks.
//!
//! The same [`Spec`] (seed included) always writes the same bytes. Rows are
//! written as they are made, so memory does not depend on `count`. Amounts are
//! made from integer cents, never floats. Optionally a share of the invoices
//! breaks one rule each, and a share repeats an earlier invoiceId (a duplicate).

use std::io::{self, Write};

use chrono::{Days, NaiveDate};

use crate::Format;

/// Changes whenever the generator's output for a given [`Spec`] changes
/// (benchmarks name their cached files with it).
pub const VERSION: u32 = 2;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub count: u64,
    pub format: Format,
    pub seed: u64,
    /// Percentage (0–100) of invoices that break one validation rule.
    pub invalid_percent: u8,
    /// Percentage (0–100) of invoices that repeat an earlier invoiceId.
    pub duplicate_percent: u8,
    /// Give invoices 1–3 line items whose total is the amount (CSV: one row per item).
    pub items: bool,
}

impl Spec {
    pub fn new(count: u64, format: Format) -> Self {
        Spec { count, format, seed: 1, invalid_percent: 0, duplicate_percent: 0, items: false }
    }
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u8) -> bool {
        p > 0 && self.below(100) < u64::from(p)
    }
}

const DESCRIPTIONS: [&str; 6] = [
    "Consulting services, project phase 2",
    "Software license renewal (annual)",
    "Cloud hosting and support, monthly",
    "Hardware maintenance contract",
    "Training workshop for 12 people",
    "Professional services per agreement",
];
const CURRENCIES: [(&str, u32); 4] = [("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0)];

/// Ways a generated invoice can be invalid, one rule each.
const BREAKS: usize = 6;

/// One generated invoice, as text fields.
struct Invoice {
    id: String,
    customer: String,
    email: String,
    amount: String,
    currency: &'static str,
    due: String,
    description: &'static str,
    /// (description, quantity, rate)
    items: Vec<(&'static str, u64, String)>,
}

fn money(minor: u64, decimals: u32) -> String {
    if decimals == 0 {
        return minor.to_string();
    }
    let unit = 10u64.pow(decimals);
    format!("{}.{:0width$}", minor / unit, minor % unit, width = decimals as usize)
}

fn make(rng: &mut Rng, n: u64, spec: &Spec) -> Invoice {
    let duplicate = n > 10 && rng.percent(spec.duplicate_percent);
    let id_number = if duplicate { n - 1 - rng.below(n.min(1000) - 1) } else { n };
    let customer = rng.below(10_000);
    let (currency, decimals) = CURRENCIES[if rng.below(10) < 7 { 0 } else { rng.below(4) as usize }];
    let base = NaiveDate::from_ymd_opt(2030, 1, 1).expect("valid date");
    let due = base.checked_add_days(Days::new(rng.below(1800))).unwrap_or(base);
    let description = DESCRIPTIONS[rng.below(DESCRIPTIONS.len() as u64) as usize];
    let mut items = Vec::new();
    let minor = if spec.items {
        let mut total = 0;
        for _ in 0..1 + rng.below(3) {
            let quantity = 1 + rng.below(20);
            let rate = 100 + rng.below(50_000);
            total += quantity * rate;
            items.push((DESCRIPTIONS[rng.below(DESCRIPTIONS.len() as u64) as usize], quantity, money(rate, decimals)));
        }
        total
    } else {
        100 + rng.below(10_000_000)
    };
    let mut invoice = Invoice {
        id: format!("INV-{id_number:08}"),
        customer: format!("CUST-{customer:06}"),
        email: format!("billing.{customer:06}@example.com"),
        amount: money(minor, decimals),
        currency,
        due: due.format("%Y-%m-%d").to_string(),
        description,
        items,
    };
    if rng.percent(spec.invalid_percent) {
        match rng.below(BREAKS as u64) {
            0 => invoice.amount = format!("-{}", invoice.amount),
            1 => invoice.due = "2031-02-30".into(),
            2 => invoice.customer.clear(),
            3 => invoice.email = "billing.at.example.com".into(),
            4 => invoice.currency = "XYZ",
            _ => invoice.due = "2020-06-30".into(),
        }
    }
    invoice
}

/// A CSV cell: quoted when it holds a comma or a quote.
fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

/// Writes the sample to `out` (buffer it: many small writes are made).
pub fn write(spec: &Spec, out: &mut impl Write) -> io::Result<()> {
    let mut rng = Rng(spec.seed);
    match spec.format {
        Format::Csv => {
            if spec.items {
                writeln!(out, "invoiceId,customerId,customerEmail,amount,currency,dueDate,description,itemDescription,quantity,rate")?;
            } else {
                writeln!(out, "invoiceId,customerId,customerEmail,amount,currency,dueDate,description")?;
            }
        }
        Format::Json => writeln!(out, "[")?,
        Format::Ndjson => {}
    }
    for n in 1..=spec.count {
        let inv = make(&mut rng, n, spec);
        match spec.format {
            Format::Csv => {
                let head = format!(
                    "{},{},{},{},{},{},{}",
                    inv.id,
                    inv.customer,
                    inv.email,
                    inv.amount,
                    inv.currency,
                    inv.due,
                    csv_field(inv.description)
                );
                if inv.items.is_empty() {
                    writeln!(out, "{head}")?;
                }
                for (i, (what, quantity, rate)) in inv.items.iter().enumerate() {
                    let what = csv_field(what);
                    if i == 0 {
                        writeln!(out, "{head},{what},{quantity},{rate}")?;
                    } else {
                        writeln!(out, "{},,,,,,,{what},{quantity},{rate}", inv.id)?;
                    }
                }
            }
            Format::Json | Format::Ndjson => {
                let sep = if spec.format == Format::Json && n < spec.count { "," } else { "" };
                let items = if inv.items.is_empty() {
                    String::new()
                } else {
                    let list: Vec<String> = inv
                        .items
                        .iter()
                        .map(|(what, q, rate)| format!(r#"{{"description":"{what}","quantity":{q},"rate":{rate}}}"#))
                        .collect();
                    format!(r#","items":[{}]"#, list.join(","))
                };
                writeln!(
                    out,
                    r#"{{"invoiceId":"{}","customerId":"{}","customerEmail":"{}","amount":{},"currency":"{}","dueDate":"{}","description":"{}"{}}}{}"#,
                    inv.id, inv.customer, inv.email, inv.amount, inv.currency, inv.due, inv.description, items, sep
                )?;
            }
        }
    }
    if spec.format == Format::Json {
        writeln!(out, "]")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spec: &Spec) -> String {
        let mut out = Vec::new();
        write(spec, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let spec = Spec { seed: 7, ..Spec::new(50, Format::Csv) };
        assert_eq!(text(&spec), text(&spec));
        assert_ne!(text(&spec), text(&Spec { seed: 8, ..spec.clone() }));
    }

    #[test]
    fn csv_rows_are_about_110_bytes() {
        let body = text(&Spec::new(10_000, Format::Csv));
        let per_row = body.len() / 10_000;
        assert!((95..=125).contains(&per_row), "{per_row} bytes a row");
    }

    #[test]
    fn money_is_made_from_integers() {
        assert_eq!(money(150010, 2), "1500.10");
        assert_eq!(money(5, 2), "0.05");
        assert_eq!(money(150000, 0), "150000");
        assert_eq!(money(12500, 3), "12.500");
    }
}
