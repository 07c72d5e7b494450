//! What `drctl watch --metrics-addr` serves to a monitoring system:
//! OpenMetrics text on `/metrics` (through `prometheus-client`), and
//! `/healthz` and `/readyz` for a container's or an orchestrator's checks.
//!
//! Per policy (label `policy`): `drctl_policy_compliant` (1 or 0),
//! `drctl_last_proof_timestamp_seconds`, `drctl_rto_seconds` and
//! `drctl_rpo_seconds` (the last drill's worst region) beside
//! `drctl_rto_target_seconds` and `drctl_rpo_target_seconds`, and
//! `drctl_verify_every_seconds`; for the controller: `drctl_drills_total`
//! by `verdict`, `drctl_reconcile_passes_total` and
//! `drctl_reconcile_pass_errors_total`, and
//! `drctl_reconcile_pass_duration_seconds` of the last pass.
//!
//! # Guarantees
//! - The per-policy series are replaced as a whole after every pass: a
//!   policy that left the repository leaves the metrics too.
//! - `/readyz` answers 200 only once a pass has completed without error
//!   since start, and 503 after a failed pass until one succeeds again.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::reconcile::{Report, Status};
use crate::status::Inventory;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabel {
    policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metrics of one controller, updated after every pass.
pub struct Metrics {
    registry: Registry,
    compliant: Family<PolicyLabel, Gauge>,
    last_proof: Family<PolicyLabel, Gauge>,
    rto: Family<PolicyLabel, FloatGauge>,
    rpo: Family<PolicyLabel, FloatGauge>,
    rto_target: Family<PolicyLabel, Gauge>,
    rpo_target: Family<PolicyLabel, Gauge>,
    verify_every: Family<PolicyLabel, Gauge>,
    drills: Family<VerdictLabel, Counter>,
    passes: Counter,
    pass_errors: Counter,
    pass_duration: FloatGauge,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics {
            compliant: Family::default(),
            last_proof: Family::default(),
            rto: Family::default(),
            rpo: Family::default(),
            rto_target: Family::default(),
            rpo_target: Family::default(),
            verify_every: Family::default(),
            drills: Family::default(),
            passes: Counter::default(),
            pass_errors: Counter::default(),
            pass_duration: FloatGauge::default(),
            ready: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register("drctl_policy_compliant", "1 when the policy is compliant (status), 0 when not", metrics.compliant.clone());
        registry.register(
            "drctl_last_proof_timestamp_seconds",
            "When the policy's last passing drill ended (Unix seconds)",
            metrics.last_proof.clone(),
        );
        registry.register("drctl_rto_seconds", "Restore time measured by the last drill (worst region)", metrics.rto.clone());
        registry.register("drctl_rpo_seconds", "Data loss window measured by the last drill (worst region)", metrics.rpo.clone());
        registry.register("drctl_rto_target_seconds", "The policy's RTO objective", metrics.rto_target.clone());
        registry.register("drctl_rpo_target_seconds", "The policy's RPO objective", metrics.rpo_target.clone());
        registry.register("drctl_verify_every_seconds", "How often the policy must be proven (verify.every)", metrics.verify_every.clone());
        registry.register("drctl_drills", "Drills run by this controller, by verdict", metrics.drills.clone());
        registry.register("drctl_reconcile_passes", "Passes of the controller loop", metrics.passes.clone());
        registry.register("drctl_reconcile_pass_errors", "Passes that failed or ended with errors", metrics.pass_errors.clone());
        registry.register("drctl_reconcile_pass_duration_seconds", "How long the last pass took", metrics.pass_duration.clone());
        Metrics { registry, ..metrics }
    }

    /// Replaces every per-policy series with what `inventory` says.
    pub fn observe_inventory(&self, inventory: &Inventory) {
        for family in [&self.compliant, &self.last_proof, &self.rto_target, &self.rpo_target, &self.verify_every] {
            family.clear();
        }
        self.rto.clear();
        self.rpo.clear();
        for policy in &inventory.policies {
            let label = PolicyLabel { policy: policy.name.clone() };
            let seconds = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
            self.compliant.get_or_create(&label).set(i64::from(policy.compliant()));
            self.rto_target.get_or_create(&label).set(seconds(policy.rto_target.seconds()));
            self.rpo_target.get_or_create(&label).set(seconds(policy.rpo_target.seconds()));
            self.verify_every.get_or_create(&label).set(seconds(policy.verify_every.seconds()));
            if let Some(proven) = &policy.last_proven {
                self.last_proof.get_or_create(&label).set(seconds(proven.at));
            }
            if let Some(rto) = &policy.rto {
                self.rto.get_or_create(&label).set(rto.seconds);
            }
            if let Some(rpo) = &policy.rpo {
                self.rpo.get_or_create(&label).set(rpo.seconds);
            }
        }
    }

    /// Counts one pass: its duration, whether it failed, and the verdicts
    /// of the drills it ran.
    pub fn observe_pass(&self, seconds: f64, failed: bool, report: Option<&Report>) {
        self.passes.inc();
        self.pass_duration.set(seconds);
        if failed {
            self.pass_errors.inc();
        }
        self.ready.store(!failed, Ordering::Relaxed);
        for outcome in report.map(|r| r.policies.as_slice()).unwrap_or_default() {
            let verdict = match outcome.status {
                Status::Reconciled | Status::DrillPassed => "passed",
                Status::DrillFailed => "failed",
                Status::DrillInconclusive => "inconclusive",
                _ => continue,
            };
            self.drills.get_or_create(&VerdictLabel { verdict }).inc();
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// The answer to a GET of `path`: status and body.
    pub fn respond(&self, path: &str) -> (u16, &'static str, String) {
        match path {
            "/metrics" => (200, "application/openmetrics-text; version=1.0.0; charset=utf-8", self.encode()),
            "/healthz" => (200, "text/plain", "ok\n".into()),
            "/readyz" if self.ready.load(Ordering::Relaxed) => (200, "text/plain", "ready\n".into()),
            "/readyz" => (503, "text/plain", "no pass has succeeded yet (or the last one failed)\n".into()),
            _ => (404, "text/plain", "not found: /metrics, /healthz or /readyz\n".into()),
        }
    }
}

/// Asks a running watch for `path` (`/healthz`, `/readyz`) on `addr`, as a
/// container's health check does where the image has no shell or curl
/// (`drctl health`). Returns the HTTP status.
pub fn probe(addr: SocketAddr, path: &str, timeout: std::time::Duration) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut head = Vec::new();
    // The status line is all a probe needs; a body may follow.
    stream.take(512).read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.lines().next().and_then(|line| line.split_whitespace().nth(1)).and_then(|code| code.parse().ok()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not an HTTP answer: {:?}", text.lines().next().unwrap_or("")))
    })
}

/// Serves `metrics` on `addr` until the returned task is aborted. The
/// listener is bound before this returns, so a taken port is an error at
/// start.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics served on /metrics, /healthz, /readyz");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (status, content_type, body) = metrics.respond(request.uri().path());
                    let response = hyper::Response::builder()
                        .status(status)
                        .header("content-type", content_type)
                        .body(http_body_util::Full::new(hyper::body::Bytes::from(body)));
                    async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                    tracing::debug!(%error, "metrics connection ended");
                }
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{PolicyState, Reconciled};

    fn inventory(with_plans: bool) -> Inventory {
        let load = |text: &str| crate::policy::load::load("desired/x.yaml", text.as_bytes()).unwrap().policy;
        let scans = load(include_str!("../desired/spatial-scans.yaml"));
        let plans = load(include_str!("../desired/floor-plans.yaml"));
        let hash = crate::policy::content_hash(&scans);
        let mut state = PolicyState::new("spatial-scans");
        state.reconciled = Some(Reconciled { content_hash: hash.clone(), commit: "c".into(), at: 1_000 });
        let plans_hash = crate::policy::content_hash(&plans);
        let mut policies = vec![(&scans, hash.as_str())];
        if with_plans {
            policies.push((&plans, plans_hash.as_str()));
        }
        crate::status::inventory(&policies, &[state], 2_000)
    }

    #[test]
    fn every_policy_has_its_series_and_a_policy_gone_leaves_them() {
        let metrics = Metrics::new();
        metrics.observe_inventory(&inventory(true));
        let text = metrics.encode();
        for line in [
            "drctl_policy_compliant{policy=\"spatial-scans\"} 0",
            "drctl_policy_compliant{policy=\"floor-plans\"} 0",
            "drctl_rto_target_seconds{policy=\"spatial-scans\"} 3600",
            "drctl_rpo_target_seconds{policy=\"spatial-scans\"} 28800",
            "drctl_verify_every_seconds{policy=\"spatial-scans\"} 604800",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
        metrics.observe_inventory(&inventory(false));
        assert!(!metrics.encode().contains("floor-plans"), "a policy that left the repository leaves the metrics");
    }

    #[test]
    fn passes_count_drills_by_verdict_and_readiness_follows_the_last_pass() {
        let metrics = Metrics::new();
        assert_eq!(metrics.respond("/readyz").0, 503, "not ready before a pass");
        assert_eq!(metrics.respond("/healthz").0, 200);
        let outcome = |status: Status| crate::reconcile::PolicyOutcome {
            policy: "p".into(),
            status,
            apply: None,
            drills: vec![],
            drill_reason: None,
            sns_message_id: None,
            errors: vec![],
        };
        let report = Report {
            commit: None,
            policies: vec![
                outcome(Status::Reconciled),
                outcome(Status::DrillFailed),
                outcome(Status::DrillInconclusive),
                outcome(Status::Proven),
            ],
            pruned: vec![],
            orphans_left: vec![],
            invalid: vec![],
            canaries: vec![],
        };
        metrics.observe_pass(2.5, false, Some(&report));
        assert_eq!(metrics.respond("/readyz").0, 200);
        let text = metrics.encode();
        for line in [
            "drctl_drills_total{verdict=\"passed\"} 1",
            "drctl_drills_total{verdict=\"failed\"} 1",
            "drctl_drills_total{verdict=\"inconclusive\"} 1",
            "drctl_reconcile_passes_total 1",
            "drctl_reconcile_pass_duration_seconds 2.5",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        metrics.observe_pass(1.0, true, None);
        assert_eq!(metrics.respond("/readyz").0, 503, "a failed pass makes it unready");
        assert!(metrics.encode().contains("drctl_reconcile_pass_errors_total 1"));
        assert_eq!(metrics.respond("/nope").0, 404);
    }
}
