//! The Notify step's logic, shared by the Lambda function and the local
//! pipeline: read the input, compose the message, publish it, answer
//! `{messageId, topic, eventId}`.

use serde_json::Value;

use crate::compose::{compose, compose_with_invoice};
use crate::error::NotifyError;
use crate::event::{NotifyInput, NotifyOutput};
use crate::message::Message;
use crate::notifier::Notifier;

/// Composes and publishes the notification of `input`.
pub async fn handle<N: Notifier + ?Sized>(input: &NotifyInput, notifier: &N) -> Result<NotifyOutput, NotifyError> {
    input.check()?;
    publish(compose(input), notifier).await
}

/// [`handle`] for a raw JSON task input (what a Lambda function receives):
/// a document that is not a Notify input is [`NotifyError::InvalidInput`].
/// The input is only read (its invoice is not copied).
pub async fn handle_json<N: Notifier + ?Sized>(input: &Value, notifier: &N) -> Result<NotifyOutput, NotifyError> {
    // `from_json_ref` checks the input: `handle` would check it again.
    let (input, invoice) = NotifyInput::from_json_ref(input)?;
    publish(compose_with_invoice(&input, invoice), notifier).await
}

/// [`handle`] of a checked input.
async fn publish<N: Notifier + ?Sized>(message: Message, notifier: &N) -> Result<NotifyOutput, NotifyError> {
    let published = notifier.publish(&message).await?;
    tracing::debug!(
        event_id = %message.event_id,
        event_type = %message.event_type,
        topic = %message.topic,
        message_id = %published.message_id,
        "notification published"
    );
    Ok(NotifyOutput { message_id: published.message_id, topic: message.topic, event_id: message.event_id })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::message::Message;
    use crate::notifier::Published;

    /// Records what it is given; fails with `fail` when set.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<Message>>,
        fail: Option<NotifyError>,
    }

    #[async_trait]
    impl Notifier for Recorder {
        async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(message.clone());
            Ok(Published { message_id: format!("m-{}", sent.len()) })
        }
    }

    fn rejected() -> serde_json::Value {
        json!({"eventType": "INVOICE_REJECTED", "executionName": "INV-9-abc",
               "invoice": {"invoiceId": "INV-9", "customerId": "C-1"},
               "errors": [{"field": "amount", "code": "missing", "message": "amount is required"}]})
    }

    #[tokio::test]
    async fn publishes_the_composed_message_and_answers_its_id() {
        let recorder = Recorder::default();
        let out = handle_json(&rejected(), &recorder).await.unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"messageId": "m-1", "topic": "error", "eventId": "INV-9-abc:INVOICE_REJECTED"})
        );
        let sent = recorder.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].subject, "Invoice INV-9 rejected: 1 problem to fix");
    }

    #[tokio::test]
    async fn invalid_input_publishes_nothing() {
        let recorder = Recorder::default();
        let err = handle_json(&json!({"eventType": "INVOICE_REJECTED", "executionName": ""}), &recorder).await;
        assert_eq!(err.unwrap_err().error_type(), "InvalidInput");
        let err = handle_json(&json!({"executionName": "x"}), &recorder).await.unwrap_err();
        assert!(err.to_string().contains("eventType"), "{err}");
        assert!(recorder.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn notifier_errors_keep_their_names() {
        for fail in [NotifyError::Throttled("slow".into()), NotifyError::NotifierUnavailable("down".into())] {
            let recorder = Recorder { fail: Some(fail.clone()), ..Recorder::default() };
            assert_eq!(handle_json(&rejected(), &recorder).await.unwrap_err(), fail);
        }
    }
}
