//! Stage two: the business rules that turn a [`RawInvoice`] into an [`Invoice`].
//!
//! [`validate`] checks every rule and reports every failure at once, each as a
//! [`FieldError`] `{field, code, message}`. The processing date is a parameter
//! (the callers inject a clock), so results never depend on when tests run.
//! A valid invoice allocates only for texts longer than 24 bytes.

use std::borrow::Cow;

use chrono::NaiveDate;
use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::date::{parse_date, DateError};
use crate::invoice::{Invoice, LineItem};
use crate::money::{parse_decimal, Currency, DecimalError};
use crate::raw::{RawInvoice, RawItem, RawItems, RawValue};

/// Limits and defaults of the rules.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Currency of an invoice that names none.
    pub default_currency: Currency,
    /// Largest accepted amount (inclusive).
    pub max_amount: Decimal,
    /// Longest invoiceId or customerId, in characters.
    pub max_id_len: usize,
    /// Longest description (invoice or item), in characters.
    pub max_description_len: usize,
    /// Most line items on one invoice.
    pub max_items: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            default_currency: Currency::USD,
            max_amount: Decimal::from(1_000_000_000u64),
            max_id_len: 64,
            max_description_len: 1000,
            max_items: 1000,
        }
    }
}

/// What is wrong with a field, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A required field is absent or `null`.
    Missing,
    /// A required field is an empty or blank string.
    Empty,
    /// The JSON type is wrong (e.g. an object where a string belongs).
    WrongType,
    /// Not a decimal number (`abc`, `NaN`, `1,5`).
    InvalidNumber,
    /// A number beyond what can be represented (`1e400`).
    OutOfRange,
    /// Must be greater than zero.
    NotPositive,
    /// Must not be negative.
    Negative,
    /// Above the configured maximum.
    TooLarge,
    /// More decimal places than the currency's minor unit.
    TooManyDecimals,
    /// Not an ISO 4217 currency code.
    UnknownCurrency,
    /// Not a date in the form YYYY-MM-DD.
    InvalidDate,
    /// Well formed, but no such day (`2030-02-30`).
    NotARealDate,
    /// The due date is not after the processing date.
    NotInFuture,
    /// A character outside the allowed set.
    InvalidCharacters,
    /// Longer than allowed.
    TooLong,
    /// Not an e-mail address.
    InvalidEmail,
    /// More line items than allowed.
    TooManyItems,
    /// The items do not add up to the amount.
    TotalMismatch,
    /// The record itself cannot be read (a malformed CSV row or JSON record);
    /// reported by ingest, not by the rules.
    Unreadable,
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's JSON name (`amount`, `items[2].rate`), or `invoice` for the whole record.
    pub field: String,
    pub code: ErrorCode,
    /// A sentence a person can act on.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects failures; allocates only once something fails.
struct Report {
    errors: Vec<FieldError>,
}

impl Report {
    fn fail(&mut self, field: &str, code: ErrorCode, message: String) {
        self.errors.push(FieldError { field: field.to_string(), code, message });
    }
}

/// Checks every rule. `today` is the processing date: the due date must be after it.
pub fn validate(raw: &RawInvoice<'_>, rules: &Rules, today: NaiveDate) -> Result<Invoice, Vec<FieldError>> {
    let mut report = Report { errors: Vec::new() };
    let r = &mut report;

    let invoice_id = id(r, "invoiceId", &raw.invoice_id, rules);
    let customer_id = id(r, "customerId", &raw.customer_id, rules);
    let customer_email = email(r, &raw.customer_email);
    let currency = currency(r, &raw.currency, rules);
    let amount = amount(r, &raw.amount, rules, currency);
    let due_date = due_date(r, &raw.due_date, today);
    let description = optional_text(r, "description", &raw.description, rules.max_description_len);
    let items = items(r, &raw.items, rules);

    if let (Some(items), Some(amount), Some(currency)) = (&items, amount, currency) {
        if !items.is_empty() {
            check_total(r, items, amount, currency);
        }
    }

    match (invoice_id, customer_id, customer_email, currency, amount, due_date, description, items) {
        (
            Some(invoice_id),
            Some(customer_id),
            Some(customer_email),
            Some(currency),
            Some(amount),
            Some(due_date),
            Some(description),
            Some(items),
        ) if report.errors.is_empty() => {
            let mut amount = amount;
            amount.rescale(currency.minor_units());
            Ok(Invoice { invoice_id, customer_id, customer_email, amount, currency, due_date, description, items })
        }
        _ => {
            debug_assert!(!report.errors.is_empty(), "a rule failed without saying why");
            Err(report.errors)
        }
    }
}

/// The text of a required string field, or the error that it is not one.
fn required_text<'v>(r: &mut Report, field: &str, raw: &'v RawValue<'_>) -> Option<&'v str> {
    match raw {
        RawValue::Missing => r.fail(field, ErrorCode::Missing, format!("{field} is required")),
        RawValue::Null => r.fail(field, ErrorCode::Missing, format!("{field} is required but is null")),
        RawValue::Text(t) if t.trim_ascii().is_empty() => r.fail(field, ErrorCode::Empty, format!("{field} is empty")),
        RawValue::Text(t) => return Some(t.trim_ascii()),
        other => r.fail(
            field,
            ErrorCode::WrongType,
            format!("{field} must be a string, not {} {}", article(other), other.type_name()),
        ),
    }
    None
}

fn article(v: &RawValue<'_>) -> &'static str {
    match v {
        RawValue::Json(serde_json::Value::Array(_)) => "an",
        RawValue::Json(_) => "an",
        _ => "a",
    }
}

fn id(r: &mut Report, field: &str, raw: &RawValue<'_>, rules: &Rules) -> Option<CompactString> {
    let text = required_text(r, field, raw)?;
    let mut ok = true;
    if let Some(len) = over_limit(text, rules.max_id_len) {
        r.fail(
            field,
            ErrorCode::TooLong,
            format!("{field} has {len} characters; at most {} are allowed", rules.max_id_len),
        );
        ok = false;
    }
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        r.fail(
            field,
            ErrorCode::InvalidCharacters,
            format!("{field} contains {bad:?}; only letters A-Z, digits, '-', '_' and '.' are allowed"),
        );
        ok = false;
    } else if !text.as_bytes()[0].is_ascii_alphanumeric() {
        r.fail(field, ErrorCode::InvalidCharacters, format!("{field} must start with a letter or digit"));
        ok = false;
    }
    ok.then(|| CompactString::from(text))
}

/// Parses a decimal field given as a JSON number or a string.
fn decimal(r: &mut Report, field: &str, raw: &RawValue<'_>, required: bool) -> Option<Decimal> {
    let text: &str = match raw {
        RawValue::Missing | RawValue::Null if !required => return None,
        RawValue::Number(n) => n,
        RawValue::Text(t) if !t.trim_ascii().is_empty() => t,
        RawValue::Bool(_) | RawValue::Json(_) => {
            r.fail(
                field,
                ErrorCode::WrongType,
                format!("{field} must be a number or a numeric string, not {} {}", article(raw), raw.type_name()),
            );
            return None;
        }
        RawValue::Missing | RawValue::Null | RawValue::Text(_) => {
            required_text(r, field, raw);
            return None;
        }
    };
    // The text quoted below is the cell's or JSON number's own text, except
    // that serde_json writes a JSON number's exponent in one form: `1e400` and
    // `1E400` come as `1e+400`. Quoting the file's own spelling would need each
    // number's place in the record; the value is the same, so it is left so.
    match parse_decimal(text.as_bytes()) {
        Ok(d) => Some(d),
        Err(DecimalError::OutOfRange) => {
            r.fail(field, ErrorCode::OutOfRange, format!("{field} {} is out of range", shorten(text)));
            None
        }
        Err(_) => {
            r.fail(field, ErrorCode::InvalidNumber, format!("{field} {} is not a decimal number", shorten(text)));
            None
        }
    }
}

/// `Some(length in characters)` when `text` has more than `max` characters
/// (characters are counted only when the bytes alone exceed `max`).
fn over_limit(text: &str, max: usize) -> Option<usize> {
    if text.len() <= max {
        return None;
    }
    let n = text.chars().count();
    (n > max).then_some(n)
}

/// Quotes a user's text for a message, cut to a readable length.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

fn amount(r: &mut Report, raw: &RawValue<'_>, rules: &Rules, currency: Option<Currency>) -> Option<Decimal> {
    let value = decimal(r, "amount", raw, true)?;
    let mut ok = true;
    if value <= Decimal::ZERO {
        r.fail("amount", ErrorCode::NotPositive, format!("amount must be greater than 0, got {value}"));
        ok = false;
    } else if value > rules.max_amount {
        r.fail("amount", ErrorCode::TooLarge, format!("amount {value} is above the maximum of {}", rules.max_amount));
        ok = false;
    }
    if let Some(currency) = currency {
        if value.normalize().scale() > currency.minor_units() {
            r.fail(
                "amount",
                ErrorCode::TooManyDecimals,
                format!(
                    "amount {value} has more decimal places than {} allows ({})",
                    currency.code(),
                    currency.minor_units()
                ),
            );
            ok = false;
        }
    }
    ok.then_some(value)
}

fn currency(r: &mut Report, raw: &RawValue<'_>, rules: &Rules) -> Option<Currency> {
    match raw {
        RawValue::Missing | RawValue::Null => Some(rules.default_currency),
        RawValue::Text(t) if t.trim_ascii().is_empty() => Some(rules.default_currency),
        RawValue::Text(t) => {
            let found = Currency::parse(t);
            if found.is_none() {
                r.fail(
                    "currency",
                    ErrorCode::UnknownCurrency,
                    format!("currency {} is not an ISO 4217 code", shorten(t)),
                );
            }
            found
        }
        other => {
            r.fail(
                "currency",
                ErrorCode::WrongType,
                format!("currency must be a string, not {} {}", article(other), other.type_name()),
            );
            None
        }
    }
}

fn due_date(r: &mut Report, raw: &RawValue<'_>, today: NaiveDate) -> Option<NaiveDate> {
    let text = required_text(r, "dueDate", raw)?;
    match parse_date(text.as_bytes()) {
        Ok(date) if date > today => Some(date),
        Ok(date) => {
            r.fail(
                "dueDate",
                ErrorCode::NotInFuture,
                format!("dueDate {date} must be after the processing date {today}"),
            );
            None
        }
        Err(DateError::Format) => {
            r.fail(
                "dueDate",
                ErrorCode::InvalidDate,
                format!("dueDate {} is not a date in the form YYYY-MM-DD", shorten(text)),
            );
            None
        }
        Err(DateError::NotADate) => {
            r.fail(
                "dueDate",
                ErrorCode::NotARealDate,
                format!("dueDate {} is not a real calendar date", shorten(text)),
            );
            None
        }
    }
}

/// An optional text field: `Some(None)` when absent, `None` when invalid.
fn optional_text(r: &mut Report, field: &str, raw: &RawValue<'_>, max_len: usize) -> Option<Option<CompactString>> {
    match raw {
        RawValue::Missing | RawValue::Null => Some(None),
        RawValue::Text(t) if t.trim_ascii().is_empty() => Some(None),
        RawValue::Text(t) => {
            let t = t.trim_ascii();
            if let Some(len) = over_limit(t, max_len) {
                r.fail(
                    field,
                    ErrorCode::TooLong,
                    format!("{field} has {len} characters; at most {max_len} are allowed"),
                );
                return None;
            }
            Some(Some(CompactString::from(t)))
        }
        other => {
            r.fail(
                field,
                ErrorCode::WrongType,
                format!("{field} must be a string, not {} {}", article(other), other.type_name()),
            );
            None
        }
    }
}

fn email(r: &mut Report, raw: &RawValue<'_>) -> Option<Option<CompactString>> {
    let Some(text) = optional_text(r, "customerEmail", raw, 254)? else {
        return Some(None);
    };
    if is_email(&text) {
        Some(Some(text))
    } else {
        r.fail(
            "customerEmail",
            ErrorCode::InvalidEmail,
            format!("customerEmail {} is not an e-mail address", shorten(&text)),
        );
        None
    }
}

/// A practical check of an address's syntax: `local@domain.tld` with RFC 5322's
/// unquoted local-part characters and a dotted host name.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    if !local_ok || domain.len() > 253 {
        return false;
    }
    let Some((_, tld)) = domain.rsplit_once('.') else { return false };
    domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

fn items(r: &mut Report, raw: &RawItems<'_>, rules: &Rules) -> Option<Vec<LineItem>> {
    let list = match raw {
        RawItems::Missing | RawItems::NotArray(RawValue::Null) => return Some(Vec::new()),
        RawItems::NotArray(other) => {
            r.fail(
                "items",
                ErrorCode::WrongType,
                format!("items must be an array, not {} {}", article(other), other.type_name()),
            );
            return None;
        }
        RawItems::List(list) => list,
    };
    if list.len() > rules.max_items {
        r.fail(
            "items",
            ErrorCode::TooManyItems,
            format!("items has {} entries; at most {} are allowed", list.len(), rules.max_items),
        );
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, item) in list.iter().enumerate() {
        match line_item(r, i, item, rules) {
            Some(item) => out.push(item),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn line_item(r: &mut Report, index: usize, raw: &RawItem<'_>, rules: &Rules) -> Option<LineItem> {
    let field = |name: &str| format!("items[{index}].{name}");
    if let Some(value) = raw.not_object {
        let kind = RawValue::from_json(value);
        r.fail(
            &format!("items[{index}]"),
            ErrorCode::WrongType,
            format!("items[{index}] must be an object, not {} {}", article(&kind), kind.type_name()),
        );
        return None;
    }
    let description = optional_text(r, &field("description"), &raw.description, rules.max_description_len);
    let quantity_field = field("quantity");
    let quantity = decimal(r, &quantity_field, &raw.quantity, true).and_then(|q| {
        if q <= Decimal::ZERO {
            r.fail(
                &quantity_field,
                ErrorCode::NotPositive,
                format!("{quantity_field} must be greater than 0, got {q}"),
            );
            None
        } else {
            Some(q)
        }
    });
    let rate_field = field("rate");
    let rate = decimal(r, &rate_field, &raw.rate, true).and_then(|v| {
        if v < Decimal::ZERO {
            r.fail(&rate_field, ErrorCode::Negative, format!("{rate_field} must not be negative, got {v}"));
            None
        } else {
            Some(v)
        }
    });
    Some(LineItem { description: description?, quantity: quantity?, rate: rate? })
}

/// When items are present, Σ quantity × rate rounded to the currency's minor unit must equal the amount.
fn check_total(r: &mut Report, items: &[LineItem], amount: Decimal, currency: Currency) {
    let total = items.iter().try_fold(Decimal::ZERO, |sum, item| {
        item.quantity.checked_mul(item.rate).and_then(|line| sum.checked_add(line))
    });
    match total {
        Some(total) if currency.round(total) == amount => {}
        Some(total) => r.fail(
            "items",
            ErrorCode::TotalMismatch,
            format!(
                "items add up to {} but amount is {}",
                Cow::<str>::Owned(currency.format(total)),
                currency.format(amount)
            ),
        ),
        None => r.fail("items", ErrorCode::OutOfRange, "items total is out of range".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    /// A JSON document parsed from its text, as the readers do: numbers keep
    /// their digits (`json!(1500.00)` would pass through f64 and become `1500.0`).
    fn doc(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    /// A JSON number from its text (see [`doc`]).
    fn num(text: &str) -> Value {
        let value = doc(text);
        assert!(value.is_number(), "{text} is not a JSON number");
        value
    }

    fn good() -> Value {
        doc(r#"{"invoiceId": "INV-001", "customerId": "CUST-123", "customerEmail": "customer@example.com",
                "amount": 1500.00, "currency": "USD", "dueDate": "2030-12-31",
                "description": "Professional services",
                "items": [{"description": "Consulting hours", "quantity": 50, "rate": 30.00}]}"#)
    }

    fn check(doc: Value) -> Result<Invoice, Vec<FieldError>> {
        let raw = RawInvoice::from_json(&doc).expect("object");
        validate(&raw, &Rules::default(), today())
    }

    /// Applies `edit` to a good invoice and returns the (field, code) pairs reported.
    fn errors_after(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<(String, ErrorCode)> {
        let mut doc = good();
        edit(doc.as_object_mut().unwrap());
        match check(doc) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn one(field: &str, code: ErrorCode) -> Vec<(String, ErrorCode)> {
        vec![(field.to_string(), code)]
    }

    #[test]
    fn the_seed_invoice_is_valid_and_normalized() {
        assert_eq!(RawInvoice::from_json(&good()).unwrap().amount, RawValue::Number("1500.00".into()));
        let invoice = check(good()).unwrap();
        assert_eq!(invoice.invoice_id, "INV-001");
        assert_eq!(invoice.amount.to_string(), "1500.00");
        assert_eq!(invoice.currency, Currency::USD);
        assert_eq!(invoice.items.len(), 1);
    }

    #[test]
    fn amounts_are_rescaled_to_the_currency() {
        let mut doc = good();
        doc["amount"] = json!("1500");
        assert_eq!(check(doc).unwrap().amount.to_string(), "1500.00");
    }

    #[test]
    fn currency_defaults_and_normalizes() {
        assert_eq!(
            errors_after(|m| {
                m.remove("currency");
            }),
            vec![]
        );
        let mut doc = good();
        doc["currency"] = json!(" usd ");
        assert_eq!(check(doc).unwrap().currency.code(), "USD");
        let rules = Rules { default_currency: Currency::parse("EUR").unwrap(), ..Rules::default() };
        let doc = json!({"invoiceId": "A", "customerId": "B", "amount": "1", "dueDate": "2030-01-01"});
        let raw = RawInvoice::from_json(&doc).unwrap();
        assert_eq!(validate(&raw, &rules, today()).unwrap().currency.code(), "EUR");
    }

    #[test]
    fn required_fields_tell_missing_empty_and_wrong_type_apart() {
        for field in ["invoiceId", "customerId", "amount", "dueDate"] {
            assert_eq!(
                errors_after(|m| {
                    m.remove(field);
                }),
                one(field, ErrorCode::Missing),
                "{field} removed"
            );
            assert_eq!(
                errors_after(|m| {
                    m.insert(field.into(), Value::Null);
                }),
                one(field, ErrorCode::Missing),
                "{field} null"
            );
            assert_eq!(
                errors_after(|m| {
                    m.insert(field.into(), json!("  "));
                }),
                one(field, ErrorCode::Empty),
                "{field} blank"
            );
            assert_eq!(
                errors_after(|m| {
                    m.insert(field.into(), json!(true));
                }),
                one(field, ErrorCode::WrongType),
                "{field} bool"
            );
            assert_eq!(
                errors_after(|m| {
                    m.insert(field.into(), json!({"a": 1}));
                }),
                one(field, ErrorCode::WrongType),
                "{field} object"
            );
        }
    }

    #[test]
    fn ids_are_strings_not_numbers() {
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!(42));
            }),
            one("invoiceId", ErrorCode::WrongType)
        );
    }

    #[test]
    fn every_failing_rule_is_reported_at_once() {
        let doc = json!({"invoiceId": "bad id", "amount": -5, "dueDate": "2020-01-01", "currency": "ZZZ"});
        let codes: Vec<_> = check(doc).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("invoiceId".into(), ErrorCode::InvalidCharacters),
                ("customerId".into(), ErrorCode::Missing),
                ("currency".into(), ErrorCode::UnknownCurrency),
                ("amount".into(), ErrorCode::NotPositive),
                ("dueDate".into(), ErrorCode::NotInFuture),
            ]
        );
    }

    #[test]
    fn amount_must_be_positive() {
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!(0));
                m.remove("items");
            }),
            one("amount", ErrorCode::NotPositive)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!("-0"));
                m.remove("items");
            }),
            one("amount", ErrorCode::NotPositive)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), num("-10.5"));
                m.remove("items");
            }),
            one("amount", ErrorCode::NotPositive)
        );
    }

    #[test]
    fn amount_has_a_sane_maximum() {
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), num("1000000000.01"));
                m.remove("items");
            }),
            one("amount", ErrorCode::TooLarge)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!(1000000000));
                m.remove("items");
            }),
            vec![]
        );
    }

    #[test]
    fn amount_must_be_a_number() {
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!("12,50"));
            }),
            one("amount", ErrorCode::InvalidNumber)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!("NaN"));
            }),
            one("amount", ErrorCode::InvalidNumber)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), json!("1e400"));
            }),
            one("amount", ErrorCode::OutOfRange)
        );
    }

    #[test]
    fn amount_scale_must_fit_the_currency() {
        let set = |amount: &str, currency: &str| {
            let amount = amount.to_string();
            let currency = currency.to_string();
            errors_after(move |m| {
                m.insert("amount".into(), json!(amount));
                m.insert("currency".into(), json!(currency));
                m.remove("items");
            })
        };
        assert_eq!(set("10.001", "USD"), one("amount", ErrorCode::TooManyDecimals));
        assert_eq!(set("10.5", "JPY"), one("amount", ErrorCode::TooManyDecimals));
        assert_eq!(set("10.0", "JPY"), vec![]);
        assert_eq!(set("10.125", "BHD"), vec![]);
        assert_eq!(set("10.1250", "BHD"), vec![]);
        assert_eq!(set("10.1255", "BHD"), one("amount", ErrorCode::TooManyDecimals));
    }

    #[test]
    fn trailing_zeros_beyond_the_minor_unit_do_not_count() {
        // The value is exact, so 1500.100 USD is 1500.10 USD: accepted and
        // normalized to the currency's scale, from a JSON number or a string.
        for amount in [num("1500.100"), num("1500.1000000"), json!("1500.100")] {
            let mut input = good();
            input["amount"] = amount.clone();
            input["items"] = doc(r#"[{"quantity": 50, "rate": 30.002}]"#);
            let invoice = check(input).unwrap_or_else(|e| panic!("{amount}: {e:?}"));
            assert_eq!(invoice.amount.to_string(), "1500.10", "{amount}");
        }
        let mut input = good();
        input["amount"] = num("1500.101");
        input.as_object_mut().unwrap().remove("items");
        let errors = check(input).unwrap_err();
        assert_eq!(errors[0].code, ErrorCode::TooManyDecimals);
        assert_eq!(errors[0].message, "amount 1500.101 has more decimal places than USD allows (2)");
        let mut input = good();
        input["amount"] = num("1500.0");
        input["currency"] = json!("JPY");
        input.as_object_mut().unwrap().remove("items");
        assert_eq!(check(input).unwrap().amount.to_string(), "1500");
    }

    #[test]
    fn numbers_of_the_wrong_type_say_a_number_is_expected() {
        let mut input = good();
        input["amount"] = json!(true);
        input["items"] = json!([{"quantity": [2], "rate": {"value": 30}}]);
        input["currency"] = json!({"code": "USD"});
        let messages: Vec<(String, ErrorCode, String)> =
            check(input).unwrap_err().into_iter().map(|e| (e.field, e.code, e.message)).collect();
        let wrong = |field: &str, message: &str| (field.to_string(), ErrorCode::WrongType, message.to_string());
        assert_eq!(
            messages,
            vec![
                wrong("currency", "currency must be a string, not an object"),
                wrong("amount", "amount must be a number or a numeric string, not a boolean"),
                wrong("items[0].quantity", "items[0].quantity must be a number or a numeric string, not an array"),
                wrong("items[0].rate", "items[0].rate must be a number or a numeric string, not an object"),
            ]
        );
    }

    #[test]
    fn currency_must_be_iso_4217() {
        assert_eq!(
            errors_after(|m| {
                m.insert("currency".into(), json!("DOLLARS"));
            }),
            one("currency", ErrorCode::UnknownCurrency)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("currency".into(), json!(840));
            }),
            one("currency", ErrorCode::WrongType)
        );
    }

    #[test]
    fn due_date_must_be_a_real_date_after_today() {
        assert_eq!(
            errors_after(|m| {
                m.insert("dueDate".into(), json!("2030-02-30"));
            }),
            one("dueDate", ErrorCode::NotARealDate)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("dueDate".into(), json!("31/12/2030"));
            }),
            one("dueDate", ErrorCode::InvalidDate)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("dueDate".into(), json!("30-12-31"));
            }),
            one("dueDate", ErrorCode::InvalidDate)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("dueDate".into(), json!("2026-11-24"));
            }),
            one("dueDate", ErrorCode::NotInFuture)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("dueDate".into(), json!("2026-11-25"));
            }),
            vec![]
        );
    }

    #[test]
    fn ids_have_a_safe_charset_and_length() {
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!("INV 1"));
            }),
            one("invoiceId", ErrorCode::InvalidCharacters)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("customerId".into(), json!("C#1"));
            }),
            one("customerId", ErrorCode::InvalidCharacters)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!("-INV"));
            }),
            one("invoiceId", ErrorCode::InvalidCharacters)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!("Ä1"));
            }),
            one("invoiceId", ErrorCode::InvalidCharacters)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!("A".repeat(65)));
            }),
            one("invoiceId", ErrorCode::TooLong)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!("A".repeat(64)));
            }),
            vec![]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("invoiceId".into(), json!(" INV.1_a "));
            }),
            vec![]
        );
    }

    #[test]
    fn email_syntax_is_checked_when_present() {
        for bad in ["customer", "a@b", "a@@b.com", "a b@c.com", ".a@b.com", "a@-b.com", "a@b.c0m", "a..b@c.com"] {
            assert_eq!(
                errors_after(|m| {
                    m.insert("customerEmail".into(), json!(bad));
                }),
                one("customerEmail", ErrorCode::InvalidEmail),
                "{bad}"
            );
        }
        for good in ["a@b.co", "first.last+tag@sub.example.org", "o'brien@example.ie"] {
            assert_eq!(
                errors_after(|m| {
                    m.insert("customerEmail".into(), json!(good));
                }),
                vec![],
                "{good}"
            );
        }
        assert_eq!(
            errors_after(|m| {
                m.insert("customerEmail".into(), json!(""));
            }),
            vec![]
        );
        assert_eq!(
            errors_after(|m| {
                m.remove("customerEmail");
            }),
            vec![]
        );
    }

    #[test]
    fn item_quantity_must_be_positive_and_rate_not_negative() {
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!([{"quantity": 0, "rate": 30}]));
            }),
            vec![("items[0].quantity".into(), ErrorCode::NotPositive)]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!([{"quantity": 1, "rate": -1}]));
            }),
            vec![("items[0].rate".into(), ErrorCode::Negative)]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!([{"rate": 1}]));
            }),
            vec![("items[0].quantity".into(), ErrorCode::Missing)]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!(["x"]));
            }),
            vec![("items[0]".into(), ErrorCode::WrongType)]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!("x"));
            }),
            one("items", ErrorCode::WrongType)
        );
    }

    #[test]
    fn free_items_are_allowed() {
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!([{"quantity": 50, "rate": 30}, {"quantity": 1, "rate": 0}]));
            }),
            vec![]
        );
    }

    #[test]
    fn items_must_add_up_to_the_amount() {
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), num("1499.99"));
            }),
            one("items", ErrorCode::TotalMismatch)
        );
        // 3 × 0.333 = 0.999, rounded to cents = 1.00
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), num("1.00"));
                m.insert("items".into(), doc(r#"[{"quantity": 3, "rate": 0.333}]"#));
            }),
            vec![]
        );
        // 0.1 + 0.2 is exactly 0.3
        assert_eq!(
            errors_after(|m| {
                m.insert("amount".into(), num("0.3"));
                m.insert("items".into(), doc(r#"[{"quantity": 1, "rate": 0.1}, {"quantity": 1, "rate": 0.2}]"#));
            }),
            vec![]
        );
    }

    #[test]
    fn too_many_items_are_refused() {
        let items: Vec<Value> = (0..1001).map(|_| json!({"quantity": 1, "rate": 1})).collect();
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), Value::Array(items));
            }),
            one("items", ErrorCode::TooManyItems)
        );
    }

    #[test]
    fn description_length_is_limited() {
        assert_eq!(
            errors_after(|m| {
                m.insert("description".into(), json!("é".repeat(1001)));
            }),
            one("description", ErrorCode::TooLong)
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("description".into(), json!("é".repeat(1000)));
            }),
            vec![]
        );
        assert_eq!(
            errors_after(|m| {
                m.insert("items".into(), json!([{"description": "x".repeat(1001), "quantity": 50, "rate": 30}]));
            }),
            vec![("items[0].description".into(), ErrorCode::TooLong)]
        );
    }

    #[test]
    fn messages_name_the_field_and_value() {
        let doc = json!({"invoiceId": "A", "customerId": "B", "amount": "12,50", "dueDate": "2030-02-30"});
        let errors = check(doc).unwrap_err();
        assert_eq!(errors[0].message, "amount \"12,50\" is not a decimal number");
        assert_eq!(errors[1].message, "dueDate \"2030-02-30\" is not a real calendar date");
        assert_eq!(
            serde_json::to_value(&errors[0]).unwrap(),
            json!({"field": "amount", "code": "invalid_number", "message": "amount \"12,50\" is not a decimal number"})
        );
    }
}
