//! The `invoices` command-line tool: the local wiring of the invoice pipeline.
//!
//! # Layout
//!
//! - `states`: `invoices states run`, an ASL definition on the embedded engine.
//!
//! Every subcommand returns its exit status; errors reach the user as one
//! clear line on stderr.

mod states;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "invoices",
    version,
    about = "Invoice automation: validate, process and query invoices locally or on AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run Amazon States Language definitions on the embedded engine.
    States(states::StatesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::States(args) => states::run(args),
    };
    ExitCode::from(code)
}
