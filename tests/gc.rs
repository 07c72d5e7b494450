//! `drctl gc` against the emulator: what drctl left behind goes (tagged
//! scratch tables, untagged ones the state proves drctl made, preview change
//! sets, the empty stack an aborted CREATE preview leaves), and nothing else
//! does: tables without the prefix or without proof, stacks drctl does not
//! manage, a pending apply, a running drill's table.

mod support;

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{ChangeSetType, Tag as CfnTag};
use aws_sdk_dynamodb::types::Tag;
use drctl::drill::scratch;
use drctl::gc::{self, Found, GcReport, Kind, Mode, Outcome};
use drctl::state::{InFlight, InFlightRestore, Lease, PolicyState, Step};
use support::TestAccount;

const EMPTY_TEMPLATE: &str = r#"{"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#;
const OTHER_TEMPLATE: &str = r#"{"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}, "Second": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}"#;

/// gc in the test regions, sparing no preview however young (the tests'
/// previews are made a moment before).
async fn collect(account: &TestAccount, states: &[PolicyState], mode: Mode) -> GcReport {
    let options = gc::Options { preview_grace: std::time::Duration::ZERO, ..gc::Options::default() };
    gc::run_with(&account.aws, &regions(), states, mode, &options).await
}

fn regions() -> Vec<String> {
    vec![support::REGION.to_string()]
}

async fn table(account: &TestAccount, name: &str, tags: &BTreeMap<String, String>) {
    let dynamodb = account.clients().dynamodb;
    let arn = support::create_table(&dynamodb, name, 2).await;
    if !tags.is_empty() {
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap()).collect();
        dynamodb.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.unwrap();
    }
}

async fn tables(account: &TestAccount) -> Vec<String> {
    let listed = account.clients().dynamodb.list_tables().send().await.unwrap();
    let mut names = listed.table_names().to_vec();
    names.sort();
    names
}

fn managed_tags(policy: &str) -> Vec<CfnTag> {
    [("drctl:managed-by", "drctl"), ("drctl:policy", policy)].iter().map(|(k, v)| CfnTag::builder().key(*k).value(*v).build()).collect()
}

/// A change set on `stack`; CREATE makes a new stack in REVIEW_IN_PROGRESS.
async fn change_set(account: &TestAccount, stack: &str, name: &str, kind: ChangeSetType, tags: Vec<CfnTag>) {
    let cfn = account.clients().cloudformation;
    let template = if kind == ChangeSetType::Create { EMPTY_TEMPLATE } else { OTHER_TEMPLATE };
    cfn.create_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .change_set_type(kind)
        .template_body(template)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateChangeSet {name} on {stack}: {}", aws_smithy_types::error::display::DisplayErrorContext(e)));
}

/// A deployed stack, tagged as drctl's when `policy` is given.
async fn stack(account: &TestAccount, name: &str, policy: Option<&str>) {
    let cfn = account.clients().cloudformation;
    cfn.create_stack()
        .stack_name(name)
        .template_body(EMPTY_TEMPLATE)
        .set_tags(policy.map(managed_tags))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStack {name}: {}", aws_smithy_types::error::display::DisplayErrorContext(e)));
    support::wait_stack(&cfn, name).await;
}

async fn change_set_names(account: &TestAccount, stack: &str) -> Vec<String> {
    let listed = account.clients().cloudformation.list_change_sets().stack_name(stack).send().await.unwrap();
    let mut names: Vec<String> = listed
        .summaries()
        .iter()
        .filter(|s| s.stack_name() == Some(stack))
        .filter_map(|s| s.change_set_name().map(str::to_string))
        .collect();
    names.sort();
    names
}

async fn stack_status(account: &TestAccount, name: &str) -> Option<String> {
    let described = account.clients().cloudformation.describe_stacks().stack_name(name).send().await.ok()?;
    let status = described.stacks().first()?.stack_status()?.as_str().to_string();
    (status != "DELETE_COMPLETE").then_some(status)
}

fn found<'a>(report: &'a GcReport, kind: Kind, name: &str) -> &'a Found {
    report.found.iter().find(|f| f.kind == kind && f.name == name).unwrap_or_else(|| panic!("no {kind:?} {name} in {report:#?}"))
}

fn outcome(report: &GcReport, kind: Kind, name: &str) -> Outcome {
    found(report, kind, name).outcome
}

/// A record of `policy` whose drill restores into `table` in the primary
/// region, with a lease expiring at `lease_expires` (if any).
fn in_flight(policy: &str, table: &str, lease_expires: Option<u64>) -> PolicyState {
    let mut state = PolicyState::new(policy);
    state.in_flight = Some(InFlight {
        step: Step::Drill,
        content_hash: "c0ffee".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        drill_id: Some(format!("{}00000000", &table[table.len() - 8..])),
        backup_job_id: None,
        copy_jobs: BTreeMap::new(),
        restores: BTreeMap::from([(support::REGION.to_string(), InFlightRestore { scratch_table: table.into(), job_id: None })]),
        started: drctl::state::now() - 120,
        source: None,
    });
    state.lease = lease_expires.map(|expires| Lease { owner: "ci-runner-7-4242-ab12".into(), expires });
    state
}

#[tokio::test]
async fn tagged_scratch_tables_and_previews_go_and_nothing_else_does() {
    let account = support::account().await;
    let tagged = "drctl-drill-spatial-scans-0a0a0a0a";
    let untagged = "drctl-drill-spatial-scans-0b0b0b0b";
    table(&account, tagged, &scratch::scratch_tags("spatial-scans", "0a0a0a0a00000000")).await;
    table(&account, untagged, &BTreeMap::new()).await;
    // Tagged as scratch, but without the prefix: not drctl's to delete.
    table(&account, "SpatialScans", &scratch::scratch_tags("spatial-scans", "0c0c0c0c00000000")).await;
    stack(&account, "drctl-spatial-scans", Some("spatial-scans")).await;
    change_set(&account, "drctl-spatial-scans", "drctl-preview-5e5e5e5e5e5e5e5e", ChangeSetType::Update, managed_tags("spatial-scans"))
        .await;
    change_set(&account, "drctl-render-jobs", "drctl-preview-6f6f6f6f6f6f6f6f", ChangeSetType::Create, managed_tags("render-jobs")).await;
    stack(&account, "team-3d-dashboards", None).await;
    change_set(&account, "team-3d-dashboards", "drctl-preview-7a7a7a7a7a7a7a7a", ChangeSetType::Update, Vec::new()).await;
    assert_eq!(stack_status(&account, "drctl-render-jobs").await.as_deref(), Some("REVIEW_IN_PROGRESS"));

    let dry = collect(&account, &[], Mode::DryRun).await;

    assert!(!dry.failed(), "{dry:#?}");
    assert_eq!(outcome(&dry, Kind::ScratchTable, tagged), Outcome::WouldDelete);
    assert_eq!(outcome(&dry, Kind::PreviewChangeSet, "drctl-preview-5e5e5e5e5e5e5e5e"), Outcome::WouldDelete);
    assert_eq!(outcome(&dry, Kind::ReviewStack, "drctl-render-jobs"), Outcome::WouldDelete);
    assert_eq!(tables(&account).await, ["SpatialScans", tagged, untagged], "a dry run deletes nothing");
    assert_eq!(change_set_names(&account, "drctl-spatial-scans").await, ["drctl-preview-5e5e5e5e5e5e5e5e"]);

    let report = collect(&account, &[], Mode::Delete).await;

    assert!(!report.failed(), "{report:#?}");
    assert_eq!(outcome(&report, Kind::ScratchTable, tagged), Outcome::Deleted);
    let kept = found(&report, Kind::ScratchTable, untagged);
    assert_eq!(kept.outcome, Outcome::Kept);
    assert!(kept.why.contains("no state record names it"), "{kept:?}");
    let other = found(&report, Kind::OtherTable, "SpatialScans");
    assert!(other.outcome == Outcome::Kept && other.why.contains("not named drctl-drill-"), "{other:?}");
    assert_eq!(tables(&account).await, ["SpatialScans", untagged]);

    let preview = found(&report, Kind::PreviewChangeSet, "drctl-preview-5e5e5e5e5e5e5e5e");
    assert_eq!((preview.outcome, preview.stack.as_deref()), (Outcome::Deleted, Some("drctl-spatial-scans")));
    assert_eq!(change_set_names(&account, "drctl-spatial-scans").await, Vec::<String>::new());
    assert_eq!(stack_status(&account, "drctl-spatial-scans").await.as_deref(), Some("CREATE_COMPLETE"), "the stack itself stays");
    assert_eq!(outcome(&report, Kind::ReviewStack, "drctl-render-jobs"), Outcome::Deleted);
    assert_eq!(stack_status(&account, "drctl-render-jobs").await, None);
    assert!(report.found.iter().all(|f| f.stack.as_deref() != Some("team-3d-dashboards")), "{report:#?}");
    assert_eq!(change_set_names(&account, "team-3d-dashboards").await, ["drctl-preview-7a7a7a7a7a7a7a7a"], "not a drctl stack");

    let again = collect(&account, &[], Mode::Delete).await;
    assert_eq!(again.count(Outcome::Deleted), 0, "{again:#?}");
}

#[tokio::test]
async fn an_untagged_table_the_state_records_goes_and_a_running_drills_table_stays() {
    let account = support::account().await;
    let orphan = "drctl-drill-spatial-scans-1c1c1c1c";
    let running = "drctl-drill-floor-plans-2d2d2d2d";
    table(&account, orphan, &BTreeMap::new()).await;
    table(&account, running, &scratch::scratch_tags("floor-plans", "2d2d2d2d00000000")).await;
    let now = drctl::state::now();
    let states = [in_flight("spatial-scans", orphan, Some(now - 5)), in_flight("floor-plans", running, Some(now + 600))];

    let report = collect(&account, &states, Mode::Delete).await;

    assert!(!report.failed(), "{report:#?}");
    let removed = found(&report, Kind::ScratchTable, orphan);
    assert_eq!((removed.outcome, removed.policy.as_deref()), (Outcome::Deleted, Some("spatial-scans")));
    assert!(removed.why.contains("records it as the scratch table of drill 1c1c1c1c00000000"), "{removed:?}");
    let kept = found(&report, Kind::ScratchTable, running);
    assert_eq!(kept.outcome, Outcome::Kept);
    assert!(
        kept.why.starts_with("in use: drill 2d2d2d2d00000000 of floor-plans") && kept.why.contains("ci-runner-7-4242-ab12"),
        "{kept:?}"
    );
    assert_eq!(tables(&account).await, [running]);
}

#[tokio::test]
async fn a_review_stack_with_a_pending_apply_or_a_young_preview_is_kept() {
    let account = support::account().await;
    change_set(&account, "drctl-spatial-scans", "drctl-apply-0123456789abcdef", ChangeSetType::Create, managed_tags("spatial-scans")).await;
    change_set(&account, "drctl-floor-plans", "drctl-preview-0123456789abcdef", ChangeSetType::Create, managed_tags("floor-plans")).await;

    // The library's default spares young previews, as the command line does.
    let report = gc::run(&account.aws, &regions(), &[], Mode::Delete).await;

    assert!(!report.failed(), "{report:#?}");
    let pending = found(&report, Kind::ReviewStack, "drctl-spatial-scans");
    assert!(pending.outcome == Outcome::Kept && pending.why.contains("drctl-apply-0123456789abcdef is pending"), "{pending:?}");
    let young = found(&report, Kind::PreviewChangeSet, "drctl-preview-0123456789abcdef");
    assert!(young.outcome == Outcome::Kept && young.why.contains("a running plan may still read it"), "{young:?}");
    assert_eq!(outcome(&report, Kind::ReviewStack, "drctl-floor-plans"), Outcome::Kept);
    assert_eq!(stack_status(&account, "drctl-spatial-scans").await.as_deref(), Some("REVIEW_IN_PROGRESS"));
    assert_eq!(change_set_names(&account, "drctl-floor-plans").await, ["drctl-preview-0123456789abcdef"]);
}

// ---------------------------------------------------------------------------
// A drill killed mid-way, then `drctl gc` from the command line.

const SCANS: &str = include_str!("../desired/spatial-scans.yaml");

/// spatial-scans drilled in its primary region only.
fn primary_only() -> String {
    SCANS.replace("regions: [us-east-1, us-west-2]", "regions: [us-east-1]")
}

/// A git repository whose one commit holds `desired/spatial-scans.yaml`.
fn repo(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("desired")).unwrap();
    std::fs::write(dir.path().join("desired/spatial-scans.yaml"), yaml).unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("test", "test@example.com").unwrap();
    repo.commit(Some("HEAD"), &signature, &signature, "spatial-scans", &tree, &[]).unwrap();
    dir
}

/// The source table with items and the policy's stacks, deployed by the
/// library's plan and apply.
async fn deployed(account: &TestAccount, yaml: &str) {
    use drctl::{apply, plan, policy};
    support::create_table(&account.clients().dynamodb, "SpatialScans", 40).await;
    let desired = policy::check([policy::Input { file: "desired/spatial-scans.yaml".into(), content: Ok(yaml.as_bytes().to_vec()) }]);
    assert!(!desired.has_errors(), "{:#?}", desired.findings);
    support::bootstrap(account, desired.policies.iter().map(|p| &p.policy)).await;
    let options = plan::Options { commit: None, extra_regions: Vec::new(), concurrency: 2, preview: false };
    let plan = plan::plan(&account.aws, &desired, &options).await;
    let report = apply::apply(&account.aws, &desired, &plan, &apply::Options::default(), &apply::Progress::Quiet).await;
    assert!(!report.failed(), "{report:#?}");
}

fn drctl(account: &TestAccount, dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_drctl"));
    command.current_dir(dir).args(args).env_remove("AWS_PROFILE").envs(account.cli_env());
    command
}

/// The scratch tables in the primary region, and whether each is tagged.
async fn scratch_tables(account: &TestAccount) -> BTreeMap<String, bool> {
    let dynamodb = account.clients().dynamodb;
    let mut found = BTreeMap::new();
    for name in tables(account).await.into_iter().filter(|n| n.starts_with(scratch::SCRATCH_PREFIX)) {
        let Ok(described) = dynamodb.describe_table().table_name(&name).send().await else { continue };
        let arn = described.table().and_then(|t| t.table_arn()).unwrap_or_default().to_string();
        let tags = dynamodb.list_tags_of_resource().resource_arn(arn).send().await.map(|t| t.tags().to_vec()).unwrap_or_default();
        found.insert(name, tags.iter().any(|t| t.key() == scratch::SCRATCH_TAG && t.value() == "true"));
    }
    found
}

/// `drctl verify spatial-scans` (with `extra` flags) started in `dir` and
/// held in its checks by slow scans, once its scratch table is tagged: the
/// running process and the table's name. The caller kills it.
async fn verify_in_its_checks(account: &TestAccount, dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    account.inject_fault(support::Fault::latency("dynamodb", "Scan", 3000));
    let args: Vec<&str> = ["verify", "spatial-scans"].iter().chain(extra).copied().collect();
    let verify = drctl(account, dir, &args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let table = support::poll("a tagged scratch table", support::DEADLINE, || async {
        scratch_tables(account).await.into_iter().find(|(_, tagged)| *tagged).map(|(name, _)| name)
    })
    .await;
    (verify, table)
}

/// `drctl gc --format json` in `dir`; its exit code and report.
fn gc_cli(account: &TestAccount, dir: &std::path::Path, state: &std::path::Path) -> (Option<i32>, serde_json::Value) {
    let output = drctl(account, dir, &["gc", "--format", "json", "--state", state.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code(), report)
}

#[tokio::test]
async fn a_verify_killed_during_its_checks_leaves_a_tagged_table_that_gc_removes_once_the_lease_lapsed() {
    let account = support::account().await;
    let yaml = primary_only();
    deployed(&account, &yaml).await;
    let dir = repo(&yaml);
    let state = dir.path().join("state.json");
    let (mut verify, table) = verify_in_its_checks(&account, dir.path(), &["--state", state.to_str().unwrap(), "--lease-ttl", "1m"]).await;
    verify.kill().unwrap();
    verify.wait().unwrap();
    account.clear_faults();
    assert_eq!(scratch_tables(&account).await, BTreeMap::from([(table.clone(), true)]), "the killed drill left its table");
    lapse_lease(&state).await;
    let dry = drctl(&account, dir.path(), &["gc", "--dry-run", "--state", state.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&dry.stderr));
    assert!(text.starts_with("drctl gc (dry run) in us-east-1, us-west-2\n"), "{text}");
    assert!(text.contains(&format!("  would delete table {table} (us-east-1): a scratch table (tagged drctl:scratch=true)")), "{text}");
    assert!(text.contains("  would delete canary of drill ") && text.contains("was interrupted and its lease lapsed"), "{text}");
    assert!(text.contains("  us-east-1: 1 other tables left alone") && text.ends_with("2 would be deleted, 0 kept, 0 failed\n"), "{text}");
    assert_eq!(scratch_tables(&account).await.len(), 1, "a dry run deletes nothing");

    let (code, report) = gc_cli(&account, dir.path(), &state);

    assert_eq!(code, Some(0), "{report:#}");
    let entry = report["found"].as_array().unwrap().iter().find(|f| f["name"] == table.as_str()).unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!((&entry["kind"], &entry["outcome"]), (&"scratch-table".into(), &"deleted".into()), "{report:#}");
    assert_eq!(report["summary"]["deleted"], 2, "the scratch table and the canary: {report:#}");
    assert_eq!(scratch_tables(&account).await, BTreeMap::new());
    assert!(tables(&account).await.contains(&"SpatialScans".to_string()), "the source table stays");
    let left = support::scan_sorted(&account.clients().dynamodb, "SpatialScans").await;
    assert_eq!(left.len(), 40, "nothing of drctl's is left in the source");
}

/// Two controllers with two state stores: gc reading one never deletes the
/// scratch table of a drill running under the other. The drill claims its
/// table with an expiry tag it renews; gc reads the claim from the table.
#[tokio::test]
async fn gc_with_one_state_store_leaves_a_scratch_table_a_drill_of_another_store_uses() {
    let account = support::account().await;
    let yaml = primary_only();
    deployed(&account, &yaml).await;
    let dir = repo(&yaml);
    let (theirs, ours) = (dir.path().join("theirs.json"), dir.path().join("ours.json"));
    let (mut verify, table) = verify_in_its_checks(&account, dir.path(), &["--state", theirs.to_str().unwrap()]).await;

    let (code, report) = gc_cli(&account, dir.path(), &ours);

    verify.kill().unwrap();
    verify.wait().unwrap();
    account.clear_faults();
    assert_eq!(code, Some(0), "{report:#}");
    let entry = report["found"].as_array().unwrap().iter().find(|f| f["name"] == table.as_str()).unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(entry["outcome"], "kept", "{report:#}");
    assert!(entry["why"].as_str().unwrap().contains("in use: a drill claims it until"), "{report:#}");
    assert_eq!(scratch_tables(&account).await, BTreeMap::from([(table.clone(), true)]));

    // The store that ran the drill knows it died once its lease lapsed.
    lapse_lease(&theirs).await;
    let (code, report) = gc_cli(&account, dir.path(), &theirs);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["summary"]["deleted"], 2, "the scratch table and the canary: {report:#}");
    assert_eq!(scratch_tables(&account).await, BTreeMap::new());
}

/// The killed run's lease on spatial-scans lapses (as it would a minute
/// later), and nothing else in the record changes.
async fn lapse_lease(path: &std::path::Path) {
    use drctl::state::StateStore;
    let store = drctl::state::FileStore::open(path);
    let mut record = store.get("spatial-scans").await.unwrap().expect("the killed run left a record");
    record.lease.as_mut().expect("the killed run held the lease").expires = drctl::state::now() - 1;
    store.put(&record).await.unwrap();
}

/// The record of spatial-scans in the state file, once `accept` takes it.
async fn await_record(path: &std::path::Path, what: &str, accept: impl Fn(&PolicyState) -> bool) -> PolicyState {
    use drctl::state::StateStore;
    let store = drctl::state::FileStore::open(path);
    support::poll(what, support::DEADLINE, || async { store.get("spatial-scans").await.ok().flatten().filter(|state| accept(state)) }).await
}

#[tokio::test]
async fn a_verify_killed_while_its_restore_runs_leaves_an_untagged_table_that_gc_removes_once_the_lease_lapsed() {
    let account = support::account().await;
    let yaml = primary_only();
    deployed(&account, &yaml).await;
    let dir = repo(&yaml);
    let state = dir.path().join("state.json");
    account.set_job_progression(support::JobKind::Restore, support::Progression::Manual { steps: 1000 });

    let mut verify = drctl(&account, dir.path(), &["verify", "spatial-scans", "--state", state.to_str().unwrap(), "--lease-ttl", "1m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let recorded = await_record(&state, "the restore job recorded in the state", |s| {
        s.in_flight.as_ref().and_then(|f| f.restores.get(support::REGION)).is_some_and(|r| r.job_id.is_some())
    })
    .await;
    verify.kill().unwrap();
    verify.wait().unwrap();
    let restore = recorded.in_flight.as_ref().unwrap().restores[support::REGION].clone();

    // The restore job finishes after the process died: its table appears, untagged.
    account.set_job_progression(support::JobKind::Restore, support::Progression::Manual { steps: 1 });
    let backup = account.clients().backup;
    support::poll("the orphaned restore job COMPLETED", support::DEADLINE, || async {
        let job = backup.describe_restore_job().restore_job_id(restore.job_id.as_deref().unwrap()).send().await.ok()?;
        (job.status() == Some(&aws_sdk_backup::types::RestoreJobStatus::Completed)).then_some(())
    })
    .await;
    assert_eq!(scratch_tables(&account).await, BTreeMap::from([(restore.scratch_table.clone(), false)]));

    // The killed run's lease is still live: the table is in use.
    let (code, report) = gc_cli(&account, dir.path(), &state);
    assert_eq!(code, Some(0), "{report:#}");
    let entry = report["found"].as_array().unwrap().iter().find(|f| f["name"] == restore.scratch_table.as_str()).unwrap();
    assert_eq!(entry["outcome"], "kept", "{report:#}");
    assert!(entry["why"].as_str().unwrap().starts_with("in use: "), "{entry:#}");

    // Its lease lapses, and gc finishes the drill's cleanup.
    lapse_lease(&state).await;
    let (code, report) = gc_cli(&account, dir.path(), &state);

    assert_eq!(code, Some(0), "{report:#}");
    let entry = report["found"].as_array().unwrap().iter().find(|f| f["name"] == restore.scratch_table.as_str()).unwrap();
    assert_eq!((&entry["outcome"], &entry["policy"]), (&"deleted".into(), &"spatial-scans".into()), "{report:#}");
    assert!(entry["why"].as_str().unwrap().contains("records it as the scratch table"), "{entry:#}");
    assert_eq!(scratch_tables(&account).await, BTreeMap::new(), "no scratch table remains");
}

/// A drill killed after its exports leaves them in the bootstrap's bucket:
/// gc deletes them once the state says the drill's lease lapsed, keeps them
/// while it is live, and never touches objects outside `drctl/<policy>/<drill>/`.
#[tokio::test]
async fn gc_deletes_the_exports_of_a_killed_drill_once_its_lease_lapsed() {
    let account = support::account().await;
    let bootstrap = drctl::policy::check([drctl::policy::Input {
        file: "desired/spatial-scans.yaml".into(),
        content: Ok(include_bytes!("../desired/spatial-scans.yaml").to_vec()),
    }]);
    support::bootstrap(&account, bootstrap.policies.iter().map(|p| &p.policy)).await;
    let s3 = account.clients().s3;
    let bucket = format!("drctl-exports-{}-{}", account.id, support::REGION);
    let drill = "0a1b2c3d00000000";
    let exported = format!("drctl/spatial-scans/{drill}/start/AWSDynamoDB/x/data/a.json.gz");
    let foreign = "someone-elses/report.csv";
    for key in [exported.as_str(), foreign] {
        s3.put_object().bucket(&bucket).key(key).body(b"x".to_vec().into()).send().await.unwrap();
    }
    let regions = [support::REGION.to_string()];
    let exports = |report: &GcReport| report.found.iter().filter(|f| f.kind == Kind::Export).cloned().collect::<Vec<Found>>();

    let running = in_flight("spatial-scans", "drctl-drill-spatial-scans-0a1b2c3d", Some(drctl::state::now() + 600));
    let kept = gc::run(&account.aws, &regions, &[running], Mode::Delete).await;
    let found = exports(&kept);
    assert!(found.len() == 1 && found[0].outcome == Outcome::Kept && found[0].why.contains("in use"), "{kept:#?}");

    let killed = in_flight("spatial-scans", "drctl-drill-spatial-scans-0a1b2c3d", Some(drctl::state::now() - 1));
    let collected = gc::run(&account.aws, &regions, &[killed], Mode::Delete).await;
    let found = exports(&collected);
    assert!(found.len() == 1 && found[0].outcome == Outcome::Deleted, "{collected:#?}");
    assert_eq!(found[0].policy.as_deref(), Some("spatial-scans"));
    let left = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [foreign], "only drctl's prefix of that drill went");
}

/// A drill killed after writing its canary leaves it in the source table:
/// gc removes it once the state's lease lapsed (also when the policy left
/// the repository: the state records the source), keeps it while the lease
/// is live, and never deletes an item at that key that is not the canary.
#[tokio::test]
async fn gc_removes_the_canary_of_a_killed_drill_and_nothing_else() {
    let account = support::account().await;
    let dynamodb = account.clients().dynamodb;
    support::create_table(&dynamodb, "SpatialScans", 40).await;
    let drill = "0a1b2c3d00000000";
    let description = dynamodb.describe_table().table_name("SpatialScans").send().await.unwrap();
    let table = description.table().unwrap();
    let nonce = u64::from_str_radix(drill, 16).unwrap();
    let key = drctl::drill::canary::canary_key(table.key_schema(), table.attribute_definitions(), nonce).unwrap();
    drctl::drill::canary::write(&dynamodb, "SpatialScans", key.clone(), drill).await.unwrap();
    let record = |lease: u64| {
        let mut state = in_flight("spatial-scans", "drctl-drill-spatial-scans-0a1b2c3d", Some(lease));
        state.in_flight.as_mut().unwrap().source =
            Some(drctl::state::SourceTable { table: "SpatialScans".into(), region: support::REGION.into() });
        state
    };
    let regions = [support::REGION.to_string()];
    let canaries = |report: &GcReport| report.found.iter().filter(|f| f.kind == Kind::Canary).cloned().collect::<Vec<Found>>();
    let items = || async { support::scan_sorted(&account.clients().dynamodb, "SpatialScans").await.len() };

    let running = gc::run(&account.aws, &regions, &[record(drctl::state::now() + 600)], Mode::Delete).await;
    assert!(canaries(&running).is_empty() && items().await == 41, "a live drill's canary stays: {running:#?}");

    let preview = gc::run(&account.aws, &regions, &[record(drctl::state::now() - 1)], Mode::DryRun).await;
    assert_eq!(canaries(&preview).iter().map(|f| f.outcome).collect::<Vec<_>>(), [Outcome::WouldDelete]);
    assert_eq!(items().await, 41, "a dry run writes nothing");

    let collected = gc::run(&account.aws, &regions, &[record(drctl::state::now() - 1)], Mode::Delete).await;
    let found = canaries(&collected);
    assert!(
        found.len() == 1 && found[0].outcome == Outcome::Deleted && found[0].policy.as_deref() == Some("spatial-scans"),
        "{collected:#?}"
    );
    assert_eq!(items().await, 40, "the source holds exactly its own items again");

    // An item at the canary's key that is not the canary is somebody's data.
    let mut theirs = key.clone();
    theirs.insert("payload".into(), aws_sdk_dynamodb::types::AttributeValue::S("not drctl's".into()));
    support::put_items(&dynamodb, "SpatialScans", [theirs]).await;
    let again = gc::run(&account.aws, &regions, &[record(drctl::state::now() - 1)], Mode::Delete).await;
    assert!(canaries(&again).is_empty() && items().await == 41, "{again:#?}");
}
