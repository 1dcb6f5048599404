//! The `Notifier` port: sends one composed [`Message`] to its topic.
//!
//! Adapters: [`crate::sns::SnsNotifier`] (Amazon SNS) and
//! [`crate::outbox::Outbox`] (a local JSON-lines file). A notifier is shared by
//! many concurrent tasks (`Send + Sync`, `&self`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::NotifyError;
use crate::message::Message;

/// The receipt of a sent notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The SNS MessageId, or the outbox's id for the event.
    pub message_id: String,
}

/// Sends composed notifications.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends `message` to `message.topic`. Delivery is at least once: sending
    /// the same event again is allowed (its `eventId` lets subscribers drop it).
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError>;
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for Arc<N> {
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        (**self).publish(message).await
    }
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for &N {
    async fn publish(&self, message: &Message) -> Result<Published, NotifyError> {
        (**self).publish(message).await
    }
}
