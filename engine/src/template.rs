//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`): JSON in
//! which a key ending in `.$` takes its value from a path or an intrinsic call. Compiled
//! once at load; literal subtrees are kept whole and cloned in one go.

use serde_json::{Map, Value};

use crate::env::Env;
use crate::intrinsic::{looks_like_call, Call, EvalError};
use crate::path::{put_path, take_path, JsonPath, Root, Seg};
use crate::value::{bounded, compact, json_size, size_bound, str_size};

/// A compiled template. Sizes kept beside literals and keys give an upper bound of the
/// size of what the template builds without measuring it (see [`Tmpl::eval_sized`]).
#[derive(Debug, Clone)]
pub(crate) enum Tmpl {
    /// No `.$` key anywhere below (or an intrinsic call that gives the same value every
    /// time): the value, and its size.
    Lit(Value, usize),
    Obj(Box<ObjTmpl>),
    Arr(Vec<Tmpl>),
    /// `"key.$": "$..."`: the original key (for messages) and the path.
    Path(Box<str>, JsonPath),
    /// `"key.$": "States...."`.
    Call(Box<str>, Call),
}

/// An object template.
#[derive(Debug, Clone)]
pub(crate) struct ObjTmpl {
    pub fields: Vec<(Box<str>, Tmpl)>,
    /// The bytes of the braces, keys, colons and commas.
    overhead: usize,
    /// The object with every key in place and the literal fields' values, when no two
    /// fields share a key: cloning it (no key is hashed) and filling in the other
    /// values costs less than inserting every key.
    skeleton: Option<Map<String, Value>>,
    /// The total size of the literal fields' values.
    literal_size: usize,
    /// Whether the object can be built by moving what its `$` paths select out of the
    /// data ([`Tmpl::eval_consuming`]): every `$` path below (in intrinsic calls too) is
    /// a chain of names, and none is a prefix of another.
    takes: bool,
    /// `takes`, the keys are distinct, and every `$` path is a field's own (`"k.$":
    /// "$.a.b"`): each field can then move its part out as it goes, and a path that
    /// does not resolve puts back what the fields before it took.
    direct: bool,
}

impl ObjTmpl {
    /// Builds a `direct` object by moving each field's part out of `data`. When a
    /// field fails, the parts the fields before it took are put back, and the object
    /// is built again from the data as it was, which fails as copying does: on
    /// failure `data` is unchanged.
    fn take_direct(&self, data: &mut Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        let Some(skeleton) = &self.skeleton else { unreachable!("a direct template has distinct keys") };
        let mut m = skeleton.clone();
        let mut size = self.overhead.saturating_add(self.literal_size);
        let mut failed = None;
        for (i, ((_, t), slot)) in self.fields.iter().zip(m.values_mut()).enumerate() {
            let built = match t {
                Tmpl::Lit(..) => continue,
                // A definite `$` path selects a part of the data.
                Tmpl::Path(_, p) if p.root == Root::Data => take_path(data, p).map(|v| (v, data_bound)),
                // No other field reads `$`.
                t => t.eval_sized(data, data_bound, env).ok(),
            };
            match built {
                Some((v, n)) => {
                    size = size.saturating_add(n);
                    *slot = v;
                }
                None => {
                    failed = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = failed {
            self.put_back(data, &mut m, i);
            return self.eval_with(|t| t.eval_sized(data, data_bound, env));
        }
        Ok(bounded(Value::Object(m), size))
    }

    /// Moves the parts that the first `fields` fields took from `data` back into it.
    fn put_back(&self, data: &mut Value, built: &mut Map<String, Value>, fields: usize) {
        for ((_, t), slot) in self.fields[..fields].iter().zip(built.values_mut()) {
            if let Tmpl::Path(_, p) = t {
                if p.root == Root::Data {
                    put_path(data, p, std::mem::take(slot));
                }
            }
        }
    }

    /// Builds the object, each field's value and size bound from `field`.
    fn eval_with(
        &self,
        mut field: impl FnMut(&Tmpl) -> Result<(Value, usize), String>,
    ) -> Result<(Value, usize), String> {
        let mut size = self.overhead;
        let m = match &self.skeleton {
            Some(skeleton) => {
                let mut m = skeleton.clone();
                size = size.saturating_add(self.literal_size);
                for ((_, t), slot) in self.fields.iter().zip(m.values_mut()) {
                    if !matches!(t, Tmpl::Lit(..)) {
                        let (v, n) = field(t)?;
                        size = size.saturating_add(n);
                        *slot = v;
                    }
                }
                m
            }
            None => {
                let mut m = Map::with_capacity(self.fields.len());
                for (k, t) in &self.fields {
                    let (v, n) = field(t)?;
                    size = size.saturating_add(n);
                    m.insert(String::from(&**k), v);
                }
                m
            }
        };
        Ok(bounded(Value::Object(m), size))
    }
}

/// A dynamic value (path or intrinsic call) as written in a `.$` field.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Path(JsonPath),
    Call(Call),
}

impl Expr {
    /// Parses a path or an intrinsic call; the error is AWS's wording for the field.
    pub fn parse(text: &str, field: &str) -> Result<Expr, String> {
        if looks_like_call(text) {
            return Call::parse(text).map(Expr::Call).map_err(|e| {
                format!("The value for the field '{field}' must be a valid intrinsic function call ({e})")
            });
        }
        JsonPath::parse(text).map(Expr::Path).map_err(|e| {
            format!(
                "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call ({})",
                e.0
            )
        })
    }

    pub fn eval(&self, data: &Value, env: &Env) -> Result<Value, EvalError> {
        match self {
            Expr::Path(p) => {
                env.resolve(p, data).map(|c| c.into_owned()).map_err(|_| EvalError::Missing(p.text.clone()))
            }
            Expr::Call(c) => c.eval(data, env),
        }
    }
}

/// A template field that could not be evaluated, worded as AWS does.
pub(crate) fn field_error(field: &str, err: &EvalError, data: &Value) -> String {
    match err {
        EvalError::Missing(path) => format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
            compact(data)
        ),
        EvalError::Intrinsic(m) => m.clone(),
    }
}

/// Compiles a template; `errors` collects (location suffix, message) pairs.
pub(crate) fn compile(v: &Value, location: &str, errors: &mut Vec<(String, String)>) -> Tmpl {
    if !has_dynamic(v) {
        return Tmpl::Lit(v.clone(), json_size(v));
    }
    match v {
        Value::Object(map) => {
            let mut fields: Vec<(Box<str>, Tmpl)> = Vec::with_capacity(map.len());
            for (k, x) in map {
                if let Some(name) = k.strip_suffix(".$") {
                    let compiled = match x {
                        Value::String(text) => match Expr::parse(text, k) {
                            Ok(Expr::Path(p)) => Some(Tmpl::Path(k.as_str().into(), p)),
                            Ok(Expr::Call(c)) => Some(match c.constant() {
                                Some(v) => Tmpl::Lit(v.clone(), json_size(&v)),
                                None => Tmpl::Call(k.as_str().into(), c),
                            }),
                            Err(e) => {
                                errors.push((location.to_owned(), e));
                                None
                            }
                        },
                        _ => {
                            errors.push((
                                location.to_owned(),
                                format!(
                                    "The value for the field '{k}' must be a valid JSONPath or a valid intrinsic \
                                     function call"
                                ),
                            ));
                            None
                        }
                    };
                    if let Some(t) = compiled {
                        fields.push((name.into(), t));
                    }
                } else {
                    fields.push((k.as_str().into(), compile(x, location, errors)));
                }
            }
            let overhead = fields.iter().fold(1 + fields.len().max(1), |n, (k, _)| n + str_size(k) + 1);
            let mut skeleton = Map::with_capacity(fields.len());
            let mut literal_size = 0;
            for (k, t) in &fields {
                let v = match t {
                    Tmpl::Lit(v, n) => {
                        literal_size += n;
                        v.clone()
                    }
                    _ => Value::Null,
                };
                skeleton.insert(String::from(&**k), v);
            }
            let skeleton = (skeleton.len() == fields.len()).then_some(skeleton);
            let mut paths = Vec::new();
            for (_, t) in &fields {
                t.data_paths(&mut paths);
            }
            let names = |p: &JsonPath| p.definite && p.segs.iter().all(|s| matches!(s, Seg::Field(_)));
            let prefix = |a: &JsonPath, b: &JsonPath| {
                a.segs.len() <= b.segs.len()
                    && a.segs
                        .iter()
                        .zip(&b.segs)
                        .all(|(x, y)| matches!((x, y), (Seg::Field(x), Seg::Field(y)) if x == y))
            };
            let takes = paths.iter().all(|p| names(p))
                && paths.iter().enumerate().all(|(i, a)| paths[i + 1..].iter().all(|b| !prefix(a, b) && !prefix(b, a)));
            let own = fields.iter().filter(|(_, t)| matches!(t, Tmpl::Path(_, p) if p.root == Root::Data)).count();
            let direct = takes && skeleton.is_some() && own == paths.len();
            Tmpl::Obj(Box::new(ObjTmpl { fields, overhead, skeleton, literal_size, takes, direct }))
        }
        Value::Array(items) => Tmpl::Arr(items.iter().map(|x| compile(x, location, errors)).collect()),
        other => Tmpl::Lit(other.clone(), json_size(other)),
    }
}

/// A `.$` field's path resolved the general way (any root, any steps).
fn eval_path(field: &str, p: &JsonPath, data: &Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
    match env.resolve_sized(p, data, data_bound) {
        Ok((v, n)) => Ok((v.into_owned(), n)),
        Err(_) => Err(field_error(field, &EvalError::Missing(p.text.clone()), data)),
    }
}

fn has_dynamic(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| k.ends_with(".$") || has_dynamic(x)),
        Value::Array(a) => a.iter().any(has_dynamic),
        _ => false,
    }
}

impl Tmpl {
    /// The `$` paths of the template (in intrinsic calls too).
    fn data_paths<'a>(&'a self, out: &mut Vec<&'a JsonPath>) {
        match self {
            Tmpl::Lit(..) => {}
            Tmpl::Obj(o) => o.fields.iter().for_each(|(_, t)| t.data_paths(out)),
            Tmpl::Arr(items) => items.iter().for_each(|t| t.data_paths(out)),
            Tmpl::Path(_, p) => {
                if p.root == Root::Data {
                    out.push(p)
                }
            }
            Tmpl::Call(_, c) => c.data_paths(out),
        }
    }

    /// Whether every path of the template (any root) resolves.
    fn paths_resolve(&self, data: &Value, env: &Env) -> bool {
        match self {
            Tmpl::Lit(..) => true,
            Tmpl::Obj(o) => o.fields.iter().all(|(_, t)| t.paths_resolve(data, env)),
            Tmpl::Arr(items) => items.iter().all(|t| t.paths_resolve(data, env)),
            Tmpl::Path(_, p) => env.resolve(p, data).is_ok(),
            Tmpl::Call(_, c) => c.paths_resolve(data, env),
        }
    }

    /// Whether [`Tmpl::lend`] builds the value without copying: an object whose `$`
    /// paths are its own fields' (`"k.$": "$.a.b"`), chains of names of which none is
    /// a prefix of another, under distinct keys.
    pub fn lends(&self) -> bool {
        matches!(self, Tmpl::Obj(o) if o.direct)
    }

    /// Builds the value as [`Tmpl::eval_sized`] does (the same value, bound and
    /// errors), moving what a [`Tmpl::lends`] template's `$` paths select out of
    /// `data` rather than copying it; [`Tmpl::give_back`] puts it back. On failure
    /// `data` is unchanged.
    pub fn lend(&self, data: &mut Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        match self {
            Tmpl::Obj(o) if o.direct => o.take_direct(data, data_bound, env),
            _ => self.eval_sized(data, data_bound, env),
        }
    }

    /// Puts what [`Tmpl::lend`] moved into `lent` back into `data`, which is then as
    /// it was before.
    pub fn give_back(&self, data: &mut Value, lent: Value) {
        if let (Tmpl::Obj(o), Value::Object(mut m)) = (self, lent) {
            if o.direct {
                o.put_back(data, &mut m, o.fields.len());
            }
        }
    }

    /// For an object template of one field that `path` selects (`{"k.$": …}` and
    /// `$.k`): that field's template, the size of the object around it (braces, key and
    /// colon) and whether the field can be built by moving parts of the data.
    pub fn sole_field(&self, path: &JsonPath) -> Option<(&Tmpl, usize, bool)> {
        match (self, &path.segs[..]) {
            (Tmpl::Obj(o), [Seg::Field(name)]) if path.root == Root::Data && o.fields.len() == 1 => {
                let (k, t) = &o.fields[0];
                (k == name).then_some((t, o.overhead, o.takes))
            }
            _ => None,
        }
    }

    /// Builds the value from `data`, which is not needed afterwards, as
    /// [`Tmpl::eval_sized`] does: the same value, bound and errors. When the template
    /// allows it, what its `$` paths select is moved out of `data` rather than copied.
    pub fn eval_consuming(&self, data: Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        let takes = match self {
            Tmpl::Lit(..) => true,
            Tmpl::Obj(o) => o.takes,
            _ => false,
        };
        self.consume(takes, data, data_bound, env)
    }

    /// [`Tmpl::eval_consuming`], where `takes` says whether the template's `$` paths
    /// are chains of names of which none is a prefix of another.
    pub fn consume(
        &self,
        takes: bool,
        mut data: Value,
        data_bound: usize,
        env: &Env,
    ) -> Result<(Value, usize), String> {
        if !takes {
            return self.eval_sized(&data, data_bound, env);
        }
        if let Tmpl::Obj(o) = self {
            if o.direct {
                return o.take_direct(&mut data, data_bound, env);
            }
        }
        // A path that does not resolve fails the template with the whole data quoted:
        // then nothing is moved. Past this check only an intrinsic function can fail,
        // and its message does not quote the data.
        if !self.paths_resolve(&data, env) {
            return self.eval_sized(&data, data_bound, env);
        }
        self.eval_taking(&mut data, data_bound, env)
    }

    /// [`Tmpl::eval_sized`], moving what the `$` paths select out of `data`.
    fn eval_taking(&self, data: &mut Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        match self {
            Tmpl::Obj(o) => o.eval_with(|t| t.eval_taking(data, data_bound, env)),
            Tmpl::Arr(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut size = 1 + items.len().max(1);
                for t in items {
                    let (v, n) = t.eval_taking(data, data_bound, env)?;
                    size = size.saturating_add(n);
                    out.push(v);
                }
                Ok(bounded(Value::Array(out), size))
            }
            Tmpl::Path(field, p) if p.root == Root::Data => match take_path(data, p) {
                // A definite `$` path selects a part of the data.
                Some(v) => Ok(bounded(v, data_bound)),
                None => Err(field_error(field, &EvalError::Missing(p.text.clone()), data)),
            },
            Tmpl::Call(field, c) => {
                let v = c.eval_taking(data, env).map_err(|e| field_error(field, &e, data))?;
                let n = c.bound(data_bound, env).unwrap_or_else(|| size_bound(&v));
                Ok(bounded(v, n))
            }
            Tmpl::Lit(..) | Tmpl::Path(..) => self.eval_sized(data, data_bound, env),
        }
    }

    /// Builds the value, with an upper bound of its size (`data` bounded by
    /// `data_bound`); on failure returns the runtime cause.
    #[inline]
    pub fn eval_sized(&self, data: &Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        match self {
            Tmpl::Lit(v, n) => Ok((v.clone(), *n)),
            Tmpl::Path(field, p) => {
                if p.names {
                    if let Some(v) = p.lookup(data) {
                        // A definite `$` path selects a part of the data.
                        return Ok((v.clone(), data_bound));
                    }
                } else if let Some(v) = env.context_leaf(p) {
                    let n = size_bound(&v);
                    return Ok((v, n));
                }
                eval_path(field, p, data, data_bound, env)
            }
            _ => self.eval_composite(data, data_bound, env),
        }
    }

    /// [`Tmpl::eval_sized`] of an object, array or intrinsic call.
    fn eval_composite(&self, data: &Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        match self {
            Tmpl::Obj(o) => o.eval_with(|t| t.eval_sized(data, data_bound, env)),
            Tmpl::Arr(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut size = 1 + items.len().max(1);
                for t in items {
                    let (v, n) = t.eval_sized(data, data_bound, env)?;
                    size = size.saturating_add(n);
                    out.push(v);
                }
                Ok(bounded(Value::Array(out), size))
            }
            Tmpl::Call(field, c) => c.eval_sized(data, data_bound, env).map_err(|e| field_error(field, &e, data)),
            Tmpl::Lit(..) | Tmpl::Path(..) => self.eval_sized(data, data_bound, env),
        }
    }

    /// The top-level fields of an `Assign` block, evaluated all against the same state:
    /// `(name, value, size bound)`.
    pub fn eval_assign(
        &self,
        data: &Value,
        data_bound: usize,
        env: &Env,
    ) -> Result<Vec<(String, Value, usize)>, String> {
        match self {
            Tmpl::Obj(o) => o
                .fields
                .iter()
                .map(|(k, t)| {
                    let (v, n) = t.eval_sized(data, data_bound, env)?;
                    Ok((String::from(&**k), v, n))
                })
                .collect::<Result<Vec<_>, String>>(),
            // Each member is smaller than the whole object.
            Tmpl::Lit(Value::Object(m), n) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone(), *n)).collect()),
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Ctx, ExecInfo, Vars};
    use serde_json::json;

    #[test]
    fn size_bounds_are_exact_when_every_path_selects_the_whole_data() {
        let exec = ExecInfo::for_tests(json!({}));
        let ctx = Ctx { exec: &exec, state: "S", entered: chrono::Utc::now(), retry: 0, item: None };
        let vars = Vars::default();
        let env = Env { ctx: &ctx, vars: &vars };
        let mut errors = Vec::new();
        let t = compile(
            &json!({"k\"\"\\é.$": "$", "lit\"": "\"\u{1}", "arr": [{"x.$": "$"}, [], 1, {}], "o": {}, "e": []}),
            "",
            &mut errors,
        );
        assert!(errors.is_empty());
        for data in [json!("s\"\\"), json!({"a": [1, {"b": null}]}), json!([])] {
            let (v, bound) = t.eval_sized(&data, json_size(&data), &env).unwrap();
            assert_eq!(bound, json_size(&v), "{}", compact(&v));
        }
    }
}
