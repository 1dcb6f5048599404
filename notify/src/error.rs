//! The errors of the Notify step, and their stable Lambda `errorType` names.
//!
//! Step Functions' `Retry`/`Catch` match a task's error by its `errorType`, so
//! every variant maps to one fixed name ([`NotifyError::error_type`]):
//!
//! | errorType             | kind      | when                                                        |
//! |-----------------------|-----------|-------------------------------------------------------------|
//! | `Throttled`           | transient | SNS kept answering `Throttling` after the SDK's retries     |
//! | `NotifierUnavailable` | transient | SNS (or the local outbox file) could not be reached/written |
//! | `InvalidInput`        | permanent | the task input is not a Notify document                     |
//! | `PublishRejected`     | permanent | SNS refused the message (no such topic, not authorized, …)  |
//!
//! The state machine retries the transient ones; a permanent one is a
//! configuration or programming error that a retry cannot fix.

/// Why a notification was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The task input is not a Notify document (unknown event type, no
    /// execution name, a field of the wrong shape). Permanent.
    #[error("invalid Notify input: {0}")]
    InvalidInput(String),
    /// The service kept throttling after the client's bounded retries. Transient.
    #[error("notifications are throttled: {0}")]
    Throttled(String),
    /// The service could not be reached or failed on its side (timeouts,
    /// connection errors, HTTP 5xx), or the outbox file could not be written.
    /// Transient.
    #[error("the notifier is unavailable: {0}")]
    NotifierUnavailable(String),
    /// The service refused the message: no such topic, not authorized, an
    /// invalid parameter. Permanent.
    #[error("the notification was rejected ({code}): {message}")]
    PublishRejected { code: String, message: String },
}

impl NotifyError {
    /// Every `errorType` this crate produces, for the state machine's Retry/Catch.
    pub const ERROR_TYPES: [&'static str; 4] = ["InvalidInput", "Throttled", "NotifierUnavailable", "PublishRejected"];

    /// The stable Lambda `errorType` name.
    pub fn error_type(&self) -> &'static str {
        match self {
            NotifyError::InvalidInput(_) => "InvalidInput",
            NotifyError::Throttled(_) => "Throttled",
            NotifyError::NotifierUnavailable(_) => "NotifierUnavailable",
            NotifyError::PublishRejected { .. } => "PublishRejected",
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, NotifyError::Throttled(_) | NotifyError::NotifierUnavailable(_))
    }
}

/// What a Lambda function reports to Step Functions: `errorType` is the stable
/// name, `errorMessage` the error's text.
impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(error: NotifyError) -> Self {
        lambda_runtime::Diagnostic { error_type: error.error_type().to_string(), error_message: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_stable_names() {
        let all = [
            NotifyError::InvalidInput("x".into()),
            NotifyError::Throttled("x".into()),
            NotifyError::NotifierUnavailable("x".into()),
            NotifyError::PublishRejected { code: "NotFound".into(), message: "Topic does not exist".into() },
        ];
        let names: Vec<_> = all.iter().map(NotifyError::error_type).collect();
        assert_eq!(names, NotifyError::ERROR_TYPES);
        assert_eq!(all.iter().filter(|e| e.is_transient()).count(), 2);
        assert!(all[1].is_transient() && all[2].is_transient());
    }

    #[test]
    fn lambda_diagnostics_carry_the_error_type() {
        let d = lambda_runtime::Diagnostic::from(NotifyError::PublishRejected {
            code: "AuthorizationError".into(),
            message: "not allowed".into(),
        });
        assert_eq!(d.error_type, "PublishRejected");
        assert_eq!(d.error_message, "the notification was rejected (AuthorizationError): not allowed");
        let json =
            serde_json::to_value(lambda_runtime::Diagnostic::from(NotifyError::Throttled("slow down".into()))).unwrap();
        assert_eq!(json["errorType"], "Throttled");
    }
}
