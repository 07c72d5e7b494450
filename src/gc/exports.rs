//! A drill's point-in-time exports left in the bootstrap's export bucket.

use super::*;

impl Context<'_> {
    /// The exports of drills under `drctl/` in the region's export bucket,
    /// one prefix per drill. A region without a bootstrap has none.
    pub(super) async fn exports(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let clients = self.aws.region(region);
        let bucket = match reference::export::bucket(&clients).await {
            Ok(bucket) => bucket,
            // No bootstrap (or an older one without the bucket): no exports.
            Err(DrillError::Reference { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let owner = bucket.trim_start_matches(reference::export::BUCKET_PREFIX).split('-').next().unwrap_or_default().to_string();
        let drills = reference::export::list_drills(&clients, &reference::export::Location { bucket: &bucket, owner: &owner }).await?;
        let mut found = Vec::new();
        for ((policy, drill_id), newest) in drills {
            let prefix = reference::drill_prefix(&policy, &drill_id);
            let mut entry = Found {
                kind: Kind::Export,
                region: region.to_string(),
                name: format!("s3://{bucket}/{prefix}"),
                stack: None,
                policy: Some(policy.clone()),
                outcome: Outcome::Failed,
                why: String::new(),
                account: None,
            };
            (entry.outcome, entry.why) = match decide::decide_exports(&policy, &drill_id, newest, self.states, self.now) {
                Verdict::Keep(why) => (Outcome::Kept, why),
                Verdict::Delete { why, .. } if self.mode == Mode::DryRun => (Outcome::WouldDelete, why),
                Verdict::Delete { why, .. } => {
                    let place = reference::Place { bucket: bucket.clone(), owner: owner.clone(), prefix };
                    match reference::clean_up(&clients, &place).await {
                        done if done.starts_with("deleted") => (Outcome::Deleted, format!("{why}; {done}")),
                        failed => (Outcome::Failed, format!("{why}; {failed}")),
                    }
                }
            };
            found.push(entry);
        }
        Ok(found)
    }
}
