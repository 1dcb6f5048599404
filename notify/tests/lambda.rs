//! The `notify` Lambda binary, run as a process against a local Lambda
//! Runtime API (a small HTTP server here) and the AWS emulator: a good input
//! answers `{messageId, topic, eventId}`; failures reach the runtime as the
//! stable `errorType` names Step Functions' Retry/Catch match on; and however
//! much it is asked to log, no customer e-mail address reaches its output.

mod common;

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the function posted for one invocation.
#[derive(Debug)]
struct Outcome {
    request_id: String,
    /// `response` or `error`.
    kind: String,
    body: Value,
}

/// A Lambda Runtime API handing out `events` one by one, then holding the
/// next poll open.
async fn runtime_api(events: Vec<Value>) -> (String, mpsc::UnboundedReceiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let queue = Arc::new(Mutex::new(events.into_iter().enumerate().collect::<VecDeque<_>>()));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let queue = Arc::clone(&queue);
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve(stream, &queue, &tx).await;
            });
        }
    });
    (address, rx)
}

type Queue = Mutex<VecDeque<(usize, Value)>>;

async fn serve(mut stream: TcpStream, queue: &Queue, tx: &mpsc::UnboundedSender<Outcome>) -> std::io::Result<()> {
    let Some((head, request_body)) = common::read_request(&mut stream).await? else { return Ok(()) };
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    if path.ends_with("/invocation/next") {
        let next = queue.lock().unwrap().pop_front();
        let Some((i, event)) = next else {
            // No more events: hold the poll until the test ends.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        };
        let body = event.to_string();
        let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 60_000;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-{i}\r\n\
             Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
             Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:notify\r\n\
             Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    } else {
        // /2018-06-01/runtime/invocation/{id}/response | /error, or /runtime/init/error
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (request_id, kind) = match parts.as_slice() {
            [_, "runtime", "invocation", id, kind] => (id.to_string(), kind.to_string()),
            _ => ("-".to_string(), path.clone()),
        };
        let body = serde_json::from_slice(&request_body).unwrap_or(Value::Null);
        let _ = tx.send(Outcome { request_id, kind, body });
        stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").await?;
    }
    stream.shutdown().await
}

/// The `notify` binary with the Lambda environment (its output not captured).
fn function(runtime_api: &str, endpoint: &str, topics: [&str; 3]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_notify"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "notify")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/notify")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SUCCESS_TOPIC_ARN", topics[0])
        .env("ERROR_TOPIC_ARN", topics[1])
        .env("DUPLICATE_TOPIC_ARN", topics[2])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs the function on `events` until it has answered them all (or a minute
/// passed): its answers in request order, and all it wrote to stdout and
/// stderr (Lambda's log stream; logs go to stdout).
async fn invoke(mut command: Command, events: Vec<Value>) -> (Vec<Outcome>, String) {
    let expected = events.len();
    let (api, mut outcomes) = runtime_api(events).await;
    // A file, not a pipe: a chatty function never blocks on a full pipe.
    let log = tempfile::tempfile().unwrap();
    let mut child = command
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log.try_clone().unwrap()))
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(60), outcomes.recv()).await {
            Ok(Some(outcome)) => got.push(outcome),
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut output = String::new();
    let mut log = log;
    log.seek(SeekFrom::Start(0)).unwrap();
    log.read_to_string(&mut output).unwrap();
    got.sort_by_key(|o| o.request_id.trim_start_matches("req-").parse::<usize>().unwrap_or(usize::MAX));
    (got, output)
}

#[tokio::test]
async fn the_function_answers_outputs_and_named_errors() {
    let Some(moto) = testkit::moto() else { return };
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let success = sns.create_topic().name(testkit::unique_name("lambda-success")).send().await.unwrap();
    let success = success.topic_arn.unwrap();
    let duplicate = sns.create_topic().name(testkit::unique_name("lambda-dup")).send().await.unwrap();
    let duplicate = duplicate.topic_arn.unwrap();
    // The error topic is configured but does not exist: SNS answers NotFound.
    let missing_error_topic = format!("{success}-missing");

    let events = vec![
        serde_json::from_str::<Value>(common::PROCESSED).unwrap(),
        serde_json::json!({"eventType": "INVOICE_LOST", "executionName": "x"}),
        serde_json::from_str::<Value>(common::REJECTED).unwrap(),
        serde_json::from_str::<Value>(common::DUPLICATE).unwrap(),
    ];
    let command = function("-", &moto.endpoint, [&success, &missing_error_topic, &duplicate]);
    let (got, output) = invoke(command, events).await;
    assert_eq!(got.len(), 4, "outcomes: {got:#?}\noutput: {output}");

    assert_eq!((got[0].request_id.as_str(), got[0].kind.as_str()), ("req-0", "response"));
    assert_eq!(got[0].body["topic"], "success");
    assert_eq!(got[0].body["eventId"], "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6:INVOICE_PROCESSED");
    assert!(!got[0].body["messageId"].as_str().unwrap().is_empty());

    assert_eq!(got[1].kind, "error");
    assert_eq!(got[1].body["errorType"], "InvalidInput", "{:?}", got[1].body);
    assert!(got[1].body["errorMessage"].as_str().unwrap().contains("INVOICE_LOST"));

    assert_eq!(got[2].kind, "error");
    assert_eq!(got[2].body["errorType"], "PublishRejected", "{:?}", got[2].body);
    assert!(got[2].body["errorMessage"].as_str().unwrap().contains("NotFound"));

    assert_eq!(got[3].kind, "response");
    assert_eq!(got[3].body["topic"], "duplicate");

    for address in ["customer@example.com", "ap@acme.example"] {
        assert!(!output.contains(address), "{address} in the function's logs");
    }
}

#[tokio::test]
async fn no_address_reaches_the_logs_even_at_trace() {
    let Some(moto) = testkit::moto() else { return };
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let mut topics = Vec::new();
    for name in ["trace-success", "trace-error", "trace-dup"] {
        topics.push(sns.create_topic().name(testkit::unique_name(name)).send().await.unwrap().topic_arn.unwrap());
    }
    let events: Vec<Value> = [common::PROCESSED, common::REJECTED, common::DUPLICATE, common::REJECTED_INVALID_EMAIL]
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    // Asked for everything: the level, and RUST_LOG naming the runtime's raw-event target.
    let mut command = function("-", &moto.endpoint, [&topics[0], &topics[1], &topics[2]]);
    command
        .env("AWS_LAMBDA_LOG_LEVEL", "trace")
        .env("RUST_LOG", "trace,lambda_runtime=trace,lambda_runtime::layers::api_response=trace");
    let (got, output) = invoke(command, events).await;
    assert_eq!(got.len(), 4, "outcomes: {got:#?}\noutput: {output}");
    assert!(got.iter().all(|o| o.kind == "response"), "{got:#?}");

    // The logs were written at TRACE (the SDK's), and the handler's DEBUG line is there.
    assert!(output.contains("TRACE"), "no TRACE line in the output:\n{output}");
    assert!(output.contains("notification published"), "{output}");
    for address in ["customer@example.com", "ap@acme.example", common::INVALID_ADDRESS] {
        assert!(!output.contains(address), "{address} in the function's output:\n{output}");
    }
    assert!(!output.contains("raw JSON event"), "{output}");
}

#[test]
fn a_missing_topic_variable_stops_the_function_with_its_name() {
    let output = function("127.0.0.1:9", "http://127.0.0.1:9", ["arn:s", "arn:e", "arn:d"])
        .env_remove("DUPLICATE_TOPIC_ARN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DUPLICATE_TOPIC_ARN"), "{stderr}");
}
