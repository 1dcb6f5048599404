//! The SNS adapter of the [`Notifier`] port: publishes a [`Message`] to one of
//! three topics with `MessageStructure=json` and its message attributes.
//!
//! Responsibilities: topic ARNs from configuration ([`TopicArns`]); the
//! client's bounded retries on throttling and transient errors (the SDK's
//! standard retry mode, [`SnsNotifier::retry_config`]); mapping SDK errors to
//! [`NotifyError`]s once retries are spent; logging without customer data
//! (event id, type, topic, message id; service messages with any e-mail
//! address redacted).

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use crate::error::NotifyError;
use crate::event::Topic;
use crate::message::Message;
use crate::notifier::{Notifier, Published};
use crate::text::redact_emails;

/// The ARNs of the three topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArns {
    pub success: String,
    pub error: String,
    pub duplicate: String,
}

/// A topic ARN missing from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set (the ARN of an SNS topic)")]
pub struct MissingTopic(pub &'static str);

impl TopicArns {
    /// The environment variables holding the ARNs (success, error, duplicate).
    pub const ENV: [&'static str; 3] = ["SUCCESS_TOPIC_ARN", "ERROR_TOPIC_ARN", "DUPLICATE_TOPIC_ARN"];

    /// Reads `SUCCESS_TOPIC_ARN`, `ERROR_TOPIC_ARN` and `DUPLICATE_TOPIC_ARN`.
    pub fn from_env() -> Result<TopicArns, MissingTopic> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the three ARNs through `lookup` (a blank value counts as missing).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<TopicArns, MissingTopic> {
        let get = |name: &'static str| {
            lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or(MissingTopic(name))
        };
        let [success, error, duplicate] = Self::ENV;
        Ok(TopicArns { success: get(success)?, error: get(error)?, duplicate: get(duplicate)? })
    }

    /// The ARN of a topic.
    pub fn arn(&self, topic: Topic) -> &str {
        match topic {
            Topic::Success => &self.success,
            Topic::Error => &self.error,
            Topic::Duplicate => &self.duplicate,
        }
    }
}

/// Publishes to Amazon SNS.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topics: TopicArns,
}

impl SnsNotifier {
    /// Attempts per publish (the first and up to four retries).
    pub const MAX_ATTEMPTS: u32 = 5;

    /// A notifier with a client of its own built from `config` (region,
    /// credentials, `AWS_ENDPOINT_URL`), with [`SnsNotifier::retry_config`] and
    /// bounded timeouts.
    pub fn from_sdk_config(config: &SdkConfig, topics: TopicArns) -> SnsNotifier {
        Self::with_retry(config, topics, Self::retry_config())
    }

    /// Like [`SnsNotifier::from_sdk_config`], with another retry policy (tests
    /// use short backoffs).
    pub fn with_retry(config: &SdkConfig, topics: TopicArns, retry: RetryConfig) -> SnsNotifier {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(40))
            .build();
        let conf = aws_sdk_sns::config::Builder::from(config).retry_config(retry).timeout_config(timeouts).build();
        SnsNotifier { client: Client::from_conf(conf), topics }
    }

    /// A notifier over a client configured by the caller.
    pub fn new(client: Client, topics: TopicArns) -> SnsNotifier {
        SnsNotifier { client, topics }
    }

    /// The default retry policy: the SDK's standard mode (exponential backoff
    /// with jitter from 200 ms, at most 5 s between attempts), with
    /// [`SnsNotifier::MAX_ATTEMPTS`] attempts. It retries throttling
    /// (`Throttling`), timeouts, connection errors and HTTP 5xx.
    pub fn retry_config() -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(Self::MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(5))
    }

    /// The topic ARNs.
    pub fn topics(&self) -> &TopicArns {
        &self.topics
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(self.topics.arn(message.topic))
            .message_structure("json")
            .subject(&message.subject)
            .message(message.sns_message());
        for attribute in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type(attribute.value.data_type())
                .string_value(attribute.value.text())
                .build()
                .map_err(|e| NotifyError::InvalidInput(format!("message attribute {}: {e}", attribute.name)))?;
            request = request.message_attributes(attribute.name, value);
        }
        match request.send().await {
            Ok(output) => Ok(Published { message_id: output.message_id.unwrap_or_default() }),
            Err(error) => {
                let error = map_error(error);
                tracing::warn!(
                    event_id = %message.event_id,
                    topic = %message.topic,
                    error_type = error.error_type(),
                    error = %error,
                    "publish failed"
                );
                Err(error)
            }
        }
    }
}

/// Codes SNS (or its KMS key) uses for throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "KMSThrottling",
    "KMSThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Codes of failures on the service's side.
const UNAVAILABLE: &[&str] =
    &["InternalError", "InternalFailure", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException"];

/// Maps an SDK error (after the client's retries) to a named error.
fn map_error(error: SdkError<PublishError, HttpResponse>) -> NotifyError {
    match &error {
        SdkError::ServiceError(context) => {
            let e = context.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = redact_emails(e.message().unwrap_or("")).into_owned();
            let server_side = context.raw().status().is_server_error();
            if THROTTLING.contains(&code.as_str()) {
                NotifyError::Throttled(format!("{code}: {message}"))
            } else if UNAVAILABLE.contains(&code.as_str()) || server_side {
                NotifyError::NotifierUnavailable(format!("{code}: {message}"))
            } else {
                NotifyError::PublishRejected { code, message }
            }
        }
        SdkError::TimeoutError(_) => NotifyError::NotifierUnavailable("timed out".into()),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            NotifyError::NotifierUnavailable(redact_emails(&error_chain(&error)).into_owned())
        }
        // The request could not be built: a bug or a bad configuration, which retrying cannot fix.
        _ => NotifyError::PublishRejected {
            code: "RequestNotBuilt".into(),
            message: redact_emails(&error_chain(&error)).into_owned(),
        },
    }
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arns_come_from_three_variables() {
        let env = |name: &str| match name {
            "SUCCESS_TOPIC_ARN" => Some("arn:s".to_string()),
            "ERROR_TOPIC_ARN" => Some("arn:e".to_string()),
            "DUPLICATE_TOPIC_ARN" => Some(" arn:d ".to_string()),
            _ => None,
        };
        let arns = TopicArns::from_lookup(env).unwrap();
        assert_eq!(
            (arns.arn(Topic::Success), arns.arn(Topic::Error), arns.arn(Topic::Duplicate)),
            ("arn:s", "arn:e", "arn:d")
        );
        let missing = TopicArns::from_lookup(|name| (name != "ERROR_TOPIC_ARN").then(|| "x".to_string()));
        assert_eq!(
            missing.unwrap_err().to_string(),
            "environment variable ERROR_TOPIC_ARN is not set (the ARN of an SNS topic)"
        );
        assert!(TopicArns::from_lookup(|_| Some("  ".into())).is_err());
    }
}
