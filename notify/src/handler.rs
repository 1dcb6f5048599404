//! The Notify step's logic, shared by the Lambda function and the local
//! pipeline: read the input, compose the message, publish it, answer
//! `{messageId, topic, eventId}`.

use serde_json::Value;

use crate::compose::compose;
use crate::error::NotifyError;
use crate::event::{NotifyInput, NotifyOutput};
use crate::notifier::Notifier;

/// Composes and publishes the notification of `input`.
pub async fn handle<N: Notifier + ?Sized>(input: &NotifyInput, notifier: &N) -> Result<NotifyOutput, NotifyError> {
    input.check()?;
    let message = compose(input);
    let published = notifier.publish(&message).await?;
    tracing::info!(
        event_id = %message.event_id,
        event_type = %message.event_type,
        topic = %message.topic,
        message_id = %published.message_id,
        "notification published"
    );
    Ok(NotifyOutput { message_id: published.message_id, topic: message.topic, event_id: message.event_id })
}

/// [`handle`] for a raw JSON task input (what a Lambda function receives):
/// a document that is not a Notify input is [`NotifyError::InvalidInput`].
pub async fn handle_json<N: Notifier + ?Sized>(input: Value, notifier: &N) -> Result<NotifyOutput, NotifyError> {
    let input = NotifyInput::from_json(input)?;
    handle(&input, notifier).await
}
