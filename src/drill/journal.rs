//! The drill's journal: every job a drill starts, and every scratch table
//! before its restore starts, told to the caller (who writes it to the state
//! store) before the drill goes on, so that a drill killed at any point can
//! be resumed by the next run ([`Resume`]) instead of started anew.
//!
//! The drill awaits [`Journal::record`] before its next step: an event is
//! durable, as far as the caller makes it so, before anything that depends
//! on it happens.
//!
//! The contract is one rule: an event the journal cannot take stops the
//! drill before its next side effect (the canary, a backup, copy or restore
//! job), with [`DrillError::Journal`](super::DrillError::Journal), an
//! inconclusive verdict. The clean-up of what the drill already made (the
//! canary, the scratch table) still runs. The next run resumes from the
//! last event written.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where a drill's events go.
#[async_trait::async_trait]
pub trait Journal: Send + Sync {
    /// Records one event; the drill waits for it before its next step and
    /// stops, before any further side effect, when it fails.
    async fn record(&self, event: &Event) -> Result<(), String>;
}

/// One step of a drill worth remembering across a crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The drill has its id: every idempotency token and scratch name
    /// derives from it.
    Started { drill_id: String },
    /// The on-demand backup job in the primary region.
    BackupStarted { job_id: String },
    /// The copy job that brings the recovery point into DR region `region`.
    CopyStarted { region: String, job_id: String },
    /// About to start the restore into `scratch_table`: recorded before the
    /// restore job starts, so a crash before the table is tagged still
    /// leaves its name in the state.
    RestoreStarting { region: String, scratch_table: String },
    /// The restore job into `scratch_table` started.
    RestoreStarted { region: String, job_id: String, scratch_table: String },
}

/// A journal that keeps nothing (a drill run by hand, with no state store).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJournal;

#[async_trait::async_trait]
impl Journal for NoJournal {
    async fn record(&self, _event: &Event) -> Result<(), String> {
        Ok(())
    }
}

/// What an interrupted drill had started, for the drill that resumes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub drill_id: String,
    pub backup_job_id: Option<String>,
    /// Copy job per DR region.
    pub copy_jobs: BTreeMap<String, String>,
    /// Per drill region: the scratch table and, once started, the restore job.
    pub restores: BTreeMap<String, (String, Option<String>)>,
}

impl Resume {
    /// What the events of one drill add up to; `None` without a `Started`
    /// (the drill had no id, so it started nothing).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<Self> {
        let mut resume = Self::default();
        for event in events {
            resume.apply(event);
        }
        (!resume.drill_id.is_empty()).then_some(resume)
    }

    /// Adds one event; a `Started` of another drill begins a new one. A
    /// resumed drill records its `Started` again: what it started before
    /// stays, or a drill interrupted twice would start its jobs again.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Started { drill_id } if *drill_id == self.drill_id => {}
            Event::Started { drill_id } => *self = Self { drill_id: drill_id.clone(), ..Self::default() },
            Event::BackupStarted { job_id } => self.backup_job_id = Some(job_id.clone()),
            Event::CopyStarted { region, job_id } => {
                self.copy_jobs.insert(region.clone(), job_id.clone());
            }
            Event::RestoreStarting { region, scratch_table } => {
                self.restores.insert(region.clone(), (scratch_table.clone(), None));
            }
            Event::RestoreStarted { region, job_id, scratch_table } => {
                self.restores.insert(region.clone(), (scratch_table.clone(), Some(job_id.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_add_up_to_what_a_resumed_drill_needs() {
        let events = [
            Event::Started { drill_id: "0123456789abcdef".into() },
            Event::BackupStarted { job_id: "B".into() },
            Event::CopyStarted { region: "us-west-2".into(), job_id: "C".into() },
            Event::RestoreStarting { region: "us-east-1".into(), scratch_table: "drctl-drill-p-01234567".into() },
            Event::RestoreStarting { region: "us-west-2".into(), scratch_table: "drctl-drill-p-01234567".into() },
            Event::RestoreStarted { region: "us-east-1".into(), job_id: "R".into(), scratch_table: "drctl-drill-p-01234567".into() },
        ];
        let resume = Resume::from_events(&events).expect("resumable");
        assert_eq!(resume.drill_id, "0123456789abcdef");
        assert_eq!(resume.backup_job_id.as_deref(), Some("B"));
        assert_eq!(resume.copy_jobs["us-west-2"], "C");
        assert_eq!(resume.restores["us-east-1"], ("drctl-drill-p-01234567".to_string(), Some("R".to_string())));
        assert_eq!(resume.restores["us-west-2"], ("drctl-drill-p-01234567".to_string(), None));
    }

    /// A drill interrupted twice: the resumed run records `Started` again,
    /// and a third run still finds the jobs the first one started.
    #[test]
    fn a_resumed_drill_starting_again_keeps_its_jobs_and_another_drill_does_not() {
        let first = [
            Event::Started { drill_id: "0123456789abcdef".into() },
            Event::BackupStarted { job_id: "B".into() },
            Event::RestoreStarted { region: "us-east-1".into(), job_id: "R".into(), scratch_table: "drctl-drill-p-01234567".into() },
        ];
        let mut resume = Resume::from_events(&first).unwrap();
        resume.apply(&Event::Started { drill_id: "0123456789abcdef".into() });
        assert_eq!(Some(resume.clone()), Resume::from_events(&first), "the same drill, resumed");
        resume.apply(&Event::Started { drill_id: "fedcba9876543210".into() });
        assert_eq!((resume.backup_job_id, resume.restores.len()), (None, 0), "a new drill starts empty");
    }

    #[test]
    fn events_without_a_start_resume_nothing() {
        assert_eq!(Resume::from_events(&[]), None);
        assert_eq!(Resume::from_events(&[Event::BackupStarted { job_id: "B".into() }]), None);
    }

    #[test]
    fn events_serialise_with_their_kind() {
        let json = serde_json::to_value(Event::CopyStarted { region: "us-west-2".into(), job_id: "C".into() }).unwrap();
        assert_eq!(json, serde_json::json!({"event": "copy-started", "region": "us-west-2", "job_id": "C"}));
    }
}
