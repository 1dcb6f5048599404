//! Choice rules: every comparison operator, its `…Path` form, the `Is…` tests and
//! `And`/`Or`/`Not`, compiled at load. A comparison whose operand has the wrong type is
//! false (never an error), as in AWS.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::env::Env;
use crate::path::{JsonPath, Miss};
use crate::value::json_number_f64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Str,
    Num,
    Bool,
    Ts,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Rel {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum IsTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Rhs {
    Lit(Value),
    Path(JsonPath),
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare { var: JsonPath, kind: Kind, rel: Rel, rhs: Rhs },
    Matches { var: JsonPath, pattern: Vec<Piece> },
    Is { var: JsonPath, test: IsTest, expect: bool },
}

/// A piece of a `StringMatches` pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Lit(String),
    Star,
}

const COMPARISONS: [(&str, Kind, Rel); 16] = [
    ("StringEquals", Kind::Str, Rel::Eq),
    ("StringLessThan", Kind::Str, Rel::Lt),
    ("StringGreaterThan", Kind::Str, Rel::Gt),
    ("StringLessThanEquals", Kind::Str, Rel::Le),
    ("StringGreaterThanEquals", Kind::Str, Rel::Ge),
    ("NumericEquals", Kind::Num, Rel::Eq),
    ("NumericLessThan", Kind::Num, Rel::Lt),
    ("NumericGreaterThan", Kind::Num, Rel::Gt),
    ("NumericLessThanEquals", Kind::Num, Rel::Le),
    ("NumericGreaterThanEquals", Kind::Num, Rel::Ge),
    ("BooleanEquals", Kind::Bool, Rel::Eq),
    ("TimestampEquals", Kind::Ts, Rel::Eq),
    ("TimestampLessThan", Kind::Ts, Rel::Lt),
    ("TimestampGreaterThan", Kind::Ts, Rel::Gt),
    ("TimestampLessThanEquals", Kind::Ts, Rel::Le),
    ("TimestampGreaterThanEquals", Kind::Ts, Rel::Ge),
];

const IS_TESTS: [(&str, IsTest); 6] = [
    ("IsNull", IsTest::Null),
    ("IsPresent", IsTest::Present),
    ("IsNumeric", IsTest::Numeric),
    ("IsString", IsTest::String),
    ("IsBoolean", IsTest::Boolean),
    ("IsTimestamp", IsTest::Timestamp),
];

/// Every operator name a rule may use.
pub(crate) fn is_operator(key: &str) -> bool {
    let base = key.strip_suffix("Path").unwrap_or(key);
    COMPARISONS.iter().any(|(n, _, _)| *n == base)
        || key == "StringMatches"
        || IS_TESTS.iter().any(|(n, _)| *n == key)
        || matches!(key, "And" | "Or" | "Not")
}

/// Compiles one rule (without its `Next`/`Assign`); errors are (field, message).
pub(crate) fn compile(rule: &Map<String, Value>, top: bool) -> Result<Cond, (String, String)> {
    if !top && rule.contains_key("Next") {
        return Err(("Next".into(), "A nested choice rule must not have a 'Next' field".into()));
    }
    let allowed_extra: &[&str] = if top { &["Next", "Assign", "Comment"] } else { &["Comment"] };
    for k in rule.keys() {
        if !(k == "Variable" || is_operator(k) || allowed_extra.contains(&k.as_str())) {
            return Err((k.clone(), format!("Field '{k}' is not supported in a choice rule")));
        }
    }
    let ops: Vec<&String> = rule.keys().filter(|k| is_operator(k)).collect();
    if ops.len() != 1 {
        return Err((
            String::new(),
            format!("A choice rule must have exactly one comparison or And/Or/Not, found {}", ops.len()),
        ));
    }
    let op = ops[0].as_str();
    let value = &rule[op];
    match op {
        "And" | "Or" => {
            let Some(list) = value.as_array().filter(|l| !l.is_empty()) else {
                return Err((op.into(), format!("'{op}' must be a non-empty array of choice rules")));
            };
            let mut subs = Vec::with_capacity(list.len());
            for (i, r) in list.iter().enumerate() {
                let Some(m) = r.as_object() else {
                    return Err((format!("{op}[{i}]"), "A choice rule must be an object".into()));
                };
                subs.push(compile(m, false).map_err(|(f, e)| (format!("{op}[{i}]/{f}"), e))?);
            }
            if rule.contains_key("Variable") {
                return Err(("Variable".into(), format!("'{op}' rules must not have a 'Variable'")));
            }
            return Ok(if op == "And" { Cond::And(subs) } else { Cond::Or(subs) });
        }
        "Not" => {
            let Some(m) = value.as_object() else {
                return Err(("Not".into(), "'Not' must be a choice rule object".into()));
            };
            return Ok(Cond::Not(Box::new(compile(m, false).map_err(|(f, e)| (format!("Not/{f}"), e))?)));
        }
        _ => {}
    }
    let Some(var_text) = rule.get("Variable").and_then(Value::as_str) else {
        return Err(("Variable".into(), "A comparison needs a 'Variable' path".into()));
    };
    let var = JsonPath::parse(var_text)
        .map_err(|e| ("Variable".to_string(), format!("Value is not a valid JSONPath: {} ({})", var_text, e.0)))?;
    if let Some((_, test)) = IS_TESTS.iter().find(|(n, _)| *n == op) {
        let Some(expect) = value.as_bool() else {
            return Err((op.into(), format!("'{op}' must be true or false")));
        };
        return Ok(Cond::Is { var, test: *test, expect });
    }
    if op == "StringMatches" {
        let Some(p) = value.as_str() else {
            return Err((op.into(), "'StringMatches' must be a string".into()));
        };
        return Ok(Cond::Matches { var, pattern: parse_pattern(p) });
    }
    let (base, is_path) = match op.strip_suffix("Path") {
        Some(b) => (b, true),
        None => (op, false),
    };
    let (_, kind, rel) = COMPARISONS.iter().find(|(n, _, _)| *n == base).copied().expect("checked by is_operator");
    let rhs = if is_path {
        let Some(t) = value.as_str() else {
            return Err((op.into(), format!("'{op}' must be a path")));
        };
        Rhs::Path(
            JsonPath::parse(t)
                .map_err(|e| (op.to_string(), format!("Value is not a valid JSONPath: {t} ({})", e.0)))?,
        )
    } else {
        let ok = match kind {
            Kind::Str => value.is_string(),
            Kind::Num => value.is_number(),
            Kind::Bool => value.is_boolean(),
            Kind::Ts => value.as_str().is_some_and(|s| crate::timestamp::parse(s).is_some()),
        };
        if !ok {
            let want = match kind {
                Kind::Str => "a string",
                Kind::Num => "a number",
                Kind::Bool => "a boolean",
                Kind::Ts => "an RFC3339 timestamp",
            };
            return Err((op.into(), format!("'{op}' must be {want}")));
        }
        Rhs::Lit(value.clone())
    };
    Ok(Cond::Compare { var, kind, rel, rhs })
}

fn parse_pattern(p: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    lit.push(n);
                }
            }
            '*' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Star);
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

fn glob(pieces: &[Piece], s: &str) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((Piece::Lit(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|t| glob(rest, t)),
        Some((Piece::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            s.char_indices().map(|(i, _)| i).chain([s.len()]).any(|i| glob(rest, &s[i..]))
        }
    }
}

/// A rule that could not be evaluated: the path that selected nothing.
pub(crate) struct InvalidPath(pub Box<str>);

fn resolve_var<'x>(var: &JsonPath, data: &'x Value, env: &'x Env) -> Result<Option<std::borrow::Cow<'x, Value>>, Miss> {
    match env.resolve(var, data) {
        Ok(v) => Ok(Some(v)),
        Err(Miss::NoResults) | Err(Miss::NoVariable) => Ok(None),
        Err(m) => Err(m),
    }
}

impl Cond {
    pub fn eval(&self, data: &Value, env: &Env) -> Result<bool, InvalidPath> {
        match self {
            Cond::And(subs) => {
                for s in subs {
                    if !s.eval(data, env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Or(subs) => {
                for s in subs {
                    if s.eval(data, env)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::Not(s) => Ok(!s.eval(data, env)?),
            Cond::Is { var, test, expect } => {
                let v = resolve_var(var, data, env).ok().flatten();
                let got = match (test, v.as_deref()) {
                    (IsTest::Present, v) => v.is_some(),
                    (_, None) => false,
                    (IsTest::Null, Some(v)) => v.is_null(),
                    (IsTest::Numeric, Some(v)) => v.is_number(),
                    (IsTest::String, Some(v)) => v.is_string(),
                    (IsTest::Boolean, Some(v)) => v.is_boolean(),
                    (IsTest::Timestamp, Some(v)) => v.as_str().is_some_and(|s| crate::timestamp::parse(s).is_some()),
                };
                Ok(got == *expect)
            }
            Cond::Matches { var, pattern } => {
                let v = self.operand(var, data, env)?;
                Ok(v.as_str().is_some_and(|s| glob(pattern, s)))
            }
            Cond::Compare { var, kind, rel, rhs } => {
                let left = self.operand(var, data, env)?;
                let right = match rhs {
                    Rhs::Lit(v) => std::borrow::Cow::Borrowed(v),
                    Rhs::Path(p) => self.operand(p, data, env)?,
                };
                let ord = match kind {
                    Kind::Str => match (left.as_str(), right.as_str()) {
                        (Some(a), Some(b)) => Some(a.encode_utf16().cmp(b.encode_utf16())),
                        _ => None,
                    },
                    Kind::Num => match (&*left, &*right) {
                        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
                        _ => None,
                    },
                    Kind::Bool => match (left.as_bool(), right.as_bool()) {
                        (Some(a), Some(b)) => return Ok(a == b),
                        _ => None,
                    },
                    Kind::Ts => match (timestamp(&left), timestamp(&right)) {
                        (Some(a), Some(b)) => Some(a.cmp(&b)),
                        _ => None,
                    },
                };
                Ok(ord.is_some_and(|o| match rel {
                    Rel::Eq => o == Ordering::Equal,
                    Rel::Lt => o == Ordering::Less,
                    Rel::Gt => o == Ordering::Greater,
                    Rel::Le => o != Ordering::Greater,
                    Rel::Ge => o != Ordering::Less,
                }))
            }
        }
    }

    fn operand<'x>(
        &self,
        p: &JsonPath,
        data: &'x Value,
        env: &'x Env,
    ) -> Result<std::borrow::Cow<'x, Value>, InvalidPath> {
        match resolve_var(p, data, env) {
            Ok(Some(v)) => Ok(v),
            _ => Err(InvalidPath(p.text.clone())),
        }
    }
}

fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(crate::timestamp::parse)
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    json_number_f64(a).partial_cmp(&json_number_f64(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Ctx, ExecInfo, Vars};
    use serde_json::json;

    fn check(rule: Value, data: Value) -> Result<bool, String> {
        let exec = ExecInfo::for_tests(json!({}));
        let ctx = Ctx { exec: &exec, state: "S", entered: chrono::Utc::now(), retry: 0, item: None };
        let vars = Vars::default();
        let env = Env { ctx: &ctx, vars: &vars };
        let cond = compile(rule.as_object().unwrap(), false).map_err(|e| e.1)?;
        cond.eval(&data, &env).map_err(|e| e.0.to_string())
    }

    #[test]
    fn mismatched_types_are_false() {
        assert_eq!(check(json!({"Variable": "$.v", "NumericEquals": 0}), json!({"v": "0"})), Ok(false));
        assert_eq!(check(json!({"Variable": "$.v", "BooleanEquals": false}), json!({"v": 0})), Ok(false));
        assert_eq!(check(json!({"Variable": "$.v", "StringEquals": "1"}), json!({"v": 1})), Ok(false));
        assert_eq!(
            check(json!({"Variable": "$.v", "TimestampEquals": "2012-10-09T19:00:55Z"}), json!({"v": "x"})),
            Ok(false)
        );
    }

    #[test]
    fn comparisons_and_paths() {
        let d: Value = serde_json::from_str(r#"{"a": 1.0, "b": 1, "s": "AB", "t": "A"}"#).unwrap();
        assert_eq!(check(json!({"Variable": "$.a", "NumericEqualsPath": "$.b"}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.s", "StringGreaterThanPath": "$.t"}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.s", "StringLessThanEquals": "A"}), d.clone()), Ok(false));
        assert_eq!(
            check(
                json!({"And": [{"Variable": "$.a", "NumericGreaterThanEquals": 1}, {"Not": {"Variable": "$.t", "StringEquals": "B"}}]}),
                d
            ),
            Ok(true)
        );
    }

    #[test]
    fn string_matches_with_wildcards_and_escapes() {
        let d = json!({"f": "log-2024.txt", "g": "a*b"});
        assert_eq!(check(json!({"Variable": "$.f", "StringMatches": "log-*.txt"}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.f", "StringMatches": "*.csv"}), d.clone()), Ok(false));
        assert_eq!(check(json!({"Variable": "$.g", "StringMatches": "a\\*b"}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.f", "StringMatches": "a\\*b"}), d), Ok(false));
    }

    #[test]
    fn is_tests_and_missing_variables() {
        let d = json!({"n": null, "t": "2012-10-09T19:00:55Z"});
        assert_eq!(check(json!({"Variable": "$.x", "IsPresent": false}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.n", "IsNull": true}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.t", "IsTimestamp": true}), d.clone()), Ok(true));
        assert_eq!(check(json!({"Variable": "$.x", "StringEquals": "a"}), d), Err("$.x".into()));
    }

    #[test]
    fn malformed_rules_are_rejected() {
        assert!(check(json!({"Variable": "$.x", "NumericEquals": "1"}), json!({})).is_err());
        assert!(check(json!({"Variable": "$.x", "Foo": 1}), json!({})).is_err());
        assert!(check(json!({"Variable": "$.x", "IsNull": true, "IsString": true}), json!({})).is_err());
        assert!(check(json!({"And": []}), json!({})).is_err());
    }
}
