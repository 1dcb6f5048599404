//! A DynamoDB endpoint double on 127.0.0.1 for the tests of the DynamoDB
//! adapter: an HTTP server on a thread per connection that answers chosen
//! requests itself (throttling, 5xx, cancelled transactions) and lets the
//! others pass, forwarded to the emulator or, without one, answered with an
//! empty success. A client points at it through the SDK config's endpoint.
//!
//! Forwarded requests go to the emulator **one at a time**: moto's
//! `TransactWriteItems` is not atomic under concurrent requests (it copies
//! the table, applies the actions, and on cancellation puts the copy back,
//! undoing whatever another request wrote meanwhile), whereas every request
//! to DynamoDB is. With requests serialized, the races left are the ones
//! between requests, which the adapter must handle.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// What the stub does with a request.
pub enum Reply {
    /// Forward it to the emulator, or answer an empty success without one.
    Pass,
    /// Answer it with this HTTP status and JSON body.
    Answer(u16, String),
}

/// A DynamoDB error body (JSON 1.0 protocol): `{"__type": "com.amazonaws.dynamodb.v20120810#<type>", "message": …}`.
pub fn error_body(error_type: &str, message: &str) -> String {
    json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"), "message": message}).to_string()
}

/// `400 ThrottlingException`, as DynamoDB answers a request over its rate.
pub fn throttling() -> Reply {
    Reply::Answer(400, error_body("ThrottlingException", "Rate of requests exceeds the allowed throughput."))
}

/// `400 TransactionCanceledException` with these reasons (`"None"` for an action that was fine).
pub fn cancelled(reasons: &[&str]) -> Reply {
    let list: Vec<Value> = reasons
        .iter()
        .map(|code| match *code {
            "None" => json!({"Code": "None"}),
            code => json!({"Code": code, "Message": format!("{code} injected by the test stub")}),
        })
        .collect();
    Reply::Answer(
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                reasons.join(", ")),
            "CancellationReasons": list,
        })
        .to_string(),
    )
}

/// One answer the stub gave (its own or the emulator's).
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `GetItem`, `TransactWriteItems`, …
    pub operation: String,
    pub status: u16,
    /// The error type (`ThrottlingException`, `TransactionCanceledException`, …).
    pub error: Option<String>,
    /// A cancelled transaction's reasons, in action order.
    pub reasons: Vec<String>,
    /// How many actions a `TransactWriteItems` request carried.
    pub actions: usize,
}

type Rule = dyn Fn(&str, usize) -> Reply + Send + Sync;

struct State {
    upstream: Option<String>,
    rule: Box<Rule>,
    calls: Mutex<HashMap<String, usize>>,
    exchanges: Mutex<Vec<Exchange>>,
    one_at_a_time: Mutex<()>,
}

/// A running stub; it serves until the test process ends.
pub struct DynamoStub {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    state: Arc<State>,
}

impl DynamoStub {
    /// Starts a stub in front of `upstream` (the emulator's endpoint, or none).
    /// `rule(operation, n)` decides the answer to the `n`-th (from 0) request
    /// of `operation`.
    pub fn start(upstream: Option<&str>, rule: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> DynamoStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.map(|u| u.trim_start_matches("http://").trim_end_matches('/').to_string()),
            rule: Box::new(rule),
            calls: Mutex::new(HashMap::new()),
            exchanges: Mutex::new(Vec::new()),
            one_at_a_time: Mutex::new(()),
        });
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(connection, &state);
                });
            }
        });
        DynamoStub { endpoint, state }
    }

    /// How many requests of `operation` arrived.
    pub fn calls(&self, operation: &str) -> usize {
        self.state.calls.lock().unwrap().get(operation).copied().unwrap_or(0)
    }

    /// Every answer given so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.exchanges.lock().unwrap().clone()
    }
}

/// Answers the one request of a connection, then closes it (every answer
/// says `Connection: close`, so the client opens a new one).
fn serve(mut client: TcpStream, state: &State) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some((head, body)) = read_message(&mut client)? else { return Ok(()) };
    let operation = header(&head, "x-amz-target")
        .and_then(|t| t.rsplit_once('.').map(|(_, op)| op.to_string()))
        .unwrap_or_default();
    let n = {
        let mut calls = state.calls.lock().unwrap();
        let count = calls.entry(operation.clone()).or_insert(0);
        *count += 1;
        *count - 1
    };
    let response = match ((state.rule)(&operation, n), &state.upstream) {
        (Reply::Answer(status, body), _) => response(status, &body),
        (Reply::Pass, Some(upstream)) => {
            let _serial = state.one_at_a_time.lock().unwrap_or_else(|p| p.into_inner());
            let mut server = TcpStream::connect(upstream)?;
            server.write_all(head.as_bytes())?;
            server.write_all(&body)?;
            let mut answer = Vec::new();
            server.read_to_end(&mut answer)?; // the emulator closes after each answer
            answer
        }
        (Reply::Pass, None) => response(200, empty_success(&operation)),
    };
    let actions = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|doc| doc["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(0);
    record(state, &operation, actions, &response);
    client.write_all(&response)?;
    client.flush()?;
    client.shutdown(std::net::Shutdown::Both)
}

fn empty_success(operation: &str) -> &'static str {
    match operation {
        "BatchGetItem" => r#"{"Responses": {}, "UnprocessedKeys": {}}"#,
        "Query" | "Scan" => r#"{"Count": 0, "Items": [], "ScannedCount": 0}"#,
        _ => "{}",
    }
}

fn response(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Stub\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: stub\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn record(state: &State, operation: &str, actions: usize, response: &[u8]) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let doc: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = doc["__type"].as_str().map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
    let reasons = doc["CancellationReasons"]
        .as_array()
        .map(|list| list.iter().map(|r| r["Code"].as_str().unwrap_or("None").to_string()).collect())
        .unwrap_or_default();
    state.exchanges.lock().unwrap().push(Exchange {
        operation: operation.to_string(),
        status,
        error,
        reasons,
        actions,
    });
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// Reads one HTTP/1.1 request (head as text, body by Content-Length).
fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(Some((head, data.split_off(head_end))))
}
