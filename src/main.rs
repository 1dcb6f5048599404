//! The `invoices` command-line tool: the local wiring of the invoice pipeline.
//!
//! # Layout
//!
//! - `run`: `invoices run`, the whole pipeline on this machine (see `pipeline`).
//! - `watch`: `invoices watch`, a drop folder (see `drop_folder`).
//! - `query`: `invoices query`, what the local store holds.
//! - `validate`: `invoices validate`, each invoice's verdict, nothing stored.
//! - `sample`: `invoices sample`, generated invoice files of any size.
//! - `states`: `invoices states run`, an ASL definition on the embedded engine.
//! - `pipeline`: the deployed state machine on the engine with the Lambdas' task code.
//! - `read_ahead`: the bounded queue from the file reader to the execution workers.
//! - `data_dir`: the local data directory (store, outbox, uploads, lock).
//! - `files`, `config`: which files a command reads; settings of the rules.
//! - `alloc`: the process's allocator (mimalloc, through its plain entry points).
//!
//! Every subcommand returns its exit status; errors reach the user as one
//! clear line on stderr.

mod alloc;
mod config;
mod data_dir;
mod drop_folder;
mod files;
mod pipeline;
mod query;
mod read_ahead;
mod run;
mod sample;
mod states;
mod validate;
mod watch;

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: alloc::MiMalloc = alloc::MiMalloc;

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
    /// Run the whole pipeline on files, as if they were uploaded to the bucket.
    Run(run::RunArgs),
    /// Watch a drop folder and run each new file once.
    Watch(watch::WatchArgs),
    /// Query the invoices the local pipeline stored.
    Query(query::QueryArgs),
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
        Command::Run(args) => run::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Query(args) => query::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Sample(args) => sample::run(args),
        Command::States(args) => states::run(args),
    };
    ExitCode::from(code)
}
