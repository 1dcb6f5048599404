//! `invoices states run`: runs an ASL definition on the embedded engine.

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct StatesArgs {
    #[command(subcommand)]
    command: StatesCommand,
}

#[derive(Subcommand)]
enum StatesCommand {
    /// Run one execution of a definition and print its output.
    Run {
        /// The state machine definition (JSON).
        definition: std::path::PathBuf,
    },
}

/// Runs the subcommand; returns the process exit status.
pub fn run(args: StatesArgs) -> u8 {
    match args.command {
        StatesCommand::Run { definition } => {
            eprintln!("invoices states run {}: the engine is not built yet", definition.display());
            2
        }
    }
}
