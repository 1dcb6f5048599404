//! The workflow's task contracts shared by the Lambda binaries and the local
//! engine: the ValidateInvoice task, the named task errors, and the Lambdas'
//! configuration from the environment.
//!
//! # Task error names
//!
//! A failed task reports one of these names as its Lambda `errorType` (and the
//! local engine uses the same names), so the state machine's Retry and Catch
//! can match them:
//!
//! | errorType          | meaning                                          | state machine |
//! |--------------------|--------------------------------------------------|---------------|
//! | `StoreUnavailable` | store unreachable, timed out or locked           | Retry         |
//! | `Throttled`        | store throttling, numbering contention           | Retry         |
//! | `InvalidInput`     | the task's input is not the documented document  | Catch (fail)  |
//! | `StoreError`       | a store fault a retry will not fix               | Catch (fail)  |
//!
//! [`TaskError::TRANSIENT`] lists the names to retry.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::{parse_decimal, Currency};
use crate::raw::{unwrap_invoice, RawInvoice};
use crate::store::StoreError;
use crate::validation::{ErrorCode, FieldError, Rules};

/// The ValidateInvoice task's output, `$.validation` in the state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationOutput {
    pub is_valid: bool,
    /// Every failed rule (empty when valid).
    pub errors: Vec<FieldError>,
    /// The normalized invoice when valid; the invoice as submitted when not.
    pub invoice: Value,
    /// The invoiceId as submitted when it is a string or number, else `null`:
    /// the state machine can always name the invoice, even a rejected one.
    pub invoice_id: Option<String>,
}

impl ValidationOutput {
    /// The output as the JSON document serde writes, built directly (the
    /// invoice is moved in, not copied): the local pipeline makes one per invoice.
    pub fn into_json(self) -> Value {
        let mut doc = serde_json::Map::with_capacity(4);
        doc.insert("isValid".into(), self.is_valid.into());
        let errors = self.errors.iter().map(|e| serde_json::to_value(e).expect("a field error always serializes"));
        doc.insert("errors".into(), Value::Array(errors.collect()));
        doc.insert("invoice".into(), self.invoice);
        doc.insert("invoiceId".into(), self.invoice_id.map_or(Value::Null, Value::String));
        Value::Object(doc)
    }
}

/// The ValidateInvoice task. `input` is the execution input
/// `{"invoice": {...}, "source": {...}?}`, or the bare invoice; `today` is the
/// processing date (UTC) from the caller's clock.
pub fn validate(input: &Value, rules: &Rules, today: NaiveDate) -> ValidationOutput {
    let submitted = unwrap_invoice(input);
    let raw = match RawInvoice::from_json(submitted) {
        Ok(raw) => raw,
        Err(type_name) => {
            return ValidationOutput {
                invoice_id: None,
                is_valid: false,
                errors: vec![FieldError::new(
                    "invoice",
                    ErrorCode::WrongType,
                    format!("the invoice must be a JSON object, not {type_name}"),
                )],
                invoice: submitted.clone(),
            }
        }
    };
    let invoice_id = raw.invoice_id_text().map(str::to_string);
    match crate::validation::validate(&raw, rules, today) {
        Ok(invoice) => ValidationOutput {
            invoice_id,
            is_valid: true,
            errors: Vec::new(),
            invoice: serde_json::to_value(&invoice).expect("an invoice always serializes"),
        },
        Err(errors) => ValidationOutput { invoice_id, is_valid: false, errors, invoice: submitted.clone() },
    }
}

/// A task's failure, named for the state machine (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// `StoreUnavailable` (transient).
    #[error("{0}")]
    StoreUnavailable(String),
    /// `Throttled` (transient).
    #[error("{0}")]
    Throttled(String),
    /// `InvalidInput` (permanent).
    #[error("{0}")]
    InvalidInput(String),
    /// `StoreError` (permanent).
    #[error("{0}")]
    StoreError(String),
}

impl TaskError {
    /// The errorType names the state machine retries.
    pub const TRANSIENT: [&'static str; 2] = ["StoreUnavailable", "Throttled"];
    /// The errorType names that are not retried.
    pub const PERMANENT: [&'static str; 2] = ["InvalidInput", "StoreError"];

    /// The stable name reported as the Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            TaskError::StoreUnavailable(_) => "StoreUnavailable",
            TaskError::Throttled(_) => "Throttled",
            TaskError::InvalidInput(_) => "InvalidInput",
            TaskError::StoreError(_) => "StoreError",
        }
    }

    /// True for the errors the state machine retries.
    pub fn is_transient(&self) -> bool {
        matches!(self, TaskError::StoreUnavailable(_) | TaskError::Throttled(_))
    }
}

impl From<StoreError> for TaskError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::Unavailable(_) => TaskError::StoreUnavailable(message),
            StoreError::Throttled(_) => TaskError::Throttled(message),
            StoreError::Permanent(_) => TaskError::StoreError(message),
        }
    }
}

/// How a Lambda reports the error: `errorType` is the stable name.
impl From<TaskError> for lambda_runtime::Diagnostic {
    fn from(e: TaskError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_string(), error_message: e.to_string() }
    }
}

/// Environment variables read by the Lambdas.
pub mod env {
    /// The DynamoDB table of processed invoices (the `process` Lambda).
    pub const TABLE_NAME: &str = "TABLE_NAME";
    /// ISO 4217 code for invoices that name no currency (default `USD`).
    pub const DEFAULT_CURRENCY: &str = "DEFAULT_CURRENCY";
    /// Largest accepted amount (default 1000000000).
    pub const MAX_AMOUNT: &str = "MAX_AMOUNT";
}

/// The Lambdas' configuration, read from the environment in one place.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`; only the `process` Lambda needs it.
    pub table_name: Option<String>,
    /// The validation rules (`DEFAULT_CURRENCY`, `MAX_AMOUNT`).
    pub rules: Rules,
}

/// A configuration variable is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} = {value:?}: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (blank counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut rules = Rules::default();
        if let Some(value) = get(env::DEFAULT_CURRENCY) {
            rules.default_currency = Currency::parse(value.trim()).ok_or_else(|| ConfigError::Invalid {
                name: env::DEFAULT_CURRENCY,
                reason: "not an ISO 4217 currency code".into(),
                value,
            })?;
        }
        if let Some(value) = get(env::MAX_AMOUNT) {
            rules.max_amount =
                parse_decimal(value.trim().as_bytes()).ok().filter(|d| *d > Decimal::ZERO).ok_or_else(|| {
                    ConfigError::Invalid {
                        name: env::MAX_AMOUNT,
                        reason: "not a positive decimal number".into(),
                        value,
                    }
                })?;
        }
        Ok(Config { table_name: get(env::TABLE_NAME), rules })
    }

    /// `TABLE_NAME`, required by the `process` Lambda.
    pub fn require_table_name(&self) -> Result<&str, ConfigError> {
        self.table_name.as_deref().ok_or(ConfigError::Missing(env::TABLE_NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn a_valid_invoice_comes_out_normalized() {
        let input: Value = serde_json::from_str(
            r#"{"invoice": {"invoice_id": " INV-001 ", "customerId": "CUST-123", "amount": "1500.1",
                "currency": "usd", "dueDate": "2030-12-31",
                "items": [{"description": "Consulting hours", "quantity": 50, "rate": 30.002}]},
                "source": {"bucket": "b", "key": "k", "record": 1, "line": 2}}"#,
        )
        .unwrap();
        let out = validate(&input, &Rules::default(), today());
        assert!(out.is_valid, "{:?}", out.errors);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"isValid":true,"errors":[],"invoice":{"invoiceId":"INV-001","customerId":"CUST-123","amount":1500.10,"currency":"USD","dueDate":"2030-12-31","items":[{"description":"Consulting hours","quantity":50,"rate":30.002}]},"invoiceId":"INV-001"}"#
        );
    }

    #[test]
    fn an_invalid_invoice_lists_every_error_and_comes_back_as_submitted() {
        let input = json!({"invoice": {"invoiceId": "INV 1", "amount": -5, "dueDate": "2020-01-01"}});
        let out = validate(&input, &Rules::default(), today());
        assert!(!out.is_valid);
        let fields: Vec<_> = out.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["invoiceId", "customerId", "amount", "dueDate"]);
        assert_eq!(out.invoice, input["invoice"]);
        // The bare invoice is accepted too.
        assert_eq!(validate(&input["invoice"], &Rules::default(), today()), out);
    }

    #[test]
    fn a_non_object_invoice_is_one_wrong_type_error() {
        for doc in [json!({"invoice": [1, 2]}), json!("INV-1"), json!({"invoice": null})] {
            let out = validate(&doc, &Rules::default(), today());
            assert!(!out.is_valid);
            let v = serde_json::to_value(&out).unwrap();
            assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{v}");
            assert_eq!(v["errors"][0]["field"], "invoice");
            assert_eq!(v["errors"][0]["code"], "wrong_type");
            assert_eq!(&out.invoice, unwrap_invoice(&doc));
        }
    }

    #[test]
    fn the_processing_date_comes_from_the_caller() {
        let input = json!({"invoice": {"invoiceId": "A", "customerId": "B", "amount": 1, "dueDate": "2026-11-25"}});
        assert!(validate(&input, &Rules::default(), today()).is_valid);
        let tomorrow = today().succ_opt().unwrap();
        let out = validate(&input, &Rules::default(), tomorrow);
        assert_eq!(out.errors[0].code, ErrorCode::NotInFuture);
    }

    #[test]
    fn errors_have_stable_names_for_the_state_machine() {
        let cases = [
            (TaskError::from(StoreError::Unavailable("x".into())), "StoreUnavailable", true),
            (TaskError::from(StoreError::Throttled("x".into())), "Throttled", true),
            (TaskError::from(StoreError::Permanent("x".into())), "StoreError", false),
            (TaskError::InvalidInput("x".into()), "InvalidInput", false),
        ];
        for (error, name, transient) in cases {
            assert_eq!(error.error_type(), name);
            assert_eq!(error.is_transient(), transient);
            assert_eq!(TaskError::TRANSIENT.contains(&name), transient);
            assert_eq!(TaskError::PERMANENT.contains(&name), !transient);
            let message = error.to_string();
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, name);
            assert_eq!(diagnostic.error_message, message);
            // What the Lambda service sends Step Functions.
            let wire = serde_json::to_value(&diagnostic).unwrap();
            assert_eq!(wire["errorType"], name);
        }
        assert_eq!(
            TaskError::from(StoreError::Unavailable("db locked".into())).to_string(),
            "store unavailable: db locked"
        );
    }

    #[test]
    fn config_comes_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let config = Config::from_lookup(vars(&[("TABLE_NAME", "invoices"), ("DEFAULT_CURRENCY", "eur")])).unwrap();
        assert_eq!(config.require_table_name(), Ok("invoices"));
        assert_eq!(config.rules.default_currency, Currency::parse("EUR").unwrap());
        let config = Config::from_lookup(vars(&[("MAX_AMOUNT", "500.5")])).unwrap();
        assert_eq!(config.require_table_name(), Err(ConfigError::Missing("TABLE_NAME")));
        assert_eq!(config.rules.max_amount.to_string(), "500.5");
        assert_eq!(config.rules.default_currency, Currency::USD);
        let err = Config::from_lookup(vars(&[("DEFAULT_CURRENCY", "dollars")])).unwrap_err();
        assert!(err.to_string().contains("DEFAULT_CURRENCY"), "{err}");
        assert!(Config::from_lookup(vars(&[("MAX_AMOUNT", "-1")])).is_err());
    }

    #[test]
    fn the_json_document_is_serdes() {
        let inputs = [
            r#"{"invoice": {"invoiceId": "INV-1", "customerId": "C", "amount": "10.00", "dueDate": "2030-01-01"}}"#,
            r#"{"invoice": {"invoiceId": "INV 1", "amount": -5, "dueDate": "2020-01-01"}}"#,
            r#"{"invoice": [1, 2]}"#,
        ];
        for text in inputs {
            let out = validate(&serde_json::from_str(text).unwrap(), &Rules::default(), today());
            let by_serde = serde_json::to_string(&out).unwrap();
            assert_eq!(serde_json::to_string(&out.into_json()).unwrap(), by_serde, "{text}");
        }
    }
}
