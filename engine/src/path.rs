//! JSONPath as Step Functions evaluates it: parsed once at load, evaluated many times.
//!
//! Step Functions (JSONPath query language) follows Jayway JsonPath: a *definite* path
//! (only names and single indexes) yields one value or fails with Jayway's message
//! ("No results for path: $['a']", "Missing property in path $['a']"); an *indefinite*
//! path (wildcards, slices, unions, filters, deep scans) yields an array, empty when
//! nothing matches. Three roots exist: `$` (the state's data), `$$` (the context object)
//! and `$name` (a variable).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::value::{json_number_f64, member, member_mut, values_equal};

/// Where a path starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Root {
    /// `$`: the data the path is applied to.
    Data,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable.
    Variable(Box<str>),
}

/// One step of a path.
#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Field(Box<str>),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Indexes(Vec<i64>),
    Fields(Vec<Box<str>>),
    Filter(Box<Filter>),
    /// `..x`: the inner selector applied at every depth.
    Deep(Box<Seg>),
    /// `.length()`: the size of an array, object or string.
    Length,
}

impl Seg {
    fn definite(&self) -> bool {
        matches!(self, Seg::Field(_) | Seg::Index(_) | Seg::Length)
    }
}

/// A parsed JSONPath.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath {
    pub text: Box<str>,
    pub root: Root,
    pub segs: Vec<Seg>,
    pub definite: bool,
    /// `$` followed by names only (`$.a.b`): see [`JsonPath::lookup`].
    pub names: bool,
    /// For `$$.A.B`, the leaf of the context object it reads, if one of those the
    /// context gives without being built (`$$.Execution.Name`, ...).
    pub leaf: Option<u8>,
}

/// Why a definite path selected nothing; [`JsonPath::miss_message`] words it as Jayway does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Miss {
    /// The last step found nothing.
    NoResults,
    /// A step before the last found no such property (index of the step).
    MissingProperty(usize),
    /// A property step met a value that is not an object.
    NotObject(usize, &'static str),
    /// An index step met a value that is not an array.
    NotArray(usize, String),
    /// An index step met null.
    Null(usize),
    /// The variable does not exist.
    NoVariable,
}

/// A malformed path, found at load time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathSyntaxError(pub String);

impl JsonPath {
    /// Parses a path that must start with `$`.
    pub fn parse(text: &str) -> Result<JsonPath, PathSyntaxError> {
        let mut p = Parser { s: text.as_bytes(), text, i: 0 };
        let path = p.path()?;
        if p.i != p.s.len() {
            return Err(PathSyntaxError(format!("unexpected '{}' at position {}", &text[p.i..], p.i)));
        }
        Ok(path)
    }

    /// True for the bare root `$`.
    pub fn is_root(&self) -> bool {
        self.root == Root::Data && self.segs.is_empty()
    }

    /// A reference path (only names and indexes) as ResultPath requires.
    pub fn is_reference(&self) -> bool {
        self.root == Root::Data && self.segs.iter().all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)))
    }

    /// For a path of names only, the value it selects in `data`, if any: what
    /// [`JsonPath::eval`] gives, found with less ado.
    #[inline]
    pub fn lookup<'a>(&self, data: &'a Value) -> Option<&'a Value> {
        debug_assert!(self.names);
        let mut cur = data;
        for seg in &self.segs {
            match (seg, cur) {
                (Seg::Field(name), Value::Object(m)) => cur = member(m, name)?,
                _ => return None,
            }
        }
        Some(cur)
    }

    /// Evaluates against `data` (the root already resolved by the caller).
    pub fn eval<'a>(&self, data: &'a Value) -> Result<Cow<'a, Value>, Miss> {
        eval_segs(&self.segs, self.definite, data)
    }

    /// Jayway's normalized form of the first `upto` steps: `$['a'][0]`.
    fn normalized(&self, upto: usize) -> String {
        let mut s = String::from("$");
        for seg in &self.segs[..upto.min(self.segs.len())] {
            push_normalized(&mut s, seg);
        }
        s
    }

    /// The message Jayway gives for `miss`.
    pub fn miss_message(&self, miss: &Miss) -> String {
        match miss {
            Miss::NoResults => format!("No results for path: {}", self.normalized(self.segs.len())),
            Miss::MissingProperty(i) => format!("Missing property in path {}", self.normalized(i + 1)),
            Miss::NotObject(i, found) => {
                let mut frag = String::new();
                push_normalized(&mut frag, &self.segs[*i]);
                format!(
                    "Expected to find an object with property {frag} in path {} but found '{found}'. This is not a json \
                     object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.",
                    self.normalized(*i)
                )
            }
            Miss::NotArray(i, found) => {
                let mut frag = String::new();
                push_normalized(&mut frag, &self.segs[*i]);
                format!("Filter: {frag} can only be applied to arrays. Current context is: {found}")
            }
            Miss::Null(i) => format!("The path {} is null", self.normalized(*i)),
            Miss::NoVariable => format!("The variable referenced by '{}' is not defined", self.text),
        }
    }
}

fn push_normalized(s: &mut String, seg: &Seg) {
    match seg {
        Seg::Field(f) => {
            let _ = write!(s, "['{f}']");
        }
        Seg::Index(i) => {
            let _ = write!(s, "[{i}]");
        }
        Seg::Wildcard => s.push_str("[*]"),
        Seg::Slice(a, b, _) => {
            s.push('[');
            if let Some(a) = a {
                let _ = write!(s, "{a}");
            }
            s.push(':');
            if let Some(b) = b {
                let _ = write!(s, "{b}");
            }
            s.push(']');
        }
        Seg::Indexes(v) => {
            let parts: Vec<String> = v.iter().map(|i| i.to_string()).collect();
            let _ = write!(s, "[{}]", parts.join(","));
        }
        Seg::Fields(v) => {
            let parts: Vec<String> = v.iter().map(|f| format!("'{f}'")).collect();
            let _ = write!(s, "[{}]", parts.join(","));
        }
        Seg::Filter(_) => s.push_str("[?]"),
        Seg::Deep(inner) => {
            s.push_str("..");
            push_normalized(s, inner);
        }
        Seg::Length => s.push_str(".length()"),
    }
}

/// Jackson's node class name for a value, as Jayway quotes it.
fn java_node_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "com.fasterxml.jackson.databind.node.BooleanNode",
        Value::Number(_) => "com.fasterxml.jackson.databind.node.NumericNode",
        Value::String(_) => "com.fasterxml.jackson.databind.node.TextNode",
        Value::Array(_) => "com.fasterxml.jackson.databind.node.ArrayNode",
        Value::Object(_) => "com.fasterxml.jackson.databind.node.ObjectNode",
    }
}

fn array_index(len: usize, i: i64) -> Option<usize> {
    let idx = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&idx).then_some(idx as usize)
}

/// Evaluates path steps against `data` (definite: one value or a miss; else an array).
pub(crate) fn eval_segs<'a>(segs: &[Seg], definite: bool, data: &'a Value) -> Result<Cow<'a, Value>, Miss> {
    if definite {
        return select_definite(segs, data);
    }
    let mut out = Vec::new();
    collect(segs, data, data, &mut out);
    Ok(Cow::Owned(Value::Array(out.into_iter().cloned().collect())))
}

/// Walks a path made only of names, indexes and a final `length()`.
fn select_definite<'a>(segs: &[Seg], data: &'a Value) -> Result<Cow<'a, Value>, Miss> {
    let mut cur = data;
    let last = segs.len().saturating_sub(1);
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Field(name) => match cur {
                Value::Object(map) => match member(map, name) {
                    Some(v) => cur = v,
                    None if i == last => return Err(Miss::NoResults),
                    None => return Err(Miss::MissingProperty(i)),
                },
                other => return Err(Miss::NotObject(i, java_node_name(other))),
            },
            Seg::Index(idx) => match cur {
                Value::Array(items) => match array_index(items.len(), *idx) {
                    Some(k) => cur = &items[k],
                    None => return Err(Miss::NoResults),
                },
                Value::Null => return Err(Miss::Null(i)),
                other => return Err(Miss::NotArray(i, crate::value::compact(other))),
            },
            Seg::Length => {
                let n = match cur {
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    Value::String(s) => s.chars().count(),
                    _ => return Err(Miss::NoResults),
                };
                return Ok(Cow::Owned(Value::from(n)));
            }
            _ => unreachable!("definite paths hold only names, indexes and length()"),
        }
    }
    Ok(Cow::Borrowed(cur))
}

/// The value at a definite `$`-rooted path of names and indexes in `v`.
fn at_mut<'v>(v: &'v mut Value, segs: &[Seg]) -> Option<&'v mut Value> {
    let mut cur = v;
    for seg in segs {
        cur = match (seg, cur) {
            (Seg::Field(f), Value::Object(m)) => member_mut(m, f)?,
            (Seg::Index(i), Value::Array(a)) => {
                let k = array_index(a.len(), *i)?;
                &mut a[k]
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Moves the value at a definite `$`-rooted path out of `v` (leaving `null`).
pub(crate) fn take_at(v: &mut Value, segs: &[Seg]) -> Option<Value> {
    at_mut(v, segs).map(std::mem::take)
}

/// Puts `x` back where [`take_path`] took a value from.
pub(crate) fn put_path(v: &mut Value, p: &JsonPath, x: Value) {
    if let Some(slot) = at_mut(v, &p.segs) {
        *slot = x;
    }
}

/// Moves the value a definite `$` path of names and indexes selects out of `v`.
pub(crate) fn take_path(v: &mut Value, p: &JsonPath) -> Option<Value> {
    debug_assert!(p.root == Root::Data && p.definite && !matches!(p.segs.last(), Some(Seg::Length)));
    take_at(v, &p.segs)
}

/// Collects every match of an indefinite path; missing pieces are skipped.
fn collect<'a>(segs: &[Seg], root: &'a Value, cur: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push(cur);
        return;
    };
    match seg {
        Seg::Field(name) => {
            if let Some(v) = cur.as_object().and_then(|m| member(m, name)) {
                collect(rest, root, v, out);
            }
        }
        Seg::Index(i) => {
            if let Some(items) = cur.as_array() {
                if let Some(k) = array_index(items.len(), *i) {
                    collect(rest, root, &items[k], out);
                }
            }
        }
        Seg::Wildcard => match cur {
            Value::Array(items) => items.iter().for_each(|v| collect(rest, root, v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(rest, root, v, out)),
            _ => {}
        },
        Seg::Slice(start, end, step) => {
            if let Some(items) = cur.as_array() {
                for k in slice_indexes(items.len(), *start, *end, *step) {
                    collect(rest, root, &items[k], out);
                }
            }
        }
        Seg::Indexes(list) => {
            if let Some(items) = cur.as_array() {
                for i in list {
                    if let Some(k) = array_index(items.len(), *i) {
                        collect(rest, root, &items[k], out);
                    }
                }
            }
        }
        Seg::Fields(names) => {
            if let Some(map) = cur.as_object() {
                for n in names {
                    if let Some(v) = map.get(&**n) {
                        collect(rest, root, v, out);
                    }
                }
            }
        }
        Seg::Filter(f) => match cur {
            Value::Array(items) => {
                for v in items {
                    if f.matches(root, v) {
                        collect(rest, root, v, out);
                    }
                }
            }
            Value::Object(_) if f.matches(root, cur) => collect(rest, root, cur, out),
            _ => {}
        },
        Seg::Deep(inner) => {
            let one = std::slice::from_ref(&**inner);
            deep(one, rest, root, cur, out);
        }
        Seg::Length => {
            // length() is only definite; inside an indefinite path it has no meaning.
        }
    }
}

fn deep<'a>(inner: &[Seg], rest: &[Seg], root: &'a Value, cur: &'a Value, out: &mut Vec<&'a Value>) {
    let mut here = Vec::new();
    collect(inner, root, cur, &mut here);
    for v in here {
        collect(rest, root, v, out);
    }
    match cur {
        Value::Array(items) => items.iter().for_each(|v| deep(inner, rest, root, v, out)),
        Value::Object(map) => map.values().for_each(|v| deep(inner, rest, root, v, out)),
        _ => {}
    }
}

fn slice_indexes(len: usize, start: Option<i64>, end: Option<i64>, step: Option<i64>) -> Vec<usize> {
    let len = len as i64;
    let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
    let step = step.unwrap_or(1);
    if step <= 0 {
        return Vec::new();
    }
    let from = start.map(norm).unwrap_or(0);
    let to = end.map(norm).unwrap_or(len);
    let mut v = Vec::new();
    let mut k = from;
    while k < to {
        v.push(k as usize);
        k += step;
    }
    v
}

// ---------------------------------------------------------------------------------------
// Filters: `[?(@.status == 0 && @.name =~ /a.*/)]`

#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// `@...` relative to the current item, or `$...` from the document root.
    Path {
        relative: bool,
        segs: Vec<Seg>,
        definite: bool,
    },
    Literal(Value),
    Regex(regex_lite::Regex),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    In,
    Nin,
    Contains,
    Size,
    Empty,
}

impl Operand {
    fn value<'a>(&'a self, root: &'a Value, item: &'a Value) -> Option<Cow<'a, Value>> {
        match self {
            Operand::Literal(v) => Some(Cow::Borrowed(v)),
            Operand::Regex(_) => None,
            Operand::Path { relative, segs, definite } => {
                let base = if *relative { item } else { root };
                if *definite {
                    select_definite(segs, base).ok()
                } else {
                    let mut out = Vec::new();
                    collect(segs, root, base, &mut out);
                    Some(Cow::Owned(Value::Array(out.into_iter().cloned().collect())))
                }
            }
        }
    }
}

impl Filter {
    fn matches(&self, root: &Value, item: &Value) -> bool {
        match self {
            Filter::Or(a, b) => a.matches(root, item) || b.matches(root, item),
            Filter::And(a, b) => a.matches(root, item) && b.matches(root, item),
            Filter::Not(a) => !a.matches(root, item),
            Filter::Exists(op) => match op.value(root, item) {
                Some(v) => !matches!(&*v, Value::Bool(false)),
                None => false,
            },
            Filter::Cmp(l, op, r) => {
                if let (CmpOp::Match, Operand::Regex(re)) = (op, r) {
                    return matches!(l.value(root, item).as_deref(), Some(Value::String(s)) if re.is_match(s));
                }
                let (Some(a), Some(b)) = (l.value(root, item), r.value(root, item)) else {
                    return *op == CmpOp::Ne;
                };
                compare(&a, *op, &b)
            }
        }
    }
}

fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = || -> Option<Ordering> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => json_number_f64(x).partial_cmp(&json_number_f64(y)),
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    match op {
        CmpOp::Eq => values_equal(a, b),
        CmpOp::Ne => !values_equal(a, b),
        CmpOp::Lt => ord() == Some(Ordering::Less),
        CmpOp::Le => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord() == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::In => b.as_array().is_some_and(|l| l.iter().any(|x| values_equal(a, x))),
        CmpOp::Nin => b.as_array().is_some_and(|l| !l.iter().any(|x| values_equal(a, x))),
        CmpOp::Contains => match (a, b) {
            (Value::Array(l), x) => l.iter().any(|y| values_equal(x, y)),
            (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
            _ => false,
        },
        CmpOp::Size => {
            let n = match a {
                Value::Array(l) => l.len(),
                Value::String(s) => s.chars().count(),
                Value::Object(o) => o.len(),
                _ => return false,
            };
            b.as_u64().is_some_and(|m| m as usize == n)
        }
        CmpOp::Empty => {
            let empty = match a {
                Value::Array(l) => l.is_empty(),
                Value::String(s) => s.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => return false,
            };
            b.as_bool() == Some(empty)
        }
        CmpOp::Match => false,
    }
}

// ---------------------------------------------------------------------------------------
// Parser

struct Parser<'t> {
    s: &'t [u8],
    text: &'t str,
    i: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T, PathSyntaxError> {
    Err(PathSyntaxError(msg.into()))
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn path(&mut self) -> Result<JsonPath, PathSyntaxError> {
        let start = self.i;
        if !self.eat(b'$') {
            return err("a path must start with '$'");
        }
        let root = if self.eat(b'$') {
            Root::Context
        } else if self.peek().is_some_and(is_var_start) {
            let from = self.i;
            while self.peek().is_some_and(is_var_char) {
                self.i += 1;
            }
            Root::Variable(self.text[from..self.i].into())
        } else {
            Root::Data
        };
        let segs = self.segments(false)?;
        let definite = segs.iter().all(Seg::definite);
        if let Some(pos) = segs.iter().position(|s| matches!(s, Seg::Length)) {
            if pos + 1 != segs.len() {
                return err("length() must be the last step of a path");
            }
        }
        let names = root == Root::Data && segs.iter().all(|s| matches!(s, Seg::Field(_)));
        let leaf = match (&root, &segs[..]) {
            (Root::Context, [Seg::Field(top), Seg::Field(key)]) => {
                crate::env::context_leaf(top, key).and_then(|i| u8::try_from(i).ok())
            }
            _ => None,
        };
        Ok(JsonPath { text: self.text[start..self.i].into(), root, segs, definite, names, leaf })
    }

    /// Reads steps until the path ends; inside a filter, a path also ends at an operator.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Seg>, PathSyntaxError> {
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') => {
                    self.i += 1;
                    if self.eat(b'.') {
                        let inner = if self.peek() == Some(b'[') {
                            self.i += 1;
                            self.bracket()?
                        } else {
                            self.dot_step(in_filter)?
                        };
                        segs.push(Seg::Deep(Box::new(inner)));
                    } else {
                        segs.push(self.dot_step(in_filter)?);
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    segs.push(self.bracket()?);
                }
                _ => return Ok(segs),
            }
        }
    }

    fn dot_step(&mut self, in_filter: bool) -> Result<Seg, PathSyntaxError> {
        if self.eat(b'*') {
            return Ok(Seg::Wildcard);
        }
        let from = self.i;
        while let Some(c) = self.peek() {
            let stop = matches!(c, b'.' | b'[' | b'(')
                || (in_filter && matches!(c, b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b','))
                || (!in_filter && c == b' ');
            if stop {
                break;
            }
            self.i += 1;
        }
        let name = &self.text[from..self.i];
        if name.is_empty() {
            return err(format!("empty property name at position {from}"));
        }
        if self.eat(b'(') {
            if !self.eat(b')') {
                return err(format!("function '{name}' takes no arguments"));
            }
            return match name {
                "length" | "size" => Ok(Seg::Length),
                _ => err(format!("unsupported path function '{name}()'")),
            };
        }
        Ok(Seg::Field(name.into()))
    }

    fn bracket(&mut self) -> Result<Seg, PathSyntaxError> {
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Seg::Wildcard
            }
            Some(q @ (b'\'' | b'"')) => {
                let mut names = vec![self.quoted(q)?];
                loop {
                    self.skip_ws();
                    if !self.eat(b',') {
                        break;
                    }
                    self.skip_ws();
                    match self.peek() {
                        Some(q @ (b'\'' | b'"')) => names.push(self.quoted(q)?),
                        _ => return err("expected a quoted name after ','"),
                    }
                }
                if names.len() == 1 {
                    Seg::Field(names.pop().unwrap_or_default().into())
                } else {
                    Seg::Fields(names.into_iter().map(Into::into).collect())
                }
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                let paren = self.eat(b'(');
                let f = self.filter_or()?;
                self.skip_ws();
                if paren && !self.eat(b')') {
                    return err("expected ')' to close the filter");
                }
                Seg::Filter(Box::new(f))
            }
            Some(c) if c == b'-' || c == b':' || c.is_ascii_digit() => self.index_or_slice()?,
            _ => return err(format!("unexpected character in brackets at position {}", self.i)),
        };
        self.skip_ws();
        if !self.eat(b']') {
            return err(format!("expected ']' at position {}", self.i));
        }
        Ok(seg)
    }

    fn quoted(&mut self, q: u8) -> Result<String, PathSyntaxError> {
        self.i += 1;
        let mut out = String::new();
        let rest = &self.text[self.i..];
        let mut chars = rest.char_indices();
        while let Some((k, c)) = chars.next() {
            if c == q as char {
                self.i += k + 1;
                return Ok(out);
            }
            if c == '\\' {
                let mut look = chars.clone();
                if let Some((_, n)) = look.next() {
                    if n == q as char || n == '\\' {
                        out.push(n);
                        chars = look;
                        continue;
                    }
                }
            }
            out.push(c);
        }
        err("unterminated quoted name")
    }

    fn int(&mut self) -> Result<Option<i64>, PathSyntaxError> {
        self.skip_ws();
        let from = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let t = &self.text[from..self.i];
        if t.is_empty() {
            return Ok(None);
        }
        t.parse().map(Some).map_err(|_| PathSyntaxError(format!("'{t}' is not an integer")))
    }

    fn index_or_slice(&mut self) -> Result<Seg, PathSyntaxError> {
        let first = self.int()?;
        self.skip_ws();
        if self.eat(b':') {
            let end = self.int()?;
            self.skip_ws();
            let step = if self.eat(b':') { self.int()? } else { None };
            return Ok(Seg::Slice(first, end, step));
        }
        let Some(first) = first else { return err("expected an index") };
        let mut list = vec![first];
        loop {
            self.skip_ws();
            if !self.eat(b',') {
                break;
            }
            match self.int()? {
                Some(n) => list.push(n),
                None => return err("expected an index after ','"),
            }
        }
        Ok(if list.len() == 1 { Seg::Index(first) } else { Seg::Indexes(list) })
    }

    fn filter_or(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                let right = self.filter_unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, PathSyntaxError> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat(b'(') {
            let f = self.filter_or()?;
            self.skip_ws();
            if !self.eat(b')') {
                return err("expected ')' in filter");
            }
            return Ok(f);
        }
        let left = self.operand()?;
        self.skip_ws();
        let rest = &self.s[self.i..];
        let ops: [(&[u8], CmpOp); 14] = [
            (b"==", CmpOp::Eq),
            (b"!=", CmpOp::Ne),
            (b"<=", CmpOp::Le),
            (b">=", CmpOp::Ge),
            (b"=~", CmpOp::Match),
            (b"<", CmpOp::Lt),
            (b">", CmpOp::Gt),
            (b"nin ", CmpOp::Nin),
            (b"in ", CmpOp::In),
            (b"contains ", CmpOp::Contains),
            (b"size ", CmpOp::Size),
            (b"empty ", CmpOp::Empty),
            (b"NIN ", CmpOp::Nin),
            (b"IN ", CmpOp::In),
        ];
        for (tok, op) in ops {
            if rest.starts_with(tok) {
                self.i += tok.len();
                self.skip_ws();
                let right = if op == CmpOp::Match { self.regex()? } else { self.operand()? };
                return Ok(Filter::Cmp(left, op, right));
            }
        }
        Ok(Filter::Exists(left))
    }

    fn regex(&mut self) -> Result<Operand, PathSyntaxError> {
        if !self.eat(b'/') {
            return err("expected a /regular expression/ after =~");
        }
        let from = self.i;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                self.i += 2;
                continue;
            }
            if c == b'/' {
                break;
            }
            self.i += 1;
        }
        let body = self.text[from..self.i.min(self.s.len())].to_string();
        if !self.eat(b'/') {
            return err("unterminated regular expression");
        }
        let mut flags = String::new();
        while let Some(c @ (b'i' | b'm' | b's' | b'x')) = self.peek() {
            flags.push(c as char);
            self.i += 1;
        }
        let pattern = if flags.is_empty() { body } else { format!("(?{flags}){body}") };
        regex_lite::Regex::new(&pattern)
            .map(Operand::Regex)
            .map_err(|e| PathSyntaxError(format!("bad regular expression: {e}")))
    }

    fn operand(&mut self) -> Result<Operand, PathSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') | Some(b'$') => {
                let relative = self.peek() == Some(b'@');
                self.i += 1;
                let segs = self.segments(true)?;
                let definite = segs.iter().all(Seg::definite);
                Ok(Operand::Path { relative, segs, definite })
            }
            Some(q @ (b'\'' | b'"')) => Ok(Operand::Literal(Value::String(self.quoted(q)?))),
            Some(b'[') | Some(b'{') => {
                let from = self.i;
                let mut de = serde_json::Deserializer::from_str(&self.text[from..]).into_iter::<Value>();
                match de.next() {
                    Some(Ok(v)) => {
                        self.i = from + de.byte_offset();
                        Ok(Operand::Literal(v))
                    }
                    _ => err("bad JSON literal in filter"),
                }
            }
            _ => {
                let from = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')) {
                    self.i += 1;
                }
                let word = &self.text[from..self.i];
                match word {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    _ => match serde_json::from_str::<Value>(word) {
                        Ok(v @ Value::Number(_)) => Ok(Operand::Literal(v)),
                        _ => err(format!("unexpected '{word}' in filter")),
                    },
                }
            }
        }
    }
}

fn is_var_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_var_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, data: &Value) -> Result<Value, String> {
        let p = JsonPath::parse(path).unwrap();
        p.eval(data).map(Cow::into_owned).map_err(|m| p.miss_message(&m))
    }

    #[test]
    fn definite_paths_select_one_value() {
        let d = json!({"a": {"b": [1, 2, {"c": "x"}]}, "k-1": 5});
        assert_eq!(eval("$", &d).unwrap(), d);
        assert_eq!(eval("$.a.b[2].c", &d).unwrap(), json!("x"));
        assert_eq!(eval("$['a']['b'][-1]['c']", &d).unwrap(), json!("x"));
        assert_eq!(eval("$.k-1", &d).unwrap(), json!(5));
        assert_eq!(eval("$.a.b.length()", &d).unwrap(), json!(3));
    }

    #[test]
    fn missing_definite_paths_use_jaywayss_messages() {
        let d = json!({"a": {"b": 1}, "n": null, "s": "t"});
        assert_eq!(eval("$.x", &d).unwrap_err(), "No results for path: $['x']");
        assert_eq!(eval("$.x.y", &d).unwrap_err(), "Missing property in path $['x']");
        assert_eq!(eval("$.a.c", &d).unwrap_err(), "No results for path: $['a']['c']");
        assert_eq!(
            eval("$.a.b[3]", &d).unwrap_err(),
            "Filter: [3] can only be applied to arrays. Current context is: 1"
        );
        assert_eq!(eval("$.n[0]", &d).unwrap_err(), "The path $['n'] is null");
        assert!(eval("$.s.t", &d)
            .unwrap_err()
            .starts_with("Expected to find an object with property ['t'] in path $['s']"));
    }

    #[test]
    fn indefinite_paths_give_arrays() {
        let d = json!({"items": [{"v": 1}, {"v": 2}, {"w": 3}], "users": [{"s": 0, "n": "a"}, {"s": 1, "n": "b"}]});
        assert_eq!(eval("$.items[*].v", &d).unwrap(), json!([1, 2]));
        assert_eq!(eval("$.items[1:].v", &d).unwrap(), json!([2]));
        assert_eq!(eval("$.items[:1]", &d).unwrap(), json!([{"v": 1}]));
        assert_eq!(eval("$.nothing[*]", &d).unwrap(), json!([]));
        assert_eq!(eval("$[*]", &json!({})).unwrap(), json!([]));
        assert_eq!(eval("$.users[?(@.s == 0)]", &d).unwrap(), json!([{"s": 0, "n": "a"}]));
        assert_eq!(eval("$.users[?(@.s > 0 && @.n == 'b')].n", &d).unwrap(), json!(["b"]));
        assert_eq!(eval("$.users[?(@.n =~ /B/i)].s", &d).unwrap(), json!([1]));
        assert_eq!(eval("$..v", &d).unwrap(), json!([1, 2]));
        assert_eq!(eval("$.items[0,2]", &d).unwrap(), json!([{"v": 1}, {"w": 3}]));
    }

    #[test]
    fn quoted_names_keep_backslashes_that_escape_nothing() {
        let key = "Test\\\"\"Name\"";
        let d = json!({ key: "v" });
        assert_eq!(eval("$['Test\\\"\"Name\"']", &d).unwrap(), json!("v"));
    }

    #[test]
    fn roots_and_syntax_errors() {
        assert_eq!(JsonPath::parse("$$.Execution.Id").unwrap().root, Root::Context);
        assert_eq!(JsonPath::parse("$var.x").unwrap().root, Root::Variable("var".into()));
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("$.a.foo()").is_err());
        assert!(JsonPath::parse("$.a b").is_err());
    }
}
