//! CloudFormation fixtures: stacks deployed and waited for, their outputs,
//! and `drctl bootstrap` through the library.

use aws_sdk_cloudformation::types::{Capability, StackStatus};

use super::{DEADLINE, TestAccount, poll};

/// `drctl bootstrap` of every region the policies use, through the library:
/// the shared topics and the CloudFormation service role policy stacks are
/// deployed with.
pub async fn bootstrap<'a>(account: &TestAccount, policies: impl IntoIterator<Item = &'a drctl::policy::TablePolicy>) {
    for bootstrap in drctl::render::bootstraps(policies, None) {
        let (stack, outcome) = drctl::apply::bootstrap(&account.aws, &bootstrap, &drctl::apply::Progress::Quiet).await.unwrap();
        assert!(!outcome.is_failure(), "{} ({}): {outcome:?}", stack.name, stack.region);
    }
}

/// Whether a stack status is final (nothing `*_IN_PROGRESS`).
pub fn is_terminal(status: &StackStatus) -> bool {
    !status.as_str().ends_with("_IN_PROGRESS")
}

/// Polls DescribeStacks until `stack` reaches a terminal status; returns it.
pub async fn wait_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> aws_sdk_cloudformation::types::Stack {
    poll(&format!("stack {stack} in a terminal status"), DEADLINE, || async {
        let out = cfn.describe_stacks().stack_name(stack).send().await.ok()?;
        let found = out.stacks().first()?.clone();
        found.stack_status().filter(|status| is_terminal(status)).map(|_| found.clone())
    })
    .await
}

/// Creates `stack` from `template_body` (CreateStack, IAM capabilities) and
/// waits for a terminal status, which it returns with the stack.
pub async fn deploy_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str, template_body: &str) -> aws_sdk_cloudformation::types::Stack {
    cfn.create_stack()
        .stack_name(stack)
        .template_body(template_body)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateStack {stack}: {}", aws_smithy_types::error::display::DisplayErrorContext(err)));
    wait_stack(cfn, stack).await
}

/// A stack output's value.
pub fn output<'a>(stack: &'a aws_sdk_cloudformation::types::Stack, key: &str) -> Option<&'a str> {
    stack.outputs().iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value())
}
