//! Task dispatch: the [`TaskHandler`] port that Task states call, its failure type (a
//! Lambda `errorType` and cause) and the [`TaskRegistry`] that finds the handler for a
//! resource: by full ARN, or by function name for Lambda resources and
//! `arn:aws:states:::lambda:invoke`'s `FunctionName`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::clock::Clock;

/// What a Task handler is told about the call. It borrows from the engine
/// (nothing is copied or reference-counted per call, which executions on
/// several threads would otherwise contend for): a handler takes what it needs
/// before its future outlives the call (e.g. `ctx.clock.clone()`).
#[derive(Clone, Copy)]
pub struct TaskContext<'a> {
    /// `$$.Execution.Name`.
    pub execution_name: &'a str,
    /// `$$.Execution.Id` (the execution ARN).
    pub execution_arn: &'a str,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: &'a str,
    /// The Task state's name.
    pub state_name: &'a str,
    /// The resource as written in the definition.
    pub resource: &'a str,
    /// The Lambda function named (ARN or name), for Lambda resources.
    pub function_name: Option<&'a str>,
    /// `$$.State.RetryCount`: 0 on the first attempt.
    pub retry_count: u32,
    /// The engine's clock (so a handler can wait on virtual time in tests).
    pub clock: &'a Arc<dyn Clock>,
}

/// A failed task: `error` is the Lambda `errorType` (what Retry/Catch match on),
/// `cause` the text AWS shows (for a Lambda, usually its error JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure { error: error.into(), cause: cause.into() }
    }

    /// The failure of a Lambda function as Step Functions reports it: the error is the
    /// `errorType`, the cause the function's error document
    /// (`{"errorMessage": ..., "errorType": ...}`).
    pub fn lambda(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        let error = error_type.into();
        let mut doc = serde_json::Map::new();
        doc.insert("errorMessage".into(), Value::String(message.into()));
        doc.insert("errorType".into(), Value::String(error.clone()));
        TaskFailure { cause: Value::Object(doc).to_string(), error }
    }
}

/// The code a Task state runs.
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Runs the task with its input (after InputPath/Parameters; for `lambda:invoke`,
    /// the `Payload`) and returns its result (for `lambda:invoke`, the payload that is
    /// wrapped in AWS's Invoke response).
    async fn invoke(&self, input: Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure>;

    /// [`TaskHandler::invoke`] on a borrowed input. The engine calls this when the
    /// state's Parameters only select parts of its input: those parts are lent to
    /// the task for the call and put back after it, not copied. The default copies
    /// the input for `invoke`; a handler that only reads its input implements this
    /// too, and saves the copy.
    async fn invoke_ref(&self, input: &Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        self.invoke(input.clone(), ctx).await
    }
}

struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> TaskHandler for FnHandler<F>
where
    F: Fn(Value, &TaskContext<'_>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send,
{
    async fn invoke(&self, input: Value, ctx: &TaskContext<'_>) -> Result<Value, TaskFailure> {
        (self.0)(input, ctx).await
    }
}

/// A handler from a closure returning a future:
/// `handler_fn(|input, ctx| async move { Ok(input) })`. The future may not
/// borrow `ctx`: take what it needs first (`let clock = ctx.clock.clone();`).
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn TaskHandler>
where
    F: Fn(Value, &TaskContext<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// Handlers by resource ARN or function name.
#[derive(Clone, Default)]
pub struct TaskRegistry {
    by_key: HashMap<String, Arc<dyn TaskHandler>>,
    /// Handlers registered by Lambda ARN, also found by their function name.
    by_arn_name: HashMap<String, Arc<dyn TaskHandler>>,
}

/// The function name (with qualifier, if any) in a Lambda ARN, partial ARN or name:
/// `arn:aws:lambda:us-east-1:123:function:f:prod` → `f:prod`, `123:function:f` → `f`.
pub(crate) fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.find("function:") {
        Some(i) => &name_or_arn[i + "function:".len()..],
        None => name_or_arn,
    }
}

impl TaskRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a handler under a key: a full resource ARN (any service), a Lambda
    /// function ARN, or a bare function name (optionally `name:qualifier`).
    pub fn register(&mut self, key: impl Into<String>, handler: Arc<dyn TaskHandler>) {
        let key = key.into();
        if key.contains("function:") {
            self.by_arn_name.insert(function_name(&key).to_owned(), handler.clone());
        }
        self.by_key.insert(key, handler);
    }

    /// Finds the handler for a Lambda function given by ARN or name: the exact text, the
    /// ARN without its qualifier, then `name:qualifier` and the bare name (registered as
    /// such, or as the name part of a registered ARN).
    pub fn lambda(&self, name_or_arn: &str) -> Option<&Arc<dyn TaskHandler>> {
        if let Some(h) = self.by_key.get(name_or_arn) {
            return Some(h);
        }
        let name = function_name(name_or_arn);
        let bare = name.split(':').next().unwrap_or(name);
        if name != bare {
            let unqualified = &name_or_arn[..name_or_arn.len() - (name.len() - bare.len())];
            if let Some(h) = self.by_key.get(unqualified) {
                return Some(h);
            }
        }
        [name, bare].iter().find_map(|k| self.by_key.get(*k).or_else(|| self.by_arn_name.get(*k)))
    }

    /// Finds the handler for a non-Lambda resource by its exact ARN.
    pub fn resource(&self, arn: &str) -> Option<&Arc<dyn TaskHandler>> {
        self.by_key.get(arn)
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_lookup_by_arn_name_and_qualifier() {
        let mut r = TaskRegistry::new();
        let h = handler_fn(|v, _| async move { Ok(v) });
        r.register("validate", h.clone());
        r.register("arn:aws:lambda:eu-west-1:1:function:process", h);
        assert!(r.lambda("arn:aws:lambda:us-east-1:123456789012:function:validate").is_some());
        assert!(r.lambda("arn:aws:lambda:us-east-1:123456789012:function:validate:prod").is_some());
        assert!(r.lambda("123456789012:function:validate").is_some());
        assert!(r.lambda("validate").is_some());
        assert!(r.lambda("arn:aws:lambda:eu-west-1:1:function:process").is_some());
        assert!(r.lambda("notify").is_none());
        assert!(r.lambda("arn:aws:lambda:eu-west-1:1:function:process:live").is_some());
        assert!(r.lambda("process").is_some(), "a handler registered by ARN is found by its function name");
        assert_eq!(function_name("arn:aws:lambda:r:a:function:f:q"), "f:q");
    }

    #[test]
    fn lambda_failure_carries_the_error_document() {
        let f = TaskFailure::lambda("StoreUnavailable", "db down");
        assert_eq!(f.error, "StoreUnavailable");
        assert_eq!(f.cause, r#"{"errorMessage":"db down","errorType":"StoreUnavailable"}"#);
    }
}
