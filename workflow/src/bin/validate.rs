//! The ValidateInvoice Lambda: `{"invoice": {...}, "source": {...}?}` →
//! `{isValid, errors, invoice}` ([`workflow::tasks::validate`]).

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use workflow::tasks::{self, Config, TaskError, ValidationOutput};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let rules = Config::from_env()?.rules;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let output = tasks::validate(&event.payload, &rules, chrono::Utc::now().date_naive());
        async move { Ok::<ValidationOutput, TaskError>(output) }
    }))
    .await
}
