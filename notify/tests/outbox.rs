//! The local outbox against a real file: the shape of its lines, one line per
//! eventId on retry and across reopen, many concurrent writers, torn and
//! corrupt lines.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{every_event, input};
use notify::{compose, console_line, handle, EventType, NotifyInput, Outbox, OutboxError};
use serde_json::Value;

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

#[test]
fn a_line_holds_what_sns_would_receive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Outbox::open(&path).unwrap();
    let message = compose(&input(common::PROCESSED));
    let appended = outbox.append(&message).unwrap();
    assert!(appended.new);

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    let line: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<_> = line.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["eventId", "messageId", "topic", "eventType", "subject", "attributes", "default", "email", "sms"]
    );
    assert_eq!(line["eventId"], "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6:INVOICE_PROCESSED");
    assert_eq!(line["messageId"], appended.message_id.as_str());
    assert_eq!(line["topic"], "success");
    assert_eq!(line["subject"], message.subject.as_str());
    assert_eq!(line["email"], message.email.as_str());
    assert_eq!(line["sms"], message.sms.as_str());
    assert_eq!(line["default"], serde_json::to_value(&message.document).unwrap());
    // Attributes as plain JSON: the amount a number with its exact digits.
    assert!(text.contains(r#""amount":1500.10"#), "{text}");
    assert_eq!(line["attributes"]["customerId"], "CUST-123");
    assert_eq!(line["attributes"]["eventType"], "INVOICE_PROCESSED");
    assert_eq!(line["attributes"]["eventId"], line["eventId"]);
    // Written to the OS before append returned: another reader sees it without a sync.
    assert_eq!(lines(&path).len(), 1);
}

#[test]
fn a_line_is_serde_json_text_of_its_parts() {
    // The outbox writes its lines directly: byte for byte what serde_json
    // writes for the same parts, in the same order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Outbox::open(&path).unwrap();
    let mut expected = String::new();
    for (_, input) in common::every_sample() {
        let message = compose(&input);
        let appended = outbox.append(&message).unwrap();
        let line = serde_json::json!({
            "eventId": message.event_id, "messageId": appended.message_id, "topic": message.topic,
            "eventType": message.event_type, "subject": message.subject, "attributes": message.attributes_json(),
            "default": message.document, "email": message.email, "sms": message.sms,
        });
        expected.push_str(&serde_json::to_string(&line).unwrap());
        expected.push('\n');
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[tokio::test]
async fn a_retried_step_writes_its_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Outbox::open(&path).unwrap();
    let mut outputs = Vec::new();
    for (_, input) in every_event() {
        let first = handle(&input, &outbox).await.unwrap();
        let retry = handle(&input, &outbox).await.unwrap();
        assert_eq!(first, retry, "a retry answers the same");
        assert_eq!(first.event_id, input.event_id());
        assert_eq!(first.topic, input.event_type.topic());
        outputs.push(first);
    }
    assert_eq!(outbox.len(), 5);
    let written = lines(&path);
    assert_eq!(written.len(), 5);
    let ids: Vec<_> = written.iter().map(|l| l["messageId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, outputs.iter().map(|o| o.message_id.clone()).collect::<Vec<_>>());
    let topics: Vec<_> = written.iter().map(|l| l["topic"].as_str().unwrap().to_string()).collect();
    assert_eq!(topics, ["success", "error", "duplicate", "error", "error"]);
}

#[test]
fn events_are_held_once_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let processed = compose(&input(common::PROCESSED));
    let rejected = compose(&input(common::REJECTED));
    let first_id = {
        let outbox = Outbox::open(&path).unwrap();
        outbox.append(&processed).unwrap().message_id
    };
    let outbox = Outbox::open(&path).unwrap();
    assert_eq!(outbox.len(), 1);
    // Not read at open (memory would grow with the file) …
    assert!(!outbox.contains(&processed.event_id));
    // … but recalled by a writer that may repeat it (a resumed upload).
    assert_eq!(outbox.recall(|_| true).unwrap(), 1);
    assert!(outbox.contains(&processed.event_id));
    let again = outbox.append(&processed).unwrap();
    assert!(!again.new);
    assert_eq!(again.message_id, first_id);
    assert!(outbox.append(&rejected).unwrap().new);
    drop(outbox);
    assert_eq!(lines(&path).len(), 2);
}

#[test]
fn a_second_opener_is_refused_while_the_outbox_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let first = Outbox::open(&path).unwrap();
    let second = Outbox::open(&path).unwrap_err();
    assert!(matches!(second, OutboxError::Locked { .. }), "{second}");
    assert!(second.to_string().contains("outbox.jsonl"));
    drop(first);
    Outbox::open(&path).unwrap();
}

#[test]
fn a_line_torn_by_a_crash_is_cut_off_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    {
        let outbox = Outbox::open(&path).unwrap();
        outbox.append(&compose(&input(common::PROCESSED))).unwrap();
        outbox.append(&compose(&input(common::REJECTED))).unwrap();
    }
    let good = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"eventId":"INV-009:INVOICE_PROC"#);
    std::fs::write(&path, &bytes).unwrap();

    let outbox = Outbox::open(&path).unwrap();
    assert_eq!(outbox.len(), 2);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
    assert!(outbox.append(&compose(&input(common::FAILED))).unwrap().new);
    drop(outbox);
    assert_eq!(lines(&path).len(), 3);
}

#[test]
fn a_complete_last_line_without_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    std::fs::write(&path, "{\"eventId\":\"hand-written:INVOICE_FAILED\"}").unwrap();
    let outbox = Outbox::open(&path).unwrap();
    outbox.recall(|_| true).unwrap();
    assert!(outbox.contains("hand-written:INVOICE_FAILED"));
    outbox.append(&compose(&input(common::FAILED))).unwrap();
    drop(outbox);
    assert_eq!(lines(&path).len(), 2);
}

#[test]
fn a_corrupt_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    std::fs::write(&path, "{\"eventId\":\"a\"}\n\nnot json\n{\"eventId\":\"b\"}\n").unwrap();
    let outbox = Outbox::open(&path).unwrap();
    let err = outbox.recall(|_| true).unwrap_err();
    match &err {
        OutboxError::Corrupt { line, .. } => assert_eq!(*line, 3),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("outbox.jsonl, line 3"), "{err}");
    // Nothing was changed.
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
}

#[test]
fn recall_holds_only_the_chosen_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let processed = compose(&input(common::PROCESSED));
    let rejected = compose(&input(common::REJECTED));
    {
        let outbox = Outbox::open(&path).unwrap();
        outbox.append(&processed).unwrap();
        outbox.append(&rejected).unwrap();
    }
    let outbox = Outbox::open(&path).unwrap();
    let chosen = outbox.recall(|line| line.event_id == processed.event_id).unwrap();
    assert_eq!(chosen, 1);
    assert!(!outbox.append(&processed).unwrap().new);
    assert!(outbox.append(&rejected).unwrap().new, "not recalled: written again");
    // Lines carry the source, so a resumed upload can pick its own events.
    let mut sources = Vec::new();
    outbox
        .recall(|line| {
            sources.push(line.default.source.as_ref().map(|s| s.record));
            false
        })
        .unwrap();
    assert_eq!(sources, [Some(1), Some(2), Some(2)]);
}

#[test]
fn memory_is_bounded_the_oldest_events_of_this_process_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    const WINDOW: usize = 100;
    let outbox = Outbox::open_with_window(&path, WINDOW).unwrap();
    let template = input(common::PROCESSED);
    let first = compose(&NotifyInput { execution_name: "exec-0".into(), ..template.clone() });
    outbox.append(&first).unwrap();
    for i in 1..=WINDOW {
        let message = compose(&NotifyInput { execution_name: format!("exec-{i}"), ..template.clone() });
        assert!(outbox.append(&message).unwrap().new);
        if i == WINDOW - 1 {
            assert!(outbox.contains(&first.event_id), "held while among the last WINDOW");
            assert!(!outbox.append(&first).unwrap().new);
        }
    }
    assert!(!outbox.contains(&first.event_id), "forgotten after WINDOW newer events");
    assert_eq!(outbox.len(), WINDOW + 1);
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("outbox.jsonl");
    let err = Outbox::open(&path).unwrap_err();
    assert!(matches!(err, OutboxError::Io { .. }));
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Arc::new(Outbox::open(&path).unwrap());
    const TASKS: usize = 16;
    const PER_TASK: usize = 500;
    let template = input(common::PROCESSED);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let outbox = Arc::clone(&outbox);
        let template = template.clone();
        tasks.push(tokio::spawn(async move {
            // The events this task's appends reported as new (written by it).
            let mut news = Vec::new();
            for i in 0..PER_TASK {
                // Half the events are shared by two tasks: retried steps racing.
                let owner = if i % 2 == 0 { t } else { t / 2 * 2 };
                let input = NotifyInput { execution_name: format!("exec-{owner}-{i}"), ..template.clone() };
                let message = compose(&input);
                assert_eq!(message.event_id, format!("exec-{owner}-{i}:INVOICE_PROCESSED"));
                let appended = outbox.append(&message).unwrap();
                if appended.new {
                    news.push(message.event_id.clone());
                }
                // The step retried once more: same answer, nothing written.
                let again = handle(&input, &*outbox).await.unwrap();
                assert_eq!(again.message_id, appended.message_id);
            }
            (t, news)
        }));
    }
    let mut new_ids = HashSet::new();
    let mut total = 0;
    for task in tasks {
        let (t, news) = task.await.unwrap();
        // Its own events (even i) are new to it alone; of the ones it shares
        // with its pair (odd i), some may have been written by the other.
        let own = news.iter().filter(|id| id.starts_with(&format!("exec-{t}-"))).count();
        assert!(own >= PER_TASK / 2, "task {t}: {own} of its events were new");
        total += news.len();
        new_ids.extend(news);
    }
    let expected = TASKS * PER_TASK / 2 + TASKS / 2 * PER_TASK / 2;
    assert_eq!(total, expected, "each event reported new exactly once");
    assert_eq!(new_ids.len(), expected);
    assert_eq!(outbox.len(), expected);
    let written = lines(&path);
    assert_eq!(written.len(), expected);
    let ids: HashSet<_> = written.iter().map(|l| l["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), expected, "every eventId once");
    assert_eq!(ids, new_ids, "the lines are the events reported new");
    assert!(written.iter().all(|l| l["eventType"] == EventType::InvoiceProcessed.as_str()));
}

/// Many tasks of one thread publish the same events at once: the writer
/// groups their lines, a repeat of a queued event waits for that event's line,
/// and every caller is answered after the line is in the file.
#[tokio::test(flavor = "current_thread")]
async fn racing_repeats_wait_for_the_one_line_of_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Arc::new(Outbox::open(&path).unwrap());
    const EVENTS: usize = 300;
    const COPIES: usize = 4;
    let template = input(common::REJECTED);
    let mut tasks = tokio::task::JoinSet::new();
    // Each event's copies one after the other: the repeats are queued while
    // the first copy's line is still with the writer.
    for i in 0..EVENTS {
        for copy in 0..COPIES {
            let (outbox, path) = (outbox.clone(), path.clone());
            let input = NotifyInput { execution_name: format!("race-{i}"), ..template.clone() };
            tasks.spawn(async move {
                let message = compose(&input);
                let appended = outbox.append_async(&message).await.unwrap();
                // Answered only once the event's line is in the file.
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(text.contains(&format!("\"eventId\":\"{}\"", message.event_id)), "copy {copy}");
                (message.event_id, appended)
            });
        }
    }
    let mut new_per_event = std::collections::HashMap::<String, usize>::new();
    let mut ids = std::collections::HashMap::<String, String>::new();
    while let Some(done) = tasks.join_next().await {
        let (event_id, appended) = done.unwrap();
        *new_per_event.entry(event_id.clone()).or_default() += usize::from(appended.new);
        let id = ids.entry(event_id).or_insert_with(|| appended.message_id.clone());
        assert_eq!(*id, appended.message_id, "a repeat gets the same message id");
    }
    assert_eq!(new_per_event.len(), EVENTS);
    assert!(new_per_event.values().all(|&n| n == 1), "each event reported new once");
    assert_eq!(lines(&path).len(), EVENTS, "each event written once");
    assert_eq!(outbox.len(), EVENTS);
}

/// The task that took on writing is cancelled before it wrote: the lines
/// queued behind it are written all the same.
#[tokio::test(flavor = "current_thread")]
async fn a_cancelled_writer_strands_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let outbox = Arc::new(Outbox::open(&path).unwrap());
    let template = input(common::PROCESSED);
    let message = |i: usize| compose(&NotifyInput { execution_name: format!("cancel-{i}"), ..template.clone() });
    // The first caller takes the lead and yields; cancel it right there.
    let first = message(0);
    let mut lead = Box::pin(outbox.append_async(&first));
    assert!(futures_poll_once(lead.as_mut()).is_none(), "the lead yields before writing");
    // Another task queues its line behind the lead, then the lead is dropped.
    let follower = {
        let (outbox, second) = (outbox.clone(), message(1));
        tokio::spawn(async move { outbox.append_async(&second).await })
    };
    tokio::task::yield_now().await;
    drop(lead);
    let appended = tokio::time::timeout(std::time::Duration::from_secs(5), follower).await;
    assert!(appended.expect("the follower was answered").unwrap().unwrap().new);
    assert_eq!(lines(&path).len(), 2, "the cancelled caller's line and the follower's");
    // And the outbox still works.
    assert!(outbox.append_async(&message(2)).await.unwrap().new);
}

/// Polls a future once with a no-op waker.
fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    match f.poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[test]
fn the_console_line_is_one_line() {
    for (_, input) in every_event() {
        let line = console_line(&compose(&input));
        assert!(line.starts_with(&format!("[{}] ", input.event_type.topic())), "{line}");
        assert!(!line.contains('\n') && line.chars().count() <= 200, "{line}");
    }
    assert_eq!(
        console_line(&compose(&input(common::REJECTED))),
        "[error] Invoice INV-002 (CUST-9) rejected: amount must be greater than 0, got -5; +1 more."
    );
}

/// Run as a child process by the test below: appends until killed, printing
/// `ACK <eventId>` after each append returned.
fn write_until_killed(path: &str) -> ! {
    use std::io::Write;
    let outbox = Outbox::open(path).unwrap();
    let template = input(common::REJECTED);
    let mut stdout = std::io::stdout().lock();
    for i in 0.. {
        let input = NotifyInput { execution_name: format!("killed-{i}"), ..template.clone() };
        let message = compose(&input);
        outbox.append(&message).unwrap();
        writeln!(stdout, "ACK {}", message.event_id).unwrap();
        stdout.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn a_killed_writer_loses_nothing_it_acknowledged() {
    use std::io::BufRead;
    if let Ok(path) = std::env::var("NOTIFY_OUTBOX_CHILD") {
        write_until_killed(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.jsonl");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_killed_writer_loses_nothing_it_acknowledged", "--nocapture", "--test-threads=1"])
        .env("NOTIFY_OUTBOX_CHILD", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        if let Some(id) = line.unwrap().strip_prefix("ACK ") {
            acked.push(id.to_string());
            if acked.len() == 2000 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();
    assert_eq!(acked.len(), 2000, "the child stopped early");
    let outbox = Outbox::open(&path).unwrap();
    outbox.recall(|_| true).unwrap();
    for id in &acked {
        assert!(outbox.contains(id), "{id} was acknowledged but is not in the outbox");
    }
    assert!(outbox.len() >= acked.len());
}
