//! The SNS notifier against the AWS emulator (moto_server): three topics each
//! with an SQS queue subscribed; every event type published and read back
//! (topic, subject, attributes, JSON document); the e-mail and SMS bodies as
//! SNS received them (the emulator's record, `GET /moto-api/data.json`); filter
//! policies; throttling, permanent and unreachable-endpoint errors through a
//! small HTTP proxy in front of the emulator.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sns::config::retry::RetryConfig;
use common::{every_event, input};
use notify::{compose, handle, EventType, NotifyError, NotifyInput, SnsNotifier, Topic, TopicArns};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Topics, their queues, and clients, unique to one test.
struct Setup {
    config: SdkConfig,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    topics: TopicArns,
    queues: HashMap<Topic, String>,
}

async fn setup(moto: &testkit::Moto) -> Setup {
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut arns = HashMap::new();
    let mut queues = HashMap::new();
    for topic in Topic::ALL {
        let arn = create_topic(&sns, topic.as_str()).await;
        let queue = subscribe_queue(&sns, &sqs, &arn, topic.as_str(), None).await;
        arns.insert(topic, arn);
        queues.insert(topic, queue);
    }
    let topics = TopicArns {
        success: arns[&Topic::Success].clone(),
        error: arns[&Topic::Error].clone(),
        duplicate: arns[&Topic::Duplicate].clone(),
    };
    Setup { config, sns, sqs, topics, queues }
}

async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let out = sns.create_topic().name(testkit::unique_name(name)).send().await.expect("create topic");
    out.topic_arn.expect("topic arn")
}

/// A new queue subscribed to `topic_arn` (SNS envelope, not raw delivery),
/// optionally with a filter policy; returns the queue URL.
async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    name: &str,
    filter_policy: Option<&str>,
) -> String {
    let url = sqs.create_queue().queue_name(testkit::unique_name(name)).send().await.unwrap().queue_url.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let mut subscribe = sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn);
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    subscribe.send().await.unwrap();
    url
}

/// The SNS envelopes in a queue, until `expected` arrived or a few seconds passed
/// (then a little longer, to catch any extra message).
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, expected: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut quiet_rounds = 0;
    while Instant::now() < deadline && (out.len() < expected || quiet_rounds < 2) {
        let got = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            quiet_rounds += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body.as_deref().unwrap()).expect("an SNS envelope"));
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
    out
}

/// A notifier with short backoffs, so retries do not slow the tests.
fn quick_notifier(config: &SdkConfig, topics: TopicArns, max_attempts: u32) -> SnsNotifier {
    let retry = RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(50));
    SnsNotifier::with_retry(config, topics, retry)
}

#[tokio::test]
async fn every_event_type_reaches_its_topic_with_subject_attributes_and_document() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let notifier = SnsNotifier::from_sdk_config(&s.config, s.topics.clone());

    let mut sent = Vec::new();
    for (name, input) in every_event() {
        let out = handle(&input, &notifier).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.topic, input.event_type.topic());
        assert_eq!(out.event_id, input.event_id());
        assert!(!out.message_id.is_empty());
        sent.push((out, compose(&input)));
    }

    for topic in Topic::ALL {
        let expected: Vec<_> = sent.iter().filter(|(out, _)| out.topic == topic).collect();
        let received = receive(&s.sqs, &s.queues[&topic], expected.len()).await;
        assert_eq!(received.len(), expected.len(), "{topic}: {received:#?}");
        for (out, message) in expected {
            let envelope = received
                .iter()
                .find(|e| e["MessageId"] == out.message_id.as_str())
                .unwrap_or_else(|| panic!("{topic}: no message {}", out.message_id));
            assert_eq!(envelope["TopicArn"], s.topics.arn(topic));
            assert_eq!(envelope["Subject"], message.subject.as_str());
            // SQS gets the `default` body: the JSON document.
            let document: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            assert_eq!(document, serde_json::to_value(&message.document).unwrap());
            assert_eq!(document["eventId"], out.event_id.as_str());
            let attributes = envelope["MessageAttributes"].as_object().unwrap();
            assert_eq!(attributes.len(), message.attributes.len(), "{attributes:?}");
            for a in &message.attributes {
                assert_eq!(attributes[a.name]["Type"], a.value.data_type(), "{}", a.name);
                assert_eq!(attributes[a.name]["Value"], a.value.text().as_str(), "{}", a.name);
            }
        }
    }
    let processed = sent.iter().find(|(o, _)| o.topic == Topic::Success).unwrap();
    assert_eq!(processed.1.attribute("amount").unwrap().text(), "1500.10");
}

/// `sns.Topic[].sent_notifications` of the emulator: `[id, message, subject, attributes, group]`.
fn sent_notifications(moto: &testkit::Moto, topic_arn: &str) -> Vec<Value> {
    let data: Value = serde_json::from_str(&moto.data_json().expect("data.json")).expect("data.json is JSON");
    let topic = data["sns"]["Topic"]
        .as_array()
        .expect("sns.Topic")
        .iter()
        .find(|t| t["arn"] == topic_arn)
        .unwrap_or_else(|| panic!("no topic {topic_arn} in data.json"));
    topic["sent_notifications"].as_array().expect("sent_notifications").clone()
}

#[tokio::test]
async fn email_and_sms_bodies_as_sns_received_them() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let notifier = SnsNotifier::from_sdk_config(&s.config, s.topics.clone());
    for (name, input) in every_event() {
        let out = handle(&input, &notifier).await.unwrap();
        let message = compose(&input);
        let sent = sent_notifications(moto, s.topics.arn(out.topic));
        let record = sent
            .iter()
            .find(|n| n[0] == out.message_id.as_str())
            .unwrap_or_else(|| panic!("{name}: message {} not in sent_notifications", out.message_id));
        let structure: Value = serde_json::from_str(record[1].as_str().unwrap()).unwrap();
        assert_eq!(structure["email"], message.email.as_str(), "{name}");
        assert_eq!(structure["sms"], message.sms.as_str(), "{name}");
        assert!(structure["sms"].as_str().unwrap().chars().count() <= 160);
        assert_eq!(structure["default"], message.default_body().as_str(), "{name}");
        assert_eq!(record[2], message.subject.as_str(), "{name}");
        // Every attribute, by name, data type and value, and no other.
        let attributes: serde_json::Map<String, Value> = message
            .attributes
            .iter()
            .map(|a| (a.name.to_string(), json!({"Type": a.value.data_type(), "Value": a.value.text()})))
            .collect();
        assert_eq!(record[3], Value::Object(attributes), "{name}");
        assert_eq!(record[3]["eventType"], json!({"Type": "String", "Value": input.event_type.as_str()}), "{name}");
        assert_eq!(record[3]["eventId"], json!({"Type": "String", "Value": out.event_id}), "{name}");
        if input.event_type == EventType::InvoiceProcessed {
            assert_eq!(
                record[3],
                json!({
                    "eventType": {"Type": "String", "Value": "INVOICE_PROCESSED"},
                    "customerId": {"Type": "String", "Value": "CUST-123"},
                    "currency": {"Type": "String", "Value": "USD"},
                    "amount": {"Type": "Number", "Value": "1500.10"},
                    "eventId": {"Type": "String", "Value": "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6:INVOICE_PROCESSED"}
                }),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn a_long_non_ascii_message_is_accepted_and_round_trips() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let notifier = SnsNotifier::from_sdk_config(&s.config, s.topics.clone());
    // Long values in every text, with non-ASCII letters, an emoji sequence,
    // and the line breaks a one-line text must not keep (U+2028, U+2029, NEL, CR LF).
    let long = "Zürich 日本語 👩‍💼 ".repeat(40);
    let broken = "line\u{2028}para\u{2029}nel\u{85}crlf\r\nend ".repeat(20);
    let doc = json!({
        "eventType": "INVOICE_PROCESSED",
        "executionName": "long-non-ascii-1",
        "invoice": {"invoiceId": format!("Rechnung-{long}"), "customerId": format!("Kunde {broken}"),
                    "amount": "1234567.89", "currency": "EUR", "dueDate": "2030-12-31", "description": broken},
        "source": {"bucket": "invoices-bucket", "key": format!("eingang/{long}.csv"), "record": 1, "line": 2},
        "processing": {"status": "PROCESSED", "invoiceNumber": format!("Nr-{broken}{long}"),
                       "processedAt": "2026-11-24T10:15:30Z"}
    });
    let input = NotifyInput::from_json(doc).unwrap();
    let message = compose(&input);
    // Filled to (about) their limits: a cut drops the spaces before its `…`.
    let (subject, sms) = (message.subject.chars().count(), message.sms.chars().count());
    assert!((notify::MAX_SUBJECT - 2..=notify::MAX_SUBJECT).contains(&subject), "{subject}: {}", message.subject);
    assert!((notify::MAX_SMS - 2..=notify::MAX_SMS).contains(&sms), "{sms}: {}", message.sms);
    // Cut in the ids and names, never in the amount or the due date.
    assert!(message.sms.contains(": 1,234,567.89 EUR from Kunde line para nel crlf"), "{}", message.sms);
    assert!(message.sms.ends_with("…, due 2030-12-31."), "{}", message.sms);
    assert!(message.subject.ends_with("…, 1,234,567.89 EUR"), "{}", message.subject);
    assert!(!message.subject.is_ascii() && !message.sms.is_ascii());

    let out = handle(&input, &notifier).await.expect("SNS accepts the message");
    assert_eq!(out.topic, Topic::Success);
    let sent = sent_notifications(moto, &s.topics.success);
    let record = sent.iter().find(|n| n[0] == out.message_id.as_str()).expect("the message in sent_notifications");
    assert_eq!(record[2], message.subject.as_str());
    let structure: Value = serde_json::from_str(record[1].as_str().unwrap()).unwrap();
    assert_eq!(structure["sms"], message.sms.as_str());
    assert_eq!(structure["email"], message.email.as_str());
    for text in [record[2].as_str().unwrap(), structure["sms"].as_str().unwrap()] {
        assert!(!text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')), "{text:?}");
    }
    // And what an SQS subscriber receives.
    let got = receive(&s.sqs, &s.queues[&Topic::Success], 1).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["Subject"], message.subject.as_str());
    let document: Value = serde_json::from_str(got[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(document, serde_json::to_value(&message.document).unwrap());
}

#[tokio::test]
async fn filter_policies_select_by_event_type_customer_and_amount() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let rejected_for_cust9 = subscribe_queue(
        &s.sns,
        &s.sqs,
        &s.topics.error,
        "cust9-rejections",
        Some(r#"{"eventType": ["INVOICE_REJECTED"], "customerId": ["CUST-9"]}"#),
    )
    .await;
    let large_invoices = subscribe_queue(
        &s.sns,
        &s.sqs,
        &s.topics.success,
        "large",
        Some(r#"{"amount": [{"numeric": [">=", 1000]}], "currency": ["USD"]}"#),
    )
    .await;
    let notifier = SnsNotifier::from_sdk_config(&s.config, s.topics.clone());

    let wanted = input(common::REJECTED); // CUST-9
    let mut other_customer: Value = serde_json::from_str(common::REJECTED).unwrap();
    other_customer["invoice"]["customerId"] = "CUST-1".into();
    other_customer["executionName"] = "INV-002-other".into();
    let mut failed_cust9: Value = serde_json::from_str(common::FAILED).unwrap();
    failed_cust9["invoice"]["customerId"] = "CUST-9".into();
    let mut small: Value = serde_json::from_str(common::PROCESSED).unwrap();
    small["invoice"]["amount"] = serde_json::from_str("999.99").unwrap();
    small["executionName"] = "INV-001-small".into();

    let wanted_out = handle(&wanted, &notifier).await.unwrap();
    for doc in [other_customer, failed_cust9, small] {
        handle(&NotifyInput::from_json(doc).unwrap(), &notifier).await.unwrap();
    }
    let large_out = handle(&input(common::PROCESSED), &notifier).await.unwrap();

    let got = receive(&s.sqs, &rejected_for_cust9, 1).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["MessageId"], wanted_out.message_id.as_str());
    let got = receive(&s.sqs, &large_invoices, 1).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["MessageId"], large_out.message_id.as_str());
    // The unfiltered error queue got all three error events.
    assert_eq!(receive(&s.sqs, &s.queues[&Topic::Error], 3).await.len(), 3);
}

/// A fault the proxy injects into the first `count` Publish calls.
#[derive(Clone, Copy)]
struct Fault {
    status: u16,
    code: &'static str,
    count: usize,
}

/// An HTTP proxy on 127.0.0.1 in front of the emulator, answering the first
/// Publish calls with an SNS error (AWS query protocol XML).
struct Proxy {
    endpoint: String,
    publishes: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let publishes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&publishes);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, fault, &counter).await;
                });
            }
        });
        Proxy { endpoint, publishes }
    }

    fn publishes(&self) -> usize {
        self.publishes.load(Ordering::SeqCst)
    }
}

/// Serves one request on a connection, then closes it.
async fn serve(mut client: TcpStream, upstream: &str, fault: Fault, publishes: &AtomicUsize) -> std::io::Result<()> {
    let Some((head, request_body)) = common::read_request(&mut client).await? else { return Ok(()) };
    let body = String::from_utf8_lossy(&request_body);
    if body.contains("Action=Publish") {
        let n = publishes.fetch_add(1, Ordering::SeqCst);
        if n < fault.count {
            let xml = format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type>\
                 <Code>{}</Code><Message>Injected by the test proxy ({n})</Message></Error>\
                 <RequestId>proxy-{n}</RequestId></ErrorResponse>",
                fault.code
            );
            let response = format!(
                "HTTP/1.1 {} Injected\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                fault.status,
                xml.len()
            );
            client.write_all(response.as_bytes()).await?;
            return client.shutdown().await;
        }
    }
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(head.as_bytes()).await?;
    server.write_all(&request_body).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?; // the emulator closes after each answer
    client.write_all(&response).await?;
    client.shutdown().await
}

fn via(config: &SdkConfig, endpoint: &str) -> SdkConfig {
    config.to_builder().endpoint_url(endpoint).build()
}

#[tokio::test]
async fn throttled_publishes_are_retried_until_they_succeed() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 400, code: "Throttling", count: 3 }).await;
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), s.topics.clone(), 5);
    let out = handle(&input(common::PROCESSED), &notifier).await.expect("published after retries");
    assert_eq!(proxy.publishes(), 4, "three throttled attempts, then one that went through");
    let got = receive(&s.sqs, &s.queues[&Topic::Success], 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["MessageId"], out.message_id.as_str());
}

#[tokio::test]
async fn throttling_beyond_the_retries_is_named_throttled() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 400, code: "Throttling", count: 100 }).await;
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), s.topics.clone(), 3);
    let err = handle(&input(common::PROCESSED), &notifier).await.unwrap_err();
    assert!(matches!(err, NotifyError::Throttled(_)), "{err:?}");
    assert_eq!(err.error_type(), "Throttled");
    assert!(err.is_transient());
    assert_eq!(proxy.publishes(), 3, "bounded by max attempts");
}

#[tokio::test]
async fn permanent_errors_are_named_and_not_retried() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;

    // A topic that does not exist: the emulator's NotFound.
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 400, code: "-", count: 0 }).await;
    let missing = TopicArns { error: format!("{}-gone", s.topics.error), ..s.topics.clone() };
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), missing, 5);
    let err = handle(&input(common::REJECTED), &notifier).await.unwrap_err();
    match &err {
        NotifyError::PublishRejected { code, .. } => assert_eq!(code, "NotFound"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.error_type(), "PublishRejected");
    assert!(!err.is_transient());
    assert_eq!(proxy.publishes(), 1, "a permanent error is not retried");

    // Not authorized.
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 403, code: "AuthorizationError", count: 100 }).await;
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), s.topics.clone(), 5);
    let err = handle(&input(common::REJECTED), &notifier).await.unwrap_err();
    assert_eq!(
        err,
        NotifyError::PublishRejected {
            code: "AuthorizationError".into(),
            message: "Injected by the test proxy (0)".into()
        }
    );
    assert_eq!(proxy.publishes(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_named_unavailable() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 500, code: "InternalError", count: 100 }).await;
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), s.topics.clone(), 3);
    let err = handle(&input(common::DUPLICATE), &notifier).await.unwrap_err();
    assert_eq!(err.error_type(), "NotifierUnavailable", "{err}");
    assert_eq!(proxy.publishes(), 3);

    // Once the service is back, the same event goes through.
    let proxy = Proxy::start(&moto.endpoint, Fault { status: 500, code: "InternalError", count: 1 }).await;
    let notifier = quick_notifier(&via(&s.config, &proxy.endpoint), s.topics.clone(), 3);
    handle(&input(common::DUPLICATE), &notifier).await.unwrap();
    assert_eq!(proxy.publishes(), 2);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named_unavailable() {
    let Some(moto) = testkit::moto() else { return };
    let s = setup(moto).await;
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let notifier = quick_notifier(&via(&s.config, &format!("http://127.0.0.1:{port}")), s.topics.clone(), 2);
    let err = handle(&input(common::PROCESSED), &notifier).await.unwrap_err();
    assert_eq!(err.error_type(), "NotifierUnavailable", "{err}");
}
