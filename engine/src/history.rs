//! Execution history in the shape and numbering of GetExecutionHistory: events with an
//! `id`, a `previousEventId`, a `type` and one `…EventDetails` object. Recording is
//! optional; when it is off only the event counter moves (AWS quotes event ids in
//! runtime-error causes, so numbering never depends on recording).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// One history event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// ISO-8601 time of the event.
    pub timestamp: String,
    /// e.g. `PassStateEntered`, `TaskFailed`, `MapIterationStarted`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub id: u64,
    #[serde(rename = "previousEventId")]
    pub previous_event_id: u64,
    /// The details object, under its AWS name (`stateEnteredEventDetails`, ...).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl HistoryEvent {
    /// The details object of this event, if it has one.
    pub fn detail(&self) -> Option<&Map<String, Value>> {
        self.details.values().next().and_then(Value::as_object)
    }

    /// The state name in the event's details, if any.
    pub fn state_name(&self) -> Option<&str> {
        self.detail().and_then(|d| d.get("name")).and_then(Value::as_str)
    }
}

/// Numbers events and, when asked, keeps them.
pub(crate) struct Recorder {
    counter: AtomicU64,
    events: Option<Mutex<Vec<HistoryEvent>>>,
}

impl Recorder {
    pub fn new(record: bool) -> Self {
        Recorder { counter: AtomicU64::new(0), events: record.then(|| Mutex::new(Vec::new())) }
    }

    pub fn recording(&self) -> bool {
        self.events.is_some()
    }

    /// Adds an event; `at` and `details` are only called when recording.
    #[inline]
    pub fn emit(
        &self,
        event_type: &str,
        prev: u64,
        at: impl FnOnce() -> DateTime<Utc>,
        details: impl FnOnce() -> Option<(&'static str, Map<String, Value>)>,
    ) -> u64 {
        let id = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(events) = &self.events {
            Self::record(events, id, event_type, prev, at, details);
        }
        id
    }

    #[inline(never)]
    fn record(
        events: &Mutex<Vec<HistoryEvent>>,
        id: u64,
        event_type: &str,
        prev: u64,
        at: impl FnOnce() -> DateTime<Utc>,
        details: impl FnOnce() -> Option<(&'static str, Map<String, Value>)>,
    ) {
        let mut d = Map::new();
        if let Some((key, obj)) = details() {
            d.insert(key.to_owned(), Value::Object(obj));
        }
        let ev = HistoryEvent {
            timestamp: crate::timestamp::format(&at()),
            event_type: event_type.to_owned(),
            id,
            previous_event_id: prev,
            details: d,
        };
        events.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
    }

    pub fn take(&self) -> Option<Vec<HistoryEvent>> {
        self.events.as_ref().map(|m| {
            let mut v = std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner()));
            v.sort_by_key(|e| e.id);
            v
        })
    }
}

/// `{"input": "<json>", "inputDetails": {"truncated": false}}`-style payload fields.
pub(crate) fn payload(m: &mut Map<String, Value>, key: &str, v: &Value) {
    m.insert(key.to_owned(), Value::String(crate::value::compact(v)));
    let mut det = Map::new();
    det.insert("truncated".into(), Value::Bool(false));
    m.insert(format!("{key}Details"), Value::Object(det));
}

/// A details object from `(key, value)` pairs.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
