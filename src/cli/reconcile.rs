//! `drctl reconcile`: plan every policy; without `--dry-run`, reconcile
//! each under its lease (apply, drill, record, announce) and prune orphans
//! with `--prune`.

use std::io::IsTerminal;

use anyhow::Context;

use clap::{Args, ValueEnum};

use super::{AwsArgs, DrillArgs, LeaseArgs, SourceArgs, StateArgs, exit, inputs, read_policies};
use crate::apply::Progress;
use crate::plan::{self, format};
use crate::policy;
use crate::reconcile::{self, Mode, Stop};
use crate::render::quotas;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub quotas: super::args::QuotaArgs,
    #[command(flatten)]
    pub lease: LeaseArgs,
    #[command(flatten)]
    pub drill: DrillArgs,
    /// Show the plan and change nothing (preview change sets are deleted).
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: PlanFormat,
    /// With --dry-run: exit 0 with no changes, 2 with changes pending, 1 on any error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Changes that weaken protection (a shorter retention, a longer RPO, a
    /// copy removed, PITR off...) need an approval: with --dry-run (CI on
    /// pull requests) exit 1 when any change weakens protection; applying,
    /// leave such a policy unapplied (the others go on) and exit 1. Unless
    /// --allow-weakening-by names who approved it.
    #[arg(long)]
    pub deny_weakening: bool,
    /// Who approved the weakening changes (the CI passes it in from the
    /// pull request's approval); shown in the plan, and recorded with the
    /// apply in the state (what weakened, who approved it).
    #[arg(long, value_name = "NAME", requires = "deny_weakening")]
    pub allow_weakening_by: Option<String>,
    /// With --dry-run: show what the change to desired/_guardrails.yaml since
    /// this revision does (rules added, removed or changed; the policies it
    /// newly breaks). Default: the first parent of the planned commit (the
    /// work tree: HEAD); in CI on a pull request, the target branch.
    #[arg(long, value_name = "REF", requires = "dry_run")]
    pub guardrails_base: Option<String>,
    /// Policies planned and applied at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also look for orphaned drctl stacks in this region (repeatable).
    #[arg(long = "orphan-region")]
    pub orphan_regions: Vec<String>,
    /// Delete the stacks of policies no longer desired; their vaults and
    /// recovery points are retained. Refused while any policy is invalid.
    #[arg(long, conflicts_with = "dry_run")]
    pub prune: bool,
}

pub fn run(args: &ReconcileArgs) -> anyhow::Result<u8> {
    let set = read_policies(&args.source)?;
    let mut checked = policy::check(inputs(&set));
    let mut limits = args.quotas.limits()?;
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    // The limits are the account's applied quotas (one call per Region).
    // The dry run counts what others took of them too (two list calls per
    // Region); an apply judges drctl's own stacks, and AWS refuses the rest.
    let projection = quotas::Projection::of(&checked);
    runtime.block_on(plan::quotas::read_applied(&aws, projection.regions().iter().map(String::as_str), &mut limits))?;
    let others = if args.dry_run {
        runtime.block_on(plan::quotas::others_use(&aws, projection.regions().iter().map(String::as_str)))?
    } else {
        Default::default()
    };
    let usage = projection.judge(&mut checked, &limits, &others);
    if args.dry_run {
        let options = plan::Options {
            commit: set.commit(),
            extra_regions: args.orphan_regions.clone(),
            concurrency: args.concurrency,
            preview: true,
        };
        let mut plan = runtime.block_on(plan::plan(&aws, &checked, &options));
        plan.guardrails_change = guardrails_change(args, set.commit().as_deref(), &checked)?;
        plan.aws_backup_usage = quotas::report(&usage, &limits);
        print!("{}", render_plan(&plan, args.format));
        let weakening = format::Summary::of(&plan).weakening;
        let refused = args.deny_weakening && weakening > 0 && !weakening_approved(args, weakening);
        return Ok(if plan.has_errors() || refused {
            exit::ERROR
        } else if args.detailed_exitcode && plan.has_changes() {
            exit::CHANGES_PENDING
        } else {
            exit::OK
        });
    }
    let store = args.state.open(&aws)?;
    let mut options = reconcile::Options {
        weakening: reconcile::WeakeningRule { deny: args.deny_weakening, approved_by: args.allow_weakening_by.clone() },
        ..args.lease.reconcile_options(&args.drill, set.commit(), args.concurrency, args.prune, Mode::Reconcile)?
    };
    args.drill.share_slots(&mut options.drill, &store, args.lease.lease_ttl);
    let text = args.format == PlanFormat::Text;
    let progress = if text { Progress::for_terminal(std::io::stderr().is_terminal()) } else { Progress::Quiet };
    let show = |plan: &plan::Plan| {
        if text {
            print!("{}", render_plan(plan, args.format));
        }
        if args.prune && !plan.invalid.is_empty() {
            eprintln!("drctl: --prune refused: {} policy file(s) are invalid, and their stacks must not look deleted", plan.invalid.len());
        }
    };
    let (plan, report) = runtime.block_on(reconcile::plan_and_reconcile(
        &aws,
        store.as_ref(),
        &checked,
        &args.orphan_regions,
        &options,
        &progress,
        &Stop::default(),
        show,
    ));
    match args.format {
        PlanFormat::Text => print!("{}", reconcile::text(&report)),
        _ => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(reconcile_exit_code(&report, plan.has_errors()))
}

/// Says whether the weakening changes were approved, and by whom (in the
/// plan's own format, so the pull request comment shows it) or that they
/// are refused (on stderr).
fn weakening_approved(args: &ReconcileArgs, weakening: usize) -> bool {
    let changes = crate::markup::plural(weakening, "change weakens", "changes weaken");
    let Some(name) = args.allow_weakening_by.as_deref().filter(|n| !n.trim().is_empty()) else {
        eprintln!("drctl: refused: {changes} protection (--deny-weakening); a reviewer may approve with --allow-weakening-by NAME");
        return false;
    };
    match args.format {
        PlanFormat::Markdown => println!("\n> [!NOTE]\n> {changes} protection: approved by {}.", crate::markup::code(name)),
        PlanFormat::Text => println!("{changes} protection: approved by {}", crate::markup::clean(name)),
        PlanFormat::Json => eprintln!("drctl: {changes} protection: approved by {}", crate::markup::clean(name)),
    }
    true
}

fn render_plan(plan: &plan::Plan, format: PlanFormat) -> String {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    match format {
        PlanFormat::Text => format::text(plan, colour),
        PlanFormat::Json => format::json(plan),
        PlanFormat::Markdown => format::markdown(plan),
    }
}

/// 3 when a drill failed (and nothing else did), 1 for any error or an
/// inconclusive drill, else 0.
pub fn reconcile_exit_code(report: &reconcile::Report, plan_errors: bool) -> u8 {
    if report.failed() || plan_errors || (report.drill_inconclusive() && !report.drill_failed()) {
        exit::ERROR
    } else if report.drill_failed() {
        exit::DRILL_FAILED
    } else {
        exit::OK
    }
}

/// What the guardrails file's change since the base does to this
/// revision's policies; `None` when it did not change. A default base that
/// cannot be read (a first commit, a shallow clone) shows no section; one
/// given with --guardrails-base is an error.
fn guardrails_change(
    args: &ReconcileArgs,
    commit: Option<&str>,
    checked: &policy::Checked,
) -> anyhow::Result<Option<policy::guardrails::FileChange>> {
    let read = match (&args.guardrails_base, commit) {
        (Some(base), _) => super::guardrails_at(&args.source, base, true).with_context(|| format!("reading --guardrails-base {base}"))?,
        (None, commit) => {
            let base = commit.map_or_else(|| "HEAD".to_string(), |c| format!("{c}^"));
            match super::guardrails_at(&args.source, &base, false) {
                Ok(read) => read,
                Err(error) => {
                    tracing::info!(base, error = %format!("{error:#}"), "no base revision to compare the guardrails file with");
                    return Ok(None);
                }
            }
        }
    };
    let (base, bytes) = read;
    // A base file that does not parse is compared as no file: every rule
    // this revision has is then shown as added.
    let before = bytes.and_then(|b| policy::guardrails::load(policy::guardrails::FILE_NAME, &b).ok()).map(|l| l.guardrails);
    let after = checked.guardrails.as_ref().map(|g| &g.guardrails);
    Ok(policy::guardrails::compare(&base, before.as_ref(), after, &checked.policies, policy::guardrails::today()))
}
