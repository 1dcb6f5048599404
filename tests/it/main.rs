//! End-to-end tests of the `invoices` binary, one module per topic.

mod conformance;
mod pipeline;
mod state_machine;
mod validate;
