//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`): JSON in
//! which a key ending in `.$` takes its value from a path or an intrinsic call. Compiled
//! once at load; literal subtrees are kept whole and cloned in one go.

use serde_json::{Map, Value};

use crate::env::Env;
use crate::intrinsic::{looks_like_call, Call, EvalError};
use crate::path::JsonPath;
use crate::value::compact;

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) enum Tmpl {
    /// No `.$` key anywhere below: the value as written.
    Lit(Value),
    Obj(Vec<(Box<str>, Tmpl)>),
    Arr(Vec<Tmpl>),
    /// `"key.$": "$..."`: the original key (for messages) and the path.
    Path(Box<str>, JsonPath),
    /// `"key.$": "States...."`.
    Call(Box<str>, Call),
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
        return Tmpl::Lit(v.clone());
    }
    match v {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (k, x) in map {
                if let Some(name) = k.strip_suffix(".$") {
                    let compiled = match x {
                        Value::String(text) => match Expr::parse(text, k) {
                            Ok(Expr::Path(p)) => Some(Tmpl::Path(k.as_str().into(), p)),
                            Ok(Expr::Call(c)) => Some(Tmpl::Call(k.as_str().into(), c)),
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
            Tmpl::Obj(fields)
        }
        Value::Array(items) => Tmpl::Arr(items.iter().map(|x| compile(x, location, errors)).collect()),
        other => Tmpl::Lit(other.clone()),
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
    /// Builds the value; on failure returns the runtime cause.
    pub fn eval(&self, data: &Value, env: &Env) -> Result<Value, String> {
        match self {
            Tmpl::Lit(v) => Ok(v.clone()),
            Tmpl::Obj(fields) => {
                let mut m = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    m.insert(k.to_string(), t.eval(data, env)?);
                }
                Ok(Value::Object(m))
            }
            Tmpl::Arr(items) => {
                items.iter().map(|t| t.eval(data, env)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            Tmpl::Path(field, p) => match env.resolve(p, data) {
                Ok(v) => Ok(v.into_owned()),
                Err(_) => Err(field_error(field, &EvalError::Missing(p.text.clone()), data)),
            },
            Tmpl::Call(field, c) => c.eval(data, env).map_err(|e| field_error(field, &e, data)),
        }
    }

    /// The top-level fields of an `Assign` block, evaluated all against the same state.
    pub fn eval_assign(&self, data: &Value, env: &Env) -> Result<Vec<(String, Value)>, String> {
        match self {
            Tmpl::Obj(fields) => {
                fields.iter().map(|(k, t)| Ok((k.to_string(), t.eval(data, env)?))).collect::<Result<Vec<_>, String>>()
            }
            Tmpl::Lit(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            _ => Ok(Vec::new()),
        }
    }
}
