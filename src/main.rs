//! The `invoices` command-line tool: the local wiring of the invoice pipeline.
//!
//! # Layout
//!
//! - `validate`: `invoices validate`, each invoice's verdict, nothing stored.
//! - `sample`: `invoices sample`, generated invoice files of any size.
//! - `states`: `invoices states run`, an ASL definition on the embedded engine.
//! - `files`, `config`: which files a command reads; settings of the rules.
//!
//! Every subcommand returns its exit status; errors reach the user as one
//! clear line on stderr.

mod config;
mod files;
mod sample;
mod states;
mod validate;

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
    /// Check invoice files and print each invoice's verdict (nothing is stored).
    Validate(validate::ValidateArgs),
    /// Write a generated invoice file to standard output.
    Sample(sample::SampleArgs),
    /// Run Amazon States Language definitions on the embedded engine.
    States(states::StatesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Sample(args) => sample::run(args),
        Command::States(args) => states::run(args),
    };
    ExitCode::from(code)
}
