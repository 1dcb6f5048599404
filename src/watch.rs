//! `invoices watch DIR`: a drop folder. Each new file is processed once, as by
//! `invoices run`, when it has stopped changing; a restart picks up where the
//! last run stopped (an upload cut short is resumed, finished ones are not read
//! again). See [`crate::drop_folder`] for what counts as new and settled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;

use crate::drop_folder::DropFolder;
use crate::run::{run_file, PipelineArgs, Stop};

#[derive(Args)]
pub struct WatchArgs {
    /// The folder to watch (its files, not its subfolders).
    dir: PathBuf,
    /// How often the folder is looked at, in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    interval_ms: u64,
    /// How long a file must stay unchanged before it is read, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    settle_ms: u64,
    /// Process what is ready now, then exit (for cron jobs and scripts).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    common: PipelineArgs,
}

pub fn run(args: WatchArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("invoices watch: {e}");
            return 2;
        }
    };
    runtime.block_on(watch(args))
}

async fn watch(args: WatchArgs) -> u8 {
    if !args.dir.is_dir() {
        eprintln!("invoices watch: {} is not a directory", args.dir.display());
        return 2;
    }
    let (data, pipeline) = match args.common.open() {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("invoices watch: {e}");
            return 2;
        }
    };
    let pipeline = Arc::new(pipeline);
    let settle = Duration::from_millis(args.settle_ms);
    let mut folder = match DropFolder::open(&args.dir, &data.watch_state_path(), settle) {
        Ok(folder) => folder,
        Err(e) => {
            eprintln!("invoices watch: {e}");
            return 2;
        }
    };
    let stop = Stop::on_ctrl_c();
    if !args.common.json {
        eprintln!("watching {} (Ctrl-C to stop; data in {})", args.dir.display(), data.root().display());
    }
    let mut failed = false;
    loop {
        let ready = match folder.ready(SystemTime::now()) {
            Ok(ready) => ready,
            Err(e) => {
                eprintln!("invoices watch: {e}");
                return 2;
            }
        };
        for (path, format, print) in ready {
            if stop.requested() {
                break;
            }
            // An upload of this file that was cut short (a killed watch) is resumed.
            let key = std::fs::canonicalize(&path).map(|p| p.display().to_string()).unwrap_or_default();
            let resume = matches!(data.last_upload(&key), Ok(Some(u)) if u.status.cut_short());
            let summary = run_file(&pipeline, &data, &path, format, resume, &stop, &args.common).await;
            if summary.interrupted {
                break;
            }
            failed |= summary.failed > 0 || summary.file_error.is_some();
            if args.common.json {
                println!("{}", serde_json::to_string(&summary).expect("a summary serializes"));
            } else {
                println!(
                    "{}: {} processed, {} rejected, {} duplicate, {} failed, {} unreadable{}",
                    summary.file,
                    summary.processed,
                    summary.rejected,
                    summary.duplicate,
                    summary.failed,
                    summary.unreadable,
                    summary.file_error.as_ref().map(|e| format!(" (file error: {e})")).unwrap_or_default()
                );
            }
            if let Err(e) = folder.mark_processed(&path, print) {
                eprintln!("invoices watch: {e}");
                return 2;
            }
        }
        if let Err(e) = pipeline.sync() {
            eprintln!("invoices watch: {e}");
        }
        if stop.requested() {
            return 130;
        }
        if args.once {
            return u8::from(failed);
        }
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
}
