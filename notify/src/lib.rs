//! Invoice notifications: the Notify step of the workflow.
//!
//! A [`NotifyInput`] (built by the state machine, or by ingest for a file it
//! cannot read) is composed into a [`Message`]: a subject, message attributes
//! for filter policies, and the three bodies of SNS's `MessageStructure=json`
//! — `default` (the JSON event [`Document`]), `email` (a text a person can act
//! on) and `sms` (one short line). A [`Notifier`] sends it: [`SnsNotifier`] on
//! AWS, [`Outbox`] locally. [`handle`] is the step itself, called by the Lambda
//! binary `notify` and by the local pipeline alike, answering
//! `{messageId, topic, eventId}`.
//!
//! Every event carries a deterministic `eventId` (`<executionName>:<eventType>`)
//! in its document and as an attribute: delivery is at least once, so a
//! subscriber (and the outbox) can drop a repeat.
//!
//! Errors are [`NotifyError`]s with stable Lambda `errorType` names
//! (`Throttled`, `NotifierUnavailable`: transient; `InvalidInput`,
//! `PublishRejected`: permanent).
//!
//! # Layout
//!
//! - [`event`]: the task's input and output, event types, topics, event ids.
//! - [`view`]: a tolerant reading of a (possibly invalid) invoice.
//! - [`message`]: the composed message, its attributes and JSON document.
//! - [`compose`](mod@compose): subject, e-mail and SMS texts, attributes, document.
//! - [`text`]: one-line cleaning and cutting on `char` boundaries.
//! - [`error`]: [`NotifyError`] and its `errorType` names.
//! - [`notifier`]: the [`Notifier`] port.
//! - [`handler`]: [`handle`] / [`handle_json`], the step's logic.
//! - [`sns`]: the Amazon SNS adapter.
//! - [`outbox`]: the local JSON-lines adapter and the console rendering.
//! - [`logging`]: the Lambda function's log subscriber (no raw events, ever).
//! - `src/bin/notify.rs`: the Lambda function.

pub mod compose;
pub mod error;
pub mod event;
pub mod handler;
mod json;
pub mod logging;
pub mod message;
pub mod notifier;
pub mod outbox;
pub mod sns;
pub mod text;
pub mod view;

pub use compose::compose;
pub use error::NotifyError;
pub use event::{event_id, DuplicateOf, EventType, Failure, FileInfo, NotifyInput, NotifyOutput, Processing, Topic};
pub use handler::{handle, handle_json};
pub use message::{Attribute, AttributeValue, Document, FailureDoc, Message, MAX_SMS, MAX_SUBJECT};
pub use notifier::{Notifier, Published};
pub use outbox::{console_line, Appended, Outbox, OutboxError};
pub use sns::{MissingTopic, SnsNotifier, TopicArns};
