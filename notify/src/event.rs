//! The Notify task's contract: its input document, its output, the event types
//! and their routing to the three topics, and the deterministic event id.
//!
//! The input is built by the state machine (or by ingest for
//! `FILE_REJECTED`). It is read tolerantly: a rejected or failed invoice may be
//! partial or odd, so the invoice stays raw JSON and every part but the event
//! type and the execution name is optional. Only a document that is not a
//! Notify input at all is [`NotifyError::InvalidInput`].

use std::fmt;

use serde::de::value::MapDeserializer;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use workflow::{FieldError, Source};

use crate::error::NotifyError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// The invoice was validated, numbered and stored.
    InvoiceProcessed,
    /// The invoice broke validation rules; nothing was stored.
    InvoiceRejected,
    /// The invoiceId was already stored by another submission.
    InvoiceDuplicate,
    /// A technical failure after retries; an engineer is needed.
    InvoiceFailed,
    /// A whole uploaded file could not be read (from ingest).
    FileRejected,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 5] = [
        EventType::InvoiceProcessed,
        EventType::InvoiceRejected,
        EventType::InvoiceDuplicate,
        EventType::InvoiceFailed,
        EventType::FileRejected,
    ];

    /// The name used in documents and the `eventType` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoiceProcessed => "INVOICE_PROCESSED",
            EventType::InvoiceRejected => "INVOICE_REJECTED",
            EventType::InvoiceDuplicate => "INVOICE_DUPLICATE",
            EventType::InvoiceFailed => "INVOICE_FAILED",
            EventType::FileRejected => "FILE_REJECTED",
        }
    }

    /// The topic the event is published to.
    pub fn topic(self) -> Topic {
        match self {
            EventType::InvoiceProcessed => Topic::Success,
            EventType::InvoiceDuplicate => Topic::Duplicate,
            EventType::InvoiceRejected | EventType::InvoiceFailed | EventType::FileRejected => Topic::Error,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three SNS topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    Success,
    Error,
    Duplicate,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Success, Topic::Error, Topic::Duplicate];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Success => "success",
            Topic::Error => "error",
            Topic::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The deterministic id of an event: `<executionName>:<eventType>`. The same
/// execution's retried Notify step gets the same id, so a subscriber (and the
/// local outbox) can drop the repeat.
pub fn event_id(execution_name: &str, event_type: EventType) -> String {
    [execution_name, ":", event_type.as_str()].concat()
}

/// Longest accepted execution name (Step Functions allows 80 characters; the
/// ingest's ids for rejected files get some room).
pub const MAX_EXECUTION_NAME: usize = 256;

/// The Notify task input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyInput {
    pub event_type: EventType,
    /// The execution's name; for `FILE_REJECTED` the ingest's id for the upload.
    pub execution_name: String,
    /// The normalized invoice (processed, duplicate) or the invoice as
    /// submitted (rejected, failed), which may be partial or odd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The failed rules (`INVOICE_REJECTED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The processing result (`INVOICE_PROCESSED`, `INVOICE_DUPLICATE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<Processing>,
    /// Step Functions' Catch output (`INVOICE_FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The unreadable file (`FILE_REJECTED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

impl NotifyInput {
    /// Reads a task input, naming what is wrong when it is not one.
    pub fn from_json(mut value: Value) -> Result<NotifyInput, NotifyError> {
        // The invoice stays JSON: it is moved out of the input as it is, not
        // rebuilt key by key (and hashed again) by deserializing it as a `Value`.
        let invoice = value.as_object_mut().and_then(|fields| fields.shift_remove("invoice"));
        let (mut input, _) = NotifyInput::from_json_ref(&value)?;
        // As for the other parts, `null` is no invoice.
        input.invoice = invoice.filter(|v| !v.is_null());
        Ok(input)
    }

    /// [`NotifyInput::from_json`] of a borrowed input, whose invoice is not copied:
    /// it comes back borrowed beside the input read (whose `invoice` is `None`).
    pub fn from_json_ref(value: &Value) -> Result<(NotifyInput, Option<&Value>), NotifyError> {
        let read = match value {
            Value::Object(fields) => {
                let rest = fields.iter().filter(|(k, _)| *k != "invoice").map(|(k, v)| (k.as_str(), v));
                NotifyInput::deserialize(MapDeserializer::new(rest))
            }
            other => NotifyInput::deserialize(other),
        };
        let input = read.map_err(|e: serde_json::Error| NotifyError::InvalidInput(e.to_string()))?;
        input.check()?;
        // As for the other parts, `null` is no invoice.
        Ok((input, value.get("invoice").filter(|v| !v.is_null())))
    }

    /// Checks what deserialization cannot: a usable execution name.
    pub fn check(&self) -> Result<(), NotifyError> {
        let name = &self.execution_name;
        if name.trim().is_empty() {
            return Err(NotifyError::InvalidInput("executionName is empty".into()));
        }
        if name.chars().count() > MAX_EXECUTION_NAME {
            return Err(NotifyError::InvalidInput(format!(
                "executionName has {} characters; at most {MAX_EXECUTION_NAME} are allowed",
                name.chars().count()
            )));
        }
        if !crate::text::is_one_line(name) {
            return Err(NotifyError::InvalidInput("executionName contains a line break or control character".into()));
        }
        Ok(())
    }

    /// This event's deterministic id.
    pub fn event_id(&self) -> String {
        event_id(&self.execution_name, self.event_type)
    }
}

/// The ProcessInvoice step's result, read tolerantly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Processing {
    /// `PROCESSED` or `DUPLICATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<DuplicateOf>,
}

/// The stored invoice a duplicate collides with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateOf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<String>,
    /// Whether the second submission's content equals the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_content: Option<bool>,
}

/// Step Functions' Catch output: `{"Error": ..., "Cause": ...}` (the lower
/// case keys are accepted too). The cause of a Lambda error is itself a JSON
/// text (`{"errorType", "errorMessage", ...}`); any JSON value is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Failure {
    #[serde(default, alias = "Error", deserialize_with = "text_or_json", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, alias = "Cause", deserialize_with = "text_or_json", skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A whole upload that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub key: String,
    /// Why the file was refused, for a person.
    #[serde(default)]
    pub reason: String,
    /// How many records were read before the problem, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

/// A string as is; any other JSON value as its compact text; `null` as none.
fn text_or_json<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// The Notify task output: `{"messageId", "topic", "eventId"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyOutput {
    /// The SNS MessageId, or locally the outbox's id for the event.
    pub message_id: String,
    pub topic: Topic,
    pub event_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_types_route_to_their_topics() {
        let routes: Vec<_> = EventType::ALL.iter().map(|e| (e.as_str(), e.topic().as_str())).collect();
        assert_eq!(
            routes,
            [
                ("INVOICE_PROCESSED", "success"),
                ("INVOICE_REJECTED", "error"),
                ("INVOICE_DUPLICATE", "duplicate"),
                ("INVOICE_FAILED", "error"),
                ("FILE_REJECTED", "error"),
            ]
        );
        for e in EventType::ALL {
            assert_eq!(serde_json::to_value(e).unwrap(), json!(e.as_str()));
        }
    }

    #[test]
    fn event_ids_are_deterministic() {
        let a = event_id("INV-001-0123abcd", EventType::InvoiceProcessed);
        assert_eq!(a, "INV-001-0123abcd:INVOICE_PROCESSED");
        assert_eq!(a, event_id("INV-001-0123abcd", EventType::InvoiceProcessed));
        assert_ne!(a, event_id("INV-001-0123abcd", EventType::InvoiceFailed));
        assert_ne!(a, event_id("INV-001-0123abce", EventType::InvoiceProcessed));
    }

    #[test]
    fn catch_output_keys_may_be_capitalized() {
        let input = NotifyInput::from_json(json!({
            "eventType": "INVOICE_FAILED", "executionName": "x",
            "invoice": {"invoiceId": 5},
            "failure": {"Error": "StoreUnavailable", "Cause": "{\"errorMessage\":\"down\"}"}
        }))
        .unwrap();
        let failure = input.failure.unwrap();
        assert_eq!(failure.error.as_deref(), Some("StoreUnavailable"));
        assert_eq!(failure.cause.as_deref(), Some("{\"errorMessage\":\"down\"}"));
        let lower: Failure = serde_json::from_value(json!({"error": "E", "cause": {"a": 1}})).unwrap();
        assert_eq!(lower.cause.as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn bad_inputs_are_named() {
        let err = |v: Value| NotifyInput::from_json(v).unwrap_err().to_string();
        assert!(err(json!({"eventType": "INVOICE_LOST", "executionName": "x"})).contains("INVOICE_LOST"));
        assert!(err(json!({"eventType": "INVOICE_FAILED"})).contains("executionName"));
        assert!(err(json!({"eventType": "INVOICE_FAILED", "executionName": " "})).contains("executionName is empty"));
        assert!(err(json!({"eventType": "INVOICE_FAILED", "executionName": "a\nb"})).contains("control"));
        assert!(err(json!({"eventType": "INVOICE_FAILED", "executionName": "x".repeat(300)})).contains("300"));
        assert!(err(json!([1, 2])).starts_with("invalid Notify input"));
        assert_eq!(
            NotifyInput::from_json(json!({"eventType": "INVOICE_FAILED"})).unwrap_err().error_type(),
            "InvalidInput"
        );
    }

    #[test]
    fn null_parts_are_absent() {
        let input = NotifyInput::from_json(json!({
            "eventType": "INVOICE_REJECTED", "executionName": "x",
            "invoice": null, "source": null, "errors": null, "processing": null
        }))
        .unwrap();
        assert!(input.invoice.is_none() && input.source.is_none() && input.errors.is_none());
    }

    #[test]
    fn output_is_camel_case() {
        let out = NotifyOutput { message_id: "m".into(), topic: Topic::Duplicate, event_id: "e".into() };
        assert_eq!(serde_json::to_value(out).unwrap(), json!({"messageId": "m", "topic": "duplicate", "eventId": "e"}));
    }
}
