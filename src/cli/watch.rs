//! `drctl watch`: the controller loop, with JSON logs on stderr and a
//! graceful stop on SIGTERM or SIGINT (a second signal ends at once).

use clap::Args;

use super::{AwsArgs, DrillArgs, LeaseArgs, SourceArgs, StateArgs, exit};
use crate::reconcile::{Mode, Stop, watch};
use crate::source::Source;

#[derive(Debug, Args)]
pub struct WatchArgs {
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
    /// Time between passes (s, m, h, d): each pass lists the remote's
    /// references and downloads only when the followed one moved.
    #[arg(long, default_value = "5m", value_parser = super::parse_wait)]
    pub interval: std::time::Duration,
    /// The first wait after a failed pass (a fetch that failed included),
    /// doubling up to --interval.
    #[arg(long, default_value = "1m", value_parser = super::parse_wait)]
    pub error_backoff: std::time::Duration,
    /// Policies reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Delete the stacks of policies no longer desired (vaults retained).
    #[arg(long)]
    pub prune: bool,
    /// Stop after this many passes (default: run until signalled).
    #[arg(long)]
    pub passes: Option<u64>,
    /// Serve OpenMetrics on http://ADDR/metrics, with /healthz and /readyz
    /// (e.g. 127.0.0.1:9464; 0.0.0.0:9464 in a container).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub fn run(args: &WatchArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(!args.source.worktree, "drctl watch follows a git reference; --worktree is for one-off runs");
    // Opening makes no network call: a remote that is down at start is
    // fetched by the first pass, and retried with backoff like any failure.
    let source = Source::open(&args.source.repo, &args.source.access())?;
    let runtime = super::runtime()?;
    let aws = runtime.block_on(args.aws.connect());
    let store = args.state.open(&aws)?;
    let mut settings = watch::Settings {
        reference: args.source.reference.clone(),
        interval: args.interval,
        error_backoff: args.error_backoff,
        extra_regions: Vec::new(),
        max_passes: args.passes,
        max_policies: args.source.max_policies,
        limits: args.quotas.limits()?,
        reconcile: args.lease.reconcile_options(&args.drill, None, args.concurrency, args.prune, Mode::Reconcile)?,
    };
    args.drill.share_slots(&mut settings.reconcile.drill, &store, args.lease.lease_ttl);
    let stop = Stop::default();
    let ended = runtime.block_on(async {
        // A controller that a SIGTERM would kill mid-step is not started.
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| anyhow::anyhow!("drctl watch cannot handle SIGTERM ({e}); refusing to run without a graceful stop"))?;
        let signals = tokio::spawn(stop_on_signals(terminate, stop.clone()));
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        let server = match args.metrics_addr {
            Some(addr) => Some(
                crate::metrics::serve(addr, metrics.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: cannot listen ({e})"))?,
            ),
            None => None,
        };
        tracing::info!(owner = %settings.reconcile.owner, store = %store.describe(), reference = %settings.reference, "watch started");
        let observed = args.metrics_addr.map(|_| metrics.as_ref());
        let ended = watch::watch(&aws, store.as_ref(), &source, &settings, &stop, observed).await;
        signals.abort();
        if let Some(server) = server {
            server.abort();
        }
        anyhow::Ok(ended)
    })?;
    Ok(if ended.last_pass_failed { exit::ERROR } else { exit::OK })
}

/// The first SIGTERM or SIGINT asks the loop to stop after the steps under
/// way; a second one ends the process (the next run resumes from the state).
async fn stop_on_signals(mut terminate: tokio::signal::unix::Signal, stop: Stop) {
    for count in 1.. {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        if count > 1 {
            tracing::warn!("second signal: exiting now; leases expire and the next run resumes");
            std::process::exit(130);
        }
        tracing::info!("signal received: finishing the steps under way, then stopping");
        stop.request();
    }
}
