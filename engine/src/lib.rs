//! Runs Amazon States Language (ASL) definitions locally, as AWS Step Functions does.
//!
//! The engine knows nothing of invoices: tasks are dispatched to handlers
//! registered by resource ARN or function name.
