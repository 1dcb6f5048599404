//! A tolerant reading of the invoice in a Notify input, for messages.
//!
//! A processed invoice is normalized, but a rejected or failed one is "as
//! submitted": fields may be missing, blank, of the wrong JSON type, or huge.
//! [`InvoiceView`] reads what is there through the workflow's raw model
//! ([`RawInvoice`], so keys match as validation matches them), keeps every
//! value short enough for a message (borrowed from the invoice when it already
//! is), and gives labels for people (`(no invoiceId)`) and values for machines
//! (only what is well-formed).

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde_json::Value;
use workflow::money::parse_decimal;
use workflow::{Currency, RawInvoice, RawValue};

use crate::text::short;

/// Longest id shown (the rules allow 64 characters; a longer one is shown cut).
const MAX_ID: usize = 80;
/// Longest description shown.
const MAX_DESCRIPTION: usize = 200;
/// Longest other raw value shown (a date, an amount that is not a number).
const MAX_VALUE: usize = 40;

/// One text field as submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldView<'a> {
    /// A string (trimmed, shortened, on one line), or a number's text.
    Text(Cow<'a, str>),
    /// Missing, `null` or blank.
    Absent,
    /// Some other JSON type (its name: `object`, `array`, `boolean`).
    Odd(&'static str),
}

/// The amount as submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum AmountView<'a> {
    /// A decimal, from a JSON number or a numeric string, exactly.
    Decimal(Decimal),
    /// A string that is not a decimal number (shortened).
    NotANumber(Cow<'a, str>),
    Absent,
    Odd(&'static str),
}

/// The currency as submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum CurrencyView<'a> {
    Known(Currency),
    /// Not an ISO 4217 code (shortened).
    Unknown(Cow<'a, str>),
    Absent,
    Odd(&'static str),
}

/// What a message needs of an invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceView<'a> {
    pub invoice_id: FieldView<'a>,
    pub customer_id: FieldView<'a>,
    pub amount: AmountView<'a>,
    pub currency: CurrencyView<'a>,
    pub due_date: FieldView<'a>,
    pub description: Option<Cow<'a, str>>,
    /// Set when the invoice is not a JSON object at all (its type name).
    pub not_an_object: Option<&'static str>,
}

impl<'a> InvoiceView<'a> {
    /// Reads the invoice of an input (`None` when there is none).
    pub fn new(invoice: Option<&'a Value>) -> InvoiceView<'a> {
        let empty = InvoiceView {
            invoice_id: FieldView::Absent,
            customer_id: FieldView::Absent,
            amount: AmountView::Absent,
            currency: CurrencyView::Absent,
            due_date: FieldView::Absent,
            description: None,
            not_an_object: None,
        };
        let Some(value) = invoice.filter(|v| !v.is_null()) else {
            return empty;
        };
        let raw = match RawInvoice::from_json(value) {
            Ok(raw) => raw,
            Err(type_name) => return InvoiceView { not_an_object: Some(type_name), ..empty },
        };
        InvoiceView {
            invoice_id: field(&raw.invoice_id, MAX_ID),
            customer_id: field(&raw.customer_id, MAX_ID),
            amount: amount(&raw.amount),
            currency: currency(&raw.currency),
            due_date: field(&raw.due_date, MAX_VALUE),
            description: match field(&raw.description, MAX_DESCRIPTION) {
                FieldView::Text(t) => Some(t),
                _ => None,
            },
            not_an_object: None,
        }
    }

    /// The invoiceId for people: `INV-001`, `(no invoiceId)`, `(invoiceId is an object)`.
    pub fn id_label(&self) -> Cow<'_, str> {
        label(&self.invoice_id, "invoiceId")
    }

    /// The customerId for people.
    pub fn customer_label(&self) -> Cow<'_, str> {
        label(&self.customer_id, "customerId")
    }

    /// The due date for people.
    pub fn due_label(&self) -> Cow<'_, str> {
        label(&self.due_date, "dueDate")
    }

    /// The amount for people, formatted for its currency when both are
    /// valid (`1,500.00 USD`); otherwise what was submitted, said plainly.
    pub fn amount_label(&self) -> String {
        match &self.amount {
            AmountView::Decimal(d) => match &self.currency {
                CurrencyView::Known(c) if d.normalize().scale() <= c.minor_units() => c.format(*d),
                // More decimals than the currency has: show the digits as submitted, unrounded.
                CurrencyView::Known(c) => format!("{d} {}", c.code()),
                CurrencyView::Unknown(text) => format!("{d} (currency {text:?})"),
                CurrencyView::Absent => d.to_string(),
                CurrencyView::Odd(t) => format!("{d} (currency is {} {t})", article(t)),
            },
            AmountView::NotANumber(text) => format!("{text:?} (not a number)"),
            AmountView::Absent => "(no amount)".to_string(),
            AmountView::Odd(t) => format!("(amount is {} {t})", article(t)),
        }
    }

    /// The invoiceId for documents: only a text.
    pub fn invoice_id(&self) -> Option<&str> {
        text(&self.invoice_id)
    }

    /// The customerId for documents and attributes: only a text.
    pub fn customer_id(&self) -> Option<&str> {
        text(&self.customer_id)
    }

    /// The due date for documents: only a text.
    pub fn due_date(&self) -> Option<&str> {
        text(&self.due_date)
    }

    /// The amount for documents and attributes: only a decimal.
    pub fn amount(&self) -> Option<Decimal> {
        match self.amount {
            AmountView::Decimal(d) => Some(d),
            _ => None,
        }
    }

    /// The currency for documents and attributes: only an ISO 4217 code.
    pub fn currency(&self) -> Option<Currency> {
        match self.currency {
            CurrencyView::Known(c) => Some(c),
            _ => None,
        }
    }
}

fn text<'a>(field: &'a FieldView<'_>) -> Option<&'a str> {
    match field {
        FieldView::Text(t) => Some(t),
        _ => None,
    }
}

fn label<'a>(field: &'a FieldView<'_>, name: &str) -> Cow<'a, str> {
    match field {
        FieldView::Text(t) => Cow::Borrowed(t),
        FieldView::Absent => Cow::Owned(format!("(no {name})")),
        FieldView::Odd(t) => Cow::Owned(format!("({name} is {} {t})", article(t))),
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn field<'a>(raw: &RawValue<'a>, max: usize) -> FieldView<'a> {
    match raw {
        RawValue::Missing | RawValue::Null => FieldView::Absent,
        RawValue::Text(t) if t.trim().is_empty() => FieldView::Absent,
        RawValue::Text(t) => FieldView::Text(shortened(t, Trim::Yes, max)),
        RawValue::Number(n) => FieldView::Text(shortened(n, Trim::No, max)),
        other => FieldView::Odd(other.type_name()),
    }
}

fn amount<'a>(raw: &RawValue<'a>) -> AmountView<'a> {
    let text = match raw {
        RawValue::Missing | RawValue::Null => return AmountView::Absent,
        RawValue::Text(t) if t.trim().is_empty() => return AmountView::Absent,
        RawValue::Text(t) | RawValue::Number(t) => t,
        other => return AmountView::Odd(other.type_name()),
    };
    match parse_decimal(text.as_bytes()) {
        Ok(d) => AmountView::Decimal(d),
        Err(_) => AmountView::NotANumber(shortened(text, Trim::Yes, MAX_VALUE)),
    }
}

fn currency<'a>(raw: &RawValue<'a>) -> CurrencyView<'a> {
    match raw {
        RawValue::Missing | RawValue::Null => CurrencyView::Absent,
        RawValue::Text(t) if t.trim().is_empty() => CurrencyView::Absent,
        RawValue::Text(t) => match Currency::parse(t) {
            Some(c) => CurrencyView::Known(c),
            None => CurrencyView::Unknown(shortened(t, Trim::Yes, 10)),
        },
        other => CurrencyView::Odd(other.type_name()),
    }
}

/// Whether [`shortened`] drops the white space around a text.
#[derive(Clone, Copy)]
enum Trim {
    Yes,
    No,
}

/// A raw text on one line and at most `max` characters, borrowed from the
/// invoice when it already is.
fn shortened<'a>(text: &Cow<'a, str>, trim: Trim, max: usize) -> Cow<'a, str> {
    fn cut(text: &str, trim: Trim, max: usize) -> Cow<'_, str> {
        short(if let Trim::Yes = trim { text.trim() } else { text }, max)
    }
    match text {
        Cow::Borrowed(text) => cut(text, trim, max),
        Cow::Owned(text) => Cow::Owned(cut(text, trim, max).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The view of `v`, which it borrows for the rest of the test run.
    fn view(v: Value) -> InvoiceView<'static> {
        InvoiceView::new(Some(Box::leak(Box::new(v))))
    }

    fn from_text(text: &str) -> InvoiceView<'static> {
        view(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_normalized_invoice_reads_exactly() {
        let v = from_text(
            r#"{"invoiceId":"INV-001","customerId":"CUST-123","amount":1500.10,"currency":"USD","dueDate":"2030-12-31"}"#,
        );
        assert_eq!(v.id_label(), "INV-001");
        assert_eq!(v.customer_label(), "CUST-123");
        assert_eq!(v.amount().unwrap().to_string(), "1500.10");
        assert_eq!(v.amount_label(), "1,500.10 USD");
        assert_eq!(v.due_label(), "2030-12-31");
        assert_eq!(v.currency().unwrap().code(), "USD");
    }

    #[test]
    fn odd_invoices_get_plain_labels() {
        let v = view(json!({"invoiceId": {"a": 1}, "customerId": "  ", "amount": true, "dueDate": [1]}));
        assert_eq!(v.id_label(), "(invoiceId is an object)");
        assert_eq!(v.customer_label(), "(no customerId)");
        assert_eq!(v.amount_label(), "(amount is a boolean)");
        assert_eq!(v.due_label(), "(dueDate is an array)");
        assert_eq!((v.invoice_id(), v.customer_id(), v.amount(), v.due_date()), (None, None, None, None));

        let none = InvoiceView::new(None);
        assert_eq!(none.id_label(), "(no invoiceId)");
        assert_eq!(none.amount_label(), "(no amount)");
        assert_eq!(view(json!("text")).not_an_object, Some("string"));
        assert_eq!(InvoiceView::new(Some(&Value::Null)).not_an_object, None);
    }

    #[test]
    fn amounts_say_what_was_wrong() {
        assert_eq!(view(json!({"amount": "12,50", "currency": "EUR"})).amount_label(), "\"12,50\" (not a number)");
        assert_eq!(from_text(r#"{"amount": 10.123, "currency": "USD"}"#).amount_label(), "10.123 USD");
        assert_eq!(from_text(r#"{"amount": -5}"#).amount_label(), "-5");
        assert_eq!(from_text(r#"{"amount": "7.5", "currency": "zzz"}"#).amount_label(), "7.5 (currency \"zzz\")");
        assert_eq!(from_text(r#"{"amount": 150000, "currency": "jpy"}"#).amount_label(), "150,000 JPY");
        assert_eq!(view(json!({"amount": 1, "currency": 3})).amount_label(), "1 (currency is a number)");
        assert!(view(json!({"currency": "ZZZ"})).currency().is_none());
    }

    #[test]
    fn numbers_as_ids_are_shown_and_long_values_cut() {
        let v = view(json!({"invoiceId": 42, "customerId": "C\n1", "description": "d".repeat(5000)}));
        assert_eq!(v.id_label(), "42");
        assert_eq!(v.customer_label(), "C 1");
        assert_eq!(v.description.as_ref().unwrap().chars().count(), MAX_DESCRIPTION);
        let long = view(json!({"invoiceId": "é".repeat(500)}));
        assert_eq!(long.id_label().chars().count(), MAX_ID);
    }

    #[test]
    fn keys_match_like_validation() {
        let v = view(json!({"invoice_id": "A-1", "Customer ID": "C-1"}));
        assert_eq!(v.id_label(), "A-1");
        assert_eq!(v.customer_label(), "C-1");
    }
}
