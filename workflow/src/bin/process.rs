//! The ProcessInvoice Lambda: `{"invoice", "idempotencyKey", "source"?}` →
//! `{status, invoiceNumber, processedAt, duplicateOf?}` over DynamoDB
//! ([`workflow::process::process_json`]). Errors carry the stable names of
//! [`workflow::tasks::TaskError`] as their `errorType`.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use workflow::store::dynamodb::DynamoStore;
use workflow::tasks::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = &DynamoStore::from_sdk_config(&sdk, config.require_table_name()?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        workflow::process::process_json(store, &event.payload, chrono::Utc::now()).await
    }))
    .await
}
