//! The flag groups commands share (where policies come from, AWS, the
//! state store, leases, drills) and their parsers: clap arguments close to
//! the flags, turned into the stages' options before any I/O.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::policy::{self, Input};
use crate::source::{PolicySet, Source};

/// How to reach AWS: the standard configuration chain, or an emulator.
#[derive(Debug, Args, Clone)]
pub struct AwsArgs {
    /// Send every AWS call to this endpoint (a local emulator).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The AWS profile (default: the standard chain).
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Attempts per AWS call, with backoff, for throttling and 5xx.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
}

impl AwsArgs {
    pub async fn connect(&self) -> crate::aws::Aws {
        let connection = crate::aws::Connection {
            endpoint_url: self.endpoint_url.clone(),
            profile: self.profile.clone(),
            region: None,
            max_attempts: Some(self.max_attempts),
        };
        crate::aws::Aws::connect(&connection).await
    }
}

/// Where policies are read from: `--repo` and `--ref`, or the work tree.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// A local repository path or a remote URL (cloned into the cache).
    #[arg(long, default_value = ".", env = "DRCTL_REPO")]
    pub repo: String,
    /// The revision to read: branch, tag or commit.
    #[arg(long = "ref", default_value = "HEAD", env = "DRCTL_REF", conflicts_with = "worktree")]
    pub reference: String,
    /// Read the uncommitted files of the work tree instead of a commit.
    #[arg(long)]
    pub worktree: bool,
    /// Where remote repositories are mirrored (created 0700).
    #[arg(long, default_value = ".drctl/cache", env = "DRCTL_CACHE_DIR")]
    pub cache_dir: PathBuf,
    /// The environment variable holding an HTTPS token for --repo (tried
    /// after a token in the URL, before git's credential helpers).
    #[arg(long, value_name = "VAR", env = "DRCTL_GIT_TOKEN_ENV")]
    pub git_token_env: Option<String>,
    /// A private key for an SSH --repo (a deploy key; tried before the SSH agent).
    #[arg(long, value_name = "FILE", env = "DRCTL_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file SSH host keys are checked against
    /// (default: ~/.ssh/known_hosts). An unknown or changed key is refused.
    #[arg(long, value_name = "FILE", env = "DRCTL_KNOWN_HOSTS")]
    pub known_hosts: Option<PathBuf>,
    /// The most policy files a revision may hold; more is an error, nothing is read.
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_POLICIES, env = "DRCTL_MAX_POLICIES")]
    pub max_policies: usize,
}

/// Where reconcile state lives.
#[derive(Debug, Args, Clone)]
pub struct StateArgs {
    /// A state file path, or dynamodb://TABLE (the table `drctl bootstrap --state-table` creates).
    #[arg(long = "state", default_value = ".drctl/state.json", env = "DRCTL_STATE")]
    pub location: String,
    /// The region of a dynamodb:// state table (default: the AWS configuration's region).
    #[arg(long, env = "DRCTL_STATE_REGION")]
    pub state_region: Option<String>,
}

impl StateArgs {
    /// Opens the store; a DynamoDB store talks to its table's region.
    pub fn open(&self, aws: &crate::aws::Aws) -> anyhow::Result<std::sync::Arc<dyn crate::state::StateStore>> {
        let region = self.state_region.clone().or_else(|| aws.config().region().map(|r| r.to_string()));
        if self.location.starts_with("dynamodb://") && region.is_none() {
            anyhow::bail!("--state {}: no region for the state table; give --state-region or AWS_REGION", self.location);
        }
        let store = crate::state::open(&self.location, || aws.region(region.as_deref().unwrap_or_default()).dynamodb)?;
        Ok(store)
    }
}

/// How long a run holds a policy, and how it paces failed drills.
#[derive(Debug, Args, Clone)]
pub struct LeaseArgs {
    /// A run's lease on a policy lasts this long and is renewed every third
    /// of it; a dead run's lease is taken over after it (s, m, h, d).
    #[arg(long, default_value = "10m", value_parser = parse_wait)]
    pub lease_ttl: std::time::Duration,
    /// A failed drill of unchanged content is retried after this long.
    #[arg(long, default_value = "1h", value_parser = parse_wait)]
    pub retry_failed_after: std::time::Duration,
    /// An inconclusive drill (drctl or AWS could not complete it) is
    /// retried after this long.
    #[arg(long, default_value = "5m", value_parser = parse_wait)]
    pub retry_inconclusive_after: std::time::Duration,
}

impl LeaseArgs {
    /// The reconcile options of a run with these leases and drills: this
    /// process's lease owner, `concurrency` policies at once.
    pub fn reconcile_options(
        &self,
        drill: &DrillArgs,
        commit: Option<String>,
        concurrency: usize,
        prune: bool,
        mode: crate::reconcile::Mode,
    ) -> anyhow::Result<crate::reconcile::Options> {
        Ok(crate::reconcile::Options {
            apply: crate::apply::Options { prune, concurrency, ..crate::apply::Options::default() },
            commit,
            owner: crate::state::lease::owner_id(),
            lease_ttl: self.lease_ttl,
            concurrency,
            drill: drill.options()?,
            retry_failed_after: self.retry_failed_after,
            retry_inconclusive_after: self.retry_inconclusive_after,
            mode,
            clock: crate::state::Clock::SYSTEM,
            weakening: Default::default(),
        })
    }
}

/// AWS Backup quotas the account raised (`validate`, `reconcile`, `watch`).
#[derive(Debug, Args, Clone, Default)]
pub struct QuotaArgs {
    /// An AWS Backup quota's value, `KEY=N` (repeatable): `backup-vaults=500`,
    /// `backup-plans=400`. `validate` (offline) takes it instead of AWS's
    /// default; the commands that reach AWS read the account's applied
    /// values from Service Quotas and take this only as a lower cap.
    #[arg(long = "aws-quota", value_name = "KEY=N", env = "DRCTL_AWS_QUOTAS", value_delimiter = ',')]
    pub aws_quotas: Vec<String>,
}

impl QuotaArgs {
    pub fn limits(&self) -> anyhow::Result<crate::render::quotas::Limits> {
        Ok(crate::render::quotas::Limits::with_overrides(self.aws_quotas.iter().map(String::as_str))?)
    }
}

/// How drills run.
#[derive(Debug, Args, Clone)]
pub struct DrillArgs {
    /// Restore jobs running at once across all drills of this run (AWS allows 50 per account).
    #[arg(long, default_value_t = 10)]
    pub restore_concurrency: usize,
    /// Restore jobs running at once across every drctl process on the
    /// state store (replicas share the account's 50), through slots held
    /// in the store; 0 turns the shared bound off.
    #[arg(long, env = "DRCTL_SHARED_RESTORE_SLOTS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=50))]
    pub shared_restore_slots: u64,
    /// How long a backup, copy or restore job may take.
    #[arg(long, default_value = "6h", value_parser = parse_duration)]
    pub job_deadline: policy::Duration,
    /// Seconds the point-in-time reference's window reaches beyond the
    /// recovery point's creation and completion. AWS documents ±60 s for a
    /// DynamoDB backup; lower it only after measuring (docs/drills.md).
    #[arg(long, env = "DRCTL_CONSISTENCY_MARGIN_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub consistency_margin_seconds: u64,
}

impl DrillArgs {
    /// Gives `options` the restore slots shared on `store`, each held under
    /// a lease of `ttl` (a dead holder's slot frees itself after it).
    pub fn share_slots(
        &self,
        options: &mut crate::drill::Options,
        store: &std::sync::Arc<dyn crate::state::StateStore>,
        ttl: std::time::Duration,
    ) {
        options.shared_slots = (self.shared_restore_slots > 0).then(|| {
            crate::state::slots::SharedSlots::new(store.clone(), self.shared_restore_slots as usize, ttl, crate::state::Clock::SYSTEM)
        });
    }

    pub fn options(&self) -> anyhow::Result<crate::drill::Options> {
        let options = crate::drill::Options {
            job_deadline: self.job_deadline.to_std(),
            consistency_margin: std::time::Duration::from_secs(self.consistency_margin_seconds),
            ..crate::drill::Options::default()
        };
        Ok(options.with_restore_slots(self.restore_concurrency)?)
    }
}

pub(super) fn parse_duration(text: &str) -> Result<policy::Duration, String> {
    text.parse::<policy::Duration>().map_err(|e| e.to_string())
}

/// A wait of the controller (an interval, a lease): whole seconds (`30s`),
/// or a duration as policies write them (`5m`, `1h`).
pub(super) fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    match text.strip_suffix('s').map(str::parse::<u64>) {
        Some(Ok(seconds)) if seconds > 0 => Ok(std::time::Duration::from_secs(seconds)),
        Some(_) => Err(format!("`{text}` is not a wait: write a whole number of seconds above 0, like `30s`, or `5m`")),
        None => parse_duration(text).map(|d| d.to_std()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

impl SourceArgs {
    /// Where remotes are mirrored and how drctl authenticates to them.
    pub fn access(&self) -> crate::source::Access {
        crate::source::Access {
            cache_dir: self.cache_dir.clone(),
            credentials: crate::source::Credentials {
                token: None,
                token_env: self.git_token_env.clone(),
                ssh_key: self.ssh_key.clone(),
                known_hosts: self.known_hosts.clone(),
            },
        }
    }
}

/// Reads the policy files the source arguments name.
pub fn read_policies(args: &SourceArgs) -> anyhow::Result<PolicySet> {
    let set = if args.worktree {
        let source = Source::open(&args.repo, &args.access())?;
        (source.read_worktree(policy::MAX_FILE_BYTES as u64)?, source)
    } else {
        let source = Source::open_at(&args.repo, &args.reference, &args.access())?;
        (source.read_at(&args.reference, policy::MAX_FILE_BYTES as u64)?, source)
    };
    let (set, source) = set;
    Ok(set.at_most(args.max_policies, &source.to_string())?)
}

/// The guardrails file at revision `base` of the repository `args` reads
/// (the commit it resolves to, and the file's bytes or `None` where that
/// revision has none). `fetch`: fetch `base` first (a branch of a remote);
/// otherwise it must be in the history already read (a parent).
pub fn guardrails_at(args: &SourceArgs, base: &str, fetch: bool) -> anyhow::Result<(String, Option<Vec<u8>>)> {
    let source = if fetch { Source::open_at(&args.repo, base, &args.access())? } else { Source::open(&args.repo, &args.access())? };
    let set = source.read_at(base, policy::MAX_FILE_BYTES as u64)?;
    let commit = source.resolve(base)?;
    let file = set.inputs().into_iter().find(|i| policy::guardrails::is_guardrails_file(&i.file));
    Ok((commit, file.and_then(|f| f.content.ok())))
}

/// The policy loader's view of a policy set.
pub fn inputs(set: &PolicySet) -> Vec<Input> {
    set.inputs()
}

#[cfg(test)]
mod tests {
    use super::parse_wait;
    use std::time::Duration;

    #[test]
    fn waits_take_seconds_and_policy_durations() {
        assert_eq!(parse_wait("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_wait("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_wait("0s").is_err() && parse_wait("xs").is_err() && parse_wait("5").is_err());
    }
}
