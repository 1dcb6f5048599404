//! What paths are evaluated against: the state's data (`$`), the context object (`$$`,
//! built on demand, never per state) and the variables in scope (`$name`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::path::{eval_segs, JsonPath, Miss, Root, Seg};
use crate::value::{json_size, size_bound};

/// Facts about one execution that the context object exposes.
#[derive(Debug)]
pub(crate) struct ExecInfo<'e> {
    pub name: Arc<str>,
    pub arn: Arc<str>,
    pub input: Value,
    /// An upper bound of the execution input's size (bounds paths into
    /// `$$.Execution.Input`).
    pub input_bound: usize,
    pub start_time: DateTime<Utc>,
    pub machine_arn: Arc<str>,
    /// Borrowed from the machine and the engine: nothing shared is
    /// reference-counted per execution (executions on several threads would
    /// contend for the counts).
    pub machine_name: &'e str,
    pub role_arn: &'e str,
}

#[cfg(test)]
impl ExecInfo<'static> {
    /// An execution's facts for unit tests: `input`, and fixed names.
    pub fn for_tests(input: Value) -> ExecInfo<'static> {
        ExecInfo {
            name: "n".into(),
            arn: "arn".into(),
            input_bound: json_size(&input),
            input,
            start_time: chrono::Utc::now(),
            machine_arn: "m".into(),
            machine_name: "m",
            role_arn: "r",
        }
    }
}

/// The leaves of the context object a state can read without building it: `$$.A.B`.
const CONTEXT_LEAVES: [(&str, &str); 10] = [
    ("Execution", "Id"),
    ("Execution", "Name"),
    ("Execution", "StartTime"),
    ("Execution", "RoleArn"),
    ("Execution", "RedriveCount"),
    ("StateMachine", "Id"),
    ("StateMachine", "Name"),
    ("State", "Name"),
    ("State", "EnteredTime"),
    ("State", "RetryCount"),
];

/// The index in [`CONTEXT_LEAVES`] of `$$.top.key`.
pub(crate) fn context_leaf(top: &str, key: &str) -> Option<usize> {
    CONTEXT_LEAVES.iter().position(|&(t, k)| t == top && k == key)
}

/// The context object of one state at one moment.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub exec: &'a ExecInfo<'a>,
    pub state: &'a str,
    pub entered: DateTime<Utc>,
    pub retry: u32,
    pub item: Option<(usize, &'a Value)>,
}

impl Ctx<'_> {
    /// The leaf `CONTEXT_LEAVES[i]` of the context object.
    fn leaf(&self, i: usize) -> Option<Value> {
        let s = |t: &str| Some(Value::String(t.to_owned()));
        match i {
            0 => s(&self.exec.arn),
            1 => s(&self.exec.name),
            2 => Some(Value::String(crate::timestamp::format(&self.exec.start_time))),
            3 => s(self.exec.role_arn),
            4 => Some(Value::from(0)),
            5 => s(&self.exec.machine_arn),
            6 => s(self.exec.machine_name),
            7 => s(self.state),
            8 => Some(Value::String(crate::timestamp::format(&self.entered))),
            9 => Some(Value::from(self.retry)),
            _ => None,
        }
    }

    /// The whole context object as AWS shows it for `$$`.
    pub fn materialize(&self) -> Value {
        let mut exec = Map::new();
        exec.insert("Id".into(), self.exec.arn.to_string().into());
        exec.insert("Input".into(), self.exec.input.clone());
        exec.insert("Name".into(), self.exec.name.to_string().into());
        exec.insert("RoleArn".into(), self.exec.role_arn.to_string().into());
        exec.insert("StartTime".into(), crate::timestamp::format(&self.exec.start_time).into());
        exec.insert("RedriveCount".into(), 0.into());
        let mut sm = Map::new();
        sm.insert("Id".into(), self.exec.machine_arn.to_string().into());
        sm.insert("Name".into(), self.exec.machine_name.to_string().into());
        let mut st = Map::new();
        st.insert("EnteredTime".into(), crate::timestamp::format(&self.entered).into());
        st.insert("Name".into(), self.state.into());
        st.insert("RetryCount".into(), self.retry.into());
        let mut root = Map::new();
        root.insert("Execution".into(), Value::Object(exec));
        root.insert("StateMachine".into(), Value::Object(sm));
        root.insert("State".into(), Value::Object(st));
        if let Some((index, value)) = self.item {
            let mut item = Map::new();
            item.insert("Index".into(), index.into());
            item.insert("Value".into(), value.clone());
            let mut m = Map::new();
            m.insert("Item".into(), Value::Object(item));
            root.insert("Map".into(), Value::Object(m));
        }
        Value::Object(root)
    }

    /// Evaluates a `$$` path, touching only the part of the context it names.
    fn eval<'x>(&'x self, path: &JsonPath) -> Result<Cow<'x, Value>, Miss> {
        if let Some(v) = path.leaf.and_then(|i| self.leaf(usize::from(i))) {
            return Ok(Cow::Owned(v));
        }
        if path.definite {
            let field = |i: usize| match path.segs.get(i) {
                Some(Seg::Field(f)) => Some(&**f),
                _ => None,
            };
            match (field(0), field(1), field(2)) {
                (Some("Execution"), Some("Input"), _) => {
                    return offset(path, 2, &self.exec.input).map_err(|m| shift(m, 2));
                }
                (Some("Map"), Some("Item"), Some("Value")) => {
                    if let Some((_, v)) = self.item {
                        return offset(path, 3, v).map_err(|m| shift(m, 3));
                    }
                }
                (Some("Map"), Some("Item"), Some("Index")) if path.segs.len() == 3 => {
                    if let Some((i, _)) = self.item {
                        return Ok(Cow::Owned(Value::from(i)));
                    }
                }
                (Some(top), Some(key), None) if path.segs.len() == 2 => {
                    if let Some(v) = context_leaf(top, key).and_then(|i| self.leaf(i)) {
                        return Ok(Cow::Owned(v));
                    }
                }
                _ => {}
            }
        }
        let whole = self.materialize();
        eval_segs(&path.segs, path.definite, &whole).map(|c| Cow::Owned(c.into_owned()))
    }
}

fn offset<'x>(path: &JsonPath, skip: usize, data: &'x Value) -> Result<Cow<'x, Value>, Miss> {
    eval_segs(&path.segs[skip..], path.definite, data)
}

fn shift(m: Miss, by: usize) -> Miss {
    match m {
        Miss::MissingProperty(i) => Miss::MissingProperty(i + by),
        Miss::NotObject(i, f) => Miss::NotObject(i + by, f),
        Miss::NotArray(i, f) => Miss::NotArray(i + by, f),
        Miss::Null(i) => Miss::Null(i + by),
        other => other,
    }
}

/// Variables visible to a state: its own scope, then the scopes around it
/// (a Map iteration or Parallel branch reads, never writes, the outer ones). Each value
/// is kept with an upper bound of its size.
#[derive(Default)]
pub(crate) struct Vars<'p> {
    local: Option<HashMap<String, (Value, usize)>>,
    parent: Option<&'p Vars<'p>>,
}

impl<'p> Vars<'p> {
    pub fn child(parent: &'p Vars<'p>) -> Vars<'p> {
        Vars { local: None, parent: Some(parent) }
    }

    fn entry(&self, name: &str) -> Option<&(Value, usize)> {
        let mut cur = Some(self);
        while let Some(v) = cur {
            if let Some(x) = v.local.as_ref().and_then(|m| m.get(name)) {
                return Some(x);
            }
            cur = v.parent;
        }
        None
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entry(name).map(|(v, _)| v)
    }

    /// An upper bound of the size of the variable's value.
    pub fn bound(&self, name: &str) -> Option<usize> {
        self.entry(name).map(|(_, n)| *n)
    }

    /// Sets variables: `(name, value, size bound)`.
    pub fn set_all(&mut self, assigned: Vec<(String, Value, usize)>) {
        let local = self.local.get_or_insert_with(Default::default);
        for (k, v, n) in assigned {
            local.insert(k, (v, n));
        }
    }
}

/// Everything a path or intrinsic may read, except the state's data.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub ctx: &'a Ctx<'a>,
    pub vars: &'a Vars<'a>,
}

impl<'a> Env<'a> {
    /// An upper bound of the size of what `path` selects, known without resolving it,
    /// when `$` is bounded by `data_bound`: a definite path selects a part of its root
    /// (or the length of one), so the root's bound holds. `None` when the path is
    /// indefinite (a union or deep scan may repeat values) or its root is a part of the
    /// context object other than the execution input (measure the result instead).
    pub fn bound(&self, path: &JsonPath, data_bound: usize) -> Option<usize> {
        if !path.definite {
            return None;
        }
        match &path.root {
            Root::Data => Some(data_bound),
            Root::Variable(name) => self.vars.bound(name),
            Root::Context => match (path.segs.first(), path.segs.get(1)) {
                (Some(Seg::Field(a)), Some(Seg::Field(b))) if &**a == "Execution" && &**b == "Input" => {
                    Some(self.ctx.exec.input_bound)
                }
                _ => None,
            },
        }
    }

    /// Resolves `path` as [`Env::resolve`] does, with a size bound of the result (`$`
    /// bounded by `data_bound`).
    pub fn resolve_sized<'x>(
        &'x self,
        path: &JsonPath,
        data: &'x Value,
        data_bound: usize,
    ) -> Result<(Cow<'x, Value>, usize), Miss> {
        let v = self.resolve(path, data)?;
        let n = self.bound(path, data_bound).unwrap_or_else(|| size_bound(&v));
        debug_assert!(json_size(&v) <= n, "path {} bound {n}", path.text);
        Ok((v, n))
    }

    /// The value of a `$$.A.B` path that reads a leaf of the context object the context
    /// gives without being built (`$$.Execution.Name`, ...), as [`Env::resolve`] gives it.
    #[inline]
    pub fn context_leaf(&self, path: &JsonPath) -> Option<Value> {
        path.leaf.and_then(|i| self.ctx.leaf(usize::from(i)))
    }

    /// Resolves `path` with `$` bound to `data`.
    pub fn resolve<'x>(&'x self, path: &JsonPath, data: &'x Value) -> Result<Cow<'x, Value>, Miss> {
        match &path.root {
            Root::Data => match path.names.then(|| path.lookup(data)).flatten() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => path.eval(data),
            },
            _ => self.resolve_outside(path),
        }
    }

    /// Resolves a path rooted outside the state's data: `$$` or a variable.
    pub fn resolve_outside(&self, path: &JsonPath) -> Result<Cow<'_, Value>, Miss> {
        match &path.root {
            Root::Data => unreachable!("a `$` path needs the data"),
            Root::Context => self.ctx.eval(path),
            Root::Variable(name) => match self.vars.get(name) {
                Some(v) => path.eval(v),
                None => Err(Miss::NoVariable),
            },
        }
    }
}
