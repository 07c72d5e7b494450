//! Leftover scratch tables: tagged ones, and untagged ones a state record's
//! in-flight drill names (created, then killed before tagging).

use super::*;

impl Context<'_> {
    pub(super) async fn tables(&self, region: &str) -> Result<Vec<Found>, GcError> {
        let clients = self.aws.region(region);
        let names: Vec<String> = clients
            .dynamodb
            .list_tables()
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| GcError::Call { region: region.to_string(), action: "ListTables".into(), why: describe(&e) })?;
        let (scratch, others): (Vec<String>, Vec<String>) = names.into_iter().partition(|name| name.starts_with(SCRATCH_PREFIX));
        let mut found: Vec<Found> = others
            .into_iter()
            .map(|name| Found {
                kind: Kind::OtherTable,
                region: region.to_string(),
                name,
                stack: None,
                policy: None,
                outcome: Outcome::Kept,
                why: format!("not named {SCRATCH_PREFIX}*: never drctl's"),
                account: None,
            })
            .collect();
        let handled = futures_util::stream::iter(scratch.iter().map(|name| self.table(&clients, name)))
            .buffer_unordered(self.options.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        found.extend(handled);
        Ok(found)
    }

    async fn table(&self, clients: &Clients, name: &str) -> Found {
        let mut found = Found {
            kind: Kind::ScratchTable,
            region: clients.region.clone(),
            name: name.to_string(),
            stack: None,
            policy: None,
            outcome: Outcome::Failed,
            why: String::new(),
            account: None,
        };
        let tags = match table_tags(clients, name).await {
            Ok(Some(tags)) => tags,
            Ok(None) => {
                (found.outcome, found.why) = (Outcome::Kept, "gone before gc reached it".into());
                return found;
            }
            Err(error) => {
                found.why = error.to_string();
                return found;
            }
        };
        found.policy = tags.get(render::POLICY_TAG).cloned().or_else(|| self.recording(&clients.region, name).map(|s| s.policy.clone()));
        let (outcome, why) = match decide(name, &clients.region, &tags, self.states, self.now) {
            Verdict::Keep(why) => (Outcome::Kept, why),
            Verdict::Delete { why, .. } if self.mode == Mode::DryRun => (Outcome::WouldDelete, why),
            Verdict::Delete { why, adopt } => self.delete_table(clients, name, why, adopt).await,
        };
        (found.outcome, found.why) = (outcome, why);
        found
    }

    async fn delete_table(&self, clients: &Clients, name: &str, why: String, adopt: Option<Adopt>) -> (Outcome, String) {
        if let Some(adopt) = adopt {
            let tags = scratch::scratch_tags(&adopt.policy, &adopt.drill_id);
            if let Err(error) = scratch::tag(clients, name, &tags).await {
                return (Outcome::Failed, format!("{why}; tagging it as scratch failed: {error}"));
            }
        }
        match scratch::delete(clients, name, self.options.backoff, self.options.table_deadline).await {
            Cleanup::Deleted => (Outcome::Deleted, why),
            Cleanup::Absent | Cleanup::NotCreated => (Outcome::Kept, "gone before gc reached it".into()),
            Cleanup::Refused(refused) => (Outcome::Kept, format!("the scratch guard refused: {refused}")),
            Cleanup::Failed(failed) => (Outcome::Failed, format!("{why}; the delete failed: {failed}")),
        }
    }

    fn recording(&self, region: &str, table: &str) -> Option<&PolicyState> {
        recording(self.states, region, table)
    }
}
/// The tags of `table`, `None` when it is gone.
async fn table_tags(clients: &Clients, table: &str) -> Result<Option<BTreeMap<String, String>>, GcError> {
    let Some(description) = scratch::describe(clients, table).await? else { return Ok(None) };
    let Some(arn) = description.table_arn() else { return Ok(Some(BTreeMap::new())) };
    Ok(Some(scratch::tags_of(clients, arn).await?))
}
