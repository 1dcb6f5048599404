//! Message composition: snapshots of the e-mail and SMS texts of every event
//! type, the JSON document and attributes, and the length limits under long
//! and non-ASCII input.

mod common;

use common::{every_event, every_sample, input};
use notify::compose::INVALID_EMAIL_MESSAGE;
use notify::{compose, console_line, AttributeValue, EventType, Message, NotifyInput, MAX_SMS, MAX_SUBJECT};
use serde_json::{json, Value};
use workflow::{ErrorCode, RawInvoice, Rules};

fn render(message: &Message) -> String {
    format!(
        "topic: {}\nsubject: {}\nsms: {}\n--- email ---\n{}",
        message.topic, message.subject, message.sms, message.email
    )
}

#[test]
fn email_and_sms_texts_of_every_event_type() {
    for (name, input) in every_sample() {
        let message = compose(&input);
        insta::assert_snapshot!(name, render(&message));
    }
}

#[test]
fn the_document_of_a_processed_invoice() {
    let message = compose(&input(common::PROCESSED));
    let document: Value = serde_json::from_str(&message.default_body()).unwrap();
    let expected: Value = serde_json::from_str(
        r#"{"eventId": "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6:INVOICE_PROCESSED",
            "eventType": "INVOICE_PROCESSED",
            "executionName": "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6",
            "invoiceId": "INV-001", "customerId": "CUST-123", "invoiceNumber": "INV-2026-000042",
            "amount": "1500.10", "currency": "USD", "dueDate": "2030-12-31",
            "processedAt": "2026-11-24T10:15:30Z",
            "source": {"bucket": "invoices-bucket", "key": "incoming/2026/batch-17.csv",
                       "etag": "9b2cf535f27731c974343645a3985328", "record": 1, "line": 2}}"#,
    )
    .unwrap();
    assert_eq!(document, expected);
    // The amount is a string with its exact digits, not a float.
    assert!(message.default_body().contains(r#""amount":"1500.10""#), "{}", message.default_body());
}

#[test]
fn documents_carry_what_each_event_needs() {
    let doc = |text: &str| serde_json::to_value(compose(&input(text)).document).unwrap();

    let rejected = doc(common::REJECTED);
    assert_eq!(rejected["errorCount"], json!(2));
    assert_eq!(
        rejected["errors"][0],
        json!({"field": "amount", "code": "not_positive", "message": "amount must be greater than 0, got -5"})
    );
    assert_eq!(rejected["amount"], json!("-5"));
    assert_eq!(rejected["source"]["line"], json!(3));

    let duplicate = doc(common::DUPLICATE);
    assert_eq!(
        duplicate["duplicateOf"],
        json!({"invoiceNumber": "INV-2026-000042", "processedAt": "2026-11-24T10:15:30Z", "sameContent": false})
    );
    assert_eq!(duplicate["amount"], json!("1600.00"));

    let failed = doc(common::FAILED);
    assert_eq!(failed["failure"]["error"], json!("StoreUnavailable"));
    assert!(failed["failure"]["cause"].as_str().unwrap().contains("did not answer"));
    assert_eq!((&failed["currency"], &failed["amount"]), (&json!("JPY"), &json!("250000")));

    let file = doc(common::FILE_REJECTED);
    assert_eq!(file["file"]["key"], json!("incoming/2026/broken.csv"));
    assert_eq!(file["eventId"], json!("upload-4b8e1f0c2d3a4b5c6d7e8f9a0b1c2d3e:FILE_REJECTED"));
    assert!(file.get("invoiceId").is_none());

    // Unknown values are left out rather than sent malformed.
    let partial = doc(common::REJECTED_PARTIAL);
    for key in ["invoiceId", "customerId", "amount", "currency"] {
        assert!(partial.get(key).is_none(), "{key} in {partial}");
    }
    assert_eq!(partial["dueDate"], json!("20301231"));
    assert_eq!(partial["errorCount"], json!(5));
}

#[test]
fn attributes_for_filter_policies() {
    let attrs = |text: &str| {
        compose(&input(text))
            .attributes
            .iter()
            .map(|a| (a.name, a.value.data_type(), a.value.text()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        attrs(common::PROCESSED),
        vec![
            ("eventType", "String", "INVOICE_PROCESSED".to_string()),
            ("customerId", "String", "CUST-123".to_string()),
            ("currency", "String", "USD".to_string()),
            ("amount", "Number", "1500.10".to_string()),
            ("eventId", "String", "INV-001-3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6:INVOICE_PROCESSED".to_string()),
        ]
    );
    // Unknown customer, currency and amount: left out, never sent invalid.
    let names: Vec<_> = attrs(common::REJECTED_PARTIAL).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["eventType", "eventId"]);
    let names: Vec<_> = attrs(common::FILE_REJECTED).into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(names, ["eventType", "eventId"]);
    assert_eq!(
        compose(&input(common::FAILED)).attribute("amount"),
        Some(&AttributeValue::Number("250000".parse().unwrap()))
    );
}

/// A character a one-line text must not hold: a control character (NEL,
/// U+0085, among them), or a Unicode line or paragraph separator.
fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Every text of a message: subject, the three bodies (as SNS gets them and
/// as they are), attributes, the console line.
fn everything(message: &Message) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{:?}\n{}",
        message.subject,
        message.sns_message(),
        message.default_body(),
        message.email,
        message.sms,
        message.attributes,
        console_line(message)
    )
}

#[test]
fn customer_email_addresses_never_appear() {
    let mut checked = Vec::new();
    for (name, input) in every_sample() {
        let email_address = input.invoice.as_ref().and_then(|i| i.get("customerEmail")).and_then(Value::as_str);
        let Some(address) = email_address else { continue };
        let text = everything(&compose(&input));
        assert!(!text.contains(address), "{name}: {address} in the message:\n{text}");
        checked.push(name);
    }
    assert_eq!(checked, ["processed", "rejected", "duplicate", "rejected_invalid_email"]);
}

#[test]
fn an_invalid_email_is_named_without_its_value() {
    let m = compose(&input(common::REJECTED_INVALID_EMAIL));
    assert_eq!(
        serde_json::to_value(&m.document.errors).unwrap(),
        json!([{"field": "customerEmail", "code": "invalid_email", "message": INVALID_EMAIL_MESSAGE}])
    );
    assert!(m.email.contains(&format!("  1. {INVALID_EMAIL_MESSAGE}\n")), "{}", m.email);
    assert_eq!(m.sms, format!("Invoice INV-004 (CUST-5) rejected: {INVALID_EMAIL_MESSAGE}."));
    assert!(!everything(&m).contains(common::INVALID_ADDRESS));
}

#[test]
fn errors_from_the_validation_never_show_an_address() {
    // The workflow's own messages, whatever their wording: malformed addresses,
    // one cut by the validation, one with a well-formed address inside, one too long.
    let today = workflow::date::parse_date(b"2026-01-01").unwrap();
    let long = format!("{}@example", "x".repeat(200));
    let too_long = format!("{}@example.com", "y".repeat(300));
    for address in ["jane.doe@example", "jane doe@example.com", "a@b@c.org", "é@exämple.com", &long, &too_long] {
        let invoice = json!({"invoiceId": "INV-9", "customerId": "C-9", "customerEmail": address,
                             "amount": "10.00", "currency": "USD", "dueDate": "2030-01-01"});
        let errors = workflow::validate(&RawInvoice::from_json(&invoice).unwrap(), &Rules::default(), today)
            .expect_err("the address is refused");
        assert!(errors.iter().all(|e| e.field == "customerEmail"), "{errors:?}");
        let doc =
            json!({"eventType": "INVOICE_REJECTED", "executionName": "e-1", "invoice": invoice, "errors": errors});
        let m = compose(&NotifyInput::from_json(doc).unwrap());
        let text = everything(&m);
        let local_part = address.split('@').next().unwrap();
        for part in [address, local_part, "@example"] {
            // (Parts as short as a word of the text are not told apart from it.)
            if part.chars().count() >= 4 {
                assert!(!text.contains(part), "{part:?} of {address:?} in the message:\n{text}");
            }
        }
        if errors[0].code == ErrorCode::InvalidEmail {
            assert_eq!(m.document.errors[0].message, INVALID_EMAIL_MESSAGE);
        }
    }
}

/// Inputs with huge and non-ASCII values in every text a message shows.
fn long_inputs() -> Vec<NotifyInput> {
    let mut out = Vec::new();
    for (i, fill) in ["é", "日本語", "👩‍💼", "x", "Ā\u{0301}", "a\u{2028}b\u{2029}c\u{85}"].iter().enumerate()
    {
        let long = fill.repeat(300);
        let word = |n: usize| fill.repeat(n);
        for event_type in EventType::ALL {
            let doc = json!({
                "eventType": event_type,
                "executionName": format!("exec-{i}-{}", word(20).replace(breaks_lines, "-")),
                "invoice": {"invoiceId": long, "customerId": format!("{}\n{}", word(90), word(90)),
                            "amount": "123456789.12", "currency": "EUR", "dueDate": long, "description": long},
                "source": {"bucket": long, "key": format!("{long}/{long}.csv"), "record": 7, "line": 9},
                "errors": [{"field": long, "code": "too_long", "message": format!("{long}\r\n{long}")}],
                "processing": {"status": "PROCESSED", "invoiceNumber": long, "processedAt": long,
                               "duplicateOf": {"invoiceNumber": long, "processedAt": long, "sameContent": true}},
                "failure": {"Error": long, "Cause": long},
                "file": {"bucket": long, "key": format!("{long}/{long}"), "reason": long, "records": 3}
            });
            out.push(NotifyInput::from_json(doc).unwrap());
        }
    }
    out
}

#[test]
fn bodies_are_serde_json_text() {
    // The document and SNS's message are written directly: byte for byte
    // what serde_json writes for them.
    for input in long_inputs().iter().chain(every_sample().iter().map(|(_, i)| i)) {
        let m = compose(input);
        assert_eq!(m.default_body(), serde_json::to_string(&m.document).unwrap());
        let structure = json!({"default": m.default_body(), "email": m.email, "sms": m.sms});
        assert_eq!(m.sns_message(), serde_json::to_string(&structure).unwrap());
    }
}

#[test]
fn subject_and_sms_stay_within_their_limits() {
    // SNS refuses a subject of 100 characters ("less than 100 characters long").
    assert_eq!(MAX_SUBJECT, 99);
    assert_eq!(MAX_SMS, 160);
    let mut longest = (0, 0);
    for input in long_inputs().iter().chain(every_sample().iter().map(|(_, i)| i)) {
        let m = compose(input);
        let (subject, sms) = (m.subject.chars().count(), m.sms.chars().count());
        assert!(subject <= 99, "subject of {subject} chars: {}", m.subject);
        assert!(sms <= 160, "sms of {sms} chars: {}", m.sms);
        longest = (longest.0.max(subject), longest.1.max(sms));
        for text in [&m.subject, &m.sms, &console_line(&m)] {
            assert!(!text.chars().any(breaks_lines), "{text:?}");
        }
        assert!(!m.subject.is_empty() && !m.sms.is_empty());
    }
    assert_eq!(longest, (99, 160), "long inputs fill the subject and the SMS");
}

#[test]
fn a_long_sms_keeps_its_amount_currency_and_due_date() {
    for input in long_inputs() {
        let m = compose(&input);
        let ending = match input.event_type {
            EventType::InvoiceProcessed => {
                // The due date as the view keeps it (40 characters at most).
                let due = m.email.lines().find_map(|l| l.strip_prefix("Due date:")).unwrap().trim().to_string();
                assert!(m.sms.contains(": 123,456,789.12 EUR from "), "{}", m.sms);
                assert!(m.subject.ends_with(", 123,456,789.12 EUR"), "{}", m.subject);
                format!(", due {due}.")
            }
            EventType::InvoiceRejected => ".".to_string(),
            EventType::InvoiceDuplicate => ", same content. Nothing stored.".to_string(),
            EventType::InvoiceFailed => ". An engineer is needed.".to_string(),
            EventType::FileRejected => ".".to_string(),
        };
        assert!(m.sms.ends_with(&ending), "{}: {:?} does not end with {ending:?}", input.event_type, m.sms);
        assert!(m.sms.contains('…'), "the ids and names were cut instead: {}", m.sms);
    }
}

#[test]
fn long_values_are_cut_on_char_boundaries_with_a_mark() {
    let inputs = long_inputs();
    let input = inputs
        .iter()
        .find(|i| i.event_type == EventType::InvoiceProcessed && i.execution_name.contains("日本語"))
        .unwrap();
    let m = compose(input);
    assert!(m.subject.starts_with("Invoice 日本語"), "{}", m.subject);
    assert!(m.subject.contains('…') && m.sms.contains('…'));
    let rejected = inputs
        .iter()
        .find(|i| i.event_type == EventType::InvoiceRejected && i.execution_name.contains("日本語"))
        .unwrap();
    let r = compose(rejected);
    insta::assert_snapshot!(
        "long_non_ascii",
        format!("subject: {}\nsms: {}\n{}\n{}", r.subject, r.sms, m.subject, m.sms)
    );
    // Every cut value in the document is shortened too.
    let id = m.document.invoice_id.as_deref().unwrap();
    assert!(id.chars().count() <= 80 && id.ends_with('…'));
}

#[test]
fn a_huge_rejection_stays_far_below_the_sns_limit() {
    let errors: Vec<Value> = (0..5000)
        .map(|i| json!({"field": format!("items[{i}].rate"), "code": "invalid_number", "message": "ü".repeat(2000)}))
        .collect();
    let doc = json!({"eventType": "INVOICE_REJECTED", "executionName": "big",
                     "invoice": {"invoiceId": "A", "description": "d".repeat(1_000_000)}, "errors": errors});
    let m = compose(&NotifyInput::from_json(doc).unwrap());
    let size =
        m.sns_message().len() + m.subject.len() + m.attributes.iter().map(|a| a.value.text().len() + 20).sum::<usize>();
    assert!(size < 256 * 1024 / 2, "message of {size} bytes");
    assert_eq!(m.document.error_count, Some(5000));
    assert_eq!(m.document.errors.len(), notify::compose::MAX_ERRORS);
    assert!(m.email.contains("… and 4950 more."), "{}", &m.email[m.email.len() - 400..]);
}

#[test]
fn every_event_type_is_composed_for_its_topic() {
    for (name, input) in every_event() {
        let m = compose(&input);
        assert_eq!(m.topic, input.event_type.topic(), "{name}");
        assert_eq!(m.event_id, format!("{}:{}", input.execution_name, input.event_type.as_str()));
        assert_eq!(m.document.event_id, m.event_id);
        assert_eq!(m.attribute("eventId"), Some(&AttributeValue::String(m.event_id.clone())));
        assert!(m.email.contains(&m.event_id), "{name}: the e-mail names its event id");
        let structure: Value = serde_json::from_str(&m.sns_message()).unwrap();
        assert_eq!(structure.as_object().unwrap().keys().collect::<Vec<_>>(), ["default", "email", "sms"]);
        assert!(structure.as_object().unwrap().values().all(Value::is_string));
    }
}

#[test]
fn a_lambda_cause_shows_its_error_message_even_when_long() {
    let cause = json!({"errorType": "StoreUnavailable", "errorMessage": "table invoices: connection reset",
                       "stackTrace": vec!["frame"; 500]})
    .to_string();
    assert!(cause.len() > 2000);
    let doc = json!({"eventType": "INVOICE_FAILED", "executionName": "e", "invoice": {"invoiceId": "A"},
                     "failure": {"Error": "", "Cause": cause}});
    let m = compose(&NotifyInput::from_json(doc).unwrap());
    assert!(m.email.contains("Cause:      table invoices: connection reset\n"), "{}", m.email);
    // No Error given: the cause's errorType names it.
    assert_eq!(m.subject, "Invoice A failed: StoreUnavailable");
    let kept = m.document.failure.unwrap().cause.unwrap();
    assert!(kept.chars().count() <= 1000 && kept.ends_with('…'));
}
