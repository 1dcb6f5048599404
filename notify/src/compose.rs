//! Composing a notification from a Notify input: the subject, the attributes,
//! the JSON document, the e-mail text a person can act on, and the SMS line.
//!
//! Composition never fails: a rejected or failed invoice may be partial or
//! odd, and its message still says what is known (`(no invoiceId)`). Every
//! value taken from the input is put on one line and shortened, so the subject
//! stays within [`MAX_SUBJECT`], the SMS within [`MAX_SMS`] characters, and the
//! whole message far below SNS's 256 KB. When a short text is too long, its
//! ids and names are cut, never the amount with its currency or the due date.
//!
//! Customer e-mail addresses are never put in a message: the invoice's
//! `customerEmail` is not shown, an error on that field says what is wrong
//! without the value ([`INVALID_EMAIL_MESSAGE`]), and anything shaped like an
//! address in another error's message is replaced with `<email>`. Amounts are
//! formatted with [`workflow::Currency::format`].

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;
use workflow::{ErrorCode, FieldError, RawInvoice, RawValue, Source};

use crate::event::{DuplicateOf, EventType, FileInfo, NotifyInput};
use crate::message::{Attribute, AttributeValue, Document, FailureDoc, Message, MAX_SMS, MAX_SUBJECT};
use crate::text::{chars, cut, file_name, push_number, redact_emails, short, short_cow, short_string, NUMBER_TEXT};
use crate::view::InvoiceView;

/// Most validation errors listed in a message (the document's `errorCount` has the total).
pub const MAX_ERRORS: usize = 50;
/// Longest error message or field name kept from an input's error.
const MAX_ERROR_TEXT: usize = 300;
/// Longest failure cause kept.
const MAX_CAUSE: usize = 1000;
/// Longest file rejection reason kept.
const MAX_REASON: usize = 500;
/// Longest object key or path kept.
const MAX_KEY: usize = 300;
/// Longest id in a subject or an SMS.
const SHORT_ID: usize = 40;
/// What an `invalid_email` error says in a message: the validation's own
/// message quotes the address, which a message must not show.
pub const INVALID_EMAIL_MESSAGE: &str = "customerEmail is not a valid e-mail address";
/// What another error on `customerEmail` says when its message shows the value.
const BAD_EMAIL_MESSAGE: &str = "customerEmail is not valid";
/// Room reserved for an e-mail text (most fit; a longer one grows).
const EMAIL_CAPACITY: usize = 1024;

/// Composes the notification for an input. The input's execution name is
/// taken as is (see [`NotifyInput::check`]).
pub fn compose(input: &NotifyInput) -> Message {
    compose_with_invoice(input, input.invoice.as_ref())
}

/// [`compose`], with the invoice given apart from the input (borrowed from the
/// task's input document: see [`NotifyInput::from_json_ref`]).
pub(crate) fn compose_with_invoice(input: &NotifyInput, invoice: Option<&Value>) -> Message {
    let facts = Facts::new(input, invoice);
    let (subject, sms, email) = match input.event_type {
        EventType::InvoiceProcessed => processed(&facts),
        EventType::InvoiceRejected => rejected(&facts),
        EventType::InvoiceDuplicate => duplicate(&facts),
        EventType::InvoiceFailed => failed(&facts),
        EventType::FileRejected => file_rejected(&facts),
    };
    Message {
        event_id: facts.event_id.clone(),
        event_type: input.event_type,
        topic: input.event_type.topic(),
        subject: short_string(subject, MAX_SUBJECT),
        attributes: attributes(&facts),
        document: document(facts),
        email,
        sms: short_string(sms, MAX_SMS),
    }
}

/// What the texts are made of, read once.
struct Facts<'a> {
    input: &'a NotifyInput,
    view: InvoiceView<'a>,
    /// The amount for people ([`InvoiceView::amount_label`]), formatted once.
    amount: String,
    event_id: String,
    errors: Vec<FieldError>,
    failure: Option<FailureDoc>,
    /// The failure's cause for people: a Lambda error's `errorMessage`, or the cause as given.
    cause_text: Option<String>,
    file: Option<FileInfo>,
    source: Option<Source>,
}

impl<'a> Facts<'a> {
    fn new(input: &'a NotifyInput, invoice: Option<&'a Value>) -> Facts<'a> {
        let listed = input.errors.iter().flatten().take(MAX_ERRORS);
        let submitted_email =
            if listed.clone().any(|e| is_email_field(&e.field)) { submitted_email(invoice) } else { None };
        let errors = listed
            .map(|e| FieldError {
                field: short(&e.field, MAX_ERROR_TEXT).into_owned(),
                code: e.code,
                message: short_string(error_message(e, submitted_email.as_deref()), MAX_ERROR_TEXT),
            })
            .collect();
        let failure = (input.event_type == EventType::InvoiceFailed).then(|| {
            let f = input.failure.clone().unwrap_or_default();
            let error = f
                .error
                .filter(|e| !e.trim().is_empty())
                .or_else(|| f.cause.as_deref().and_then(|c| lambda_cause(c, "errorType")))
                .unwrap_or_else(|| "(unknown error)".to_string());
            FailureDoc {
                error: short_string(error, 100),
                cause: f.cause.filter(|c| !c.trim().is_empty()).map(|c| short_string(c, MAX_CAUSE)),
            }
        });
        let cause_text =
            input.failure.as_ref().and_then(|f| f.cause.as_deref()).filter(|c| !c.trim().is_empty()).map(|c| {
                let text = lambda_cause(c, "errorMessage").unwrap_or_else(|| c.to_string());
                short_string(text, MAX_CAUSE)
            });
        let file = input.file.as_ref().map(|f| FileInfo {
            bucket: short(&f.bucket, 100).into_owned(),
            key: short(&f.key, MAX_KEY).into_owned(),
            reason: short(&f.reason, MAX_REASON).into_owned(),
            records: f.records,
        });
        let source = input.source.as_ref().map(|s| Source {
            bucket: short(&s.bucket, 100).into_owned(),
            key: short(&s.key, MAX_KEY).into_owned(),
            etag: s.etag.as_deref().map(|e| short(e, 100).into_owned()),
            version_id: s.version_id.as_deref().map(|v| short(v, 100).into_owned()),
            record: s.record,
            line: s.line,
        });
        let view = InvoiceView::new(invoice);
        Facts {
            input,
            amount: view.amount_label(),
            view,
            event_id: input.event_id(),
            errors,
            failure,
            cause_text,
            file,
            source,
        }
    }

    fn id(&self) -> Cow<'_, str> {
        self.view.id_label()
    }

    fn short_id(&self) -> Cow<'_, str> {
        short_cow(self.view.id_label(), SHORT_ID)
    }

    fn short_customer(&self) -> Cow<'_, str> {
        short_cow(self.view.customer_label(), SHORT_ID)
    }

    /// The customerId for a short text, when it is known.
    fn short_customer_id(&self) -> Option<Cow<'_, str>> {
        self.view.customer_id().map(|c| short(c, SHORT_ID))
    }

    fn invoice_number(&self) -> Option<Cow<'a, str>> {
        let n = self.input.processing.as_ref()?.invoice_number.as_deref()?;
        (!n.trim().is_empty()).then(|| short(n.trim(), 80))
    }

    fn processed_at(&self) -> Option<Cow<'a, str>> {
        let t = self.input.processing.as_ref()?.processed_at.as_deref()?;
        (!t.trim().is_empty()).then(|| short(t.trim(), 60))
    }

    fn error_count(&self) -> usize {
        self.input.errors.as_ref().map_or(0, Vec::len)
    }

    /// `s3://bucket/key, record 3, line 4` (locally: the file's path).
    fn source_label(&self) -> Option<String> {
        let s = self.source.as_ref()?;
        // Pieces pushed, not formatted: a label is made for every invoice.
        let place = location(&s.bucket, &s.key);
        let mut label = String::with_capacity(place.len() + 48);
        label.push_str(&place);
        label.push_str(", record ");
        push_number(&mut label, s.record);
        label.push_str(", line ");
        push_number(&mut label, s.line);
        Some(label)
    }

    /// Adds the invoice's rows of the e-mail's table.
    fn invoice_rows<'s>(&'s self, rows: &mut Rows<'s>) {
        rows.extend([
            ("Invoice ID", self.id()),
            ("Customer", self.view.customer_label()),
            ("Amount", Cow::Borrowed(self.amount.as_str())),
            ("Due date", self.view.due_label()),
        ]);
        if let Some(d) = &self.view.description {
            rows.push(("Description", Cow::Borrowed(d.as_ref())));
        }
        if let Some(t) = self.view.not_an_object {
            rows.push(("Note", Cow::Owned(format!("the submitted invoice is {} {t}, not an object", article(t)))));
        }
        if let Some(s) = self.source_label() {
            rows.push(("Source", Cow::Owned(s)));
        }
    }
}

/// The rows of an e-mail's table: labels and values.
type Rows<'a> = Vec<(&'static str, Cow<'a, str>)>;

/// Room for the rows of any table.
const ROWS: usize = 12;

/// Whether an error's field is the customer's e-mail address (`customerEmail`,
/// or the same name spelled as a CSV header may spell it).
fn is_email_field(field: &str) -> bool {
    field.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).map(|c| c.to_ascii_lowercase()).eq("customeremail".chars())
}

/// The invoice's `customerEmail` as submitted, trimmed, when it is text.
fn submitted_email(invoice: Option<&Value>) -> Option<String> {
    let raw = RawInvoice::from_json(invoice?).ok()?;
    let text = match &raw.customer_email {
        RawValue::Text(t) | RawValue::Number(t) => t.trim(),
        _ => return None,
    };
    (!text.is_empty()).then(|| text.to_string())
}

/// An input error's message as a message may show it. An error on
/// `customerEmail` never shows the value: `invalid_email` (whose validation
/// message quotes the address) says [`INVALID_EMAIL_MESSAGE`], and another
/// code keeps its message only when it holds neither the submitted value nor
/// an `@`. In any message, text shaped like an address becomes `<email>`.
fn error_message(error: &FieldError, submitted_email: Option<&str>) -> String {
    if is_email_field(&error.field) {
        if error.code == ErrorCode::InvalidEmail {
            return INVALID_EMAIL_MESSAGE.to_string();
        }
        let shows_value = submitted_email.is_some_and(|v| error.message.contains(v));
        if shows_value || error.message.contains('@') {
            return BAD_EMAIL_MESSAGE.to_string();
        }
    }
    redact_emails(&error.message).into_owned()
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Where a file is: `s3://bucket/key`, or locally (bucket `local`) its path.
fn location<'a>(bucket: &str, key: &'a str) -> Cow<'a, str> {
    if bucket.is_empty() || bucket == "local" {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("s3://{bucket}/{key}"))
    }
}

/// A field of a Lambda error's cause (`{"errorType", "errorMessage", ...}`).
fn lambda_cause(cause: &str, field: &str) -> Option<String> {
    let value: Value = serde_json::from_str(cause).ok()?;
    value.get(field)?.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string)
}

/// Aligned `Label: value` lines (the labels are ASCII: bytes are characters).
fn table(out: &mut String, rows: &[(&str, Cow<'_, str>)]) {
    const SPACES: &str = "                        ";
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    for (label, value) in rows {
        out.push_str(label);
        out.push(':');
        out.push_str(&SPACES[..width - label.len()]);
        out.push_str(value);
        out.push('\n');
    }
}

fn footer(out: &mut String, facts: &Facts<'_>) {
    out.push_str("\nEvent ID: ");
    out.push_str(&facts.event_id);
    out.push('\n');
}

/// A piece of a short text (a subject, an SMS).
#[derive(Clone, Copy)]
enum Piece<'a> {
    /// Never cut: the wording, an amount with its currency, a due date.
    Keep(&'a str),
    /// Cut when the whole is too long: ids, names, numbers, reasons.
    Cut(&'a str),
}

use Piece::{Cut, Keep};

impl<'a> Piece<'a> {
    fn text(self) -> &'a str {
        match self {
            Keep(t) | Cut(t) => t,
        }
    }
}

/// The pieces joined, at most `max` characters: when the whole is too long,
/// the [`Cut`] pieces share what the [`Keep`] pieces leave, the short ones
/// staying whole and the longer ones cut to an equal length (marked `…`).
/// Only if the kept pieces alone are too long is the end of the text cut (the
/// values they hold are short: a formatted amount, a date of at most 40
/// characters).
fn fit(pieces: &[Piece<'_>], max: usize) -> String {
    let whole = || {
        let mut out = String::with_capacity(pieces.iter().map(|p| p.text().len()).sum());
        pieces.iter().for_each(|p| out.push_str(p.text()));
        out
    };
    // Never more characters than bytes: most texts fit without counting.
    if pieces.iter().map(|p| p.text().len()).sum::<usize>() <= max {
        return whole();
    }
    let kept: usize = pieces.iter().map(|p| if let Keep(t) = p { chars(t) } else { 0 }).sum();
    let to_cut: usize = pieces.iter().map(|p| if let Cut(t) = p { chars(t) } else { 0 }).sum();
    if kept + to_cut <= max {
        return whole();
    }
    if kept >= max {
        return short_string(whole(), max);
    }
    // The short pieces keep their length; the others get an equal share of
    // what is left, the first ones a character more when it does not divide.
    let mut cut_lengths: Vec<usize> =
        pieces.iter().filter_map(|p| if let Cut(t) = p { Some(chars(t)) } else { None }).collect();
    cut_lengths.sort_unstable();
    let mut left = max - kept;
    let (mut share, mut extra) = (0, 0);
    for (i, &len) in cut_lengths.iter().enumerate() {
        let others = cut_lengths.len() - i;
        if len > left / others {
            (share, extra) = (left / others, left % others);
            break;
        }
        left -= len;
    }
    let mut out = String::new();
    for piece in pieces {
        match *piece {
            Keep(t) => out.push_str(t),
            Cut(t) if chars(t) <= share => out.push_str(t),
            Cut(t) => {
                let plus = usize::from(extra > 0);
                extra -= plus;
                out.push_str(&cut(t, share + plus));
            }
        }
    }
    out
}

/// ` (CUST-123)` after an invoice id in a short text, or nothing when the
/// customer is unknown.
fn customer_pieces(customer: Option<&str>) -> impl Iterator<Item = Piece<'_>> {
    customer.into_iter().flat_map(|c| [Keep(" ("), Cut(c), Keep(")")])
}

/// Room for the pieces of any short text.
const PIECES: usize = 16;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `(subject, sms, email)` of INVOICE_PROCESSED.
fn processed(f: &Facts<'_>) -> (String, String, String) {
    let amount = f.amount.as_str();
    let number = f.invoice_number();
    let (id, customer, due) = (f.short_id(), f.short_customer(), f.view.due_label());
    let subject = match &number {
        Some(n) => {
            fit(&[Keep("Invoice "), Cut(&id), Keep(" processed: "), Cut(n), Keep(", "), Keep(amount)], MAX_SUBJECT)
        }
        None => fit(&[Keep("Invoice "), Cut(&id), Keep(" processed, "), Keep(amount)], MAX_SUBJECT),
    };
    let mut sms = Vec::with_capacity(PIECES);
    sms.extend([Keep("Invoice "), Cut(&id), Keep(" processed")]);
    if let Some(n) = &number {
        sms.extend([Keep(" as "), Cut(n)]);
    }
    sms.extend([Keep(": "), Keep(amount), Keep(" from "), Cut(&customer), Keep(", due "), Keep(&due), Keep(".")]);
    let sms = fit(&sms, MAX_SMS);
    let mut email = String::with_capacity(EMAIL_CAPACITY);
    email.push_str("Invoice ");
    email.push_str(&f.id());
    match &number {
        Some(n) => {
            email.push_str(" was processed and stored as invoice number ");
            email.push_str(n);
            email.push_str(".\n\n");
        }
        None => email.push_str(" was processed and stored.\n\n"),
    }
    let mut rows = Rows::with_capacity(ROWS);
    rows.push(("Invoice number", number.unwrap_or(Cow::Borrowed("(not given)"))));
    if let Some(t) = f.processed_at() {
        rows.push(("Processed at", t));
    }
    f.invoice_rows(&mut rows);
    table(&mut email, &rows);
    email.push_str("\nNo action is needed.\n");
    footer(&mut email, f);
    (subject, sms, email)
}

/// `(subject, sms, email)` of INVOICE_REJECTED.
fn rejected(f: &Facts<'_>) -> (String, String, String) {
    let n = f.error_count();
    let problems = plural(n, "problem", "problems");
    let subject = if n == 0 {
        format!("Invoice {} rejected", f.short_id())
    } else {
        format!("Invoice {} rejected: {problems} to fix", f.short_id())
    };
    let (id, customer) = (f.short_id(), f.short_customer_id());
    let more = format!("; +{} more.", n.saturating_sub(1));
    let mut sms = Vec::with_capacity(PIECES);
    sms.extend([Keep("Invoice "), Cut(&id)]);
    sms.extend(customer_pieces(customer.as_deref()));
    sms.push(Keep(" rejected: "));
    match f.errors.first() {
        None => sms.push(Keep("no reason given.")),
        Some(first) => sms.extend([Cut(&first.message), Keep(if n == 1 { "." } else { &more })]),
    }
    let sms = fit(&sms, MAX_SMS);
    let mut email = String::with_capacity(EMAIL_CAPACITY);
    let _ = write!(email, "Invoice {} from customer {} was rejected", f.id(), f.view.customer_label());
    if n == 0 {
        email.push_str(". No reason was given; see the execution ");
        email.push_str(&f.input.execution_name);
        email.push_str(".\nNothing was stored.\n\n");
    } else {
        let _ = write!(
            email,
            ": {problems} must be fixed before it can be processed. Nothing was stored.\n\nWhat to fix:\n"
        );
        for (i, e) in f.errors.iter().enumerate() {
            let _ = writeln!(email, "  {}. {}", i + 1, e.message);
        }
        if n > f.errors.len() {
            let _ = writeln!(email, "  … and {} more.", n - f.errors.len());
        }
        email.push('\n');
    }
    let mut rows = Rows::with_capacity(ROWS);
    f.invoice_rows(&mut rows);
    table(&mut email, &rows);
    email.push_str("\nCorrect the invoice and submit it again.\n");
    footer(&mut email, f);
    (subject, sms, email)
}

/// `(subject, sms, email)` of INVOICE_DUPLICATE.
fn duplicate(f: &Facts<'_>) -> (String, String, String) {
    let dup = f.input.processing.as_ref().and_then(|p| p.duplicate_of.as_ref());
    let first =
        dup.and_then(|d| d.invoice_number.as_deref()).filter(|n| !n.trim().is_empty()).map(|n| short(n.trim(), 80));
    let first_at =
        dup.and_then(|d| d.processed_at.as_deref()).filter(|t| !t.trim().is_empty()).map(|t| short(t.trim(), 60));
    let same_content = dup.and_then(|d| d.same_content);
    let subject = match &first {
        Some(n) => format!("Duplicate invoice {}: already processed as {n}", f.short_id()),
        None => format!("Duplicate invoice {}", f.short_id()),
    };
    let content = match same_content {
        Some(true) => ", same content",
        Some(false) => ", different content",
        None => "",
    };
    let (id, customer) = (f.short_id(), f.short_customer_id());
    let mut sms = Vec::with_capacity(PIECES);
    sms.extend([Keep("Duplicate invoice "), Cut(&id)]);
    sms.extend(customer_pieces(customer.as_deref()));
    sms.push(Keep(": already processed"));
    if let Some(n) = &first {
        sms.extend([Keep(" as "), Cut(n)]);
    }
    sms.extend([Keep(content), Keep(". Nothing stored.")]);
    let sms = fit(&sms, MAX_SMS);
    let mut email = String::with_capacity(EMAIL_CAPACITY);
    let _ = write!(email, "Invoice {} was submitted again. It was already processed", f.id());
    if let Some(n) = &first {
        let _ = write!(email, " as {n}");
    }
    if let Some(t) = &first_at {
        let _ = write!(email, " at {t}");
    }
    email.push_str(", so this submission was not stored.\n\n");
    let first_name = first.as_deref().unwrap_or("the first invoice");
    match same_content {
        Some(true) => email.push_str("The content is identical to the first submission: no action is needed.\n\n"),
        Some(false) => {
            let _ = write!(
                email,
                "The content differs from the first submission, and the differences were not applied: \
                 {first_name} keeps its first content. If this submission is a correction, send it under \
                 a new invoice ID.\n\n"
            );
        }
        None => email.push_str("Whether the content is identical to the first submission is not known.\n\n"),
    }
    let mut rows = Rows::with_capacity(ROWS);
    rows.push(("First invoice number", first.unwrap_or(Cow::Borrowed("(not given)"))));
    if let Some(t) = first_at {
        rows.push(("First processed at", t));
    }
    let same = match same_content {
        Some(true) => "yes",
        Some(false) => "no",
        None => "(not known)",
    };
    rows.push(("Same content", Cow::Borrowed(same)));
    f.invoice_rows(&mut rows);
    table(&mut email, &rows);
    footer(&mut email, f);
    (subject, sms, email)
}

/// `(subject, sms, email)` of INVOICE_FAILED.
fn failed(f: &Facts<'_>) -> (String, String, String) {
    let error = f.failure.as_ref().map_or("(unknown error)", |failure| failure.error.as_str());
    let subject = format!("Invoice {} failed: {}", f.short_id(), short(error, 50));
    let (id, customer) = (f.short_id(), f.short_customer_id());
    let mut sms = Vec::with_capacity(PIECES);
    sms.extend([Keep("Invoice "), Cut(&id)]);
    sms.extend(customer_pieces(customer.as_deref()));
    sms.extend([Keep(" failed: "), Cut(error), Keep(". An engineer is needed.")]);
    let sms = fit(&sms, MAX_SMS);
    let mut email = String::with_capacity(EMAIL_CAPACITY);
    let _ = write!(
        email,
        "Invoice {} could not be processed because of a technical failure that retries did not overcome. \
         An engineer needs to look at it.\n\n",
        f.id()
    );
    let mut rows = Rows::with_capacity(ROWS);
    rows.extend([
        ("Error", Cow::Borrowed(error)),
        ("Cause", Cow::Borrowed(f.cause_text.as_deref().unwrap_or("(not given)"))),
        ("Execution", Cow::Borrowed(f.input.execution_name.as_str())),
    ]);
    f.invoice_rows(&mut rows);
    table(&mut email, &rows);
    email.push_str(
        "\nWhen the cause is fixed, redrive the execution: processing is idempotent, so an invoice that was \
         already stored is not stored twice.\n",
    );
    footer(&mut email, f);
    (subject, sms, email)
}

/// `(subject, sms, email)` of FILE_REJECTED.
fn file_rejected(f: &Facts<'_>) -> (String, String, String) {
    let file = f.file.clone().or_else(|| {
        f.source.as_ref().map(|s| FileInfo { bucket: s.bucket.clone(), key: s.key.clone(), ..FileInfo::default() })
    });
    let file = file.unwrap_or_default();
    let name = if file.key.is_empty() { "(unknown file)" } else { file_name(&file.key) };
    let place = if file.key.is_empty() { Cow::Borrowed(name) } else { location(&file.bucket, &file.key) };
    let reason = if file.reason.trim().is_empty() { "no reason given" } else { file.reason.as_str() };
    let subject = format!("File rejected: {}", short(name, 80));
    let short_name = short(name, SHORT_ID);
    let sms = fit(&[Keep("File "), Cut(&short_name), Keep(" rejected: "), Cut(reason), Keep(".")], MAX_SMS);
    let mut email = String::with_capacity(EMAIL_CAPACITY);
    let _ = write!(email, "The file {place} was rejected: it could not be read as a whole.\n\n");
    let mut rows = Rows::with_capacity(ROWS);
    rows.extend([("Reason", Cow::Borrowed(reason)), ("File", place)]);
    if let Some(n) = file.records {
        rows.push(("Records read", Cow::Owned(n.to_string())));
    }
    rows.push(("Upload", Cow::Borrowed(f.input.execution_name.as_str())));
    table(&mut email, &rows);
    email.push_str("\nFix the file and upload it again.");
    if file.records.is_some_and(|n| n > 0) {
        email.push_str(" Invoices of it that were already processed will be reported as duplicates.");
    }
    email.push('\n');
    footer(&mut email, f);
    (subject, sms, email)
}

/// `eventType`, `customerId`, `currency`, `amount`, `eventId`; unknown ones left out.
fn attributes(f: &Facts<'_>) -> Vec<Attribute> {
    let mut out = Vec::with_capacity(5);
    let string = |name, value: String| Attribute { name, value: AttributeValue::String(value) };
    out.push(string("eventType", f.input.event_type.as_str().to_string()));
    if let Some(c) = f.view.customer_id() {
        out.push(string("customerId", c.to_string()));
    }
    if let Some(c) = f.view.currency() {
        out.push(string("currency", c.code().to_string()));
    }
    if let Some(a) = f.view.amount() {
        out.push(Attribute { name: "amount", value: AttributeValue::Number(a) });
    }
    out.push(string("eventId", f.event_id.clone()));
    out
}

/// The document, made of the facts (the last use of them).
fn document(f: Facts<'_>) -> Document {
    let error_count = (f.input.event_type == EventType::InvoiceRejected).then(|| f.error_count());
    Document {
        event_type: f.input.event_type,
        execution_name: f.input.execution_name.clone(),
        invoice_id: f.view.invoice_id().map(str::to_string),
        customer_id: f.view.customer_id().map(str::to_string),
        invoice_number: f.invoice_number().map(Cow::into_owned),
        amount: f.view.amount().map(|a| {
            let mut text = String::with_capacity(NUMBER_TEXT);
            push_number(&mut text, a);
            text
        }),
        currency: f.view.currency().map(|c| c.code().to_string()),
        due_date: f.view.due_date().map(str::to_string),
        processed_at: f.processed_at().map(Cow::into_owned),
        duplicate_of: f.input.processing.as_ref().and_then(|p| p.duplicate_of.as_ref()).map(|d| DuplicateOf {
            invoice_number: d.invoice_number.as_deref().map(|n| short(n, 80).into_owned()),
            processed_at: d.processed_at.as_deref().map(|t| short(t, 60).into_owned()),
            same_content: d.same_content,
        }),
        event_id: f.event_id,
        errors: f.errors,
        error_count,
        failure: f.failure,
        file: f.file,
        source: f.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_the_cut_pieces_evenly_and_keeps_the_rest() {
        let pieces = [Keep("A "), Cut("short"), Keep(" / "), Cut(&"x".repeat(50)), Keep(" / "), Cut(&"y".repeat(50))];
        // 8 kept, 5 for "short", 27 left for the two long pieces: 14 and 13.
        assert_eq!(fit(&pieces, 40), format!("A short / {}… / {}…", "x".repeat(13), "y".repeat(12)));
        assert_eq!(chars(&fit(&pieces, 40)), 40);
        assert_eq!(fit(&pieces, 41), format!("A short / {}… / {}…", "x".repeat(13), "y".repeat(13)));
        // Nothing to cut: unchanged.
        assert_eq!(fit(&[Keep("a"), Cut("b")], 2), "ab");
        // Kept pieces alone too long: the end is cut.
        assert_eq!(fit(&[Keep("abcdef"), Cut("x")], 4), "abc…");
    }

    #[test]
    fn email_fields_are_recognized_in_any_spelling() {
        for name in ["customerEmail", "customer_email", "Customer Email", "CUSTOMER-EMAIL"] {
            assert!(is_email_field(name), "{name}");
        }
        assert!(!is_email_field("customerId") && !is_email_field("email"));
    }

    #[test]
    fn error_messages_never_show_an_address() {
        let e = |field: &str, code, message: &str| FieldError::new(field, code, message);
        let invalid = e("customerEmail", ErrorCode::InvalidEmail, "customerEmail \"x@y\" is not an e-mail address");
        assert_eq!(error_message(&invalid, Some("x@y")), INVALID_EMAIL_MESSAGE);
        let long = e("customerEmail", ErrorCode::TooLong, "customerEmail has 300 characters; at most 254 are allowed");
        assert_eq!(error_message(&long, Some("zzz")), long.message);
        let shows = e("customerEmail", ErrorCode::WrongType, "customerEmail zzz-not-an-address is wrong");
        assert_eq!(error_message(&shows, Some("zzz-not-an-address")), BAD_EMAIL_MESSAGE);
        let other = e("invoice", ErrorCode::Unreadable, "line 3: bad quote near jane@example.com,12");
        assert_eq!(error_message(&other, None), "line 3: bad quote near <email>,12");
    }
}
