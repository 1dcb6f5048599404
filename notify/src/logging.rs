//! The Lambda function's log subscriber: `lambda_runtime`'s default one, with
//! the runtime's TRACE events always off.
//!
//! At TRACE, `lambda_runtime` logs every invocation's raw event body
//! (`lambda_runtime::layers::api_response`, "raw JSON event received from
//! Lambda"), and a Notify event carries the invoice with its
//! `customerEmail`. Customer e-mail addresses must never reach the logs, so
//! whatever `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` ask for, no TRACE event of a
//! `lambda_runtime` target is logged (its other TRACE events only say that
//! an event arrived or is awaited). Everything else is as
//! [`lambda_runtime::tracing::init_default_subscriber`] sets it up: the level
//! from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO; `RUST_LOG`'s
//! directives; JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`; standard output.

use std::str::FromStr;

use lambda_runtime::tracing::subscriber::filter::{filter_fn, EnvFilter, LevelFilter};
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;
use lambda_runtime::tracing::subscriber::layer::SubscriberExt;
use lambda_runtime::tracing::subscriber::util::SubscriberInitExt;
use tracing::{Level, Metadata};

/// Installs the subscriber, writing to standard output (Lambda's log stream).
/// Panics if a global subscriber is already set.
pub fn init() {
    init_with_writer(std::io::stdout);
}

/// [`init`], writing to `writer`.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let var = |name| std::env::var(name).ok();
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|l| LevelFilter::from_str(&l).ok())
        .unwrap_or(LevelFilter::INFO);
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let fmt = lambda_runtime::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(EnvFilter::builder().with_default_directive(level.into()).from_env_lossy())
        .with_writer(writer);
    // A global filter over the whole subscriber: no directive can turn it off.
    let never_raw_events = filter_fn(allowed);
    if json {
        fmt.json().finish().with(never_raw_events).init();
    } else {
        fmt.finish().with(never_raw_events).init();
    }
}

/// Whether an event or span may be logged: anything but a TRACE one of a
/// `lambda_runtime` target (`lambda_runtime`, `lambda_runtime_api_client`).
pub fn allowed(metadata: &Metadata<'_>) -> bool {
    !(*metadata.level() == Level::TRACE && metadata.target().starts_with("lambda_runtime"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::callsite::{Callsite, Identifier};
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;
    use tracing::subscriber::Interest;

    struct Site;
    impl Callsite for Site {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn metadata(target: &'static str, level: Level) -> Metadata<'static> {
        let fields = FieldSet::new(&["message"], Identifier(&SITE));
        Metadata::new("event", target, level, None, None, None, fields, Kind::EVENT)
    }

    #[test]
    fn the_runtime_never_logs_at_trace() {
        assert!(!allowed(&metadata("lambda_runtime::layers::api_response", Level::TRACE)));
        assert!(!allowed(&metadata("lambda_runtime::runtime", Level::TRACE)));
        assert!(!allowed(&metadata("lambda_runtime_api_client", Level::TRACE)));
        assert!(allowed(&metadata("lambda_runtime::layers::api_response", Level::ERROR)));
        assert!(allowed(&metadata("lambda_runtime::runtime", Level::DEBUG)));
        assert!(allowed(&metadata("notify::handler", Level::TRACE)));
        assert!(allowed(&metadata("aws_smithy_runtime", Level::TRACE)));
    }
}
