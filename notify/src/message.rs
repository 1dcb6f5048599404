//! A composed notification: what every notifier sends, whatever the transport.
//!
//! A [`Message`] holds the topic, the subject, the message attributes
//! subscribers filter on, and the three bodies of SNS's
//! `MessageStructure=json`: `default` (the JSON event [`Document`], which SQS
//! and HTTP subscribers receive), `email` and `sms`. Composing it is in
//! [`crate::compose()`]; sending it is a [`crate::Notifier`]'s job.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use workflow::{FieldError, Source};

use crate::event::{DuplicateOf, EventType, FileInfo, Topic};
use crate::json::Object;

/// Longest subject, in characters: 99. The design's contract is "at most
/// 100", but SNS's Publish API requires a subject "less than 100 characters
/// long" (the API reference's constraint on `Subject`), so 100 would be refused.
pub const MAX_SUBJECT: usize = 99;
/// Longest SMS text, in characters (one GSM-7 SMS).
pub const MAX_SMS: usize = 160;

/// A message attribute's value: SNS's `String` or `Number` data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    String(String),
    /// Exact decimal, sent as its text (`1500.00`).
    Number(Decimal),
}

impl AttributeValue {
    /// SNS's `DataType`.
    pub fn data_type(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "String",
            AttributeValue::Number(_) => "Number",
        }
    }

    /// SNS's `StringValue` (numbers too are sent as text).
    pub fn text(&self) -> String {
        match self {
            AttributeValue::String(s) => s.clone(),
            AttributeValue::Number(d) => d.to_string(),
        }
    }

    /// As plain JSON: a string, or a number with the decimal's exact digits.
    pub fn to_json(&self) -> Value {
        match self {
            AttributeValue::String(s) => Value::String(s.clone()),
            AttributeValue::Number(d) => d.to_string().parse::<serde_json::Number>().map_or_else(
                // A Decimal's text is always a JSON number; keep the text if not.
                |_| Value::String(d.to_string()),
                Value::Number,
            ),
        }
    }
}

/// One message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub value: AttributeValue,
}

/// The JSON event document: the `default` body (what an SQS subscriber gets).
///
/// Parts that are unknown for the event are left out. `amount` is a string
/// with the exact digits, with `currency` beside it; ids and dates are as the
/// invoice gave them (shortened when huge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub event_id: String,
    pub event_type: EventType,
    pub execution_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<DuplicateOf>,
    /// The failed rules (at most [`crate::compose::MAX_ERRORS`]; `errorCount` has the total).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// A technical failure, as the document carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureDoc {
    /// The error name (`States.TaskFailed`, `StoreUnavailable`, …).
    pub error: String,
    /// The cause as given (shortened when huge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A notification ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event_id: String,
    pub event_type: EventType,
    pub topic: Topic,
    /// At most [`MAX_SUBJECT`] characters, one line.
    pub subject: String,
    /// `eventType`, `customerId`, `currency`, `amount`, `eventId`; an attribute
    /// whose value is unknown is left out.
    pub attributes: Vec<Attribute>,
    /// The `default` body.
    pub document: Document,
    /// The `email` body.
    pub email: String,
    /// The `sms` body: at most [`MAX_SMS`] characters, one line.
    pub sms: String,
}

impl Message {
    /// The `default` body: the document as JSON text.
    pub fn default_body(&self) -> String {
        let mut out = Vec::with_capacity(1024);
        self.document.write_json(&mut out);
        json_text(out)
    }

    /// SNS's `Message` for `MessageStructure=json`: `{"default", "email", "sms"}`,
    /// each a JSON string.
    pub fn sns_message(&self) -> String {
        let default = self.default_body();
        let mut out = Vec::with_capacity(2 * (default.len() + self.email.len() + self.sms.len()) + 64);
        let mut structure = Object::new(&mut out);
        structure.str("default", &default);
        structure.str("email", &self.email);
        structure.str("sms", &self.sms);
        structure.end();
        json_text(out)
    }

    /// The attributes as one JSON object (`{"eventType": "...", "amount": 1500.00}`).
    pub fn attributes_json(&self) -> Map<String, Value> {
        self.attributes.iter().map(|a| (a.name.to_string(), a.value.to_json())).collect()
    }

    /// The value of one attribute.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
    }
}

impl Document {
    /// Writes the document as JSON text: the bytes of its `Serialize` form,
    /// written directly (it is written once per notification).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Every field is named, so that a new one is not forgotten here.
        let Document {
            event_id,
            event_type,
            execution_name,
            invoice_id,
            customer_id,
            invoice_number,
            amount,
            currency,
            due_date,
            processed_at,
            duplicate_of,
            errors,
            error_count,
            failure,
            file,
            source,
        } = self;
        let mut doc = Object::new(out);
        doc.str("eventId", event_id);
        doc.str("eventType", event_type.as_str());
        doc.str("executionName", execution_name);
        doc.opt_str("invoiceId", invoice_id.as_deref());
        doc.opt_str("customerId", customer_id.as_deref());
        doc.opt_str("invoiceNumber", invoice_number.as_deref());
        doc.opt_str("amount", amount.as_deref());
        doc.opt_str("currency", currency.as_deref());
        doc.opt_str("dueDate", due_date.as_deref());
        doc.opt_str("processedAt", processed_at.as_deref());
        if let Some(duplicate_of) = duplicate_of {
            doc.serde("duplicateOf", duplicate_of);
        }
        if !errors.is_empty() {
            doc.serde("errors", errors);
        }
        if let Some(n) = error_count {
            doc.integer("errorCount", *n as u64);
        }
        if let Some(failure) = failure {
            doc.serde("failure", failure);
        }
        if let Some(file) = file {
            doc.serde("file", file);
        }
        if let Some(source) = source {
            doc.with("source", |out| workflow::json::write_source(out, source));
        }
        doc.end();
    }
}

/// Writes the attributes as one JSON object, as [`Message::attributes_json`] has them.
pub(crate) fn write_attributes(out: &mut Vec<u8>, attributes: &[Attribute]) {
    let mut object = Object::new(out);
    for a in attributes {
        match &a.value {
            AttributeValue::String(s) => object.str(a.name, s),
            AttributeValue::Number(d) => object.number(a.name, *d),
        }
    }
    object.end();
}

/// The JSON text written by [`crate::json`], which only writes UTF-8.
fn json_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("JSON text is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn number_attributes_keep_their_digits() {
        let v = AttributeValue::Number(Decimal::from_str("1500.10").unwrap());
        assert_eq!(v.data_type(), "Number");
        assert_eq!(v.text(), "1500.10");
        assert_eq!(serde_json::to_string(&v.to_json()).unwrap(), "1500.10");
        let s = AttributeValue::String("CUST-1".into());
        assert_eq!((s.data_type(), s.text()), ("String", "CUST-1".to_string()));
    }
}
