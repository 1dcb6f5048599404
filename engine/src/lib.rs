//! Runs Amazon States Language (ASL) definitions locally, as AWS Step Functions does.
//!
//! The engine knows nothing of invoices: Task states are dispatched to handlers
//! registered by resource ARN or function name. It implements the JSONPath query
//! language of ASL (JSONata, Activities, `.sync`/callback integrations and Distributed
//! Map are refused when the definition is loaded) and is checked against 714 executions
//! recorded on AWS (`engine/conformance/`).
//!
//! ```no_run
//! use engine::{handler_fn, Engine, StateMachine, TaskFailure};
//! # async fn demo() {
//! let machine = StateMachine::from_json(r#"{"StartAt": "Hello", "States": {"Hello": {
//!     "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hello", "End": true}}}"#).unwrap();
//! let engine = Engine::builder()
//!     .handler("hello", handler_fn(|input, _ctx| async move { Ok::<_, TaskFailure>(input) }))
//!     .build();
//! let outcome = engine.execute(&machine, "run-1", serde_json::json!({"who": "world"})).await;
//! assert!(outcome.succeeded());
//! # }
//! ```
//!
//! # Layout
//!
//! - `engine`: [`StateMachine`] (load + check), [`Engine`] (run executions),
//!   [`ExecutionOutcome`].
//! - `definition`: the compiled model and the static checks ([`DefinitionError`]).
//! - `exec`: the interpreter (state lifecycle, I/O processing, Retry/Catch, Map, Parallel).
//! - `path`: JSONPath with Step Functions' (Jayway) semantics.
//! - `intrinsic`: `States.*` intrinsic functions.
//! - `template`: payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`).
//! - `choice`: Choice rules.
//! - `env`: the context object and variable scopes paths are evaluated against.
//! - `task`: the [`TaskHandler`] port and [`TaskRegistry`].
//! - `mock`: Step Functions Local's mock config ([`MockConfig`]).
//! - `clock`: [`Clock`], [`TokioClock`], [`ManualClock`].
//! - `history`: [`HistoryEvent`]s in GetExecutionHistory's shape.
//! - `timestamp`, `value`: ISO-8601 timestamps and JSON helpers with AWS's behaviour.

mod choice;
mod clock;
mod definition;
mod engine;
mod env;
mod exec;
mod history;
mod intrinsic;
mod mock;
mod path;
mod task;
mod template;
mod timestamp;
mod value;

pub use clock::{Clock, ManualClock, TokioClock};
pub use definition::{DefinitionError, Diagnostic};
pub use engine::{Engine, EngineBuilder, ExecutionOutcome, ExecutionRequest, ExecutionStatus, StateMachine};
pub use history::HistoryEvent;
pub use mock::{MockConfig, MockConfigError, MockResponse, MockedCase};
pub use task::{handler_fn, TaskContext, TaskFailure, TaskHandler, TaskRegistry};
pub use value::MAX_PAYLOAD_BYTES;
