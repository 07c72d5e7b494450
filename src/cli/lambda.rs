//! `drctl-lambda`: the scheduled Lambda's bootstrap. Its settings are the
//! flags of `drctl watch`, read from the function's environment (the
//! `DRCTL_*` variables those flags name, and `DRCTL_ARGS` for the others,
//! split at spaces); each invocation is one pass (`crate::lambda`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, parser::ValueSource};

use super::{AwsArgs, DrillArgs, LeaseArgs, SourceArgs, StateArgs, parse_wait};
use crate::lambda::{Invocation, Settings, Summary};
use crate::reconcile::{Mode, watch};

/// Where the mirror of the policy repository goes when `DRCTL_CACHE_DIR` is
/// not set: `/tmp` is the only place a Lambda function can write, and it
/// lasts as long as the execution environment, so warm invocations fetch
/// only what changed.
pub const LAMBDA_CACHE_DIR: &str = "/tmp/drctl/cache";

#[derive(Debug, Parser)]
#[command(name = "drctl-lambda", about = "drctl as a scheduled AWS Lambda function: one reconcile pass per invocation.")]
pub struct LambdaArgs {
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
    #[command(flatten)]
    pub lambda: InvocationArgs,
}

#[derive(Debug, Args)]
pub struct InvocationArgs {
    /// The SSM parameter (SecureString) holding the HTTPS token of --repo,
    /// read at every invocation.
    #[arg(long, value_name = "NAME", env = "DRCTL_GIT_TOKEN_PARAMETER")]
    pub git_token_parameter: Option<String>,
    /// No new step starts this long before the invocation's deadline.
    #[arg(long, default_value = "90s", env = "DRCTL_STOP_MARGIN", value_parser = parse_wait)]
    pub stop_margin: Duration,
    /// The pass is dropped where it is this long before the deadline (the
    /// next invocation resumes it), leaving time to give back its leases.
    #[arg(long, default_value = "15s", env = "DRCTL_KILL_MARGIN", value_parser = parse_wait)]
    pub kill_margin: Duration,
    /// Policies reconciled at once.
    #[arg(long, default_value_t = 4, env = "DRCTL_CONCURRENCY")]
    pub concurrency: usize,
    /// Delete the stacks of policies no longer desired (vaults retained).
    #[arg(long, env = "DRCTL_PRUNE")]
    pub prune: bool,
}

impl LambdaArgs {
    /// The settings from the environment: `DRCTL_ARGS` and the `DRCTL_*`
    /// variables.
    pub fn from_env() -> anyhow::Result<LambdaArgs> {
        let extra = std::env::var("DRCTL_ARGS").unwrap_or_default();
        Self::parse_with(extra.split_whitespace())
    }

    /// The settings from `args` (flags, as in `DRCTL_ARGS`) and the
    /// environment.
    pub fn parse_with<'a>(args: impl IntoIterator<Item = &'a str>) -> anyhow::Result<LambdaArgs> {
        let matches = Self::command().try_get_matches_from(std::iter::once("drctl-lambda").chain(args))?;
        let mut parsed = Self::from_arg_matches(&matches)?;
        if matches.value_source("cache_dir") == Some(ValueSource::DefaultValue) {
            parsed.source.cache_dir = LAMBDA_CACHE_DIR.into();
        }
        Ok(parsed)
    }

    /// The invocation settings, checked before the first invocation.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(
            self.state.location.starts_with("dynamodb://"),
            "DRCTL_STATE={}: a Lambda function needs the state in a DynamoDB table (dynamodb://TABLE); its files do not outlive it",
            self.state.location
        );
        anyhow::ensure!(!self.source.worktree, "a Lambda function follows a git reference; --worktree is for one-off runs");
        anyhow::ensure!(
            self.lambda.kill_margin < self.lambda.stop_margin,
            "--kill-margin ({:?}) must be shorter than --stop-margin ({:?})",
            self.lambda.kill_margin,
            self.lambda.stop_margin
        );
        Ok(Settings {
            repo: self.source.repo.clone(),
            access: self.source.access(),
            token_parameter: self.lambda.git_token_parameter.clone(),
            stop_margin: self.lambda.stop_margin,
            kill_margin: self.lambda.kill_margin,
            watch: watch::Settings {
                reference: self.source.reference.clone(),
                interval: Duration::ZERO,
                error_backoff: Duration::ZERO,
                extra_regions: Vec::new(),
                max_passes: Some(1),
                max_policies: self.source.max_policies,
                limits: self.quotas.limits()?,
                reconcile: self.lease.reconcile_options(&self.drill, None, self.lambda.concurrency, self.lambda.prune, Mode::Reconcile)?,
            },
        })
    }
}

/// The bootstrap of the Lambda function: reads the settings, then serves
/// invocations until Lambda ends the execution environment.
pub fn main() -> ExitCode {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    super::init_logs(true);
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "drctl-lambda cannot start");
            ExitCode::from(super::exit::ERROR)
        }
    }
}

fn serve() -> anyhow::Result<()> {
    let args = LambdaArgs::from_env()?;
    let mut settings = args.settings()?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let aws = args.aws.connect().await;
        let store = args.state.open(&aws)?;
        args.drill.share_slots(&mut settings.watch.reconcile.drill, &store, args.lease.lease_ttl);
        let shared = Arc::new((aws, store, settings));
        let handler = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let shared = shared.clone();
            async move {
                let (aws, store, settings) = shared.as_ref();
                let invocation = Invocation { request_id: event.context.request_id.clone(), deadline: deadline_of(&event.context) };
                tracing::info!(request_id = %invocation.request_id, event = %event_kind(&event.payload), "invocation");
                let summary = crate::lambda::invoke(aws, store.as_ref(), settings, &invocation).await;
                respond(summary)
            }
        });
        lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!("the Lambda runtime ended: {e}"))
    })
}

/// When Lambda ends the invocation (its context gives milliseconds since
/// the epoch).
fn deadline_of(context: &lambda_runtime::Context) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(context.deadline)
}

/// What started the invocation: an EventBridge schedule says
/// `Scheduled Event`; anything else is logged as it names itself.
fn event_kind(payload: &serde_json::Value) -> String {
    payload.get("detail-type").and_then(|d| d.as_str()).unwrap_or("direct invocation").chars().take(64).collect()
}

/// The summary is the response; a failed pass is an error Lambda counts
/// (its `Errors` metric), with the summary as the message.
fn respond(summary: Summary) -> Result<serde_json::Value, lambda_runtime::Error> {
    let body = serde_json::to_value(&summary)?;
    if summary.failed() { Err(body.to_string().into()) } else { Ok(body) }
}
