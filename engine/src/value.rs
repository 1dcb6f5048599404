//! JSON value helpers with Step Functions' (Java) behaviour: compact text, sizes,
//! numeric equality and `toString` rendering as `States.Format` shows values.

use std::io;

use serde_json::{Number, Value};

/// The payload size quota of Step Functions (256 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Compact JSON text, as AWS quotes inputs in error causes.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of the compact JSON text of `v`, counted without building it.
pub fn json_size<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// A document with an upper bound of its size (`bound ≥ json_size(value)`), so that the
/// payload quota is checked without measuring every document: sizes add up as
/// documents are built from parts whose bounds are known, and only a document whose
/// bound exceeds the quota is measured ([`within_limit`]).
pub(crate) fn bounded(value: Value, bound: usize) -> (Value, usize) {
    debug_assert!(json_size(&value) <= bound, "size bound {bound} < {} for {}", json_size(&value), compact(&value));
    (value, bound)
}

/// The document's size bound, tightened to its exact size when the bound exceeded the
/// quota, or `None` when the document is over the quota.
pub(crate) fn within_limit(value: &Value, bound: usize) -> Option<usize> {
    debug_assert!(json_size(value) <= bound, "size bound {bound} < {}", json_size(value));
    if bound <= MAX_PAYLOAD_BYTES {
        return Some(bound);
    }
    let exact = json_size(value);
    (exact <= MAX_PAYLOAD_BYTES).then_some(exact)
}

/// A JSON number as f64 (arbitrary-precision text parsed once).
pub fn json_number_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or_else(|| n.to_string().parse().unwrap_or(f64::NAN))
}

/// Numbers compare by value (`1` equals `1.0`); everything else structurally.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    json_number_f64(x) == json_number_f64(y)
}

/// An integer value if the number is integral (`3` or `3.0`), as Java's intValue checks.
pub fn as_integer(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = json_number_f64(n);
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// Renders a value as Java's `toString` of the parsed JSON (Jackson → Java collections):
/// strings bare, objects `{a=1, b=[]}`, arrays `[1, 2]`.
pub fn java_string(v: &Value) -> String {
    let mut s = String::new();
    push_java(&mut s, v);
    s
}

fn push_java(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("null"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => s.push_str(&n.to_string()),
        Value::String(t) => s.push_str(t),
        Value::Array(items) => {
            s.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                push_java(s, x);
            }
            s.push(']');
        }
        Value::Object(map) => {
            s.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(k);
                s.push('=');
                push_java(s, x);
            }
            s.push('}');
        }
    }
}

/// A random version-4 UUID in its canonical text form.
pub fn random_uuid() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_rendering_matches_aws_format_output() {
        let v: Value = serde_json::from_str(r#"{"Arg1": 1, "Arg2": [], "s": "x", "n": null, "f": 1.10}"#).unwrap();
        assert_eq!(java_string(&v), "{Arg1=1, Arg2=[], s=x, n=null, f=1.10}");
        assert_eq!(java_string(&json!([1, "a", true])), "[1, a, true]");
    }

    #[test]
    fn numbers_compare_by_value() {
        let a: Value = serde_json::from_str("[1, 2.50]").unwrap();
        let b: Value = serde_json::from_str("[1.0, 2.5]").unwrap();
        assert!(values_equal(&a, &b));
        assert!(!values_equal(&json!(true), &json!(1)));
    }

    #[test]
    fn sizes_and_uuids() {
        assert_eq!(json_size(&json!({"a": "bc"})), r#"{"a":"bc"}"#.len());
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
