//! Mocked task responses in Step Functions Local's MockConfigFile format, so a workflow
//! can be tested offline:
//!
//! ```json
//! {"StateMachines": {"Invoices": {"TestCases": {"Happy": {"Validate": "ValidOk"}}}},
//!  "MockedResponses": {"ValidOk": {"0": {"Return": {"isValid": true}},
//!                                  "1-2": {"Throw": {"Error": "Throttled", "Cause": "busy"}}}}}
//! ```
//!
//! A mocked Task state does not call a handler: its n-th invocation in an execution
//! (counting retries from 0) returns the `Return` value as the task's result (for
//! `lambda:invoke`, the whole Invoke response, as in Step Functions Local) or fails with
//! the `Throw` error and cause.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

/// One mocked invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum MockResponse {
    Return(Value),
    Throw { error: String, cause: String },
}

/// A mock config file that cannot be used, with what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mock config: {0}")]
pub struct MockConfigError(pub String);

type Responses = Arc<Vec<(u32, u32, MockResponse)>>;

/// A parsed mock config file.
#[derive(Debug, Clone)]
pub struct MockConfig {
    machines: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    responses: HashMap<String, Responses>,
}

/// The mocks of one test case: responses by state name.
#[derive(Debug, Clone, Default)]
pub struct MockedCase {
    states: HashMap<String, Responses>,
}

impl MockedCase {
    /// The states this case mocks.
    pub fn states(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The response for the `n`-th invocation (from 0) of `state`: `None` when the state
    /// is not mocked, `Some(Err)` when the case has no response for that invocation.
    pub fn response(&self, state: &str, n: u32) -> Option<Result<&MockResponse, String>> {
        let list = self.states.get(state)?;
        Some(
            list.iter()
                .find(|(lo, hi, _)| (*lo..=*hi).contains(&n))
                .map(|(_, _, r)| r)
                .ok_or_else(|| format!("the mock config has no response for invocation {n} of the state '{state}'")),
        )
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, MockConfigError> {
    Err(MockConfigError(m.into()))
}

fn parse_range(key: &str) -> Option<(u32, u32)> {
    match key.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => {
            let n = key.trim().parse().ok()?;
            Some((n, n))
        }
    }
}

impl MockConfig {
    pub fn from_json(text: &str) -> Result<MockConfig, MockConfigError> {
        let root: Value = serde_json::from_str(text).map_err(|e| MockConfigError(format!("not valid JSON: {e}")))?;
        let Some(root) = root.as_object() else { return err("the file must hold a JSON object") };
        let mut responses = HashMap::new();
        let Some(mocked) = root.get("MockedResponses").and_then(Value::as_object) else {
            return err("'MockedResponses' must be an object");
        };
        for (name, by_invocation) in mocked {
            let Some(by_invocation) = by_invocation.as_object() else {
                return err(format!("MockedResponses.{name} must be an object keyed by invocation (\"0\", \"1-2\")"));
            };
            let mut list = Vec::new();
            for (key, resp) in by_invocation {
                let Some((lo, hi)) = parse_range(key) else {
                    return err(format!(
                        "MockedResponses.{name}: '{key}' is not an invocation number or range like \"1-2\""
                    ));
                };
                let r = match (resp.get("Return"), resp.get("Throw")) {
                    (Some(v), None) => MockResponse::Return(v.clone()),
                    (None, Some(t)) => {
                        let field = |f: &str| t.get(f).and_then(Value::as_str).map(str::to_owned);
                        match (field("Error"), field("Cause")) {
                            (Some(error), cause) => MockResponse::Throw { error, cause: cause.unwrap_or_default() },
                            _ => return err(format!("MockedResponses.{name}.{key}.Throw needs a string 'Error'")),
                        }
                    }
                    _ => {
                        return err(format!(
                            "MockedResponses.{name}.{key} must have exactly one of 'Return' and 'Throw'"
                        ))
                    }
                };
                list.push((lo, hi, r));
            }
            responses.insert(name.clone(), Arc::new(list));
        }
        let mut machines = BTreeMap::new();
        let Some(sms) = root.get("StateMachines").and_then(Value::as_object) else {
            return err("'StateMachines' must be an object");
        };
        for (sm, body) in sms {
            let Some(cases) = body.get("TestCases").and_then(Value::as_object) else {
                return err(format!("StateMachines.{sm}.TestCases must be an object"));
            };
            let mut out = BTreeMap::new();
            for (case, states) in cases {
                let Some(states) = states.as_object() else {
                    return err(format!("StateMachines.{sm}.TestCases.{case} must map state names to response names"));
                };
                let mut m = BTreeMap::new();
                for (state, resp) in states {
                    let Some(resp) = resp.as_str() else {
                        return err(format!("StateMachines.{sm}.TestCases.{case}.{state} must name a mocked response"));
                    };
                    if !responses.contains_key(resp) {
                        return err(format!(
                            "StateMachines.{sm}.TestCases.{case}.{state} names '{resp}', which is not in MockedResponses"
                        ));
                    }
                    m.insert(state.clone(), resp.to_owned());
                }
                out.insert(case.clone(), m);
            }
            machines.insert(sm.clone(), out);
        }
        Ok(MockConfig { machines, responses })
    }

    /// The state machines the file describes.
    pub fn state_machines(&self) -> impl Iterator<Item = &str> {
        self.machines.keys().map(String::as_str)
    }

    /// The mocks of `test_case` for the state machine named `state_machine`, else the only
    /// one in the file, else `default_machine` (e.g. the definition's file stem).
    pub fn case(
        &self,
        state_machine: Option<&str>,
        default_machine: &str,
        test_case: &str,
    ) -> Result<MockedCase, MockConfigError> {
        let names = || self.machines.keys().cloned().collect::<Vec<_>>().join(", ");
        let sm = match state_machine {
            Some(n) => n,
            None if self.machines.len() == 1 => self.machines.keys().next().map(String::as_str).unwrap_or_default(),
            None => default_machine,
        };
        let Some(cases) = self.machines.get(sm) else {
            return err(format!("no state machine '{sm}' in StateMachines (it has: {})", names()));
        };
        let Some(states) = cases.get(test_case) else {
            let list = cases.keys().cloned().collect::<Vec<_>>().join(", ");
            return err(format!("state machine '{sm}' has no test case '{test_case}' (it has: {list})"));
        };
        Ok(MockedCase {
            states: states.iter().map(|(state, resp)| (state.clone(), self.responses[resp].clone())).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
      "StateMachines": {"Inv": {"TestCases": {"Retry": {"Process": "Flaky"}, "Happy": {"Process": "Ok"}}}},
      "MockedResponses": {
        "Ok": {"0": {"Return": {"status": "PROCESSED"}}},
        "Flaky": {"0-1": {"Throw": {"Error": "StoreUnavailable", "Cause": "down"}}, "2": {"Return": {"status": "PROCESSED"}}}
      }}"#;

    #[test]
    fn picks_responses_by_invocation() {
        let cfg = MockConfig::from_json(FILE).unwrap();
        let case = cfg.case(None, "whatever", "Retry").unwrap();
        assert_eq!(
            case.response("Process", 1).unwrap().unwrap(),
            &MockResponse::Throw { error: "StoreUnavailable".into(), cause: "down".into() }
        );
        assert!(matches!(case.response("Process", 2).unwrap().unwrap(), MockResponse::Return(_)));
        assert!(case.response("Process", 3).unwrap().is_err());
        assert!(case.response("Other", 0).is_none());
    }

    #[test]
    fn explains_what_is_wrong() {
        let cfg = MockConfig::from_json(FILE).unwrap();
        assert!(cfg.case(Some("Nope"), "x", "Happy").unwrap_err().0.contains("no state machine 'Nope'"));
        assert!(cfg.case(None, "x", "Sad").unwrap_err().0.contains("no test case 'Sad'"));
        let bad = r#"{"StateMachines": {"A": {"TestCases": {"T": {"S": "Missing"}}}}, "MockedResponses": {}}"#;
        assert!(MockConfig::from_json(bad).unwrap_err().0.contains("not in MockedResponses"));
        let bad = r#"{"StateMachines": {}, "MockedResponses": {"R": {"x": {"Return": 1}}}}"#;
        assert!(MockConfig::from_json(bad).unwrap_err().0.contains("invocation number"));
    }
}
