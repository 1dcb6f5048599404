//! The state machine definition: `workflow/state-machine.asl.json`, the single
//! definition that Terraform deploys and `invoices run` executes.
//!
//! Its Task resources are placeholders (`${validate_function_arn}`,
//! `${process_function_arn}`, `${notify_function_arn}`): Terraform fills them
//! with `templatefile`, the local pipeline with [`render`].

/// The definition as written, placeholders included.
pub const TEMPLATE: &str = include_str!("../state-machine.asl.json");

/// The placeholders of [`TEMPLATE`], each filled by one function's ARN.
pub const PLACEHOLDERS: [&str; 3] = ["validate_function_arn", "process_function_arn", "notify_function_arn"];

/// The ARNs of the three task functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionArns {
    pub validate: String,
    pub process: String,
    pub notify: String,
}

impl FunctionArns {
    /// Lambda ARNs named `<prefix>-validate`, `-process`, `-notify` in a region and account.
    pub fn named(region: &str, account: &str, prefix: &str) -> FunctionArns {
        let arn = |name: &str| format!("arn:aws:lambda:{region}:{account}:function:{prefix}-{name}");
        FunctionArns { validate: arn("validate"), process: arn("process"), notify: arn("notify") }
    }
}

/// The definition with every placeholder filled.
pub fn render(arns: &FunctionArns) -> String {
    TEMPLATE
        .replace("${validate_function_arn}", &arns.validate)
        .replace("${process_function_arn}", &arns.process)
        .replace("${notify_function_arn}", &arns.notify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_only_those_exist() {
        let text = render(&FunctionArns::named("us-east-1", "123456789012", "invoices"));
        assert!(!text.contains("${"), "a placeholder is left");
        assert!(text.contains("arn:aws:lambda:us-east-1:123456789012:function:invoices-process"));
        let mut found: Vec<&str> = TEMPLATE.match_indices("${").map(|(i, _)| &TEMPLATE[i + 2..]).collect();
        found.iter_mut().for_each(|rest| *rest = &rest[..rest.find('}').unwrap()]);
        found.sort();
        found.dedup();
        let mut expected = PLACEHOLDERS.to_vec();
        expected.sort();
        assert_eq!(found, expected);
        let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(doc["StartAt"], "Normalize");
    }
}
