use super::*;
use crate::plan::model::{
    Action, DrChange, InvalidPolicy, OrphanStack, PitrChange, Plan, PolicyPlan, Replacement, ResourceChange, StackPlan, StackStatus,
};
use crate::plan::semantic::dr_changes;
use crate::policy::{Duration, TablePolicy, load};
use crate::render::{StackRole, render};

const SCANS: &str = include_str!("../../../desired/spatial-scans.yaml");

fn scans() -> TablePolicy {
    load("desired/spatial-scans.yaml", SCANS.as_bytes()).expect("the example policy loads").policy
}

fn resource(action: Action, id: &str, kind: &str, replacement: Option<Replacement>, details: &[&str]) -> ResourceChange {
    ResourceChange {
        action,
        logical_id: id.into(),
        resource_type: kind.into(),
        replacement,
        scope: vec!["Properties".into()],
        details: details.iter().map(|d| d.to_string()).collect(),
    }
}

/// The plan of spatial-scans whose deployed state is `deployed` (the
/// DR stack is new, the primary changed) plus the given extra pieces.
fn policy_plan(name: &str, deployed: &TablePolicy, desired: &TablePolicy) -> PolicyPlan {
    let old = render(deployed).unwrap();
    let new = render(desired).unwrap();
    let stacks = new
        .iter()
        .map(|stack| {
            let before = old.iter().find(|o| o.name == stack.name && stack.role == StackRole::Primary);
            let diff = before.map(|b| {
                similar::TextDiff::from_lines(&(b.to_json() + "\n"), &(stack.to_json() + "\n"))
                    .unified_diff()
                    .header("deployed", "rendered")
                    .to_string()
            });
            let changes = match before {
                Some(_) => vec![
                    resource(Action::Modify, "BackupPlan", "AWS::Backup::BackupPlan", Some(Replacement::False), &["Properties.BackupPlan"]),
                    resource(
                        Action::Modify,
                        "BackupSelection",
                        "AWS::Backup::BackupSelection",
                        Some(Replacement::True),
                        &["Properties.BackupSelection (requires recreation: Always)"],
                    ),
                ],
                None => vec![resource(Action::Add, "BackupVault", "AWS::Backup::BackupVault", None, &[])],
            };
            StackPlan {
                stack: stack.name.replace("spatial-scans", name),
                region: stack.region.clone(),
                role: stack.role,
                status: if before.is_some() { StackStatus::Changed } else { StackStatus::New },
                deployed_status: before.map(|_| "UPDATE_COMPLETE".to_string()),
                semantic: dr_changes(before.map(|b| &b.template), &stack.template),
                template_diff: diff,
                changes,
                previewed: true,
            }
        })
        .collect();
    PolicyPlan {
        name: name.into(),
        file: format!("desired/{name}.yaml"),
        account: None,
        content_hash: "0".repeat(64),
        table: desired.spec.table.clone(),
        region: desired.spec.region.clone(),
        stacks,
        pitr: None,
        error: None,
        warnings: Vec::new(),
    }
}

fn unchanged(name: &str) -> PolicyPlan {
    PolicyPlan {
        name: name.into(),
        file: format!("desired/{name}.yaml"),
        account: None,
        content_hash: "1".repeat(64),
        table: "FloorPlans".into(),
        region: "us-east-1".into(),
        stacks: vec![StackPlan {
            stack: format!("drctl-{name}"),
            region: "us-east-1".into(),
            role: StackRole::Primary,
            status: StackStatus::Unchanged,
            deployed_status: Some("UPDATE_COMPLETE".into()),
            semantic: vec![],
            template_diff: None,
            changes: vec![],
            previewed: true,
        }],
        pitr: None,
        error: None,
        warnings: Vec::new(),
    }
}

/// spatial-scans with a shorter retention and another table (so the
/// selection is replaced), its copy stack new; plus an unchanged
/// policy, an orphan and an invalid file.
fn sample() -> Plan {
    let old = {
        let mut p = scans();
        p.spec.backup.copies.clear();
        p
    };
    let mut new = scans();
    new.spec.backup.retention = Duration::from_days(7);
    new.spec.table = "Scans2".into();
    let mut changed = policy_plan("spatial-scans", &old, &new);
    changed.pitr = Some(PitrChange { table: "Scans2".into(), region: "us-east-1".into(), from: Some(false), to: true });
    Plan {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        policies: vec![unchanged("floor-plans"), changed],
        orphans: vec![OrphanStack {
            stack: "drctl-old".into(),
            region: "us-east-1".into(),
            policy: "old".into(),
            status: "CREATE_COMPLETE".into(),
            shared: false,
            account: None,
        }],
        invalid: vec![InvalidPolicy {
            file: "desired/broken.yaml".into(),
            findings: vec!["desired/broken.yaml:12:16: error: `35 days` is not a duration\n  hint: write 35d".into()],
        }],
        guardrails: vec![],
        guardrails_change: None,
        aws_backup_usage: vec![],
        unreached: vec![],
        shared: vec![],
    }
}

/// 100 changed policies, each with a template diff of some 20 kB and
/// 20 details per resource change.
fn hundred_policies() -> Plan {
    let old = scans();
    let mut new = scans();
    new.spec.backup.retention = Duration::from_days(7);
    new.spec.backup.schedule = Some("cron(0 0 * * ? *)".into());
    let padding: String = (0..400).map(|i| format!("-  \"Old{i}\": \"{}\"\n", "x".repeat(40))).collect();
    let policies: Vec<PolicyPlan> = (0..100)
        .map(|i| {
            let mut plan = policy_plan(&format!("policy-{i:03}"), &old, &new);
            for stack in &mut plan.stacks {
                if let Some(diff) = &mut stack.template_diff {
                    diff.push_str(&padding);
                }
                for change in &mut stack.changes {
                    change.details.extend((0..20).map(|d| format!("Properties.Something{d} (requires recreation: Never)")));
                }
            }
            plan
        })
        .collect();
    Plan {
        commit: None,
        policies,
        orphans: vec![],
        invalid: vec![],
        guardrails: vec![],
        guardrails_change: None,
        aws_backup_usage: vec![],
        unreached: vec![],
        shared: vec![],
    }
}

#[test]
fn summary_counts_stacks_orphans_and_invalid_files() {
    let summary = Summary::of(&sample());
    assert_eq!(
        summary,
        Summary { create: 1, change: 1, unchanged: 1, orphans: 1, invalid: 1, failed: 0, pitr_changes: 1, weakening: 2, replacements: 1 }
    );
    assert_eq!(summary.sentence(), "1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change");
    assert_eq!(Summary::default().sentence(), "0 to create, 0 to change, 0 unchanged, 0 orphans, 0 invalid");
}

#[test]
fn text_without_colour_speaks_the_change_vocabulary() {
    let text = text(&sample(), false);
    assert!(!text.contains('\x1b'), "{text}");
    for expected in [
        "drctl plan for commit 0123456789abcdef0123456789abcdef01234567\n",
        "\nspatial-scans: Scans2 in us-east-1 (desired/spatial-scans.yaml)\n",
        "\n  = drctl-floor-plans (us-east-1) unchanged\n",
        "\n  + drctl-spatial-scans-dr-us-west-2 (us-west-2) new\n",
        "\n      · new: copy vault drctl-spatial-scans for Scans2, vault lock min 7d / max 400d, KMS key alias/dr-backups\n",
        "\n      + BackupVault AWS::Backup::BackupVault\n",
        "\n  ~ drctl-spatial-scans (us-east-1) changed\n",
        "\n      ! table SpatialScans → Scans2\n",
        "\n      ! retention 35d → 7d\n",
        "\n      · copy to us-west-2 added (keeps 90d)\n",
        "\n      ~ BackupPlan AWS::Backup::BackupPlan\n          Properties.BackupPlan\n",
        "\n      ~ BackupSelection AWS::Backup::BackupSelection (REPLACE)\n          Properties.BackupSelection (requires recreation: Always)\n",
        "\n      ! BackupSelection is replaced: CloudFormation creates a new one, then deletes the old one\n",
        "\n      --- deployed\n      +++ rendered\n      @@ ",
        "\n      -                \"DeleteAfterDays\": 35\n",
        "\n  ~ point-in-time recovery of Scans2 (us-east-1): off → on\n",
        "\n- drctl-old (us-east-1) orphan: policy `old` no longer desired; left alone (use --prune)\n",
        "\ninvalid: desired/broken.yaml (not planned; its stacks are left alone)\n    desired/broken.yaml:12:16: error: `35 days` is not a duration\n      hint: write 35d\n",
        "\nPlan: 1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change.\n! review: 2 changes weakening protection, 1 resource replaced.\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn text_with_colour_paints_and_stays_readable() {
    let plain = text(&sample(), false);
    let coloured = text(&sample(), true);
    assert!(coloured.contains("\x1b[1;31m(REPLACE)\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[1;33m!\x1b[0m \x1b[33mretention 35d → 7d\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[32m+\x1b[0m drctl-spatial-scans-dr-us-west-2"), "{coloured}");
    assert!(coloured.contains("\x1b[36m@@ "), "{coloured}");
    assert!(coloured.contains("\x1b[31m-                \"DeleteAfterDays\": 35\x1b[0m"), "{coloured}");
    let stripped = strip_ansi(&coloured);
    assert_eq!(stripped, plain);
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn text_cleans_escape_sequences_from_aws() {
    let mut plan = sample();
    plan.policies[1].error = Some("boom \x1b[2J\x1b]0;owned\x07 done".into());
    let text = text(&plan, false);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(text.contains("  error: boom ?[2J?]0;owned? done\n"), "{text}");
}

#[test]
fn markdown_of_a_small_plan_is_whole() {
    let md = markdown(&sample());
    assert!(!md.contains("shortened"), "{md}");
    for expected in [
        "### drctl plan\n\nCommit `0123456789ab`. **Plan: 1 to create, 1 to change, 1 unchanged, 1 orphan, 1 invalid, 1 PITR change.**\n",
        "> [!CAUTION]\n> 2 changes would weaken protection; 1 resource is replaced; 1 policy file is invalid.\n",
        "| policy | stacks | change | weakens protection? | replacements |\n| --- | --- | --- | --- | --- |\n",
        "| `floor-plans` | = `drctl-floor-plans` | unchanged | no | none |\n",
        "| `spatial-scans` | + `drctl-spatial-scans-dr-us-west-2`<br>~ `drctl-spatial-scans` | 1 new, 1 changed, PITR off → on | **yes**: table SpatialScans → Scans2; retention 35d → 7d | `BackupSelection` **(replace)** |\n",
        "| `old` | - `drctl-old` (us-east-1) | orphan: no longer desired; left alone (use `--prune`) | no | none |\n",
        "| `desired/broken.yaml` | — | **invalid**: 1 finding; not planned, its stacks are left alone | ? | none |\n",
        "<details><summary><code>spatial-scans</code> (Scans2 in us-east-1): + 1 new, ~ 1 changed, ~ PITR, ! weakens protection, (replace)</summary>\n\n",
        "- ⚠️ **retention 35d → 7d** (weakens protection)\n",
        "- copy to us-west-2 added (keeps 90d)\n",
        "| ~ | `BackupSelection` | `AWS::Backup::BackupSelection` | **(replace)** | Properties.BackupSelection (requires recreation: Always) |\n",
        "| + | `BackupVault` | `AWS::Backup::BackupVault` |  |\n",
        "> [!WARNING]\n> BackupSelection is replaced: CloudFormation creates a new one, then deletes the old one\n",
        "```diff\n--- deployed\n+++ rendered\n@@ ",
        "~ point-in-time recovery of `Scans2` (us-east-1): off → on\n",
        "<details><summary><code>desired/broken.yaml</code>: invalid</summary>\n\n```text\ndesired/broken.yaml:12:16",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    assert!(!md.contains("floor-plans</code>"), "an unchanged policy gets no section: {md}");
}

#[test]
fn markdown_of_a_hundred_policies_with_large_diffs_fits_github() {
    let plan = hundred_policies();
    let md = markdown(&plan);
    assert!(md.chars().count() < 65_536 && md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
    assert!(
        md.contains("sections were shortened to fit GitHub's comment limit; run `drctl reconcile --dry-run` locally for the full plan."),
        "{md}"
    );
    for i in 0..100 {
        let row = format!("| `policy-{i:03}` | ~ `drctl-policy-{i:03}`<br>+ `drctl-policy-{i:03}-dr-us-west-2` |");
        let row_dr_first = format!("| `policy-{i:03}` | + `drctl-policy-{i:03}-dr-us-west-2`<br>~ `drctl-policy-{i:03}` |");
        assert!(md.contains(&row) || md.contains(&row_dr_first), "row of policy-{i:03} missing");
    }
    assert!(md.contains("_Template diff ("), "diffs go first");
}

#[test]
fn markdown_of_a_huge_plan_keeps_the_summary_within_the_limit() {
    let one = hundred_policies().policies.swap_remove(0);
    let many = |n: usize| Plan {
        commit: None,
        policies: (0..n)
            .map(|i| {
                let mut policy = one.clone();
                policy.name = format!("policy-{i:04}");
                policy
            })
            .collect(),
        orphans: vec![],
        invalid: vec![],
        guardrails: vec![],
        guardrails_change: None,
        aws_backup_usage: vec![],
        unreached: vec![],
        shared: vec![],
    };
    // Every section is cut to nothing, the table stays whole.
    let md = markdown(&many(250));
    assert!(md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
    assert!(md.contains("only the summary is shown") && !md.contains("<details>"), "{md}");
    assert!((0..250).all(|i| md.contains(&format!("| `policy-{i:04}` |"))));
    // A table longer than the limit loses its last rows, and says so.
    let mut lean = many(1500);
    lean.policies.iter_mut().flat_map(|p| &mut p.stacks).for_each(|s| s.template_diff = None);
    let md = markdown(&lean);
    assert!(md.len() <= MARKDOWN_BUDGET, "{} bytes", md.len());
    assert!(md.contains("| `policy-0000` |") && !md.contains("| `policy-1499` |"));
    assert!(md.contains(" more rows not shown |"), "{md}");
}

#[test]
fn markdown_keeps_diffs_when_only_details_must_go() {
    // Shortening drops the largest diff first and stops as soon as it fits.
    let old = scans();
    let mut new = scans();
    new.spec.backup.retention = Duration::from_days(7);
    let mut big = policy_plan("big", &old, &new);
    let huge: String = (0..6000).map(|i| format!("+ line {i}\n")).collect();
    big.stacks.iter_mut().filter_map(|s| s.template_diff.as_mut()).for_each(|d| d.push_str(&huge));
    let small = policy_plan("small", &old, &new);
    let md = markdown(&Plan {
        commit: None,
        policies: vec![big, small],
        orphans: vec![],
        invalid: vec![],
        guardrails: vec![],
        guardrails_change: None,
        aws_backup_usage: vec![],
        unreached: vec![],
        shared: vec![],
    });
    assert!(md.contains("1 section was shortened"), "{md}");
    assert!(md.contains("_Template diff (60"), "{md}");
    assert_eq!(md.matches("```diff").count(), 1, "the small policy keeps its diff");
}

#[test]
fn markdown_escapes_what_comes_from_aws() {
    let mut plan = sample();
    let stack = &mut plan.policies[1].stacks[1];
    stack.changes[0].details = vec!["a|b <script> `tick` *bold* @someone".into()];
    stack.semantic.push(DrChange { text: "table A|B → <C>".into(), weakens: false });
    stack.template_diff = Some("--- deployed\n+++ rendered\n@@ -1 +1 @@\n-```\n+````\n".into());
    let md = markdown(&plan);
    assert!(md.contains("| a\\|b &lt;script&gt; \\`tick\\` \\*bold\\* \\@someone |"), "{md}");
    assert!(md.contains("- table A\\|B → &lt;C&gt;\n"), "{md}");
    assert!(md.contains("`````diff\n--- deployed\n+++ rendered\n@@ -1 +1 @@\n-```\n+````\n`````\n"), "{md}");
    assert!(!md.contains("<script>"), "{md}");
}

#[test]
fn json_has_a_version_a_summary_and_the_plan() {
    let plan = sample();
    let value: serde_json::Value = serde_json::from_str(&json(&plan)).expect("valid JSON");
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["summary"]["create"], 1);
    assert_eq!(value["summary"]["orphans"], 1);
    assert_eq!(value["summary"]["weakening"], 2);
    assert_eq!(value["commit"], "0123456789abcdef0123456789abcdef01234567");
    let primary = &value["policies"][1]["stacks"][1];
    assert_eq!(primary["status"], "changed");
    assert_eq!(primary["role"], "primary");
    assert_eq!(primary["semantic"][1], serde_json::json!({ "text": "retention 35d → 7d", "weakens": true }));
    assert_eq!(primary["changes"][1]["replacement"], "True");
    assert_eq!(value["orphans"][0]["stack"], "drctl-old");
    assert_eq!(value["invalid"][0]["file"], "desired/broken.yaml");
    assert!(json(&plan).starts_with("{\n  \"format_version\": 1,\n  \"summary\": {\n"), "{}", json(&plan));
    assert!(json(&Plan::default()).ends_with("}\n"));
}

#[test]
fn guardrails_come_first_in_every_format_breaches_and_exceptions_apart() {
    use crate::plan::model::GuardrailNote;
    let note = |line: usize, breach: bool, message: &str| GuardrailNote {
        file: "desired/scans.yaml".into(),
        line,
        breach,
        message: message.into(),
    };
    let mut plan = sample();
    plan.guardrails = vec![
        note(25, true, "guardrail prod-recovery (owner team-platform): RPO 2d is above the 1d maximum; data | loss"),
        note(31, false, "guardrail prod-full-content-check excepted through 2027-06-30 (approved by cto: cost)"),
    ];
    let text = text(&plan, false);
    let guardrails = text.find("guardrails:").expect("a guardrails section");
    assert!(guardrails < text.find("spatial-scans").unwrap(), "before the policies:\n{text}");
    assert!(text.contains("  ✗ desired/scans.yaml:25: guardrail prod-recovery (owner team-platform): RPO 2d"), "{text}");
    assert!(text.contains("  ! desired/scans.yaml:31: guardrail prod-full-content-check excepted"), "{text}");

    let md = markdown(&plan);
    let section = md.find("**Guardrails**: 1 breach, 1 breach under an exception.").expect(&md);
    assert!(section < md.find("| policy | stacks |").unwrap(), "before the table:\n{md}");
    assert!(md.contains("- ❌ `desired/scans.yaml:25`: guardrail prod-recovery") && md.contains("data \\| loss"), "escaped:\n{md}");
    assert!(md.contains("- ⚠️ `desired/scans.yaml:31`"), "{md}");

    let value: serde_json::Value = serde_json::from_str(&json(&plan)).unwrap();
    assert_eq!(value["guardrails"][0]["breach"], true);
    assert_eq!(value["guardrails"][1]["line"], 31);
    assert!(serde_json::from_str::<serde_json::Value>(&json(&sample())).unwrap().get("guardrails").is_none(), "absent without guardrails");

    plan.guardrails = (0..25).map(|i| note(i, true, "guardrail r (owner o): x; y")).collect();
    let md = markdown(&plan);
    assert_eq!(md.matches("- ❌ ").count(), 20, "{md}");
    assert!(md.contains("- … 5 more: `drctl validate` lists them all"), "{md}");
}
