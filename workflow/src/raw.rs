//! Stage one of reading an invoice: the raw record, as a file or a JSON document
//! gave it, before any rule is checked.
//!
//! A [`RawInvoice`] borrows its text from the reader's buffer (a CSV row) or from
//! a parsed JSON document, so reading a record allocates nothing. It keeps apart
//! what validation must tell apart: a field that is missing, `null`, empty, or of
//! the wrong JSON type. [`crate::validation`] turns it into an [`crate::Invoice`].

use std::borrow::Cow;

use serde_json::{Map, Value};

/// One field of a raw record.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RawValue<'a> {
    /// The field is not there at all (no such key, no such column).
    #[default]
    Missing,
    /// JSON `null`.
    Null,
    /// A JSON string or a CSV cell (CSV cells are always text).
    Text(Cow<'a, str>),
    /// A JSON number, by its exact text.
    Number(Cow<'a, str>),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON array or object where a scalar was expected.
    Json(&'a Value),
}

impl<'a> RawValue<'a> {
    /// Maps a JSON value; numbers keep their text (serde_json's `arbitrary_precision`).
    pub fn from_json(value: &'a Value) -> RawValue<'a> {
        match value {
            Value::Null => RawValue::Null,
            Value::Bool(b) => RawValue::Bool(*b),
            Value::Number(n) => RawValue::Number(Cow::Borrowed(n.as_str())),
            Value::String(s) => RawValue::Text(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => RawValue::Json(value),
        }
    }

    /// The JSON type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            RawValue::Missing => "missing",
            RawValue::Null => "null",
            RawValue::Text(_) => "string",
            RawValue::Number(_) => "number",
            RawValue::Bool(_) => "boolean",
            RawValue::Json(Value::Array(_)) => "array",
            RawValue::Json(_) => "object",
        }
    }

    /// True for a field that carries nothing: missing, null, or blank text.
    pub fn is_absent(&self) -> bool {
        match self {
            RawValue::Missing | RawValue::Null => true,
            RawValue::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// Back to JSON; `None` for a missing field.
    pub fn to_json(&self) -> Option<Value> {
        Some(match self {
            RawValue::Missing => return None,
            RawValue::Null => Value::Null,
            RawValue::Text(t) => Value::String(t.to_string()),
            RawValue::Number(n) => number_or_string(n),
            RawValue::Bool(b) => Value::Bool(*b),
            RawValue::Json(v) => (*v).clone(),
        })
    }

    /// Like [`RawValue::to_json`], for a numeric field: a text that is a valid
    /// decimal becomes a JSON number with the same digits (so a CSV cell `1500.10`
    /// becomes the number `1500.10`); any other text stays a string for
    /// validation to report.
    pub fn to_json_number(&self) -> Option<Value> {
        match self {
            RawValue::Text(t) => match crate::money::parse_decimal(t.as_bytes()) {
                Ok(d) if is_canonical_decimal(t, d) => Some(number_or_string(t)),
                Ok(d) => Some(number_or_string(&d.to_string())),
                Err(_) => self.to_json(),
            },
            _ => self.to_json(),
        }
    }
}

/// True when `text`, a valid decimal, is already written as the decimal's
/// `to_string()` would write it: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, and not a
/// negative zero (which is written `0`). Such text (as a CSV amount usually
/// is) is used as it stands, sparing a formatting of the decimal per invoice.
fn is_canonical_decimal(text: &str, value: rust_decimal::Decimal) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.len() < text.len() && value.is_zero() {
        return false;
    }
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let whole_ok = match whole.as_bytes() {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    whole_ok && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn number_or_string(text: &str) -> Value {
    match text.parse::<serde_json::Number>() {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(text.to_string()),
    }
}

/// The fields of an invoice, as named in JSON (camelCase) and CSV headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    InvoiceId,
    CustomerId,
    CustomerEmail,
    Amount,
    Currency,
    DueDate,
    Description,
    Items,
    /// CSV only: a line item's description (`itemDescription`).
    ItemDescription,
    /// A line item's quantity (a CSV column, or a key of an item object).
    Quantity,
    /// A line item's unit price (a CSV column, or a key of an item object).
    Rate,
}

impl Field {
    /// The invoice-level fields, in document order.
    pub const INVOICE: [Field; 8] = [
        Field::InvoiceId,
        Field::CustomerId,
        Field::CustomerEmail,
        Field::Amount,
        Field::Currency,
        Field::DueDate,
        Field::Description,
        Field::Items,
    ];

    /// The camelCase name used in JSON documents and error reports.
    pub fn name(self) -> &'static str {
        match self {
            Field::InvoiceId => "invoiceId",
            Field::CustomerId => "customerId",
            Field::CustomerEmail => "customerEmail",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::DueDate => "dueDate",
            Field::Description => "description",
            Field::Items => "items",
            Field::ItemDescription => "itemDescription",
            Field::Quantity => "quantity",
            Field::Rate => "rate",
        }
    }

    /// The field whose [`Field::name`] is `name` exactly.
    fn from_camel_case(name: &[u8]) -> Option<Field> {
        Some(match name {
            b"invoiceId" => Field::InvoiceId,
            b"customerId" => Field::CustomerId,
            b"customerEmail" => Field::CustomerEmail,
            b"amount" => Field::Amount,
            b"currency" => Field::Currency,
            b"dueDate" => Field::DueDate,
            b"description" => Field::Description,
            b"items" => Field::Items,
            b"itemDescription" => Field::ItemDescription,
            b"quantity" => Field::Quantity,
            b"rate" => Field::Rate,
            _ => return None,
        })
    }

    /// Matches a CSV header or JSON key without regard to ASCII case, `_`, `-`
    /// or spaces: `invoice_id`, `Invoice ID` and `invoiceId` are all
    /// [`Field::InvoiceId`]. Unknown names give `None`.
    pub fn from_name(name: &[u8]) -> Option<Field> {
        // Most names are already the camelCase ones (every invoice a
        // task reads was written with them): matched as they stand.
        if let Some(field) = Field::from_camel_case(name) {
            return Some(field);
        }
        let mut buf = [0u8; 24];
        let mut len = 0;
        for &b in name.trim_ascii() {
            if matches!(b, b'_' | b'-' | b' ') {
                continue;
            }
            if len == buf.len() {
                return None;
            }
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        Some(match &buf[..len] {
            b"invoiceid" => Field::InvoiceId,
            b"customerid" => Field::CustomerId,
            b"customeremail" => Field::CustomerEmail,
            b"amount" => Field::Amount,
            b"currency" => Field::Currency,
            b"duedate" => Field::DueDate,
            b"description" => Field::Description,
            b"items" => Field::Items,
            b"itemdescription" => Field::ItemDescription,
            b"quantity" => Field::Quantity,
            b"rate" => Field::Rate,
            _ => return None,
        })
    }
}

/// One raw line item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawItem<'a> {
    pub description: RawValue<'a>,
    pub quantity: RawValue<'a>,
    pub rate: RawValue<'a>,
    /// Set when the JSON item was not an object (its value).
    pub not_object: Option<&'a Value>,
}

impl<'a> RawItem<'a> {
    fn from_json(value: &'a Value) -> RawItem<'a> {
        let Value::Object(map) = value else {
            return RawItem { not_object: Some(value), ..RawItem::default() };
        };
        let mut item = RawItem::default();
        for (key, v) in map {
            let slot = match Field::from_name(key.as_bytes()) {
                Some(Field::Description | Field::ItemDescription) => &mut item.description,
                Some(Field::Quantity) => &mut item.quantity,
                Some(Field::Rate) => &mut item.rate,
                _ => continue,
            };
            if matches!(slot, RawValue::Missing) {
                *slot = RawValue::from_json(v);
            }
        }
        item
    }

    fn to_json(&self) -> Value {
        if let Some(v) = self.not_object {
            return v.clone();
        }
        // Sized up front: a growing map rehashes its keys (see RawInvoice::to_json).
        let mut map = Map::with_capacity(3);
        if !self.description.is_absent() {
            if let Some(v) = self.description.to_json() {
                map.insert("description".into(), v);
            }
        }
        for (name, raw) in [("quantity", &self.quantity), ("rate", &self.rate)] {
            if let Some(v) = raw.to_json_number() {
                map.insert(name.into(), v);
            }
        }
        Value::Object(map)
    }
}

/// The line items of a raw invoice.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RawItems<'a> {
    /// No items field, or no item columns.
    #[default]
    Missing,
    /// `items` is there but is not an array (`null` included).
    NotArray(RawValue<'a>),
    /// The items, in order.
    List(Vec<RawItem<'a>>),
}

/// A whole invoice as read, before validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawInvoice<'a> {
    pub invoice_id: RawValue<'a>,
    pub customer_id: RawValue<'a>,
    pub customer_email: RawValue<'a>,
    pub amount: RawValue<'a>,
    pub currency: RawValue<'a>,
    pub due_date: RawValue<'a>,
    pub description: RawValue<'a>,
    pub items: RawItems<'a>,
}

impl<'a> RawInvoice<'a> {
    /// Reads the invoice object (not the `{"invoice": …}` wrapper: see
    /// [`unwrap_invoice`]). Keys are matched like CSV headers (`invoice_id` works);
    /// unknown keys are ignored; the first of two keys for one field wins.
    /// A value that is not an object gives `Err` with its JSON type name.
    pub fn from_json(value: &'a Value) -> Result<RawInvoice<'a>, &'static str> {
        let map = match value {
            Value::Object(map) => map,
            other => return Err(RawValue::from_json(other).type_name()),
        };
        let mut raw = RawInvoice::default();
        for (key, v) in map {
            let Some(field) = Field::from_name(key.as_bytes()) else {
                continue;
            };
            if field == Field::Items {
                if matches!(raw.items, RawItems::Missing) {
                    raw.items = match v {
                        Value::Array(list) => RawItems::List(list.iter().map(RawItem::from_json).collect()),
                        other => RawItems::NotArray(RawValue::from_json(other)),
                    };
                }
                continue;
            }
            if let Some(slot) = raw.slot(field) {
                if matches!(slot, RawValue::Missing) {
                    *slot = RawValue::from_json(v);
                }
            }
        }
        Ok(raw)
    }

    /// The slot of an invoice-level scalar field (`None` for items and item fields).
    pub fn slot(&mut self, field: Field) -> Option<&mut RawValue<'a>> {
        Some(match field {
            Field::InvoiceId => &mut self.invoice_id,
            Field::CustomerId => &mut self.customer_id,
            Field::CustomerEmail => &mut self.customer_email,
            Field::Amount => &mut self.amount,
            Field::Currency => &mut self.currency,
            Field::DueDate => &mut self.due_date,
            Field::Description => &mut self.description,
            Field::Items | Field::ItemDescription | Field::Quantity | Field::Rate => return None,
        })
    }

    /// The invoiceId as text when it is one (for reports about invalid invoices).
    pub fn invoice_id_text(&self) -> Option<&str> {
        match &self.invoice_id {
            RawValue::Text(t) => Some(t.trim()),
            RawValue::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The invoice as a JSON object in the documented camelCase shape, as the
    /// execution input carries it. Numeric fields that hold a valid decimal
    /// become JSON numbers with the same digits; optional fields that are blank
    /// are left out; a required field that is blank stays `""` so that
    /// validation reports it as empty. ([`InvoiceJson`] makes the same objects
    /// for a stream of invoices, faster.)
    pub fn to_json(&self) -> Value {
        // Sized up front: growing the map would move and rehash its keys.
        let mut map = Map::with_capacity(Field::INVOICE.len());
        for (field, value) in Field::INVOICE.into_iter().zip(self.json_values()) {
            if let Some(value) = value {
                map.insert(field.name().into(), value);
            }
        }
        Value::Object(map)
    }

    /// The values of [`RawInvoice::to_json`]'s object, field by field in the
    /// order of [`Field::INVOICE`]; `None` for a field left out.
    fn json_values(&self) -> [Option<Value>; Field::INVOICE.len()] {
        let scalar = |field: Field, raw: &RawValue<'_>| {
            let required = matches!(field, Field::InvoiceId | Field::CustomerId | Field::Amount | Field::DueDate);
            if !required && raw.is_absent() && !matches!(raw, RawValue::Null) {
                None
            } else if field == Field::Amount {
                raw.to_json_number()
            } else {
                raw.to_json()
            }
        };
        let items = match &self.items {
            RawItems::Missing => None,
            RawItems::NotArray(v) => v.to_json(),
            RawItems::List(items) => Some(Value::Array(items.iter().map(RawItem::to_json).collect())),
        };
        [
            scalar(Field::InvoiceId, &self.invoice_id),
            scalar(Field::CustomerId, &self.customer_id),
            scalar(Field::CustomerEmail, &self.customer_email),
            scalar(Field::Amount, &self.amount),
            scalar(Field::Currency, &self.currency),
            scalar(Field::DueDate, &self.due_date),
            scalar(Field::Description, &self.description),
            items,
        ]
    }
}

/// Makes the objects of [`RawInvoice::to_json`] for a stream of invoices.
///
/// Building a map hashes every key (SipHash), once per invoice. The invoices
/// of one file mostly have the same fields, so the object of the last set of
/// fields is kept, its values null, and cloned for the next invoice with the
/// same fields: a clone copies the hash table and hashes nothing.
#[derive(Debug, Default)]
pub struct InvoiceJson {
    /// The set of fields (bit `i`: `Field::INVOICE[i]`) and its object.
    last: Option<(u8, Map<String, Value>)>,
}

impl InvoiceJson {
    /// The same object as `invoice.to_json()`.
    pub fn to_json(&mut self, invoice: &RawInvoice<'_>) -> Value {
        let values = invoice.json_values();
        let fields = values.iter().enumerate().filter(|(_, v)| v.is_some()).fold(0u8, |set, (i, _)| set | 1 << i);
        let template = match &mut self.last {
            Some((set, template)) if *set == fields => template,
            last => {
                let mut template = Map::with_capacity(Field::INVOICE.len());
                for (field, value) in Field::INVOICE.iter().zip(&values) {
                    if value.is_some() {
                        template.insert(field.name().into(), Value::Null);
                    }
                }
                &mut last.insert((fields, template)).1
            }
        };
        let mut map = template.clone();
        for (slot, value) in map.values_mut().zip(values.into_iter().flatten()) {
            *slot = value;
        }
        Value::Object(map)
    }
}

/// Finds the invoice object in a document: `{"invoice": {...}}` (the seed's
/// execution input) gives the inner object; anything else is the invoice itself.
pub fn unwrap_invoice(document: &Value) -> &Value {
    match document {
        Value::Object(map) => match map.get("invoice") {
            Some(inner) => inner,
            None => document,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What [`RawValue::to_json_number`] gave before it kept canonical text as it stands.
    fn number_by_formatting(text: &str) -> Value {
        match crate::money::parse_decimal(text.as_bytes()) {
            Ok(d) => number_or_string(&d.to_string()),
            Err(_) => Value::String(text.to_string()),
        }
    }

    fn assert_same_number(text: &str) {
        let fast = RawValue::Text(text.into()).to_json_number().unwrap();
        let slow = number_by_formatting(text);
        assert_eq!(serde_json::to_string(&fast).unwrap(), serde_json::to_string(&slow).unwrap(), "{text:?}");
    }

    #[test]
    fn numbers_from_text_are_written_as_the_decimal_writes_them() {
        for text in [
            "1500.10",
            "0",
            "0.0",
            "0.10",
            "-12.30",
            "-0",
            "-0.00",
            "+7.5",
            "007",
            "0000.10",
            ".5",
            "5.",
            "1.5e3",
            "15E-3",
            " 42 ",
            "42 ",
            "1..2",
            "-",
            "",
            "x",
            "1e400",
            "0.0000000000000000000000000001",
            "0.00000000000000000000000000001",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            "-79228162514264337593543950335",
            "١٢",
        ] {
            assert_same_number(text);
        }
    }

    #[test]
    fn a_stream_of_invoices_gives_what_each_gives_alone() {
        let docs: Vec<Value> = [
            r#"{"invoiceId": "A", "customerId": "C", "amount": 1, "dueDate": "2030-01-01", "currency": "USD"}"#,
            r#"{"invoiceId": "B", "customerId": "C", "amount": "2.50", "dueDate": "2030-01-01", "currency": "EUR"}"#,
            r#"{"invoiceId": "C", "amount": 3, "dueDate": "2030-01-01", "currency": " ", "description": "d"}"#,
            r#"{"invoiceId": "D", "customerId": "C", "amount": 1, "dueDate": "2030-01-01", "currency": "USD"}"#,
            r#"{"items": [{"quantity": "2", "rate": 3}, 7], "customerEmail": null, "invoiceId": 5}"#,
            r#"{"items": null}"#,
            r#"{}"#,
            r#"{"invoiceId": "E", "customerId": "C", "amount": 1, "dueDate": "2030-01-01", "currency": "USD"}"#,
        ]
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
        let mut stream = InvoiceJson::default();
        for doc in &docs {
            let raw = RawInvoice::from_json(doc).unwrap();
            let (alone, streamed) = (raw.to_json(), stream.to_json(&raw));
            assert_eq!(serde_json::to_string(&streamed).unwrap(), serde_json::to_string(&alone).unwrap());
        }
    }

    proptest! {
        #[test]
        fn any_numeric_text_gives_what_formatting_gives(text in "[-+ ]?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{1,3})? ?") {
            assert_same_number(&text);
        }
    }

    #[test]
    fn names_match_without_case_or_separators() {
        for name in ["invoiceId", "invoice_id", "Invoice ID", "INVOICE-ID", " invoiceid "] {
            assert_eq!(Field::from_name(name.as_bytes()), Some(Field::InvoiceId), "{name}");
        }
        assert_eq!(Field::from_name(b"item_description"), Some(Field::ItemDescription));
        assert_eq!(Field::from_name(b"invoice"), None);
        assert_eq!(Field::from_name(b"a_very_long_unknown_column_name_indeed"), None);
        // Every camelCase name, matched as it stands, is what matching it loosely gives.
        let all = [Field::ItemDescription, Field::Quantity, Field::Rate];
        for field in Field::INVOICE.into_iter().chain(all) {
            let name = field.name();
            assert_eq!(Field::from_camel_case(name.as_bytes()), Some(field), "{name}");
            assert_eq!(Field::from_name(format!(" {} ", name.to_uppercase()).as_bytes()), Some(field), "{name}");
        }
    }

    #[test]
    fn json_keeps_missing_null_empty_and_types_apart() {
        // Built from text: json!() would pass 1500.10 through f64.
        let doc: Value = serde_json::from_str(
            r#"{"invoiceId": "", "customerId": null, "amount": 1500.10, "dueDate": true,
                         "items": [{"quantity": "2", "rate": 3}, 7]}"#,
        )
        .unwrap();
        let raw = RawInvoice::from_json(&doc).unwrap();
        assert_eq!(raw.invoice_id, RawValue::Text("".into()));
        assert_eq!(raw.customer_id, RawValue::Null);
        assert_eq!(raw.amount, RawValue::Number("1500.10".into()));
        assert_eq!(raw.due_date, RawValue::Bool(true));
        assert_eq!(raw.currency, RawValue::Missing);
        let RawItems::List(items) = &raw.items else { panic!("items") };
        assert_eq!(items[0].quantity, RawValue::Text("2".into()));
        assert_eq!(items[1].not_object, Some(&json!(7)));
        assert_eq!(RawInvoice::from_json(&json!([1])), Err("array"));
    }

    #[test]
    fn seed_wrapper_is_unwrapped() {
        let doc = json!({"invoice": {"invoiceId": "INV-1"}});
        assert_eq!(unwrap_invoice(&doc), &json!({"invoiceId": "INV-1"}));
        let bare = json!({"invoiceId": "INV-1"});
        assert_eq!(unwrap_invoice(&bare), &bare);
    }

    #[test]
    fn csv_text_becomes_documented_json() {
        let raw = RawInvoice {
            invoice_id: RawValue::Text("INV-1".into()),
            customer_id: RawValue::Text("".into()),
            amount: RawValue::Text("1500.10".into()),
            currency: RawValue::Text("".into()),
            due_date: RawValue::Text("2030-12-31".into()),
            items: RawItems::List(vec![RawItem {
                description: RawValue::Text("Hours".into()),
                quantity: RawValue::Text("x".into()),
                rate: RawValue::Text("30.00".into()),
                not_object: None,
            }]),
            ..RawInvoice::default()
        };
        let v = raw.to_json();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"invoiceId":"INV-1","customerId":"","amount":1500.10,"dueDate":"2030-12-31","items":[{"description":"Hours","quantity":"x","rate":30.00}]}"#
        );
        assert_eq!(InvoiceJson::default().to_json(&raw), v);
        // And back: the same raw fields come out of the JSON.
        let again = RawInvoice::from_json(&v).unwrap();
        assert_eq!(again.amount, RawValue::Number("1500.10".into()));
    }
}
