//! Intrinsic functions (`States.Format(...)`, `States.ArrayPartition(...)`, ...): parsed
//! once at load (name, arity and argument syntax checked), evaluated with AWS's edge
//! behaviour (Java rounding in MathAdd, StringSplit's delimiter set, Format's rendering
//! of objects as Java maps, StringToJson of blank text giving null).

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::Value;

use chrono::DateTime;

use crate::env::{Ctx, Env, ExecInfo, Vars};
use crate::path::{take_path, JsonPath, Root};
use crate::value::{
    as_integer, bounded, compact, hex, java_string, json_number_f64, json_size, random_uuid, size_bound, values_equal,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(n: &str) -> Option<(Func, usize, usize)> {
        use Func::*;
        Some(match n {
            "States.Format" => (Format, 1, usize::MAX),
            "States.StringToJson" => (StringToJson, 1, 1),
            "States.JsonToString" => (JsonToString, 1, 1),
            "States.Array" => (Array, 0, usize::MAX),
            "States.ArrayPartition" => (ArrayPartition, 2, 2),
            "States.ArrayContains" => (ArrayContains, 2, 2),
            "States.ArrayRange" => (ArrayRange, 3, 3),
            "States.ArrayGetItem" => (ArrayGetItem, 2, 2),
            "States.ArrayLength" => (ArrayLength, 1, 1),
            "States.ArrayUnique" => (ArrayUnique, 1, 1),
            "States.Base64Encode" => (Base64Encode, 1, 1),
            "States.Base64Decode" => (Base64Decode, 1, 1),
            "States.Hash" => (Hash, 2, 2),
            "States.JsonMerge" => (JsonMerge, 3, 3),
            "States.MathRandom" => (MathRandom, 2, 3),
            "States.MathAdd" => (MathAdd, 2, 2),
            "States.StringSplit" => (StringSplit, 2, 2),
            "States.UUID" => (Uuid, 0, 0),
            _ => return None,
        })
    }
}

/// The integers `States.MathAdd` accepts (after rounding): Java's `int`.
const MATH_ADD_MIN: f64 = i32::MIN as f64;
const MATH_ADD_MAX: f64 = i32::MAX as f64;

/// One argument of a call.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A quoted literal: its value (escapes resolved), and its text as written (for Format).
    Str {
        value: Value,
        raw: String,
        /// The size of `value`.
        size: usize,
    },
    /// A literal (or a constant call's value) and its size.
    Lit(Value, usize),
    Path(JsonPath),
    Call(Box<Call>),
}

impl Arg {
    fn lit(v: Value) -> Arg {
        let size = json_size(&v);
        Arg::Lit(v, size)
    }
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
    pub text: Box<str>,
}

/// Why evaluating an expression failed at run time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EvalError {
    /// A definite path selected nothing (its text).
    Missing(Box<str>),
    /// An intrinsic function rejected its arguments.
    Intrinsic(String),
}

/// True when `text` is an intrinsic call rather than a path.
pub(crate) fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    pub fn parse(text: &str) -> Result<Call, String> {
        let mut p = P { t: text, i: 0 };
        p.ws();
        let call = p.call()?;
        p.ws();
        if p.i != text.len() {
            return Err(format!("unexpected text after the call: '{}'", &text[p.i..]));
        }
        Ok(call)
    }

    /// The call's value when it is the same at every evaluation: a function other than
    /// UUID and MathRandom whose arguments are all literals (nested constant calls are
    /// literals already) and that succeeds on them. Worked out once, at load.
    pub fn constant(&self) -> Option<Value> {
        if matches!(self.func, Func::Uuid | Func::MathRandom)
            || !self.args.iter().all(|a| matches!(a, Arg::Str { .. } | Arg::Lit(..)))
        {
            return None;
        }
        let exec = ExecInfo {
            name: "".into(),
            arn: "".into(),
            input: Value::Null,
            input_bound: 4,
            start_time: DateTime::UNIX_EPOCH,
            machine_arn: "".into(),
            machine_name: "",
            role_arn: "",
        };
        let ctx = Ctx { exec: &exec, state: "", entered: DateTime::UNIX_EPOCH, retry: 0, item: None };
        let vars = Vars::default();
        self.eval(&Value::Null, &Env { ctx: &ctx, vars: &vars }).ok()
    }

    pub fn eval(&self, data: &Value, env: &Env) -> Result<Value, EvalError> {
        if self.func == Func::Format {
            return self.format(data, env);
        }
        self.with_args(|a| eval_arg(a, data, env))
    }

    /// The function applied to its arguments as `arg` evaluates them (in order, up to
    /// the first that fails); on the stack for up to three.
    fn with_args<'x>(
        &'x self,
        mut arg: impl FnMut(&'x Arg) -> Result<Cow<'x, Value>, EvalError>,
    ) -> Result<Value, EvalError> {
        let args = &self.args;
        if args.len() <= 3 {
            let mut few: [Cow<Value>; 3] = Default::default();
            for (slot, a) in few.iter_mut().zip(args) {
                *slot = arg(a)?;
            }
            self.apply(&mut few[..args.len()])
        } else {
            let mut many = Vec::with_capacity(args.len());
            for a in args {
                many.push(arg(a)?);
            }
            self.apply(&mut many)
        }
    }

    /// Evaluates the call as [`Call::eval`] does, moving what its `$` paths select out of
    /// `data` (left `null` there) instead of copying it. The caller makes sure that those
    /// paths are disjoint and that every path of the call resolves.
    pub fn eval_taking(&self, data: &mut Value, env: &Env) -> Result<Value, EvalError> {
        if self.func == Func::Format {
            return self.format(data, env);
        }
        self.with_args(|a| take_arg(a, data, env))
    }

    /// The `$` paths of the call and of the calls nested in it.
    pub fn data_paths<'a>(&'a self, out: &mut Vec<&'a JsonPath>) {
        for a in &self.args {
            match a {
                Arg::Path(p) if p.root == Root::Data => out.push(p),
                Arg::Call(c) => c.data_paths(out),
                _ => {}
            }
        }
    }

    /// Whether every path of the call (any root) resolves.
    pub fn paths_resolve(&self, data: &Value, env: &Env) -> bool {
        self.args.iter().all(|a| match a {
            Arg::Path(p) => env.resolve(p, data).is_ok(),
            Arg::Call(c) => c.paths_resolve(data, env),
            _ => true,
        })
    }

    /// The function applied to its evaluated arguments (all but Format's).
    fn apply(&self, vals: &mut [Cow<Value>]) -> Result<Value, EvalError> {
        let fail = |m: String| Err(EvalError::Intrinsic(format!("The function '{}' failed: {m}", self.text)));
        let arr = |i: usize| -> Result<&Vec<Value>, EvalError> {
            vals[i].as_array().ok_or_else(|| {
                EvalError::Intrinsic(format!("The function '{}' expects an array as argument {}", self.text, i + 1))
            })
        };
        let string = |i: usize| -> Result<&str, EvalError> {
            vals[i].as_str().ok_or_else(|| {
                EvalError::Intrinsic(format!("The function '{}' expects a string as argument {}", self.text, i + 1))
            })
        };
        let int = |i: usize| -> Result<i64, EvalError> {
            match &*vals[i] {
                Value::Number(n) => as_integer(n),
                _ => None,
            }
            .ok_or_else(|| {
                EvalError::Intrinsic(format!("The function '{}' expects an integer as argument {}", self.text, i + 1))
            })
        };
        Ok(match self.func {
            Func::Format => unreachable!("States.Format evaluates its own arguments"),
            Func::StringToJson => {
                let s = string(0)?;
                if s.trim().is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_str(s) {
                        Ok(v) => v,
                        Err(e) => return fail(format!("the string is not valid JSON ({e})")),
                    }
                }
            }
            Func::JsonToString => Value::String(compact(&vals[0])),
            Func::Array => Value::Array(vals.iter_mut().map(|v| std::mem::take(v).into_owned()).collect()),
            Func::ArrayPartition => {
                let items = arr(0)?;
                let size = int(1)?;
                if size <= 0 {
                    return fail("the chunk size must be greater than 0".into());
                }
                Value::Array(items.chunks(size as usize).map(|c| Value::Array(c.to_vec())).collect())
            }
            Func::ArrayContains => Value::Bool(arr(0)?.iter().any(|x| values_equal(x, &vals[1]))),
            Func::ArrayRange => {
                let (start, end, step) = (int(0)?, int(1)?, int(2)?);
                if step == 0 {
                    return fail("the step must not be 0".into());
                }
                let mut out = Vec::new();
                let mut k = start;
                while (step > 0 && k <= end) || (step < 0 && k >= end) {
                    out.push(Value::from(k));
                    if out.len() > 1000 {
                        return fail("the range has more than 1000 items".into());
                    }
                    // Past i64's limits the range has ended.
                    let Some(n) = k.checked_add(step) else { break };
                    k = n;
                }
                Value::Array(out)
            }
            Func::ArrayGetItem => {
                let items = arr(0)?;
                let i = int(1)?;
                match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                    Some(v) => v.clone(),
                    None => return fail(format!("the index {i} is out of bounds")),
                }
            }
            Func::ArrayLength => Value::from(arr(0)?.len()),
            Func::ArrayUnique => {
                let mut out: Vec<Value> = Vec::new();
                for x in arr(0)? {
                    if !out.iter().any(|y| values_equal(x, y)) {
                        out.push(x.clone());
                    }
                }
                Value::Array(out)
            }
            Func::Base64Encode => {
                let s = string(0)?;
                if s.chars().count() > 10_000 {
                    return fail("the input is longer than 10000 characters".into());
                }
                Value::String(base64::engine::general_purpose::STANDARD.encode(s))
            }
            Func::Base64Decode => {
                let s = string(0)?;
                match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
                    Err(e) => return fail(format!("the input is not valid Base64 ({e})")),
                }
            }
            Func::Hash => {
                let s = string(0)?;
                let alg = string(1)?;
                Value::String(match alg {
                    "MD5" => {
                        use md5::Digest;
                        hex(&md5::Md5::digest(s.as_bytes()))
                    }
                    "SHA-1" => {
                        use sha1::Digest;
                        hex(&sha1::Sha1::digest(s.as_bytes()))
                    }
                    "SHA-256" => {
                        use sha2::Digest;
                        hex(&sha2::Sha256::digest(s.as_bytes()))
                    }
                    "SHA-384" => {
                        use sha2::Digest;
                        hex(&sha2::Sha384::digest(s.as_bytes()))
                    }
                    "SHA-512" => {
                        use sha2::Digest;
                        hex(&sha2::Sha512::digest(s.as_bytes()))
                    }
                    other => {
                        return fail(format!(
                            "the hash algorithm '{other}' is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
                        ))
                    }
                })
            }
            Func::JsonMerge => {
                if vals[0].as_object().is_none() || vals[1].as_object().is_none() {
                    return fail("both arguments to merge must be JSON objects".into());
                }
                if vals[2].as_bool() != Some(false) {
                    return fail("only a shallow merge is supported: the third argument must be false".into());
                }
                let b = std::mem::take(&mut vals[1]);
                merge(std::mem::take(&mut vals[0]), b)
            }
            Func::MathRandom => {
                let (lo, hi) = (int(0)?, int(1)?);
                if lo >= hi {
                    return fail("the start must be less than the end".into());
                }
                let mut rng = match vals.get(2) {
                    Some(_) => fastrand::Rng::with_seed(int(2)? as u64),
                    None => fastrand::Rng::new(),
                };
                Value::from(rng.i64(lo..hi))
            }
            Func::MathAdd => {
                let mut sum: i64 = 0;
                for (i, v) in vals.iter().enumerate() {
                    let Value::Number(n) = &**v else {
                        return Err(EvalError::Intrinsic(format!(
                            "The function '{}' expects a number as argument {}",
                            self.text,
                            i + 1
                        )));
                    };
                    // Java's Math.round: half up, towards positive infinity.
                    let rounded = (json_number_f64(n) + 0.5).floor();
                    // AWS takes integers from -2147483648 to 2147483647 (Java ints), so
                    // the sum of two never overflows.
                    if !(MATH_ADD_MIN..=MATH_ADD_MAX).contains(&rounded) {
                        return Err(EvalError::Intrinsic(format!(
                            "The function '{}' expects an integer between -2147483648 and 2147483647 as argument {}",
                            self.text,
                            i + 1
                        )));
                    }
                    sum += rounded as i64;
                }
                Value::from(sum)
            }
            Func::StringSplit => {
                let s = string(0)?;
                let delims: Vec<char> = string(1)?.chars().collect();
                Value::Array(
                    s.split(|c| delims.contains(&c))
                        .filter(|p| !p.is_empty())
                        .map(|p| Value::String(p.to_owned()))
                        .collect(),
                )
            }
            Func::Uuid => Value::String(random_uuid()),
        })
    }

    /// Evaluates the call, with an upper bound of the result's size (`$` bounded by
    /// `data_bound`): computed from the arguments' bounds where the function allows it,
    /// else the result's exact size.
    pub fn eval_sized(&self, data: &Value, data_bound: usize, env: &Env) -> Result<(Value, usize), EvalError> {
        let v = self.eval(data, env)?;
        let n = self.bound(data_bound, env).unwrap_or_else(|| size_bound(&v));
        Ok(bounded(v, n))
    }

    /// An upper bound of the result's size known without evaluating the call, if one
    /// is cheap to know.
    pub fn bound(&self, data_bound: usize, env: &Env) -> Option<usize> {
        let arg = |i: usize| arg_bound(&self.args[i], data_bound, env);
        Some(match self.func {
            // An i64 or usize in decimal, a boolean, a UUID, a SHA-512 in hex.
            Func::ArrayLength | Func::MathAdd | Func::MathRandom => 20,
            Func::ArrayContains => 5,
            Func::Uuid => 38,
            Func::Hash => 130,
            // Every member comes from one of the two objects.
            Func::JsonMerge => arg(0)?.saturating_add(arg(1)?),
            Func::Array => {
                let mut n = 2 + self.args.len().saturating_sub(1);
                for a in &self.args {
                    n = n.saturating_add(arg_bound(a, data_bound, env)?);
                }
                n
            }
            // Numbers keep their text and escapes never grow when JSON is re-serialized,
            // so the value is no longer than the text ("null" for blank text).
            Func::StringToJson => arg(0)?.max(4),
            // Escaping the text at most doubles it; chunks add two brackets per element
            // at most, and an element takes at least two bytes with its comma.
            Func::JsonToString | Func::ArrayPartition => arg(0)?.saturating_mul(2).saturating_add(2),
            Func::ArrayGetItem | Func::ArrayUnique => arg(0)?,
            _ => return None,
        })
    }

    fn format(&self, data: &Value, env: &Env) -> Result<Value, EvalError> {
        let (template, escaped) = match &self.args[0] {
            Arg::Str { raw, .. } => (Cow::Borrowed(raw.as_str()), true),
            other => match &*eval_arg(other, data, env)? {
                Value::String(s) => (Cow::Owned(s.clone()), false),
                _ => {
                    return Err(EvalError::Intrinsic(format!(
                        "The function '{}' expects a string template as argument 1",
                        self.text
                    )))
                }
            },
        };
        let mut out = String::with_capacity(template.len() + 16);
        let mut next = 1;
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if escaped => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                '{' if chars.peek() == Some(&'}') => {
                    chars.next();
                    let Some(arg) = self.args.get(next) else {
                        return Err(EvalError::Intrinsic(format!(
                            "The function '{}' has more placeholders than arguments",
                            self.text
                        )));
                    };
                    next += 1;
                    out.push_str(&java_string(&*eval_arg(arg, data, env)?));
                }
                c => out.push(c),
            }
        }
        if next != self.args.len() {
            return Err(EvalError::Intrinsic(format!(
                "The function '{}' has more arguments than placeholders",
                self.text
            )));
        }
        Ok(Value::String(out))
    }
}

/// The shallow merge of two objects: `a`'s members, replaced or followed by `b`'s.
fn merge(a: Cow<Value>, b: Cow<Value>) -> Value {
    let (Value::Object(am), Value::Object(bm)) = (&*a, &*b) else { unreachable!("both arguments are objects") };
    // When `b` begins with `a`'s keys in `a`'s order (`{"x": null}` merged with an
    // input that has `x` first), `b` replaces every member of `a` in place: the merge
    // is `b` itself.
    if am.len() <= bm.len() && am.keys().zip(bm.keys()).all(|(x, y)| x == y) {
        return b.into_owned();
    }
    let Value::Object(mut out) = a.into_owned() else { unreachable!("an object") };
    match b {
        Cow::Owned(Value::Object(bm)) => {
            for (k, v) in bm {
                out.insert(k, v);
            }
        }
        b => {
            for (k, v) in b.as_object().into_iter().flatten() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn eval_arg<'x>(a: &'x Arg, data: &'x Value, env: &'x Env) -> Result<Cow<'x, Value>, EvalError> {
    match a {
        Arg::Str { value, .. } => Ok(Cow::Borrowed(value)),
        Arg::Lit(v, _) => Ok(Cow::Borrowed(v)),
        Arg::Path(p) => env.resolve(p, data).map_err(|_| EvalError::Missing(p.text.clone())),
        Arg::Call(c) => c.eval(data, env).map(Cow::Owned),
    }
}

/// An argument as [`eval_arg`] gives it, what a `$` path selects moved out of `data`.
fn take_arg<'x>(a: &'x Arg, data: &mut Value, env: &'x Env) -> Result<Cow<'x, Value>, EvalError> {
    match a {
        Arg::Path(p) if p.root == Root::Data => {
            take_path(data, p).map(Cow::Owned).ok_or_else(|| EvalError::Missing(p.text.clone()))
        }
        Arg::Path(p) => env.resolve_outside(p).map_err(|_| EvalError::Missing(p.text.clone())),
        Arg::Call(c) => c.eval_taking(data, env).map(Cow::Owned),
        Arg::Str { value, .. } => Ok(Cow::Borrowed(value)),
        Arg::Lit(v, _) => Ok(Cow::Borrowed(v)),
    }
}

fn arg_bound(a: &Arg, data_bound: usize, env: &Env) -> Option<usize> {
    match a {
        Arg::Str { size, .. } | Arg::Lit(_, size) => Some(*size),
        Arg::Path(p) => env.bound(p, data_bound),
        Arg::Call(c) => c.bound(data_bound, env),
    }
}

struct P<'t> {
    t: &'t str,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.t[self.i..].chars().next()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += self.peek().map_or(1, char::len_utf8);
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let from = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
            self.i += 1;
        }
        let name = &self.t[from..self.i];
        let Some((func, min, max)) = Func::from_name(name) else {
            return Err(format!("'{name}' is not a supported intrinsic function"));
        };
        self.ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.peek() == Some(')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg()?);
                self.ws();
                match self.peek() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!("{name} takes {want} argument(s), got {}", args.len()));
        }
        if func == Func::Format {
            if let Arg::Str { raw, .. } = &args[0] {
                let placeholders = count_placeholders(raw);
                if placeholders != args.len() - 1 {
                    return Err(format!(
                        "States.Format's template has {placeholders} placeholder(s) for {} argument(s)",
                        args.len() - 1
                    ));
                }
            }
        }
        Ok(Call { func, args, text: self.t[from..self.i].into() })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => {
                self.i += 1;
                let start = self.i;
                let mut value = String::new();
                let mut chars = self.t[start..].char_indices();
                while let Some((k, c)) = chars.next() {
                    match c {
                        '\'' => {
                            self.i = start + k + 1;
                            let value = Value::String(value);
                            return Ok(Arg::Str {
                                size: json_size(&value),
                                value,
                                raw: self.t[start..start + k].to_owned(),
                            });
                        }
                        '\\' => match chars.next() {
                            Some((_, n)) => value.push(n),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
                Err("unterminated string literal".into())
            }
            Some('$') => {
                let from = self.i;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '\'' | '"' if depth > 0 => quote = Some(c),
                            '[' | '(' => depth += 1,
                            ']' => depth -= 1,
                            ')' if depth > 0 => depth -= 1,
                            ')' | ',' if depth == 0 => break,
                            c if c.is_whitespace() && depth == 0 => break,
                            _ => {}
                        }
                    }
                    self.i += c.len_utf8();
                }
                let text = &self.t[from..self.i];
                JsonPath::parse(text).map(Arg::Path).map_err(|e| format!("invalid path '{text}': {}", e.0))
            }
            Some('S') => {
                let call = self.call()?;
                Ok(match call.constant() {
                    Some(v) => Arg::lit(v),
                    None => Arg::Call(Box::new(call)),
                })
            }
            _ => {
                let from = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')) {
                    self.i += 1;
                }
                let word = &self.t[from..self.i];
                match word {
                    "true" => Ok(Arg::lit(Value::Bool(true))),
                    "false" => Ok(Arg::lit(Value::Bool(false))),
                    "null" => Ok(Arg::lit(Value::Null)),
                    _ => match serde_json::from_str::<Value>(word) {
                        Ok(v @ Value::Number(_)) => Ok(Arg::lit(v)),
                        _ => Err(format!("'{word}' is not a valid argument")),
                    },
                }
            }
        }
    }
}

fn count_placeholders(raw: &str) -> usize {
    let mut n = 0;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                n += 1;
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Ctx, ExecInfo, Vars};
    use serde_json::json;

    fn run(expr: &str, data: Value) -> Result<Value, EvalError> {
        let exec = ExecInfo::for_tests(json!({"input_field": {"k": "v"}}));
        let ctx = Ctx { exec: &exec, state: "S", entered: chrono::Utc::now(), retry: 0, item: None };
        let vars = Vars::default();
        let env = Env { ctx: &ctx, vars: &vars };
        // Every result is checked against its size bound as well.
        let call = Call::parse(expr).unwrap();
        let (v, bound) = call.eval_sized(&data, json_size(&data), &env)?;
        assert!(json_size(&v) <= bound, "{expr}: size bound {bound} < {}", json_size(&v));
        assert_eq!(call.eval(&data, &env)?.is_null(), v.is_null());
        Ok(v)
    }

    fn num(t: &str) -> Value {
        serde_json::from_str(t).unwrap()
    }

    #[test]
    fn math_add_rounds_each_argument_like_java() {
        for (a, b, want) in
            [("1.49", "1.5", 3), ("1.5", "1.51", 4), ("-1.5", "-1.51", -3), ("-0.5", "0", 0), ("-2.5", "0", -2)]
        {
            let got = run("States.MathAdd($.a, $.b)", json!({"a": num(a), "b": num(b)})).unwrap();
            assert_eq!(got, json!(want), "{a} + {b}");
        }
    }

    #[test]
    fn math_add_takes_java_ints_and_never_overflows() {
        let add = |a: &str, b: &str| run("States.MathAdd($.a, $.b)", json!({"a": num(a), "b": num(b)}));
        assert_eq!(add("2147483647", "2147483647").unwrap(), json!(4294967294i64));
        assert_eq!(add("-2147483648", "-2147483648").unwrap(), json!(-4294967296i64));
        assert_eq!(add("2147483647.4", "-2147483648.5").unwrap(), json!(-1));
        for (a, b, arg) in [
            ("9223372036854775807", "1", 1),
            ("1", "-9223372036854775808", 2),
            ("2147483647.5", "0", 1),
            ("0", "-2147483648.6", 2),
            ("1e300", "1e300", 1),
            ("1E400", "0", 1),
        ] {
            let Err(EvalError::Intrinsic(m)) = add(a, b) else { panic!("{a} + {b} should fail") };
            assert_eq!(
                m,
                format!(
                    "The function 'States.MathAdd($.a, $.b)' expects an integer between -2147483648 and 2147483647 \
                     as argument {arg}"
                ),
                "{a} + {b}"
            );
        }
    }

    #[test]
    fn array_range_stops_at_the_limits_of_i64() {
        assert_eq!(
            run("States.ArrayRange(9223372036854775806, 9223372036854775807, 5)", json!({})).unwrap(),
            json!([9223372036854775806i64])
        );
        assert_eq!(
            run("States.ArrayRange(-9223372036854775807, -9223372036854775808, -1)", json!({})).unwrap(),
            json!([-9223372036854775807i64, -9223372036854775808i64])
        );
    }

    #[test]
    fn format_renders_like_java() {
        let d = json!({"o": {"Arg1": 1, "Arg2": []}, "n": null});
        assert_eq!(run("States.Format('x={} y={}', $.o, $.n)", d).unwrap(), json!("x={Arg1=1, Arg2=[]} y=null"));
        assert_eq!(run("States.Format('\\{{}\\}', 'a')", json!({})).unwrap(), json!("{a}"));
        assert!(Call::parse("States.Format('{} {}', 1)").is_err());
    }

    #[test]
    fn string_split_uses_a_set_of_delimiters_and_drops_empty_parts() {
        let d = json!({"s": "This.is+a,test=string", "e": ", , ,"});
        assert_eq!(
            run("States.StringSplit($.s, '.+,=')", d.clone()).unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(run("States.StringSplit($.e, ',')", d).unwrap(), json!([" ", " "]));
    }

    #[test]
    fn arrays_json_hash_and_base64() {
        assert_eq!(
            run("States.ArrayPartition(States.ArrayRange(0, 4, 1), 2)", json!({})).unwrap(),
            json!([[0, 1], [2, 3], [4]])
        );
        assert_eq!(run("States.ArrayUnique(States.Array(1, 2, 2, 1))", json!({})).unwrap(), json!([1, 2]));
        assert_eq!(run("States.ArrayGetItem(States.Array(5, 6), 1)", json!({})).unwrap(), json!(6));
        assert_eq!(run("States.StringToJson(' ')", json!({})).unwrap(), json!(null));
        assert_eq!(run("States.JsonToString($)", json!({"a": [1]})).unwrap(), json!("{\"a\":[1]}"));
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(run("States.Base64Decode(States.Base64Encode('Data'))", json!({})).unwrap(), json!("Data"));
        assert_eq!(
            run(
                "States.JsonMerge(States.StringToJson('{\"a\": 1}'), $$.Execution.Input.input_field, false)",
                json!({})
            )
            .unwrap(),
            json!({"a": 1, "k": "v"})
        );
    }

    #[test]
    fn errors_are_reported() {
        assert!(matches!(run("States.ArrayGetItem(States.Array(1), 3)", json!({})), Err(EvalError::Intrinsic(_))));
        assert_eq!(run("States.ArrayLength($.nope)", json!({})), Err(EvalError::Missing("$.nope".into())));
        assert!(Call::parse("States.Nope(1)").is_err());
        assert!(Call::parse("States.ArrayLength(1, 2)").is_err());
        assert!(Call::parse("States.Array(1").is_err());
    }

    #[test]
    fn size_bounds_hold_where_results_outgrow_their_arguments() {
        // `run` checks every result against its bound, with `$` bounded exactly.
        let quotes = json!({"k": "\"\\\"\\", "n": [1, 2, 3]});
        run("States.JsonToString($)", quotes.clone()).unwrap();
        run("States.JsonToString($.k)", quotes.clone()).unwrap();
        run("States.ArrayPartition($.n, 1)", quotes.clone()).unwrap();
        run("States.Array($, $, $.k, 1, 'x')", quotes.clone()).unwrap();
        run("States.JsonMerge($, $, false)", quotes.clone()).unwrap();
        run("States.StringToJson($)", json!("[1.50e3, \"\\u00e9\", {\"a\": null}]")).unwrap();
        run("States.StringToJson($)", json!("  ")).unwrap();
        run("States.ArrayGetItem($.n, 2)", quotes.clone()).unwrap();
        run("States.ArrayUnique($.n)", quotes.clone()).unwrap();
        run("States.Hash($.k, 'SHA-512')", quotes.clone()).unwrap();
        run("States.MathAdd(-2147483648, -2147483648)", json!({})).unwrap();
        run("States.ArrayLength(States.ArrayRange(1, 1000, 1))", json!({})).unwrap();
    }
}
