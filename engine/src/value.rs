//! JSON value helpers with Step Functions' (Java) behaviour: compact text, sizes,
//! numeric equality and `toString` rendering as `States.Format` shows values.

use serde_json::{Map, Number, Value};

/// The payload size quota of Step Functions (256 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Compact JSON text, as AWS quotes inputs in error causes.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Bytes of the compact JSON text of `v` as serde_json writes it, counted without
/// building it (a walk of the tree; strings are scanned for the bytes JSON escapes).
pub fn json_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        // The number's text, as parsed or made (serde_json's arbitrary precision).
        Value::Number(n) => n.as_str().len(),
        Value::String(s) => str_size(s),
        Value::Array(items) => items.iter().fold(1 + items.len().max(1), |n, x| n + json_size(x)),
        Value::Object(m) => m.iter().fold(1 + m.len().max(1), |n, (k, x)| n + str_size(k) + 1 + json_size(x)),
    }
}

/// An upper bound of [`json_size`] found by walking the tree without reading any
/// text: a byte of a string or key takes at most six bytes in JSON (`\u00XX`). Cheap
/// enough for documents nothing else bounds (the execution input, a task's result);
/// [`within_limit`] measures a document exactly when its bound exceeds the quota.
pub fn size_bound(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.as_str().len(),
        Value::String(s) => 2 + 6 * s.len(),
        Value::Array(items) => items.iter().fold(1 + items.len().max(1), |n, x| n + size_bound(x)),
        Value::Object(m) => m.iter().fold(1 + m.len().max(1), |n, (k, x)| n + 3 + 6 * k.len() + size_bound(x)),
    }
}

/// Bytes of a JSON string literal: quotes, text and escapes (`\"`, `\\`, `\n`-style
/// for five control characters, `\u00XX` for the others).
pub fn str_size(s: &str) -> usize {
    let bytes = s.as_bytes();
    // Counted without branching so that the loop is vectorized; escapes are rare.
    let special = bytes.iter().filter(|&&b| b < 0x20 || b == b'"' || b == b'\\').count();
    if special == 0 {
        return 2 + bytes.len();
    }
    let extra: usize = bytes
        .iter()
        .map(|&b| match b {
            b'"' | b'\\' | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    2 + bytes.len() + extra
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

/// Objects up to this many members are searched by comparing keys rather than hashing
/// the key (serde_json's map hashes with SipHash, which costs more than a few
/// comparisons of short keys).
const SCAN_MAX: usize = 12;

/// The member `key` of `m`, as `m.get(key)`.
#[inline]
pub(crate) fn member<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if m.len() <= SCAN_MAX {
        m.iter().find(|(k, _)| key_eq(k, key)).map(|(_, v)| v)
    } else {
        m.get(key)
    }
}

/// The member `key` of `m`, as `m.get_mut(key)`.
#[inline]
pub(crate) fn member_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if m.len() <= SCAN_MAX {
        m.iter_mut().find(|(k, _)| key_eq(k, key)).map(|(_, v)| v)
    } else {
        m.get_mut(key)
    }
}

/// `a == b`, comparing keys of 4 to 16 bytes (most keys) as two overlapping words
/// each rather than through `memcmp`.
#[inline]
fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or_default());
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
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
    fn sizes_are_those_of_serde_json_compact_text() {
        let mut every_byte = String::new();
        for c in (0u8..0x80).map(char::from).chain("é€😀\u{2028}".chars()) {
            every_byte.push(c);
        }
        let docs = [
            json!(null),
            json!(true),
            json!(false),
            json!([]),
            json!({}),
            json!([[], {}, [null]]),
            json!({"a": "bc", "": [1, -2.50, 1e300], "\"\\\n": {"x\u{1}": "\u{7f}"}}),
            json!(every_byte),
            json!({ every_byte.clone(): [every_byte.clone(), every_byte] }),
            serde_json::from_str(r#"[1.0, -0, 12345678901234567890123, 1E400, 0.1e-7]"#).unwrap(),
        ];
        for d in docs {
            assert_eq!(json_size(&d), compact(&d).len(), "{}", compact(&d));
            assert!(size_bound(&d) >= json_size(&d), "{}", compact(&d));
        }
        let controls: String = (0u8..0x20).map(char::from).filter(|c| !"\u{8}\t\n\u{c}\r".contains(*c)).collect();
        let d = json!({ controls.clone(): controls });
        assert_eq!(size_bound(&d), json_size(&d), "the bound is exact for text that is all \\u00XX escapes");
    }

    #[test]
    fn members_are_found_by_comparing_keys_of_every_length() {
        let keys: Vec<String> = (0..40).map(|n| (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect()).collect();
        for n in [3, SCAN_MAX, SCAN_MAX + 1, 40] {
            let mut m = Map::new();
            for (i, k) in keys[..n].iter().enumerate() {
                m.insert(k.clone(), json!(i));
            }
            for (i, k) in keys.iter().enumerate() {
                let want = (i < n).then(|| json!(i));
                assert_eq!(member(&m, k), want.as_ref(), "{k} in {n}");
                assert_eq!(member_mut(&mut m, k).map(|v| v.clone()), want, "{k} in {n}");
                let mut other = k.clone().into_bytes();
                if let Some(last) = other.last_mut() {
                    *last = b'_';
                    assert_eq!(member(&m, std::str::from_utf8(&other).unwrap()), None);
                }
                if other.len() > 1 {
                    other[0] = b'_';
                    assert_eq!(member(&m, std::str::from_utf8(&other).unwrap()), None);
                }
            }
        }
    }

    #[test]
    fn sizes_and_uuids() {
        assert_eq!(json_size(&json!({"a": "bc"})), r#"{"a":"bc"}"#.len());
        let u = random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
