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

    /// The first write that failed, if any: it stopped the drill (see the
    /// drill journal's contract).
    pub fn into_result(self) -> Result<(), LeaseError> {
        match self.failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Journal for StateJournal<'_, '_> {
    async fn record(&self, event: &Event) -> Result<(), String> {
        let outcome = self
            .held
            .update(|state| {
                if let Some(in_flight) = state.in_flight.as_mut() {
                    apply(in_flight, event);
                }
            })
            .await;
        outcome.map_err(|error| {
            tracing::warn!(%error, ?event, "drill step not recorded");
            let why = error.to_string();
            let mut failure = self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            failure.get_or_insert(error);
            why
        })
    }
}

/// One event written into the in-flight record (which holds what a
/// [`Resume`] needs, in the state's own shape).
fn apply(in_flight: &mut InFlight, event: &Event) {
    let mut resume = resume_of(in_flight).unwrap_or_default();
    resume.apply(event);
    in_flight.drill_id = (!resume.drill_id.is_empty()).then_some(resume.drill_id);
    in_flight.backup_job_id = resume.backup_job_id;
    in_flight.copy_jobs = resume.copy_jobs;
    in_flight.restores =
        resume.restores.into_iter().map(|(region, (scratch_table, job_id))| (region, InFlightRestore { scratch_table, job_id })).collect();
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
    fn the_in_flight_record_keeps_what_a_resume_needs() {
        let mut in_flight = super::super::policy::in_flight(Step::Drill, "h", "c");
        assert_eq!(resume_of(&in_flight), None, "a drill with no id started nothing");
        let table = "drctl-drill-p-01234567".to_string();
        let events = [
            Event::Started { drill_id: "0123456789abcdef".into() },
            Event::CopyStarted { region: "us-west-2".into(), job_id: "C".into() },
            Event::RestoreStarting { region: "us-west-2".into(), scratch_table: table.clone() },
        ];
        for event in &events {
            apply(&mut in_flight, event);
        }
        assert_eq!(in_flight.restores["us-west-2"], InFlightRestore { scratch_table: table.clone(), job_id: None });
        assert_eq!(resume_of(&in_flight), Resume::from_events(&events));
        apply(&mut in_flight, &Event::RestoreStarted { region: "us-west-2".into(), job_id: "R".into(), scratch_table: table.clone() });
        assert_eq!(resume_of(&in_flight).unwrap().restores["us-west-2"], (table, Some("R".to_string())));
    }
}
