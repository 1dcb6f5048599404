//! Payload templates (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`): JSON in
//! which a key ending in `.$` takes its value from a path or an intrinsic call. Compiled
//! once at load; literal subtrees are kept whole and cloned in one go.

use serde_json::{Map, Value};

use crate::env::Env;
use crate::intrinsic::{looks_like_call, Call, EvalError};
use crate::path::JsonPath;
use crate::value::{bounded, compact, json_size};

/// A compiled template. Sizes kept beside literals and keys give an upper bound of the
/// size of what the template builds without measuring it (see [`Tmpl::eval_sized`]).
#[derive(Debug, Clone)]
pub(crate) enum Tmpl {
    /// No `.$` key anywhere below: the value as written, and its size.
    Lit(Value, usize),
    /// The fields, and the bytes of the braces, keys, colons and commas.
    Obj(Vec<(Box<str>, Tmpl)>, usize),
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
            let overhead = fields.iter().fold(1 + fields.len().max(1), |n, (k, _)| n + json_size(&**k) + 1);
            Tmpl::Obj(fields, overhead)
        }
        Value::Array(items) => Tmpl::Arr(items.iter().map(|x| compile(x, location, errors)).collect()),
        other => Tmpl::Lit(other.clone(), json_size(other)),
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
    /// Builds the value, with an upper bound of its size (`data` bounded by
    /// `data_bound`); on failure returns the runtime cause.
    pub fn eval_sized(&self, data: &Value, data_bound: usize, env: &Env) -> Result<(Value, usize), String> {
        match self {
            Tmpl::Lit(v, n) => Ok((v.clone(), *n)),
            Tmpl::Obj(fields, overhead) => {
                let mut m = Map::with_capacity(fields.len());
                let mut size = *overhead;
                for (k, t) in fields {
                    let (v, n) = t.eval_sized(data, data_bound, env)?;
                    size = size.saturating_add(n);
                    m.insert(k.to_string(), v);
                }
                Ok(bounded(Value::Object(m), size))
            }
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
            Tmpl::Path(field, p) => match env.resolve_sized(p, data, data_bound) {
                Ok((v, n)) => Ok((v.into_owned(), n)),
                Err(_) => Err(field_error(field, &EvalError::Missing(p.text.clone()), data)),
            },
            Tmpl::Call(field, c) => c.eval_sized(data, data_bound, env).map_err(|e| field_error(field, &e, data)),
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
            Tmpl::Obj(fields, _) => fields
                .iter()
                .map(|(k, t)| {
                    let (v, n) = t.eval_sized(data, data_bound, env)?;
                    Ok((k.to_string(), v, n))
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
        let exec = ExecInfo {
            name: "n".into(),
            arn: "arn".into(),
            input: json!({}),
            input_size: 2,
            start_time: chrono::Utc::now(),
            machine_arn: "m".into(),
            machine_name: "m".into(),
            role_arn: "r".into(),
        };
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
