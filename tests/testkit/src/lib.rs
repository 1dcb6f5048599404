//! Test support: the AWS API emulator the AWS-facing tests run against.
//!
//! [`moto()`] gives the emulator for this test process. When the test command
//! (`scripts/test`) has started one, `AWS_ENDPOINT_URL` names it and it is used;
//! otherwise one is started here, once per process, from `moto_server.py` on a
//! free 127.0.0.1 port, and it exits with the process.
//!
//! When no emulator can be had (no Python or no moto), a test prints
//! `SKIPPED: <reason>` and returns, except under `CI=true`, where it panics:
//! CI never passes a check that did not run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// A running emulator.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    _child: Option<ChildGuard>,
}

#[derive(Debug)]
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

/// The emulator for this process, or `None` after printing `SKIPPED: reason`
/// (panics instead when `CI=true`). Call at the start of a test:
///
/// ```ignore
/// let Some(moto) = testkit::moto() else { return };
/// ```
pub fn moto() -> Option<&'static Moto> {
    match MOTO.get_or_init(start) {
        Ok(moto) => Some(moto),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// Reports a check that cannot run: loudly, and as a failure under `CI=true`.
///
/// Besides printing, the line is appended to the file named by
/// `INVOICES_SKIP_LOG` when set: the test command lists those at the end, since
/// the test harness hides the output of tests that pass.
pub fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and a check cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    println!("SKIPPED: {reason}");
    if let Ok(path) = std::env::var("INVOICES_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "SKIPPED: {reason}");
        }
    }
}

fn start() -> Result<Moto, String> {
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        if !endpoint.is_empty() {
            wait_ready(&endpoint, Duration::from_secs(30))?;
            return Ok(Moto { endpoint, _child: None });
        }
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py");
    let log_path = std::env::temp_dir().join(format!("moto-{port}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(&python)
        .arg(&script)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {python} {}: {e}", script.display()))?;
    let mut guard = ChildGuard(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    if let Err(e) = wait_ready(&endpoint, Duration::from_secs(60)) {
        let exited = guard.0.try_wait().ok().flatten();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: String =
            log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
        return Err(match exited {
            Some(status) => format!(
                "moto_server exited ({status}); is `moto[server]` installed (pip install 'moto[server]')? {tail}"
            ),
            None => format!("{e}; log {}: {tail}", log_path.display()),
        });
    }
    Ok(Moto { endpoint, _child: Some(guard) })
}

fn wait_ready(endpoint: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        // Any HTTP answer means the server is up (this one is a cheap 400).
        match http_get(endpoint, "/moto-api/reset-auth") {
            Ok(_) => return Ok(()),
            Err(e) if e.contains("HTTP 4") => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(format!("emulator at {endpoint} not ready: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A plain HTTP/1.0 GET (the server closes the connection after the answer);
/// returns the body of a 2xx answer.
pub fn http_get(endpoint: &str, path: &str) -> Result<String, String> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        return Err(format!("GET {path}: HTTP {status}"));
    }
    Ok(body.to_string())
}

impl Moto {
    /// An SDK configuration pointing every client at the emulator, with dummy
    /// credentials and region `us-east-1`.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::from_keys("testing", "testing", None))
            .load()
            .await
    }

    /// The emulator's record of everything (`GET /moto-api/data.json`), e.g.
    /// `sns.Topic[].sent_notifications`.
    pub fn data_json(&self) -> Result<String, String> {
        http_get(&self.endpoint, "/moto-api/data.json")
    }
}

/// A name unique to this process and call, for tables, topics and queues, so
/// tests sharing one emulator never see each other's resources.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}-{}", std::process::id(), nanos % 100_000, N.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_emulator_starts_and_answers() {
        let Some(moto) = super::moto() else { return };
        let data = moto.data_json().expect("data.json");
        assert!(data.starts_with('{'), "{data}");
    }
}
