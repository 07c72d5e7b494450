//! Where drctl itself runs, as CloudFormation: `drctl render --deployment
//! lambda` gives the scheduled Lambda function, its role, schedule and log
//! group (`templates/lambda.yaml`). Pure, like the rest of `render`: the
//! role's rights come in as the policy document `crate::iam` built.

use serde_json::{Value as Json, json};
use yaml_serde::Value;

use super::RenderError;
use super::template::{self, Values, value};

const LAMBDA_TEMPLATE: &str = include_str!("../../templates/lambda.yaml");

/// The largest managed policy IAM accepts, in characters, white space not
/// counted (IAM and AWS STS quotas: "Managed policy size").
pub const MANAGED_POLICY_CHARS: usize = 6_144;
/// Managed policies attached to one role, by default (IAM and AWS STS
/// quotas: "Managed policies attached to an IAM role", adjustable to 20).
pub const MANAGED_POLICIES_PER_ROLE: usize = 10;

/// The Lambda deployment: `rights` (drctl's apply policy) split into managed
/// policies the role carries, and the state table the function uses.
pub fn lambda(rights: &Json, state_table: &str, state_region: &str) -> Result<Value, RenderError> {
    let chunks = split_statements(rights)?;
    let names: Vec<String> = (1..=chunks.len()).map(|i| format!("DrctlRights{i}")).collect();
    let values = Values::from([
        ("metadata", value(json!({ "generator": "drctl/v1", "role": "lambda", "state_table": state_table }))),
        ("managed_policies", value(names.iter().map(|n| json!({ "Ref": n })).collect::<Vec<_>>())),
        ("state", value(format!("dynamodb://{state_table}"))),
        ("state_region", value(state_region)),
    ]);
    let mut filled = template::fill("lambda.yaml", &template::parse("lambda.yaml", LAMBDA_TEMPLATE)?, &values)?;
    let resources = filled
        .get_mut("Resources")
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| RenderError::Template { template: "lambda.yaml", why: "no Resources".into() })?;
    for (index, (name, statements)) in names.iter().zip(chunks).enumerate() {
        let resource = json!({
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": format!("drctl's rights ({} of {}), from drctl iam-policy", index + 1, names.len()),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
            },
        });
        resources.insert(Value::String(name.clone()), value(resource).unwrap_or(Value::Null));
    }
    Ok(filled)
}

/// The statements of `policy` in as few documents as fit IAM's managed
/// policy size, in their order.
fn split_statements(policy: &Json) -> Result<Vec<Vec<Json>>, RenderError> {
    let invalid = |why: String| RenderError::Template { template: "lambda.yaml", why };
    let statements = policy["Statement"].as_array().ok_or_else(|| invalid("the IAM policy has no Statement list".into()))?;
    let envelope = json!({ "Version": "2012-10-17", "Statement": [] }).to_string().len();
    let mut chunks: Vec<Vec<Json>> = Vec::new();
    let mut size = envelope;
    for statement in statements {
        let length = statement.to_string().len() + 1;
        if envelope + length > MANAGED_POLICY_CHARS {
            return Err(invalid(format!(
                "statement {} alone is {length} characters, more than a managed policy holds ({MANAGED_POLICY_CHARS})",
                statement["Sid"].as_str().unwrap_or("without a Sid")
            )));
        }
        match chunks.last_mut() {
            Some(chunk) if size + length <= MANAGED_POLICY_CHARS => chunk.push(statement.clone()),
            _ => {
                chunks.push(vec![statement.clone()]);
                size = envelope;
            }
        }
        size += length;
    }
    if chunks.len() > MANAGED_POLICIES_PER_ROLE {
        return Err(invalid(format!(
            "drctl's rights need {} managed policies; a role carries {MANAGED_POLICIES_PER_ROLE} by default: run one function per group of policies",
            chunks.len()
        )));
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sid: &str, bytes: usize) -> Json {
        json!({ "Sid": sid, "Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}", "b".repeat(bytes)) })
    }

    #[test]
    fn statements_are_split_into_managed_policies_each_within_the_size_iam_accepts() {
        let statements: Vec<Json> = (0..9).map(|i| statement(&format!("S{i}"), 1_900)).collect();
        let chunks = split_statements(&json!({ "Version": "2012-10-17", "Statement": statements })).unwrap();
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3]);
        for chunk in &chunks {
            let document = json!({ "Version": "2012-10-17", "Statement": chunk }).to_string();
            assert!(document.len() <= MANAGED_POLICY_CHARS, "{}", document.len());
        }
        let order: Vec<_> = chunks.concat().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect();
        assert_eq!(order, (0..9).map(|i| format!("S{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn a_statement_too_big_for_any_managed_policy_or_too_many_policies_is_an_error() {
        let huge = json!({ "Statement": [statement("Huge", MANAGED_POLICY_CHARS)] });
        assert!(split_statements(&huge).unwrap_err().to_string().contains("statement Huge alone"));
        let many: Vec<Json> = (0..11).map(|i| statement(&format!("S{i}"), 5_900)).collect();
        let error = split_statements(&json!({ "Statement": many })).unwrap_err().to_string();
        assert!(error.contains("need 11 managed policies"), "{error}");
    }

    #[test]
    fn the_role_carries_every_rights_policy_and_the_function_uses_the_state_table() {
        let rights =
            json!({ "Version": "2012-10-17", "Statement": (0..4).map(|i| statement(&format!("S{i}"), 2_500)).collect::<Vec<_>>() });
        let template: Json = serde_json::to_value(lambda(&rights, "drctl-state", "eu-west-1").unwrap()).unwrap();
        let refs = template["Resources"]["Role"]["Properties"]["ManagedPolicyArns"].as_array().unwrap().clone();
        assert_eq!(refs, (1..=2).map(|i| json!({ "Ref": format!("DrctlRights{i}") })).collect::<Vec<_>>());
        for i in 1..=2 {
            assert_eq!(template["Resources"][format!("DrctlRights{i}")]["Type"], "AWS::IAM::ManagedPolicy");
        }
        let variables = &template["Resources"]["Function"]["Properties"]["Environment"]["Variables"];
        assert_eq!(variables["DRCTL_STATE"], "dynamodb://drctl-state");
        assert_eq!(variables["DRCTL_STATE_REGION"], "eu-west-1");
    }
}
