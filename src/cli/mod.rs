//! The command line: clap arguments close to the flags, turned into
//! validated settings before any I/O, then dispatched to one file per
//! command. The CLI parses and wires; the stages do the work.

mod args;
mod bootstrap;
mod compare;
mod completions;
mod fingerprint;
mod gc;
mod health;
mod iam_policy;
pub mod lambda;
mod reconcile;
mod render;
mod report;
mod schema;
mod status;
mod validate;
mod verify;

/// The exit code `drctl reconcile` ends with for a report (documented in the README).
pub use reconcile::reconcile_exit_code;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use args::{AwsArgs, DrillArgs, LeaseArgs, SourceArgs, StateArgs, TextOrJson, guardrails_at, inputs, read_policies};
use args::{parse_duration, parse_wait};

/// The exit codes (`drctl --help` lists them).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const CHANGES_PENDING: u8 = 2;
    /// `status --detailed-exitcode`: a policy is out of compliance.
    pub const OUT_OF_COMPLIANCE: u8 = 2;
    /// A drill failed: the recovery is wrong or too slow. An inconclusive
    /// drill (drctl or AWS could not complete it) is an error (1), not this:
    /// only a failure pages.
    pub const DRILL_FAILED: u8 = 3;
}

/// The exit codes, as `drctl --help` lists them.
const EXIT_CODES: &str = "Exit codes:
  0  done: valid, applied, proven, nothing pending
  1  an error: an invalid policy, a failed apply, the state store, AWS refusing a call,
     a drill that was inconclusive (drctl or AWS could not complete it; the output says so);
     `watch`: its last pass failed; `health`: the watch did not answer 200; `reconcile --dry-run --deny-weakening`: a change weakens
     protection and no --allow-weakening-by approved it
  2  `reconcile --dry-run --detailed-exitcode`: changes pending;
     `status --detailed-exitcode`: a policy out of compliance
  3  `reconcile`, `verify`: a drill failed (the recovery is wrong or too slow)";

/// `drctl --version`: the version, the commit it was built from and when.
/// Release builds set `DRCTL_BUILD_COMMIT` and `DRCTL_BUILD_DATE`
/// (scripts/release-build does); a build without them says so rather than
/// guess.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let commit = option_env!("DRCTL_BUILD_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown: built without DRCTL_BUILD_COMMIT");
    let built = option_env!("DRCTL_BUILD_DATE").filter(|d| !d.is_empty()).map(|d| format!(", built {d}")).unwrap_or_default();
    format!("{} (commit {commit}{built})", env!("CARGO_PKG_VERSION"))
});

#[derive(Debug, Parser)]
#[command(
    name = "drctl",
    version = VERSION.as_str(),
    about = "Keeps the disaster-recovery policies of DynamoDB tables true, and proves them with restore drills.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint every policy offline: no AWS access.
    Validate(validate::ValidateArgs),
    /// Print the CloudFormation templates policies render to.
    Render(render::RenderArgs),
    /// Print the JSON Schema of the policy file (or of the guardrails file), for editors.
    Schema(schema::SchemaArgs),
    /// Plan, then per policy apply, drill, record and announce (or only show the plan, with --dry-run).
    Reconcile(reconcile::ReconcileArgs),
    /// Deploy the shared drctl-bootstrap stack of every region (SNS topics, state table).
    Bootstrap(bootstrap::BootstrapArgs),
    /// Run the restore drill of one policy now, in each of its drill regions.
    Verify(verify::VerifyArgs),
    /// The controller loop: reconcile new commits, re-prove due policies, stop cleanly on SIGTERM.
    Watch(watch::WatchArgs),
    /// Per policy: last proven restore, RTO/RPO measured against the targets, next drill due, compliance.
    Status(status::StatusArgs),
    /// The DR report of an audit period: compliance, RTO/RPO over time against the targets, every drill's evidence (HTML or JSON).
    Report(report::ReportArgs),
    /// Remove leftover scratch tables and preview change sets that drctl owns (and nothing else).
    Gc(gc::GcArgs),
    /// Print the least-privilege IAM policy drctl needs.
    IamPolicy(iam_policy::IamPolicyArgs),
    /// Print a table's item count and content fingerprint (read-only), to compare two tables by hand.
    Fingerprint(fingerprint::FingerprintArgs),
    /// Judge a restored table against its source as it was between two instants (PITR exports; read-only).
    Compare(compare::CompareArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Ask a running `drctl watch --metrics-addr` whether it is alive (or ready): a container health check.
    Health(health::HealthArgs),
    /// Print drctl's manual page (roff): `drctl man > drctl.1`, or `drctl man | man -l -`.
    Man,
}

/// The async runtime of the commands that talk to AWS.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Runs the command and maps its outcome to an exit code; errors are
/// printed with their causes.
pub fn run(cli: Cli) -> ExitCode {
    // Everything drctl writes (state, mirrors of the policy repository,
    // reports) is for its own user alone: 0600 files, 0700 directories.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    init_logs(matches!(cli.command, Command::Watch(_)));
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Reconcile(args) => reconcile::run(&args),
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Gc(args) => gc::run(&args),
        Command::IamPolicy(args) => iam_policy::run(&args),
        Command::Watch(args) => watch::run(&args),
        Command::Fingerprint(args) => fingerprint::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Health(args) => health::run(&args),
        Command::Man => completions::man(),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("drctl: error: {error:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Logs go to stderr through tracing, filtered by `DRCTL_LOG` (default:
/// info in `watch`, warnings otherwise); JSON lines in `watch`, for log
/// pipelines, and plain text otherwise.
pub(crate) fn init_logs(watch: bool) {
    let default = if watch { "drctl=info" } else { "drctl=warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DRCTL_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if watch { builder.json().flatten_event(true).try_init() } else { builder.compact().try_init() };
}
