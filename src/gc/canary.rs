//! The canary a killed drill left in its source table.

use super::*;

/// The canary of a drill the state records as in flight under a lease
/// that lapsed: its key follows from the drill id and the source's key
/// schema, and it is deleted only while it still carries that drill's
/// id (a conditional delete), never an item drctl did not write.
pub async fn stale_canary(aws: &Aws, state: &PolicyState, mode: Mode, now: u64) -> Option<Found> {
    let in_flight = state.in_flight.as_ref()?;
    let (drill_id, source) = (in_flight.drill_id.as_deref()?, in_flight.source.as_ref()?);
    if !crate::drill::is_drill_id(drill_id) || live(state, now) {
        return None;
    }
    let clients = aws.region(&source.region);
    let mut found = Found {
        kind: Kind::Canary,
        region: source.region.clone(),
        name: format!("canary of drill {drill_id} in {}", source.table),
        stack: None,
        policy: Some(state.policy.clone()),
        outcome: Outcome::Failed,
        why: String::new(),
        account: None,
    };
    let placed = match crate::drill::canary::left_by(&clients.dynamodb, &source.table, drill_id).await {
        Ok(None) => return None,
        Ok(Some(canary)) => canary,
        Err(error) => {
            found.why = error.to_string();
            return Some(found);
        }
    };
    let why = format!("drill {drill_id} of {} was interrupted and its lease lapsed", state.policy);
    (found.outcome, found.why) = match mode {
        Mode::DryRun => (Outcome::WouldDelete, why),
        Mode::Delete => match crate::drill::canary::remove(&clients.dynamodb, &placed).await {
            Ok(()) => (Outcome::Deleted, why),
            Err(error) => (Outcome::Failed, format!("{why}; the delete failed: {error}")),
        },
    };
    Some(found)
}
