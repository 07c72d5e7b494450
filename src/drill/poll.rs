//! One poll loop for jobs and tables: exponential backoff, a deadline, and
//! an explicit "not yet" from the probe.

use std::future::Future;
use std::time::{Duration, Instant};

use super::DrillError;

/// How often to poll: `initial`, doubling up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(500), max: Duration::from_secs(15) }
    }
}

/// Calls `probe` until it answers `Some` (done) or an error; a
/// [`DrillError::Timeout`] naming `what` once `deadline` has passed. A
/// [`DrillError::Transient`] answer (a throttled or failed poll) is not the
/// end of what is polled: it is polled again, until the deadline, when the
/// last such error is returned.
pub(crate) async fn until<T, F, Fut>(what: &str, backoff: Backoff, deadline: Duration, mut probe: F) -> Result<T, DrillError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, DrillError>>,
{
    let started = Instant::now();
    let mut delay = backoff.initial;
    loop {
        let transient = match probe().await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => None,
            Err(error @ DrillError::Transient { .. }) => {
                tracing::warn!(%error, what, "poll failed; polling again");
                Some(error)
            }
            Err(error) => return Err(error),
        };
        let waited = started.elapsed();
        if waited >= deadline {
            return Err(transient.unwrap_or(DrillError::Timeout { what: what.to_string(), waited }));
        }
        tokio::time::sleep(delay.min(deadline - waited)).await;
        delay = (delay * 2).min(backoff.max);
    }
}
