//! Logs of the SNS notifier and the handler, captured at TRACE level while
//! publishing every event type (and a failing publish) to the AWS emulator:
//! customer e-mail addresses never appear in them.

mod common;

use std::sync::Arc;

use common::{every_event, input};
use notify::{handle, SnsNotifier, Topic, TopicArns};

async fn topics(moto: &testkit::Moto) -> (aws_config::SdkConfig, TopicArns) {
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let mut arns = Vec::new();
    for topic in Topic::ALL {
        let out = sns.create_topic().name(testkit::unique_name(topic.as_str())).send().await.unwrap();
        arns.push(out.topic_arn.unwrap());
    }
    let topics = TopicArns { success: arns[0].clone(), error: arns[1].clone(), duplicate: arns[2].clone() };
    (config, topics)
}

/// A log sink for the test below.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn customer_email_addresses_never_reach_the_logs() {
    let Some(moto) = testkit::moto() else { return };
    let (config, topics) = topics(moto).await;
    let logs = LogBuffer::default();
    let sink = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || sink.clone()).finish();
    // Global, and alone in this test binary: a thread-scoped subscriber can miss
    // events whose call sites other test threads registered first.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let notifier = SnsNotifier::from_sdk_config(&config, topics.clone());
    for (_, input) in every_event() {
        handle(&input, &notifier).await.unwrap();
    }
    let missing = TopicArns { success: format!("{}-gone", topics.success), ..topics.clone() };
    let failing = SnsNotifier::from_sdk_config(&config, missing);
    handle(&input(common::PROCESSED), &failing).await.unwrap_err();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("notification published"), "the test saw the logs");
    assert!(text.contains("publish failed"), "the test saw the failure's log");
    for address in ["customer@example.com", "ap@acme.example"] {
        assert!(!text.contains(address), "{address} in the logs");
    }
}
