//! End-to-end tests of the `invoices` binary, and of the deployed state machine on its engine, one module per topic.

mod conformance;
mod pipeline;
mod state_machine;
mod validate;
