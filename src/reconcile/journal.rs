//! The drill's journal in the state store: every job a drill starts, and
//! every scratch table before its restore starts, is written to the
//! policy's in-flight record under the lease, so the next owner can resume.

use std::sync::Mutex;

use crate::drill::{Event, Journal, Resume};
use crate::state::{InFlight, InFlightRestore, LeaseError};

use super::Held;

/// Records drill events into the held policy's `in_flight`.
pub struct StateJournal<'a, 'b> {
    held: &'a Held<'b>,
    /// The first write that failed (the lease was lost, or the store is down).
    failure: Mutex<Option<LeaseError>>,
}

impl<'a, 'b> StateJournal<'a, 'b> {
    pub fn new(held: &'a Held<'b>) -> Self {
        Self { held, failure: Mutex::new(None) }
    }

    /// The first write that failed, if any: the drill went on, but its
    /// record may be incomplete.
    pub fn into_result(self) -> Result<(), LeaseError> {
        match self.failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Journal for StateJournal<'_, '_> {
    async fn record(&self, event: &Event) {
        let outcome = self
            .held
            .update(|state| {
                if let Some(in_flight) = state.in_flight.as_mut() {
                    apply(in_flight, event);
                }
            })
            .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, ?event, "drill step not recorded");
            let mut failure = self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            failure.get_or_insert(error);
        }
    }
}

/// One event written into the in-flight record.
fn apply(in_flight: &mut InFlight, event: &Event) {
    match event {
        Event::Started { drill_id } => in_flight.drill_id = Some(drill_id.clone()),
        Event::BackupStarted { job_id } => in_flight.backup_job_id = Some(job_id.clone()),
        Event::CopyStarted { region, job_id } => {
            in_flight.copy_jobs.insert(region.clone(), job_id.clone());
        }
        Event::RestoreStarting { region, scratch_table } => {
            in_flight.restores.insert(region.clone(), InFlightRestore { scratch_table: scratch_table.clone(), job_id: None });
        }
        Event::RestoreStarted { region, job_id, scratch_table } => {
            in_flight
                .restores
                .insert(region.clone(), InFlightRestore { scratch_table: scratch_table.clone(), job_id: Some(job_id.clone()) });
        }
    }
}

/// What a drill needs to pick up where an interrupted one stopped; `None`
/// when the drill never got an id (nothing was started).
pub fn resume_of(in_flight: &InFlight) -> Option<Resume> {
    Some(Resume {
        drill_id: in_flight.drill_id.clone()?,
        backup_job_id: in_flight.backup_job_id.clone(),
        copy_jobs: in_flight.copy_jobs.clone(),
        restores: in_flight.restores.iter().map(|(region, r)| (region.clone(), (r.scratch_table.clone(), r.job_id.clone()))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Step;

    #[test]
    fn events_fill_the_in_flight_record_and_resume_from_it() {
        let mut in_flight = super::super::in_flight(Step::Drill, "h", "c");
        assert_eq!(resume_of(&in_flight), None, "a drill with no id started nothing");
        for event in [
            Event::Started { drill_id: "0123456789abcdef".into() },
            Event::BackupStarted { job_id: "B".into() },
            Event::CopyStarted { region: "us-west-2".into(), job_id: "C".into() },
            Event::RestoreStarting { region: "us-east-1".into(), scratch_table: "drctl-drill-p-01234567".into() },
            Event::RestoreStarting { region: "us-west-2".into(), scratch_table: "drctl-drill-p-01234567".into() },
            Event::RestoreStarted { region: "us-east-1".into(), job_id: "R".into(), scratch_table: "drctl-drill-p-01234567".into() },
        ] {
            apply(&mut in_flight, &event);
        }
        let resume = resume_of(&in_flight).expect("resumable");
        assert_eq!(resume.drill_id, "0123456789abcdef");
        assert_eq!(resume.backup_job_id.as_deref(), Some("B"));
        assert_eq!(resume.copy_jobs["us-west-2"], "C");
        assert_eq!(resume.restores["us-east-1"], ("drctl-drill-p-01234567".to_string(), Some("R".to_string())));
        assert_eq!(resume.restores["us-west-2"], ("drctl-drill-p-01234567".to_string(), None));
    }
}
