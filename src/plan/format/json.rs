//! The plan for machines.

use serde::Serialize;

use super::*;
use crate::plan::model::Plan;

/// The JSON document [`json`] prints.
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    summary: Summary,
    #[serde(flatten)]
    plan: &'a Plan,
}

/// The plan for machines: pretty-printed JSON, stable field names.
///
/// Schema (`format_version` 1; fields are only ever added under the same
/// version):
///
/// ```text
/// {
///   "format_version": 1,
///   "summary": { "create", "change", "unchanged", "orphans", "invalid",
///                "failed", "pitr_changes", "weakening", "replacements" },   // counts
///   "commit": string | null,              // the desired state's commit; null for a work tree
///   "policies": [{
///     "name", "file", "content_hash", "table", "region": string,
///     "stacks": [{
///       "stack", "region": string,
///       "role": "primary" | "dr-copy" | "bootstrap",
///       "status": "new" | "changed" | "unchanged",
///       "deployed_status": string | null,  // CloudFormation's status of the deployed stack
///       "semantic": [{ "text": string, "weakens": bool }],   // "retention 35d → 7d"
///       "template_diff": string | null,    // unified diff, deployed → rendered
///       "changes": [{                      // the change-set preview
///         "action": "Add" | "Modify" | "Remove" | "Import" | "Dynamic",
///         "logical_id", "resource_type": string,
///         "replacement": "True" | "False" | "Conditional" | null,
///         "scope": [string], "details": [string]
///       }]
///     }],
///     "pitr": { "table", "region": string, "from": bool | null, "to": bool } | null,
///     "error": string | null               // why the policy could not be planned
///   }],
///   "orphans": [{ "stack", "region", "policy", "status": string }],
///   "invalid": [{ "file": string, "findings": [string] }]
/// }
/// ```
pub fn json(plan: &Plan) -> String {
    let document = Document { format_version: 1, summary: Summary::of(plan), plan };
    let mut out = serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"format_version\": 1, \"error\": \"{e}\"}}"));
    out.push('\n');
    out
}
