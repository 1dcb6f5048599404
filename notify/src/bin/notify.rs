//! The Notify Lambda function: composes a notification and publishes it to SNS.
//! Configuration: SUCCESS_TOPIC_ARN, ERROR_TOPIC_ARN, DUPLICATE_TOPIC_ARN (and
//! the SDK's standard variables, e.g. AWS_ENDPOINT_URL).

use lambda_runtime::{service_fn, LambdaEvent};
use notify::{handle_json, SnsNotifier, TopicArns};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Not lambda_runtime's default subscriber: at TRACE it logs each raw event,
    // which holds the customer's e-mail address.
    notify::logging::init();
    let topics = TopicArns::from_env()?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let notifier = SnsNotifier::from_sdk_config(&config, topics);
    let notifier = &notifier;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<Value>| async move { handle_json(&event.payload, notifier).await },
    ))
    .await
}
